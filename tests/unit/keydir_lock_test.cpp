// keydir::DestLock with the real lock holder under /bin/sh (keydir::LocalRemote) and flock(1).
#include "keydir/lock.hpp"

#include <unistd.h>

#include <chrono>
#include <map>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/secret.hpp"
#include "keydir/local_remote.hpp"
#include "pki/manifest.hpp"
#include "support/fake_remote.hpp"
#include "support/lock_holder.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class LockTest : public ::testing::Test {
 protected:
  [[nodiscard]] fs::path dest() const { return tmp_ / "dest"; }
  [[nodiscard]] KeyDir dir() const { return KeyDir(dest().string()); }
  [[nodiscard]] std::string path(const std::string& relative) const {
    return (dest() / relative).string();
  }
  NodeResult<DestLock> acquire(int wait_seconds = 1) {
    return DestLock::acquire(remote_, dir(), wait_seconds, "lock");
  }
  static NodeResult<ExecResult> request(DestLock& lock, std::vector<std::string> fields) {
    return lock.request(fields);
  }

  test::TempDir tmp_;
  LocalRemote remote_{"local", Deadline::after(60s)};
};

TEST_F(LockTest, AcquireHoldsTheLockUntilRelease) {
  fs::create_directories(dest());
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(lock->held());
  EXPECT_FALSE(test::lock_is_free(dir().lock()));
  lock->release();
  // release() returns once the holder has let go: no wait, no retry.
  EXPECT_TRUE(test::lock_is_free(dir().lock()));
  EXPECT_FALSE(lock->held());
  lock->release();  // idempotent
  auto after = request(*lock, {"sha256-files", "1", dir().lock()});
  ASSERT_FALSE(after);
  EXPECT_THAT(after.error().message, HasSubstr("released"));
}

// SFTP cannot say who we are on the node; the holder does, for the staging directory's checks.
TEST_F(LockTest, TheHolderSaysWhoTheSshUserIs) {
  fs::create_directories(dest());
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_EQ(lock->uid(), std::optional<std::uint32_t>(::geteuid()));
}

TEST_F(LockTest, DestructionLetsGo) {
  fs::create_directories(dest());
  {
    auto lock = acquire();
    ASSERT_TRUE(lock) << lock.error().message;
    EXPECT_FALSE(test::lock_is_free(dir().lock()));
  }
  EXPECT_TRUE(test::lock_is_free(dir().lock()));
}

TEST_F(LockTest, MovedLockKeepsTheLock) {
  fs::create_directories(dest());
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  DestLock moved = std::move(*lock);
  lock->release();  // the moved-from object holds nothing
  EXPECT_FALSE(test::lock_is_free(dir().lock()));
  EXPECT_TRUE(moved.held());
  moved.release();
  EXPECT_TRUE(test::lock_is_free(dir().lock()));
}

// Requests are answered in order, each with its output and exit status; a failing one does not
// end the holder.
TEST_F(LockTest, ServesDigestAndSwitchRequestsInOrder) {
  fs::create_directories(dest() / "generations" / ".tmp-aaaa");
  fs::path staged = tmp_ / "bundle.kfb";
  test::write_text(staged, "ciphertext");
  const std::string digest = sha256_hex(as_bytes("ciphertext"));
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;

  auto sum = request(*lock, {"sha256-files", "1", staged.string()});
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(sum->exit_status, 0);
  EXPECT_EQ(sum->out, digest + "  " + staged.string() + "\n");

  fs::create_symlink("generations/000001", dest() / "current.tmp-a");
  auto switched = request(
      *lock, {"switch", ".tmp-aaaa", "000001", "", (dest() / "current.tmp-a").string(), ""});
  ASSERT_TRUE(switched) << switched.error().message;
  EXPECT_EQ(switched->exit_status, 0) << switched->out;
  EXPECT_EQ(fs::read_symlink(dest() / "current").string(), "generations/000001");

  auto missing = request(*lock, {"sha256-files", "1", (dest() / "missing").string()});
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_NE(missing->exit_status, 0);
  EXPECT_THAT(missing->err, HasSubstr("No such file or directory"));

  auto unknown = request(*lock, {"reboot"});
  ASSERT_TRUE(unknown) << unknown.error().message;
  EXPECT_EQ(unknown->exit_status, 127);
  EXPECT_THAT(unknown->out, HasSubstr("unknown request 'reboot'"));

  fs::create_symlink("generations/000002", dest() / "current.tmp-b");
  auto refused = request(*lock, {"switch", ".tmp-none", "000002", "generations/000009",
                                 (dest() / "current.tmp-b").string(), ""});
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->exit_status, 1);
  EXPECT_FALSE(fs::is_symlink(dest() / "current.tmp-b"));  // removed by the refusal

  // Still serving, still holding.
  auto again = request(*lock, {"sha256-files", "1", staged.string()});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->out, sum->out);
  EXPECT_FALSE(test::lock_is_free(dir().lock()));
}

