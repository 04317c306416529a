#include "keydir/remote.hpp"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/local_remote.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

// shell_quote's output, given to a real /bin/sh, comes back as the same single word.
TEST(FleetRemote, ShellQuoteSurvivesARealShell) {
  for (std::string text : {"plain", "", "with space", "it's", "'", "''", "$HOME `id` $(id)", "a\"b",
                           "back\\slash", "new\nline", "*?[a]", "-n", "; rm -rf /"}) {
    auto r = test::shell("printf '%s' " + shell_quote(text));
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, text) << shell_quote(text);
  }
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

TEST(FleetRemote, JoinAndParentPath) {
  EXPECT_EQ(join_path("/a", "b"), "/a/b");
  EXPECT_EQ(join_path("/a/", "b"), "/a/b");
  EXPECT_EQ(join_path("/", "b"), "/b");
  EXPECT_EQ(parent_path("/a/b"), "/a");
  EXPECT_EQ(parent_path("/a"), "/");
  EXPECT_EQ(parent_path("a"), ".");
}

namespace fs = boost::filesystem;

// remove_tree on a real directory: whatever a symlink below it points at stays.
TEST(FleetRemote, RemoveTreeNeverFollowsASymlink) {
  test::TempDir tmp;
  fs::path outside = tmp / "outside";
  fs::create_directories(outside / "deep");
  test::write_text(outside / "keep.key", "keep");
  test::write_text(outside / "deep" / "keep.crt", "keep");
  fs::path doomed = tmp / "doomed";
  fs::create_directories(doomed / "a" / "b");
  test::write_text(doomed / "a" / "b" / "file", "x");
  fs::create_symlink(outside, doomed / "a" / "link-to-dir");
  fs::create_symlink(outside / "keep.key", doomed / "link-to-file");
  fs::create_symlink("nowhere", doomed / "dangling");
  keydir::LocalRemote remote("local");

  ASSERT_TRUE(remove_tree(remote, doomed.string()));
  EXPECT_FALSE(fs::exists(fs::symlink_status(doomed)));
  EXPECT_EQ(test::read_text(outside / "keep.key"), "keep");
  EXPECT_EQ(test::read_text(outside / "deep" / "keep.crt"), "keep");

  // A symlink to a directory, given itself: the link goes, the directory stays.
  fs::create_symlink(outside, tmp / "link");
  ASSERT_TRUE(remove_tree(remote, (tmp / "link").string()));
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp / "link")));
  EXPECT_EQ(test::read_text(outside / "deep" / "keep.crt"), "keep");

  EXPECT_TRUE(remove_tree(remote, (tmp / "missing").string()));  // nothing there: done
}

TEST(FleetRemote, RemoveTreeStopsAtItsDepth) {
  test::FakeRemote node;
  node.add_file("/top/1/2/3/file", "x");
  auto removed = remove_tree(node, "/top", 2);
  ASSERT_FALSE(removed);
  EXPECT_THAT(removed.error().message, ::testing::HasSubstr("nested too deeply"));
  EXPECT_TRUE(node.exists("/top/1/2/3/file"));
  EXPECT_TRUE(remove_tree(node, "/top", 4));
  EXPECT_FALSE(node.exists("/top"));
}

// The entries are unlinked as listed, without a look at each first; one that changed after the
// listing is looked at then: gone is fine, a directory is removed as one, and a file that cannot
// be removed is an error.
TEST(FleetRemote, RemoveTreeTakesEachEntryAsListedAndLooksOnlyWhenThatFails) {
  test::FakeRemote node;
  node.add_file("/top/gone", "x");
  node.add_file("/top/now-a-dir", "x");
  node.add_file("/top/plain", "x");
  node.on_call = [&](std::string_view op, const std::string& path) {
    if (op != "unlink") return;
    if (path == "/top/gone") node.entries.erase(path);
    if (path == "/top/now-a-dir" && node.entries.at(path).type == FileType::regular) {
      node.entries.erase(path);
      node.add_file("/top/now-a-dir/inside", "y");
    }
  };
  ASSERT_TRUE(remove_tree(node, "/top"));
  EXPECT_FALSE(node.exists("/top"));
  EXPECT_EQ(std::count_if(node.log.begin(), node.log.end(),
                          [](const std::string& line) { return line.starts_with("lstat"); }),
            3);  // /top, then only the two entries whose unlink failed

  node.add_file("/again/stuck", "x");
  node.fail_next("unlink", "/again/stuck", NodeError{NodeStatus::failed, "remove", "denied"});
  auto stuck = remove_tree(node, "/again");
  ASSERT_FALSE(stuck);
  EXPECT_EQ(stuck.error().message, "denied");
  EXPECT_TRUE(node.exists("/again/stuck"));
}

// The directory's rmdir goes in the same batch as its files' unlinks. When a file was removed by
// someone else just before, its unlink fails but the rmdir that follows succeeds: the tree is
// gone, and that is no error.
TEST(FleetRemote, RemoveTreeWhoseOnlyFileVanishedIsDoneWithOneRmdir) {
  test::FakeRemote node;
  node.add_file("/top/gone", "x");
  node.on_call = [&](std::string_view op, const std::string& path) {
    if (op == "unlink" && path == "/top/gone") node.entries.erase(path);
  };
  auto removed = remove_tree(node, "/top");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_FALSE(node.exists("/top"));
  EXPECT_EQ(std::count_if(node.log.begin(), node.log.end(),
                          [](const std::string& line) { return line.starts_with("rmdir"); }),
            1);
}

}  // namespace
}  // namespace kf
