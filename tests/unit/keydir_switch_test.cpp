// keydir::switch_current both ways, over the file operations (replace) and in the real lock holder
// under /bin/sh (keydir::LocalRemote) against a temporary DEST, and the calls around them on an
// in-memory node.
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

// This machine as a node whose SFTP server can (true) or cannot (false) replace a path: the switch
// is made with rename(2) or by the lock holder's script.
class SwitchingRemote final : public LocalRemote {
 public:
  explicit SwitchingRemote(bool replaces)
      : LocalRemote("local", Deadline::after(60s)), replaces_(replaces) {}
  NodeResult<bool> can_replace() override { return replaces_; }

 private:
  bool replaces_;
};

class SwitchTest : public ::testing::TestWithParam<bool> {
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
  // The holder's `switch` request as the node serves it, under a lock of its own, with a link
  // (in DEST) of the caller's.
  ExecResult request_switch(const std::string& temp, const std::string& entry,
                            const std::string& expected, const std::string& link) {
    auto lock = DestLock::acquire(remote_, dir(), 1, "lock");
    EXPECT_TRUE(lock) << lock.error().message;
    if (!lock) return {};
    const std::string fields[] = {"switch", temp, entry, expected, (dest() / link).string(), ""};
    auto result = lock->request(fields);
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
  SwitchingRemote remote_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(BothWays, SwitchTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Replace" : "Holder"; });

TEST_P(SwitchTest, FirstInstallRenamesTheTemporaryGenerationAndCreatesCurrent) {
  write_generation(".tmp-aaaa", "key 1");
  auto switched = switch_to(".tmp-aaaa", "000001", std::nullopt);
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "key 1");
  EXPECT_FALSE(fs::exists(generation(".tmp-aaaa")));
  EXPECT_TRUE(no_temporary_link());
}

TEST_P(SwitchTest, NextInstallReplacesCurrentAndKeepsTheOldGeneration) {
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

TEST_P(SwitchTest, SwitchesToAnExistingGeneration) {
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  link_current("generations/000002");
  auto switched = switch_to("", "000001", "generations/000002");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_TRUE(fs::exists(generation("000002")));
  EXPECT_TRUE(no_temporary_link());
}

TEST_P(SwitchTest, RefusesWhenCurrentMovedMeanwhileAndChangesNothing) {
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

// The holder's script itself removes the link the caller made beforehand (over SFTP) when it
// refuses, and refuses when there is none.
TEST_P(SwitchTest, TheHoldersScriptRemovesTheCallersLinkWhenItRefusesAndNeedsOne) {
  if (GetParam()) GTEST_SKIP() << "the holder's script serves nodes that cannot replace";
  write_generation("000001", "key 1");
  write_generation("000002", "key 2");
  link_current("generations/000002");
  write_generation(".tmp-cccc", "key 3");
  const auto before = listing();
  fs::create_symlink("generations/000003", dest() / "current.tmp-test");
  auto refused = request_switch(".tmp-cccc", "000003", "generations/000001", "current.tmp-test");
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_THAT(refused.out, HasSubstr("changed meanwhile"));
  EXPECT_EQ(listing(), before);

  auto no_link = request_switch(".tmp-cccc", "000003", "generations/000002", "current.tmp-none");
  EXPECT_EQ(no_link.exit_status, 1);
  EXPECT_THAT(no_link.out, HasSubstr("current.tmp-none is not a symlink"));
  EXPECT_EQ(listing(), before);  // checked before the first rename
}

TEST_P(SwitchTest, RefusesAGenerationThatAlreadyExists) {
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

TEST_P(SwitchTest, RefusesToSwitchToAMissingGeneration) {
  write_generation("000001", "key 1");
  link_current("generations/000001");
  const auto before = listing();
  auto switched = switch_to("", "000007", "generations/000001");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr("not a complete generation"));
  EXPECT_EQ(listing(), before);
}

TEST_P(SwitchTest, RefusesATemporaryGenerationThatIsNotThere) {
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
TEST_P(SwitchTest, ReplacesADanglingCurrentNamedByItsText) {
  link_current("generations/000005");
  write_generation(".tmp-eeee", "key 6");
  auto switched = switch_to(".tmp-eeee", "000006", "generations/000005");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(current(), "generations/000006");
  EXPECT_TRUE(no_temporary_link());
}

TEST_P(SwitchTest, RefusesADanglingCurrentWithOtherText) {
  link_current("generations/000005");
  write_generation(".tmp-eeee", "key 6");
  const auto before = listing();
  auto switched = switch_to(".tmp-eeee", "000006", "generations/000004");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr("points at 'generations/000005'"));
  EXPECT_EQ(listing(), before);
}

TEST_P(SwitchTest, RefusesACurrentThatIsNotASymlink) {
  write_generation("000001", "key 1");
  fs::create_directories(dest() / "current");
  write_generation(".tmp-ffff", "key 2");
  const auto before = listing();
  EXPECT_FALSE(switch_to(".tmp-ffff", "000002", "generations/000001"));
  EXPECT_FALSE(switch_to(".tmp-ffff", "000002", std::nullopt));
  EXPECT_TRUE(fs::is_directory(dest() / "current"));
  EXPECT_EQ(listing(), before);
}

// Without a lock of the caller's, the switch takes DEST/.lock for itself, waiting the time asked.
TEST_P(SwitchTest, IsRefusedWhileAnotherProcessHoldsTheLock) {
  write_generation(".tmp-eeee", "key 1");
  test::LockHolder other(dir().lock());
  const auto before = listing();
  auto begin = std::chrono::steady_clock::now();
  auto switched = switch_to(".tmp-eeee", "000001", std::nullopt);
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(switched);
  EXPECT_EQ(switched.error().status, NodeStatus::refused) << switched.error().message;
  EXPECT_THAT(switched.error().message, HasSubstr("held by another keyfleet command (waited 1 s)"));
  EXPECT_LT(took, 10s);  // the 1 s asked for, not a default
  EXPECT_EQ(current(), "");
  EXPECT_TRUE(fs::exists(generation(".tmp-eeee")));
  EXPECT_EQ(listing(), before);
}

TEST_P(SwitchTest, RefusesASymlinkedLockFile) {
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

// Under the caller's DestLock: same rules, same clean refusal.
TEST_P(SwitchTest, RunsUnderTheCallersLock) {
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

TEST_P(SwitchTest, QuotesADestWithSpacesAndQuotes) {
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
  node.fail_next("request", "switch", {NodeStatus::timeout, "exec", "node: timed out"});
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

// Where the SFTP server can replace a path, the holder runs no process for the switch.
TEST(SwitchFake, OverSftpTheHolderServesNoSwitch) {
  test::FakeRemote node;
  node.posix_rename = true;
  node.add_dir("/dest/generations/000001", 0700);
  node.add_dir("/dest/generations/.tmp-aaaa", 0700);
  ASSERT_TRUE(node.symlink("generations/000001", "/dest/current"));
  const KeyDir dir("/dest");
  auto lock = DestLock::acquire(node, dir, 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto switched = switch_current(node, &*lock, dir,
                                 {".tmp-aaaa", "000002", "generations/000001", ""}, 1, "switch");
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(node.entries.at("/dest/current").target, "generations/000002");
  EXPECT_TRUE(node.exists("/dest/generations/000002"));
  EXPECT_FALSE(node.exists("/dest/generations/.tmp-aaaa"));
  EXPECT_THAT(node.log, ::testing::Contains("replace /dest/current"));
  for (const auto& line : node.log) EXPECT_FALSE(line.starts_with("request")) << line;
}

// A replace that fails after the generation was renamed and a directory at current's place moved
// aside puts both back: the node is as it was found.
TEST(SwitchFake, AFailedReplacePutsTheAsideAndTheGenerationBack) {
  test::FakeRemote node;
  node.posix_rename = true;
  node.add_dir("/dest/generations/.tmp-aaaa", 0700);
  node.add_dir("/dest/current", 0700);
  node.add_file("/dest/current/agent.key", "old key", 0600);
  auto before = node.entries;
  node.fail_next("replace", "", {NodeStatus::failed, "sftp", "fake: injected replace failure"});
  auto switched =
      switch_current(node, nullptr, KeyDir("/dest"),
                     {".tmp-aaaa", "000001", {}, "/dest/generations/.aside-1"}, 1, "switch");
  ASSERT_FALSE(switched);
  EXPECT_EQ(switched.error().step, "switch");
  EXPECT_THAT(switched.error().message, HasSubstr("injected replace failure"));
  EXPECT_EQ(node.entries.size(), before.size());
  for (const auto& [path, entry] : before) EXPECT_TRUE(node.exists(path)) << path;
  EXPECT_EQ(node.text("/dest/current/agent.key"), "old key");
}

// The switch race with a hostile link: between keyfleet's read of `current` and its switch,
// another user points it at a name full of terminal escapes. The refusal names that text escaped,
// both ways (the holder's script quotes it in its refusal; FileSwitch reads it itself).
class SwitchRaceFake : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(BothWays, SwitchRaceFake, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Replace" : "Holder"; });

TEST_P(SwitchRaceFake, ALinkTargetWithEscapesIsRefusedAndShownEscaped) {
  test::FakeRemote node;
  node.posix_rename = GetParam();
  node.add_dir("/dest/generations/000001", 0700);
  node.add_dir("/dest/generations/.tmp-aaaa", 0700);
  ASSERT_TRUE(node.symlink("generations/000001", "/dest/current"));
  const std::string hostile = "\x1b[2J\x1b]0;pwned\x07generations/000009";
  node.on_call = [&](std::string_view op, const std::string& path) {
    // Right after keyfleet read current, as it makes its new link.
    if (op == "symlink" && path.starts_with("/dest/current.tmp-")) {
      node.entries.at("/dest/current").target = hostile;
    }
  };
  auto switched = switch_current(node, nullptr, KeyDir("/dest"),
                                 {".tmp-aaaa", "000002", "generations/000001", ""}, 1, "switch");
  ASSERT_FALSE(switched);
  const std::string& message = switched.error().message;
  EXPECT_THAT(message, HasSubstr("changed meanwhile"));
  EXPECT_THAT(message, HasSubstr("\\x1b[2J\\x1b]0;pwned\\x07generations/000009"));
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  EXPECT_EQ(message.find('\x07'), std::string::npos) << message;
  EXPECT_EQ(node.entries.at("/dest/current").target, hostile);  // refused: nothing switched
  EXPECT_TRUE(node.exists("/dest/generations/.tmp-aaaa"));
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