// One sha256sum for many files: the digests of those it could read, by path; a missing file, a
// directory and a name whose output sha256sum would escape are left out for the caller to read.
// The holder then still serves (sha256sum never read the requests as its input).
TEST_F(LockTest, HashesManyFilesInOneRequest) {
  fs::create_directories(dest() / "sub");
  test::write_text(dest() / "a", "first");
  test::write_text(dest() / "sub" / "b c", "second");
  test::write_text(dest() / "back\\slash", "third");
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  const std::vector<std::string> paths = {path("a"), path("sub/b c"), path("missing"), path("sub"),
                                          path("back\\slash")};
  auto digests = lock->sha256_files(paths);
  ASSERT_TRUE(digests) << digests.error().message;
  EXPECT_EQ(*digests, (std::map<std::string, std::string>{
                          {path("a"), sha256_hex(as_bytes("first"))},
                          {path("sub/b c"), sha256_hex(as_bytes("second"))}}));
  auto none = lock->sha256_files({});
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
  auto again = lock->sha256_files(std::vector<std::string>{path("a")});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->at(path("a")), sha256_hex(as_bytes("first")));
  EXPECT_FALSE(test::lock_is_free(dir().lock()));
}

// A path with no count, or a count that is not a number, ends the holder rather than letting
// sha256sum read what follows.
TEST_F(LockTest, AMalformedDigestRequestEndsTheHolder) {
  fs::create_directories(dest());
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  auto refused = request(*lock, {"sha256-files", "two", path("a")});
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("ended"));
}

TEST(ParseSha256Lines, TakesOnlyDigestsOfTheRequestedPaths) {
  const std::string a(64, 'a');
  const std::string b(64, 'B');
  const std::vector<std::string> paths = {"/d/x", "/d/y", "/d/z", "/d/w"};
  const std::string output = "sha256sum: /d/q: Permission denied\n" + a + "  /d/x\n" + b +
                             " */d/y\n" + a + "  /d/other\n" + a + " /d/z\n" + "\\" + a +
                             "  /d/w\n" + a.substr(1) + "g  /d/w\n" + a + "  /d/y\n";
  // /d/y is named twice with two digests: not trusted. /d/z lacks the second separator, /d/w
  // comes escaped or with a non-hex digit, /d/other was not asked for.
  EXPECT_EQ(parse_sha256_lines(output, paths), (std::map<std::string, std::string>{{"/d/x", a}}));
  EXPECT_EQ(parse_sha256_lines(b + "  /d/y", paths),
            (std::map<std::string, std::string>{{"/d/y", std::string(64, 'b')}}));
  EXPECT_TRUE(parse_sha256_lines("", paths).empty());
}

