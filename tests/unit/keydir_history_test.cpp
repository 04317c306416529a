// DEST/history.log: the line, and its append through the real script (LocalRemote).
#include "keydir/history.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "keydir/local_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using ::testing::HasSubstr;

TEST(History, OneJsonLinePerEntry) {
  HistoryEntry entry{"rollback", 2, 3, std::string(32, 'a'), {}, "rollback"};
  std::string line = history_line(entry, 1'800'000'000, "op@deploy");
  ASSERT_TRUE(line.ends_with("\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto doc = nlohmann::json::parse(line);
  EXPECT_EQ(doc["time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(doc["action"], "rollback");
  EXPECT_EQ(doc["generation"], 2);
  EXPECT_EQ(doc["previous"], 3);
  EXPECT_EQ(doc["by"], "op@deploy");
  EXPECT_EQ(doc["command"], "rollback");
  EXPECT_TRUE(nlohmann::json::parse(
                  history_line({"purge", {}, {}, "", {1, 2}, "cleanup"}, 0, "x"))["generation"]
                  .is_null());
}

// `dest` is where history.log goes; `holder` (or nullptr: the one-shot script) appends.
void expect_the_append_rules(LocalRemote& remote, const fs::path& dest, const fs::path& other,
                             DestLock* holder) {
  const KeyDir dir(dest.string());
  auto first = append_history(remote, dir, {"install", 1, {}, "", {}, "push"}, holder);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(append_history(remote, dir, {"install", 2, 1, "a\\b \"c\"", {}, "push"}, holder));
  const std::string text = test::read_text(dest / "history.log");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_THAT(text, HasSubstr("\"generation\":2,\"previous\":1"));
  // Written as the line is, backslashes and quotes included: each line parses back.
  const auto second = text.substr(text.find('\n') + 1);
  EXPECT_EQ(nlohmann::json::parse(second)["keyset"], "a\\b \"c\"");
  EXPECT_EQ(test::file_mode(dest / "history.log"), 0600u);

  test::write_text(other / "target", "", 0600);
  fs::create_symlink(other / "target", dest / "history.log.new");
  fs::rename(dest / "history.log.new", dest / "history.log");
  auto refused = append_history(remote, dir, {"install", 3, {}, "", {}, "push"}, holder);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("is a symlink"));
  EXPECT_EQ(test::read_text(other / "target"), "");
}

TEST(History, AppendsThroughTheNodeScriptNeverThroughASymlink) {
  test::TempDir tmp;
  test::TempDir other;
  LocalRemote remote("local");
  expect_the_append_rules(remote, tmp.path(), other.path(), nullptr);
}

TEST(History, TheLockHolderAppendsByTheSameRules) {
  test::TempDir tmp;
  test::TempDir other;
  LocalRemote remote("local");
  auto lock = DestLock::acquire(remote, KeyDir(tmp.path().string()), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  expect_the_append_rules(remote, tmp.path(), other.path(), &*lock);
}

}  // namespace
}  // namespace kf::keydir
