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

TEST(History, AppendsThroughTheNodeScriptNeverThroughASymlink) {
  test::TempDir tmp;
  LocalRemote remote("local");
  const KeyDir dir(tmp.path().string());
  ASSERT_TRUE(append_history(remote, dir, {"install", 1, {}, "", {}, "push"}));
  ASSERT_TRUE(append_history(remote, dir, {"install", 2, 1, "", {}, "push"}));
  const std::string text = test::read_text(tmp / "history.log");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_THAT(text, HasSubstr("\"generation\":2,\"previous\":1"));
  EXPECT_EQ(test::file_mode(tmp / "history.log"), 0600u);

  test::TempDir other;
  test::write_text(other / "target", "", 0600);
  fs::create_symlink(other / "target", other / "history.log");
  auto refused =
      append_history(remote, KeyDir(other.path().string()), {"install", 1, {}, "", {}, "push"});
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("is a symlink"));
  EXPECT_EQ(test::read_text(other / "target"), "");
}

}  // namespace
}  // namespace kf::keydir
