// The fake node keeps the rules the real one (SshSession over OpenSSH's SFTP) was seen to keep in
// tests/integration/fleet_ssh_session_test.cpp.
#include "support/fake_remote.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/secret.hpp"

namespace kf::test {
namespace {

using ::testing::HasSubstr;

TEST(SupportFakeRemote, KeepsSftpRules) {
  FakeRemote node("node1");
  node.add_dir("/dest");
  ASSERT_TRUE(node.mkdir("/dest/work", 0700));
  EXPECT_FALSE(node.mkdir("/dest/work", 0700));
  EXPECT_FALSE(node.mkdir("/missing/x", 0700));

  ASSERT_TRUE(node.upload("/dest/work/a", as_bytes("data"), 0600));
  auto again = node.upload("/dest/work/a", as_bytes("x"), 0600);
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message,
              HasSubstr("node1: cannot create /dest/work/a: it already exists"));
  EXPECT_EQ(node.text("/dest/work/a"), "data");

  ASSERT_TRUE(node.upload("/dest/work/b", as_bytes("bb"), 0644));
  EXPECT_FALSE(node.rename("/dest/work/b", "/dest/work/a"));  // never replaces
  ASSERT_TRUE(node.symlink("work/a", "/dest/current"));
  EXPECT_EQ(*node.readlink("/dest/current"), "work/a");
  EXPECT_EQ((*node.lstat("/dest/current"))->type, FileType::symlink);
  auto followed = node.stat("/dest/current");
  ASSERT_TRUE(followed && *followed);
  EXPECT_EQ((*followed)->type, FileType::regular);
  EXPECT_EQ((*followed)->size, 4u);
  EXPECT_FALSE(*node.stat("/dest/nothing"));

  auto listing = node.list_dir("/dest/work");
  ASSERT_TRUE(listing);
  ASSERT_EQ(listing->size(), 2u);
  EXPECT_EQ((*listing)[0].name, "a");
  EXPECT_EQ((*listing)[1].stat.mode, 0644u);

  EXPECT_FALSE(node.rmdir("/dest/work"));  // not empty
  ASSERT_TRUE(node.rename("/dest/work", "/dest/moved"));
  EXPECT_EQ(node.text("/dest/moved/a"), "data");
  EXPECT_FALSE(node.exists("/dest/work/a"));
  ASSERT_TRUE(node.unlink("/dest/moved/a"));
  ASSERT_TRUE(node.unlink("/dest/moved/b"));
  EXPECT_FALSE(node.unlink("/dest/moved/b"));
  ASSERT_TRUE(node.rmdir("/dest/moved"));
}

TEST(SupportFakeRemote, InjectsFailuresOnceAndLogsCalls) {
  FakeRemote node("node2");
  node.add_dir("/s");
  node.fail_next("upload", "/s/f", NodeError{NodeStatus::timeout, "sftp", "node2: stalled"});
  auto first = node.upload("/s/f", as_bytes("x"), 0600);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().status, NodeStatus::timeout);
  EXPECT_TRUE(node.upload("/s/f", as_bytes("x"), 0600));

  node.on_exec = [](std::string_view command, std::span<const std::uint8_t>) {
    return NodeResult<ExecResult>(ExecResult{0, std::string(command), {}});
  };
  node.fail_next("exec", "sha256sum", NodeError{NodeStatus::failed, "exec", "boom"});
  EXPECT_FALSE(node.exec("sha256sum /s/f"));
  EXPECT_EQ(node.exec("echo hi")->out, "echo hi");
  EXPECT_EQ(node.log, (std::vector<std::string>{"upload /s/f", "upload /s/f", "exec sha256sum /s/f",
                                                "exec echo hi"}));
}

TEST(SupportFakeRemote, FullFilesystemRefusesUploads) {
  FakeRemote node;
  node.add_dir("/d");
  node.space_info.available = 3;
  EXPECT_FALSE(node.upload("/d/big", as_bytes("four"), 0600));
  EXPECT_FALSE(node.exists("/d/big"));
  EXPECT_TRUE(node.upload("/d/ok", as_bytes("abc"), 0600));
  EXPECT_EQ(node.space("/d")->available, 0u);
}

}  // namespace
}  // namespace kf::test
