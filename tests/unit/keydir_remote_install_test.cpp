// keydir::switch_command and the DEST lock holder (dest_lock_command) run locally with /bin/sh
// against a temporary DEST: the exact command lines a node executes to put a generation in place,
// switch `current`, and serve push's requests under the lock.
#include "keydir/remote_install.hpp"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "keydir/remote.hpp"
#include "pki/manifest.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::shell;

class SwitchScript : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dest() / "generations"); }

  [[nodiscard]] fs::path dest() const { return dir_ / "dest"; }
  [[nodiscard]] fs::path generation(const std::string& name) const {
    return dest() / "generations" / name;
  }
  // A written generation under `name` holding agent.key = `key`.
  void write_generation(const std::string& name, const std::string& key) const {
    fs::create_directories(generation(name));
    test::write_text(generation(name) / "agent.key", key);
  }
  [[nodiscard]] std::string current() const {
    fs::path link = dest() / "current";
    return fs::is_symlink(link) ? fs::read_symlink(link).string() : "";
  }
  test::RunResult run_switch(const std::string& temp, std::uint64_t gen,
                             std::optional<std::uint64_t> expected) const {
    return shell(keydir::switch_command(dest().string(), temp, gen, expected, "current.tmp-test"));
  }
  // Names in DEST and DEST/generations, to prove a refusal changed nothing (but for the empty
  // lock file, which the script creates to lock it).
  [[nodiscard]] std::string listing() const {
    return shell("cd '" + dest().string() + "' && ls -A . generations | grep -vx .lock").out;
  }

 private:
  test::TempDir dir_;
};

TEST_F(SwitchScript, FirstInstallRenamesTheTemporaryGenerationAndCreatesCurrent) {
  write_generation(".tmp-aaaa", "key 1");
  auto result = run_switch(".tmp-aaaa", 1, std::nullopt);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "key 1");
  EXPECT_FALSE(fs::is_symlink(dest() / "current.tmp-a"));
  EXPECT_FALSE(fs::is_symlink(dest() / "current.tmp-b"));
  EXPECT_FALSE(fs::exists(generation(".tmp-aaaa")));
  EXPECT_FALSE(fs::exists(dest() / "current.tmp-test"));
}

TEST_F(SwitchScript, NextInstallReplacesCurrentInOneRename) {
  write_generation("000001", "key 1");
  fs::create_symlink("generations/000001", dest() / "current");
  write_generation(".tmp-bbbb", "key 2");
  auto result = run_switch(".tmp-bbbb", 2, 1);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(current(), "generations/000002");
  EXPECT_EQ(test::read_text(generation("000001") / "agent.key"), "key 1");  // kept for rollback
}

TEST_F(SwitchScript, SwitchesToAnExistingGeneration) {
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  fs::create_symlink("generations/000002", dest() / "current");
  auto result = run_switch("", 1, 2);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_TRUE(fs::exists(generation("000002")));
}

