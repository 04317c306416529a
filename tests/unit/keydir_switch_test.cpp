// keydir::switch_current and switch_command: the real switch script and lock holder under /bin/sh
// (keydir::LocalRemote) against a temporary DEST, and the calls around them on an in-memory node.
#include "keydir/switch.hpp"

#include <chrono>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/local_remote.hpp"
#include "keydir/lock.hpp"
#include "support/fake_remote.hpp"
#include "support/lock_holder.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

class SwitchTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dest() / "generations"); }

  [[nodiscard]] fs::path dest() const { return tmp_ / dest_name_; }
  [[nodiscard]] KeyDir dir() const { return KeyDir(dest().string()); }
  [[nodiscard]] fs::path generation(const std::string& name) const {
    return dest() / "generations" / name;
  }
  // A written generation under `name` holding agent.key = `key`.
  void write_generation(const std::string& name, const std::string& key) const {
    fs::create_directories(generation(name));
    test::write_text(generation(name) / "agent.key", key);
  }
  void link_current(const std::string& text) const { fs::create_symlink(text, dest() / "current"); }
  [[nodiscard]] std::string current() const {
    fs::path link = dest() / "current";
    return fs::is_symlink(link) ? fs::read_symlink(link).string() : "";
  }
  NodeResult<void> switch_to(const std::string& temp, const std::string& entry,
                             std::optional<std::string> expected, DestLock* lock = nullptr) {
    return switch_current(remote_, lock, dir(), SwitchRequest{temp, entry, std::move(expected), ""},
                          1, "switch");
  }
  // The one-shot script as a node runs it, with a link (in DEST) of the caller's.
  ExecResult run_command(const std::string& temp, const std::string& entry,
                         std::optional<std::string> expected, const std::string& link) {
    auto result = remote_.exec(switch_command(
        dir(), SwitchRequest{temp, entry, std::move(expected), ""}, (dest() / link).string(), 1));
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : ExecResult{};
  }
  // Every name in DEST and DEST/generations (what a refusal must leave as it was) but the lock
  // file, which the script creates to take the lock.
  [[nodiscard]] std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const fs::path& d : {dest(), dest() / "generations"}) {
      for (fs::directory_iterator it(d), end; it != end; ++it) {
        std::string name = it->path().filename().string();
        if (name == ".lock") continue;
        names.insert(
            fs::relative(it->path(), dest()).string() + " -> " +
            (fs::is_symlink(it->symlink_status()) ? fs::read_symlink(it->path()).string() : ""));
      }
    }
    return names;
  }
  [[nodiscard]] bool no_temporary_link() const {
    for (fs::directory_iterator it(dest()), end; it != end; ++it) {
      if (it->path().filename().string().starts_with(kLinkTempPrefix)) return false;
    }
    return true;
  }

  test::TempDir tmp_;
  std::string dest_name_ = "dest";
  LocalRemote remote_{"local", Deadline::after(60s)};
};

TEST_F(SwitchTest, FirstInstallRenamesTheTemporaryGenerationAndCreatesCurrent) {
  write_generation(".tmp-aaaa", "key 1");
  auto switched = switch_to(".tmp-aaaa", "000001", std::nullopt);
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "key 1");
  EXPECT_FALSE(fs::exists(generation(".tmp-aaaa")));
  EXPECT_TRUE(no_temporary_link());
}

TEST_F(SwitchTest, NextInstallReplacesCurrentAndKeepsTheOldGeneration) {
  write_generation("000001", "key 1");
  link_current("generations/000001");
  write_generation(".tmp-bbbb", "key 2");
  auto switched = switch_to(".tmp-bbbb", "000002", "generations/000001");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000002");
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "key 2");
  EXPECT_EQ(test::read_text(generation("000001") / "agent.key"), "key 1");  // kept for rollback
  EXPECT_TRUE(no_temporary_link());
}

TEST_F(SwitchTest, SwitchesToAnExistingGeneration) {
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  link_current("generations/000002");
  auto switched = switch_to("", "000001", "generations/000002");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_TRUE(fs::exists(generation("000002")));
  EXPECT_TRUE(no_temporary_link());
}

TEST_F(SwitchTest, RefusesWhenCurrentMovedMeanwhileAndChangesNothing) {
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  link_current("generations/000002");
  write_generation(".tmp-cccc", "key 3");
  const auto before = listing();
  // The caller read current as 000001; someone switched it to 000002 since.
  auto install = switch_to(".tmp-cccc", "000003", "generations/000001");
  ASSERT_FALSE(install);
  EXPECT_EQ(install.error().step, "switch");
  EXPECT_THAT(install.error().message,
              HasSubstr("changed meanwhile: it points at 'generations/000002', not "
                        "'generations/000001'"));
  // The caller read no current at all.
  auto rollback = switch_to("", "000001", std::nullopt);
  ASSERT_FALSE(rollback);
  EXPECT_THAT(rollback.error().message, HasSubstr("points at 'generations/000002', not 'nothing'"));
  EXPECT_EQ(current(), "generations/000002");
  EXPECT_EQ(listing(), before);  // the link switch_current made beforehand is gone too
}