TEST_F(LockTest, AFieldWithANewlineIsRefusedBeforeAnythingIsSent) {
  fs::create_directories(dest());
  test::write_text(dest() / "file", "x");
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  auto refused = request(*lock, {"sha256-files", "1", (dest() / "file").string() + "\nswitch"});
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("newline"));
  EXPECT_FALSE(request(*lock, {}));
  // The holder saw nothing of it: the next request gets its own answer.
  auto sum = request(*lock, {"sha256-files", "1", (dest() / "file").string()});
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(sum->exit_status, 0);
  EXPECT_THAT(sum->out, HasSubstr(sha256_hex(as_bytes("x"))));
}

TEST_F(LockTest, HeldElsewhereIsRefusedAfterTheWait) {
  fs::create_directories(dest());
  test::LockHolder other(dir().lock());
  for (int wait : {0, 1}) {
    auto begin = std::chrono::steady_clock::now();
    auto lock = acquire(wait);
    auto took = std::chrono::steady_clock::now() - begin;
    ASSERT_FALSE(lock) << "wait " << wait;
    EXPECT_EQ(lock.error().status, NodeStatus::refused) << lock.error().message;
    EXPECT_EQ(lock.error().step, "lock");
    EXPECT_THAT(lock.error().message, HasSubstr(".lock is held"));
    EXPECT_THAT(lock.error().message, StartsWith("local: locking " + dir().lock()));
    EXPECT_LT(took, std::chrono::seconds(wait + 3)) << "wait " << wait;
  }
}

TEST_F(LockTest, ASymlinkedDestIsRefusedAndNothingIsCreatedThroughIt) {
  fs::path outside = tmp_ / "outside";
  fs::create_directories(outside);
  fs::create_symlink(outside, dest());
  auto lock = acquire();
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().status, NodeStatus::refused) << lock.error().message;
  EXPECT_THAT(lock.error().message, HasSubstr("symlink"));
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(LockTest, ADanglingSymlinkedDestIsRefused) {
  fs::path outside = tmp_ / "outside";
  fs::create_symlink(outside, dest());
  auto lock = acquire();
  ASSERT_FALSE(lock) << "held: " << lock->held();
  EXPECT_EQ(lock.error().status, NodeStatus::refused) << lock.error().message;
  EXPECT_FALSE(fs::exists(outside));
}

TEST_F(LockTest, ASymlinkedLockFileIsRefusedAndItsTargetNotCreated) {
  fs::create_directories(dest());
  fs::path outside = tmp_ / "outside.lock";
  fs::create_symlink(outside, dest() / ".lock");
  auto lock = acquire();
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().status, NodeStatus::refused) << lock.error().message;
  EXPECT_THAT(lock.error().message, HasSubstr("symlink"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(outside)));
}

TEST_F(LockTest, AMissingDestIsCreatedPrivate) {
  auto lock = acquire();
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(lock->held());
  EXPECT_EQ(test::file_mode(dest()), 0700u);
  EXPECT_EQ(test::file_mode(dest() / ".lock"), 0600u);
}

// Where DEST cannot be made (its parent is missing) there is nothing to lock, and nothing to
// change either: the holder goes unlocked but still answers.
TEST_F(LockTest, AnUncreatableDestGoesUnlockedButServes) {
  const KeyDir deep((tmp_ / "no" / "such" / "dest").string());
  auto lock = DestLock::acquire(remote_, deep, 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_FALSE(lock->held());
  EXPECT_FALSE(fs::exists(tmp_ / "no"));
  test::write_text(tmp_ / "file", "x");
  auto sum = lock->request(std::vector<std::string>{"sha256-files", "1", (tmp_ / "file").string()});
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(sum->exit_status, 0);
}

TEST(LockFake, HeldElsewhereIsARefusalNamingTheLock) {
  test::FakeRemote node;
  node.add_dir("/dest", 0700);
  node.lock_held_elsewhere = true;
  auto lock = DestLock::acquire(node, KeyDir("/dest"), 1, "staging");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().status, NodeStatus::refused);
  EXPECT_EQ(lock.error().step, "staging");
  EXPECT_THAT(lock.error().message, HasSubstr("/dest/.lock"));
}

