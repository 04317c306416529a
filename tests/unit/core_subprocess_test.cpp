// Subprocess with real children under /bin/sh: pipes, exit statuses, deadlines, reaping.
#include "core/subprocess.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace kf {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Result<Subprocess> shell(const std::string& script, Deadline deadline = Deadline::after(20s)) {
  return Subprocess::start({"/bin/sh", "-c", script}, deadline);
}

// Whether `pid` has ended: gone, or a zombie that its parent (PID 1 for a reparented
// grandchild, which in a container may never reap) has not collected.
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return true;
  auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

bool ends_within(pid_t pid, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!ended(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Reaped by us: no child of that id is left to wait for.
bool reaped(pid_t pid) {
  errno = 0;
  return ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

TEST(CoreSubprocess, WritesReadsUpToAMarkerAndFinishes) {
  auto p = shell("read -r line; echo \"got $line\"; printf 'two\\nthree'; echo oops >&2; exit 3");
  ASSERT_TRUE(p) << p.error().message;
  pid_t pid = p->pid();
  ASSERT_TRUE(p->write("hello\n"));
  auto first = p->read_until("\n");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "got hello\n");
  auto exit = p->finish();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->status, 3);
  EXPECT_EQ(exit->out, "two\nthree");  // what read_until did not take
  EXPECT_EQ(exit->err, "oops\n");
  EXPECT_TRUE(reaped(pid));
}

TEST(CoreSubprocess, ReadUntilKeepsWhatFollowsTheMarkerAndReturnsTheRestAtTheEnd) {
  auto p = shell("printf 'a--b--c'");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->read_until("--").value_or("?"), "a--");
  EXPECT_EQ(p->read_until("--").value_or("?"), "b--");
  EXPECT_EQ(p->read_until("--").value_or("?"), "c");  // the output ended first
  EXPECT_EQ(p->read_until("--").value_or("?"), "");
  auto exit = p->finish();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->status, 0);
  EXPECT_EQ(exit->out, "");
}

TEST(CoreSubprocess, ExitStatusAndDeathBySignal) {
  for (int status : {0, 1, 42, 255}) {
    auto p = shell("exit " + std::to_string(status));
    ASSERT_TRUE(p) << p.error().message;
    auto exit = p->finish();
    ASSERT_TRUE(exit) << exit.error().message;
    EXPECT_EQ(exit->status, status);
  }
  auto killed = shell("kill -9 $$");
  ASSERT_TRUE(killed) << killed.error().message;
  auto exit = killed->finish();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->status, -1);
}

TEST(CoreSubprocess, AMissingProgramFailsToStart) {
  auto p = Subprocess::start({"/nonexistent/program"}, Deadline::after(5s));
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message, HasSubstr("cannot start /nonexistent/program"));
  EXPECT_FALSE(Subprocess::start({}, Deadline::after(5s)));
}

// Run in a forked child with SIGPIPE's default action (death), so that a SIGPIPE reaching the
// process shows as the child's death instead of ending the whole test binary. Exit codes above
// 0 say which check failed.
void write_to_a_child_that_exited() {
  ::signal(SIGPIPE, SIG_DFL);
  auto p = shell("exit 4", Deadline::after(10s));
  if (!p) ::_exit(10);
  // Its output ends when it exits; by then its end of the input pipe is closed too.
  if (auto rest = p->read_until("\n"); !rest || !rest->empty()) ::_exit(11);
  auto written = p->write(std::string(std::size_t{1} << 20, 'x'));
  if (written) ::_exit(12);
  if (written.error().message.find("stopped reading") == std::string::npos) ::_exit(13);
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE)) ::_exit(14);
  auto exit = p->finish();
  if (!exit || exit->status != 4) ::_exit(15);
}

TEST(CoreSubprocess, AChildThatExitsWithoutReadingItsInputRaisesNoSigpipe) {
  int status = test::wait_status_of_child(write_to_a_child_that_exited);
  ASSERT_FALSE(WIFSIGNALED(status)) << "killed by " << strsignal(WTERMSIG(status));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "check that failed: see write_to_a_child_that_exited";
}

