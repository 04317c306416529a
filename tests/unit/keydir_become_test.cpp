// Inventory `become` (keydir/become.hpp): how commands are wrapped, checked through a real shell,
// and how a become that fails is reported.
#include "keydir/become.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

using test::FakeRemote;
using ::testing::HasSubstr;

// Every character a shell could act on, quotes of both kinds and a newline.
const std::string kTricky = "it's \"$HOME\" `id` $(id) \\ ; & | < > * ? [a] ~ # !\nsecond line";

TEST(KeydirBecome, WrapsTheCommandAsOneQuotedWordAfterThePrefix) {
  EXPECT_EQ(become_command("", "id -u"), "id -u");
  EXPECT_EQ(become_command("sudo -n", "id -u"), "sudo -n sh -c 'id -u'");
  EXPECT_EQ(become_command("sudo -n", "echo 'a b'"), "sudo -n sh -c 'echo '\\''a b'\\'''");
}

// The login shell parses the line sshd gets, then the shell started through the prefix parses the
// command: what runs is exactly the command, also wrapped twice. `env` stands for sudo here.
TEST(KeydirBecome, WhatRunsThroughTheRealShellIsExactlyTheCommand) {
  const std::string command = "printf '%s\\n' " + shell_quote(kTricky);
  for (const std::string& line :
       {become_command("env", command), become_command("env", become_command("env", command))}) {
    auto ran = test::run({"sh", "-c", line});
    EXPECT_EQ(ran.exit_code, 0) << ran.err;
    EXPECT_EQ(ran.out, kTricky + "\n") << line;
  }
}

// Runs `command` with sh, sends `request` and returns what it answers, up to `size` bytes, with
// its stdin still open (sftp-server quits at end-of-file without answering what it read).
std::string answer_of(const std::string& command, const std::string& request, std::size_t size) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::string answer;
  if (::write(in[1], request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    pollfd fd{out[0], POLLIN, 0};
    char buffer[256];
    // Bounded in case it never answers; an answer comes at once.
    while (answer.size() < size && ::poll(&fd, 1, 10000) == 1) {
      const ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n <= 0) break;
      answer.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(in[1]);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return answer;
}

// The real sftp-server (openssh-sftp-server) answers SSH_FXP_INIT with SSH_FXP_VERSION.
TEST(KeydirBecome, TheSftpServerCommandStartsAnSftpServer) {
  const std::string init("\x00\x00\x00\x05\x01\x00\x00\x00\x03", 9);
  const std::string version = answer_of(sftp_server_command("env"), init, 9);
  ASSERT_GE(version.size(), 9u) << "no answer from sftp-server";
  EXPECT_EQ(version[4], '\x02');  // SSH_FXP_VERSION
  EXPECT_EQ(version.substr(5, 4), std::string("\x00\x00\x00\x03", 4));
  EXPECT_THAT(sftp_server_command("sudo -n"), ::testing::StartsWith("sudo -n sh -c 'umask 077; "));
}

NodeResult<void> answer(FakeRemote& node, ExecResult result) {
  node.on_exec = [result](std::string_view, std::span<const std::uint8_t>) {
    return NodeResult<ExecResult>(result);
  };
  return check_become(node, "sudo -n");
}

TEST(KeydirBecome, TheCheckRunsThePrefixOnceAsEveryCommandWillRun) {
  FakeRemote node("node1");
  std::vector<std::string> ran;
  node.on_exec = [&](std::string_view cmd, std::span<const std::uint8_t>) {
    ran.emplace_back(cmd);
    return NodeResult<ExecResult>(ExecResult{0, "", ""});
  };
  EXPECT_TRUE(check_become(node, "sudo -n"));
  EXPECT_EQ(ran, std::vector<std::string>{"sudo -n sh -c 'true'"});
}

TEST(KeydirBecome, APasswordAskedForFailsTheNodeAtStepBecomeSayingWhatToDo) {
  FakeRemote node("node1");
  auto checked = answer(node, {1, "", "sudo: a password is required\n"});
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().status, NodeStatus::failed);
  EXPECT_EQ(checked.error().step, "become");
  EXPECT_EQ(checked.error().message,
            "node1: become 'sudo -n' failed: sudo: a password is required (give the SSH user a "
            "NOPASSWD sudoers rule for keyfleet's commands, see `become` in docs/inventory.md; or "
            "log in as root)");
}

TEST(KeydirBecome, WhatTheNodeSaidIsEscapedAndSilenceGivesTheStatus) {
  FakeRemote node("node1");
  auto checked = answer(node, {1, "", "\x1b]0;owned\x07sudo: no\nmore\n"});
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("failed: \\x1b]0;owned\\x07sudo: no\\nmore ("));
  checked = answer(node, {127, "", ""});
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("failed: it exited with status 127 ("));
}

TEST(KeydirBecome, AnotherPrefixGetsAHintOfItsOwn) {
  FakeRemote node("node1");
  node.on_exec = [](std::string_view cmd, std::span<const std::uint8_t>) {
    EXPECT_EQ(cmd, "doas -n sh -c 'true'");
    return NodeResult<ExecResult>(ExecResult{1, "", "doas: Authentication failed\n"});
  };
  auto checked = check_become(node, "doas -n");
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().message,
            "node1: become 'doas -n' failed: doas: Authentication failed (the SSH user must be "
            "able to run `doas -n sh -c ...` without a password or a terminal; or log in as root)");
}

TEST(KeydirBecome, ALostConnectionKeepsItsStatusAtStepBecome) {
  FakeRemote node("node1");
  node.fail_next("exec", "", NodeError{NodeStatus::timeout, "exec", "node1: ran out of time"});
  auto checked = check_become(node, "sudo -n");
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().status, NodeStatus::timeout);
  EXPECT_EQ(checked.error().step, "become");
}

}  // namespace
}  // namespace kf::keydir