TEST_F(SwitchScript, RefusesWhenCurrentMovedMeanwhile) {
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  fs::create_symlink("generations/000002", dest() / "current");
  write_generation(".tmp-cccc", "key 3");
  std::string before = listing();
  // A link made beforehand, as keyfleet makes it over SFTP: a refusal removes it too.
  fs::create_symlink("generations/000003", dest() / "current.tmp-test");
  // The caller read current as 000001; someone switched it to 000002 since.
  auto install = run_switch(".tmp-cccc", 3, 1);
  EXPECT_NE(install.exit_code, 0);
  EXPECT_NE(install.err.find("changed meanwhile"), std::string::npos) << install.err;
  auto rollback = run_switch("", 1, std::nullopt);
  EXPECT_NE(rollback.exit_code, 0);
  EXPECT_NE(rollback.err.find("points at 'generations/000002', not 'nothing'"), std::string::npos)
      << rollback.err;
  EXPECT_EQ(current(), "generations/000002");
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchScript, RefusesAGenerationThatAlreadyExists) {
  write_generation("000001", "key 1");
  fs::create_symlink("generations/000001", dest() / "current");
  write_generation("000002", "installed earlier");
  write_generation(".tmp-dddd", "key 2");
  std::string before = listing();
  auto result = run_switch(".tmp-dddd", 2, 1);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("generations/000002 already exists"), std::string::npos) << result.err;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_EQ(test::read_text(generation("000002") / "agent.key"), "installed earlier");
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchScript, RefusesToSwitchToAMissingGeneration) {
  write_generation("000001", "key 1");
  fs::create_symlink("generations/000001", dest() / "current");
  std::string before = listing();
  auto result = run_switch("", 7, 1);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("not a complete generation"), std::string::npos) << result.err;
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchScript, RefusesWhileAnotherInstallHoldsTheLock) {
  write_generation(".tmp-eeee", "key 1");
  // flock(1) from util-linux, as on the nodes; the holder keeps DEST/.lock until it exits.
  std::string lock = (dest() / ".lock").string();
  auto result = shell(
      "exec 9>>'" + lock + "' && flock -n 9 && " +
      keydir::switch_command(dest().string(), ".tmp-eeee", 1, std::nullopt, "current.tmp-test") +
      " 9>&-");
  // The holder's fd is closed for the script (9>&-), yet the lock is held by this shell's fd.
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find(".lock is still held after 5 s"), std::string::npos) << result.err;
  EXPECT_EQ(current(), "");
  EXPECT_TRUE(fs::exists(generation(".tmp-eeee")));
}

// The lock holder answers each request with its output and "keyfleet-status N", keeps serving
// after a failure, and lets go of the lock when its input ends.
TEST_F(SwitchScript, LockHolderServesDigestAndSwitchThenReleasesTheLock) {
  write_generation(".tmp-ffff", "key 1");
  // Both links as keyfleet makes them over SFTP; the refused second switch must remove its own.
  fs::create_symlink("generations/000001", dest() / "current.tmp-a");
  fs::create_symlink("generations/000002", dest() / "current.tmp-b");
  fs::path staged = dest().parent_path() / "bundle.kfb";
  test::write_text(staged, "ciphertext");
  std::string digest = sha256_hex(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>("ciphertext"), 10));
  std::string requests = fmt::format(
      "sha256\n{}\n"
      "switch\n.tmp-ffff\n000001\n\ncurrent.tmp-a\n"
      "switch\n.tmp-none\n000002\ngenerations/000009\ncurrent.tmp-b\n"
      "sha256\n{}/missing\n"
      "reboot\n",
      staged.string(), dest().string());
  test::RunOptions options;
  options.input = requests;
  auto result = test::shell(dest_lock_command(dest().string(), 1), options);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.substr(0, result.out.find('\n')), "locked");
  auto first_status = result.out.find("keyfleet-status 0\n");
  EXPECT_NE(result.out.find(digest + "  " + staged.string() + "\nkeyfleet-status 0\n"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("keyfleet-status 0\n", first_status + 1), std::string::npos)
      << result.out;  // the first switch
  EXPECT_NE(result.out.find("changed meanwhile: it points at 'generations/000001', not "
                            "'generations/000009'\nkeyfleet-status 1\n"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("No such file or directory\nkeyfleet-status 1\n"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("unknown request 'reboot'\nkeyfleet-status 127\n"), std::string::npos)
      << result.out;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "key 1");
  EXPECT_FALSE(fs::is_symlink(dest() / "current.tmp-a"));
  EXPECT_FALSE(fs::is_symlink(dest() / "current.tmp-b"));

  // Its input ended, so the lock is free: a switch script takes it at once.
  write_generation(".tmp-gggg", "key 2");
  auto next = run_switch(".tmp-gggg", 2, 1);
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(current(), "generations/000002");
}

}  // namespace
}  // namespace kf