// The script itself removes the link the caller made beforehand (over SFTP) when it refuses.
TEST_F(SwitchTest, TheScriptRemovesTheCallersLinkWhenItRefuses) {
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  link_current("generations/000002");
  write_generation(".tmp-cccc", "key 3");
  const auto before = listing();
  fs::create_symlink("generations/000003", dest() / "current.tmp-test");
  auto refused = run_command(".tmp-cccc", "000003", "generations/000001", "current.tmp-test");
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_THAT(refused.err, HasSubstr("changed meanwhile"));
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchTest, TheScriptMakesTheLinkItselfWhenTheCallerMadeNone) {
  write_generation(".tmp-aaaa", "key 1");
  auto result = run_command(".tmp-aaaa", "000001", std::nullopt, "current.tmp-own");
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_TRUE(no_temporary_link());
}

TEST_F(SwitchTest, RefusesAGenerationThatAlreadyExists) {
  write_generation("000001", "key 1");
  link_current("generations/000001");
  write_generation("000002", "installed earlier");
  write_generation(".tmp-dddd", "key 2");
  const auto before = listing();
  auto switched = switch_to(".tmp-dddd", "000002", "generations/000001");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr("generations/000002 already exists"));
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_EQ(test::read_text(generation("000002") / "agent.key"), "installed earlier");
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchTest, RefusesToSwitchToAMissingGeneration) {
  write_generation("000001", "key 1");
  link_current("generations/000001");
  const auto before = listing();
  auto switched = switch_to("", "000007", "generations/000001");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr("not a complete generation"));
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchTest, RefusesATemporaryGenerationThatIsNotThere) {
  write_generation("000001", "key 1");
  link_current("generations/000001");
  const auto before = listing();
  auto switched = switch_to(".tmp-gone", "000002", "generations/000001");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr(".tmp-gone is not a directory"));
  EXPECT_EQ(listing(), before);
}

// A dangling `current` (its generation removed by hand) cannot be compared by inode: the
// script compares its text.
TEST_F(SwitchTest, ReplacesADanglingCurrentNamedByItsText) {
  link_current("generations/000005");
  write_generation(".tmp-eeee", "key 6");
  auto switched = switch_to(".tmp-eeee", "000006", "generations/000005");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000006");
  EXPECT_TRUE(no_temporary_link());
}

TEST_F(SwitchTest, RefusesADanglingCurrentWithOtherText) {
  link_current("generations/000005");
  write_generation(".tmp-eeee", "key 6");
  const auto before = listing();
  auto switched = switch_to(".tmp-eeee", "000006", "generations/000004");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr("points at 'generations/000005'"));
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchTest, RefusesACurrentThatIsNotASymlink) {
  write_generation("000001", "key 1");
  fs::create_directories(dest() / "current");
  write_generation(".tmp-ffff", "key 2");
  const auto before = listing();
  EXPECT_FALSE(switch_to(".tmp-ffff", "000002", "generations/000001"));
  EXPECT_FALSE(switch_to(".tmp-ffff", "000002", std::nullopt));
  EXPECT_TRUE(fs::is_directory(dest() / "current"));
  EXPECT_EQ(listing(), before);
}

TEST_F(SwitchTest, OneShotSwitchIsRefusedWhileAnotherProcessHoldsTheLock) {
  write_generation(".tmp-eeee", "key 1");
  test::LockHolder other(dir().lock());
  const auto before = listing();
  auto begin = std::chrono::steady_clock::now();
  auto switched = switch_to(".tmp-eeee", "000001", std::nullopt);
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(switched);
  EXPECT_EQ(switched.error().status, NodeStatus::refused) << switched.error().message;
  EXPECT_THAT(switched.error().message, HasSubstr(".lock is still held after 1 s"));
  EXPECT_LT(took, 10s);  // the 1 s asked for, not a default
  EXPECT_EQ(current(), "");
  EXPECT_TRUE(fs::exists(generation(".tmp-eeee")));
  EXPECT_EQ(listing(), before);

  auto raw = run_command(".tmp-eeee", "000001", std::nullopt, "current.tmp-test");
  EXPECT_EQ(raw.exit_status, 75);
}

TEST_F(SwitchTest, OneShotSwitchRefusesASymlinkedLockFile) {
  write_generation(".tmp-eeee", "key 1");
  fs::path outside = tmp_ / "elsewhere";
  fs::create_symlink(outside, dest() / ".lock");
  auto switched = switch_to(".tmp-eeee", "000001", std::nullopt);
  ASSERT_FALSE(switched);
  EXPECT_EQ(switched.error().status, NodeStatus::refused) << switched.error().message;
  EXPECT_THAT(switched.error().message, HasSubstr("symlink"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(outside)));
  EXPECT_EQ(current(), "");
  EXPECT_TRUE(no_temporary_link());
}