// A child that echoes its input before reading all of it (cat) fills its output pipe: the
// writer must drain it while it waits, or both block until the deadline.
TEST(CoreSubprocess, WritesMoreThanAPipeHoldsToAChildThatEchoes) {
  auto p = Subprocess::start({"/bin/cat"}, Deadline::after(10s));
  ASSERT_TRUE(p) << p.error().message;
  std::string data;
  for (int i = 0; data.size() < (std::size_t{2} << 20); ++i) data += std::to_string(i) + "\n";
  auto written = p->write(data);
  ASSERT_TRUE(written) << written.error().message;
  auto exit = p->finish();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->status, 0);
  EXPECT_TRUE(exit->out == data) << "got " << exit->out.size() << " of " << data.size() << " bytes";
}

TEST(CoreSubprocess, TheDeadlineKillsTheChildAndEverythingItStarted) {
  auto p = shell("sleep 30 & echo $!; sleep 30", Deadline::after(300ms));
  ASSERT_TRUE(p) << p.error().message;
  pid_t child = p->pid();
  auto line = p->read_until("\n");
  ASSERT_TRUE(line) << line.error().message;
  pid_t grandchild = std::stoi(*line);
  auto begin = std::chrono::steady_clock::now();
  auto exit = p->finish();
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(exit) << "finished with status " << exit->status;
  EXPECT_THAT(exit.error().message, HasSubstr("deadline"));
  // Far below the children's 30 s: the deadline ended the wait, not the children.
  EXPECT_LT(took, 10s);
  EXPECT_TRUE(reaped(child));
  EXPECT_TRUE(ends_within(grandchild, 5s)) << "grandchild " << grandchild << " outlived the group";
}

TEST(CoreSubprocess, DestroyingAnUnfinishedProcessKillsAndReapsIt) {
  pid_t pid = -1;
  {
    auto p = Subprocess::start({"/bin/sleep", "30"}, Deadline::after(60s));
    ASSERT_TRUE(p) << p.error().message;
    pid = p->pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_TRUE(reaped(pid));
  EXPECT_TRUE(ended(pid));
}

TEST(CoreSubprocess, AMovedFromProcessLeavesTheChildToItsNewOwner) {
  auto p = shell("read -r line; echo \"$line\"");
  ASSERT_TRUE(p) << p.error().message;
  std::optional<Subprocess> moved;
  moved.emplace(std::move(*p));
  p = fail(ExitCode::failure, "destroyed");  // the moved-from object goes
  ASSERT_TRUE(moved->write("still here\n"));
  auto exit = moved->finish();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->out, "still here\n");
}

// The cap is 64 MiB: /dev/zero reaches it in a fraction of a second.
TEST(CoreSubprocess, OutputAboveTheCapIsRefusedAndTheChildKilled) {
  auto p =
      Subprocess::start({"/usr/bin/head", "-c", "80000000", "/dev/zero"}, Deadline::after(30s));
  ASSERT_TRUE(p) << p.error().message;
  pid_t pid = p->pid();
  auto exit = p->finish();
  ASSERT_FALSE(exit);
  EXPECT_THAT(exit.error().message, HasSubstr("more than 64 MiB"));
  EXPECT_TRUE(reaped(pid));
}

// After a failure that already killed and reaped the child, finish() must not wait for "any
// child" (waitpid(-1)): that would take another Subprocess's exit status as its own. One byte
// over the cap: the byte that crosses it is the last, so the second finish() finds the output
// at its end instead of failing on the cap again.
TEST(CoreSubprocess, FinishingAgainAfterAFailureReapsNoOtherChild) {
  auto other = shell("exit 9");
  ASSERT_TRUE(other) << other.error().message;
  ASSERT_EQ(other->read_until("\n").value_or("?"), "");  // it has exited, not yet reaped
  auto p = Subprocess::start({"/usr/bin/head", "-c", std::to_string((64 << 20) + 1), "/dev/zero"},
                             Deadline::after(30s));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_FALSE(p->finish());
  auto again = p->finish();
  EXPECT_FALSE(again) << "reaped some child with status " << again->status;
  auto exit = other->finish();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->status, 9);
}

}  // namespace
}  // namespace kf