TEST(LockFake, ATransportErrorKeepsItsStatusAtTheCallersStep) {
  test::FakeRemote node;
  node.add_dir("/dest", 0700);
  node.fail_next("lock", "/dest", {NodeStatus::timeout, "exec", "fake: timed out"});
  auto lock = DestLock::acquire(node, KeyDir("/dest"), 1, "staging");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().status, NodeStatus::timeout);
  EXPECT_EQ(lock.error().step, "staging");
}

// A node whose lock command says what the node chose: `out` on stdout, then its end with `err`
// on stderr (a node's `sh`, flock or shell profile may print anything).
class ScriptedChannel final : public Channel {
 public:
  ScriptedChannel(std::string out, std::string err) : out_(std::move(out)), err_(std::move(err)) {}
  NodeResult<void> write(std::string_view) override { return {}; }
  NodeResult<std::string> read_until(std::string_view marker) override {
    return test::take_through(out_, marker);
  }
  NodeResult<ExecResult> finish() override {
    return ExecResult{1, std::exchange(out_, {}), std::exchange(err_, {})};
  }

 private:
  std::string out_;
  std::string err_;
};

class ScriptedLockRemote final : public LocalRemote {
 public:
  ScriptedLockRemote(std::string out, std::string err)
      : LocalRemote("hostile", Deadline::after(60s)), out_(std::move(out)), err_(std::move(err)) {}
  NodeResult<std::unique_ptr<Channel>> open_channel(std::string_view) override {
    return std::make_unique<ScriptedChannel>(out_, err_);
  }

 private:
  std::string out_;
  std::string err_;
};

constexpr char kEscapes[] = "\x1b[2J\x1b]0;pwned\x07";

void expect_escaped(const std::string& message) {
  EXPECT_THAT(message, HasSubstr("\\x1b[2J\\x1b]0;pwned\\x07"));
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  EXPECT_EQ(message.find('\x07'), std::string::npos) << message;
}

TEST(LockEscape, TheLockCommandsStderrIsShownEscaped) {
  ScriptedLockRemote node("", std::string(kEscapes) + "flock: cannot open\n");
  auto lock = DestLock::acquire(node, KeyDir("/dest"), 1, "lock");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().step, "lock");
  expect_escaped(lock.error().message);
  EXPECT_THAT(lock.error().message, HasSubstr("flock: cannot open"));
}

TEST(LockEscape, WhatTheHolderSaidBeforeItEndedIsShownEscaped) {
  ScriptedLockRemote node(std::string("locked 0\n") + kEscapes + "bye\n" + kEscapes, "");
  auto lock = DestLock::acquire(node, KeyDir("/dest"), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto sum = lock->request(std::vector<std::string>{"sha256-files", "1", "/dest/x"});
  ASSERT_FALSE(sum);
  EXPECT_THAT(sum.error().message, HasSubstr("the lock holder ended: "));
  expect_escaped(sum.error().message);
}

TEST(LockEscape, AnUnreadableAnswerIsShownEscaped) {
  ScriptedLockRemote node(std::string("locked 0\nkeyfleet-status ") + kEscapes + "\n", "");
  auto lock = DestLock::acquire(node, KeyDir("/dest"), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto sum = lock->request(std::vector<std::string>{"sha256-files", "1", "/dest/x"});
  ASSERT_FALSE(sum);
  EXPECT_THAT(sum.error().message, HasSubstr("unreadable answer"));
  expect_escaped(sum.error().message);
}

TEST(LockFake, LockCommandQuotesDest) {
  std::string command = lock_command(KeyDir("/srv/it's here"), 7);
  EXPECT_THAT(command, HasSubstr(" keyfleet-lock '/srv/it'\\''s here' 7"));
}

}  // namespace
}  // namespace kf::keydir