// Under a DestLock the switch runs in the lock's holder: same rules, same clean refusal.
TEST_F(SwitchTest, RunsInTheLockHolderWhenALockIsHeld) {
  write_generation("000001", "key 1");
  link_current("generations/000001");
  write_generation(".tmp-gggg", "key 2");
  auto lock = DestLock::acquire(remote_, dir(), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  ASSERT_TRUE(lock->held());
  const auto before = listing();
  auto refused = switch_to(".tmp-gggg", "000002", "generations/000009", &*lock);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("changed meanwhile"));
  EXPECT_EQ(listing(), before);
  auto switched = switch_to(".tmp-gggg", "000002", "generations/000001", &*lock);
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000002");
  EXPECT_TRUE(no_temporary_link());
}

TEST_F(SwitchTest, QuotesADestWithSpacesAndQuotes) {
  dest_name_ = "my dest's $(keys)";
  SetUp();
  write_generation("000001", "key 1");
  link_current("generations/000001");
  write_generation(".tmp-hhhh", "key 2");
  auto switched = switch_to(".tmp-hhhh", "000002", "generations/000001");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000002");
  EXPECT_TRUE(no_temporary_link());
}

// DEST's entries are made durable after the switch (and DEST/generations' after a rename).
TEST(SwitchFake, FsyncsDestAfterTheSwitch) {
  test::FakeRemote node;
  node.add_dir("/dest/generations/000001", 0700);
  node.add_dir("/dest/generations/.tmp-aaaa", 0700);
  ASSERT_TRUE(node.symlink("generations/000001", "/dest/current"));
  const KeyDir dir("/dest");
  ASSERT_TRUE(switch_current(node, nullptr, dir, {".tmp-aaaa", "000002", "generations/000001", ""},
                             1, "switch"));
  auto at = [&](const std::string& line) {
    return std::find(node.log.begin(), node.log.end(), line) - node.log.begin();
  };
  auto end = static_cast<std::ptrdiff_t>(node.log.size());
  ASSERT_LT(at("switch 000002"), end);
  EXPECT_LT(at("switch 000002"), at("fsync_dir /dest/generations"));
  EXPECT_LT(at("fsync_dir /dest/generations"), end);
  EXPECT_LT(at("switch 000002"), at("fsync_dir /dest"));
  EXPECT_LT(at("fsync_dir /dest"), end);

  node.log.clear();
  ASSERT_TRUE(
      switch_current(node, nullptr, dir, {"", "000001", "generations/000002", ""}, 1, "switch"));
  EXPECT_LT(at("switch 000001"), at("fsync_dir /dest"));
  EXPECT_LT(at("fsync_dir /dest"), static_cast<std::ptrdiff_t>(node.log.size()));
  EXPECT_EQ(at("fsync_dir /dest/generations"), static_cast<std::ptrdiff_t>(node.log.size()))
      << "nothing was renamed in generations/";
}

TEST(SwitchFake, ALostConnectionLeavesNoTemporaryLink) {
  test::FakeRemote node;
  node.add_dir("/dest/generations/000001", 0700);
  node.add_dir("/dest/generations/.tmp-aaaa", 0700);
  ASSERT_TRUE(node.symlink("generations/000001", "/dest/current"));
  node.fail_next("exec", "keyfleet-switch", {NodeStatus::timeout, "exec", "node: timed out"});
  auto switched = switch_current(node, nullptr, KeyDir("/dest"),
                                 {".tmp-aaaa", "000002", "generations/000001", ""}, 1, "switch");
  ASSERT_FALSE(switched);
  EXPECT_EQ(switched.error().status, NodeStatus::timeout);
  EXPECT_EQ(switched.error().step, "switch");
  EXPECT_EQ(node.text("/dest/current"), "");
  EXPECT_EQ(node.entries.at("/dest/current").target, "generations/000001");
  for (const auto& [path, entry] : node.entries) {
    EXPECT_FALSE(path.starts_with("/dest/current.tmp-")) << path;
  }
}

TEST(SwitchFake, LockHeldElsewhereIsARefusal) {
  test::FakeRemote node;
  node.add_dir("/dest/generations/.tmp-aaaa", 0700);
  node.lock_held_elsewhere = true;
  auto switched =
      switch_current(node, nullptr, KeyDir("/dest"), {".tmp-aaaa", "000001", {}, ""}, 1, "switch");
  ASSERT_FALSE(switched);
  EXPECT_EQ(switched.error().status, NodeStatus::refused) << switched.error().message;
  EXPECT_FALSE(node.exists("/dest/current"));
}

}  // namespace
}  // namespace kf::keydir
