// keydir::LocalRemote: this machine with SFTP's rules, and commands under /bin/sh.
#include "keydir/local_remote.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/files.hpp"
#include "core/secret.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class LocalRemoteTest : public ::testing::Test {
 protected:
  [[nodiscard]] std::string path(const std::string& name) const { return (tmp_ / name).string(); }

  test::TempDir tmp_;
  LocalRemote remote_{"here", Deadline::after(60s)};
};

TEST_F(LocalRemoteTest, RenameNeverReplaces) {
  test::write_text(tmp_ / "a", "a");
  test::write_text(tmp_ / "b", "b");
  auto renamed = remote_.rename(path("a"), path("b"));
  ASSERT_FALSE(renamed);
  EXPECT_THAT(renamed.error().message, StartsWith("here: cannot rename " + path("a")));
  EXPECT_THAT(renamed.error().message, HasSubstr("File exists"));
  EXPECT_EQ(test::read_text(tmp_ / "a"), "a");
  EXPECT_EQ(test::read_text(tmp_ / "b"), "b");
  fs::create_symlink("nowhere", tmp_ / "link");
  EXPECT_FALSE(remote_.rename(path("a"), path("link")));  // not even a dangling link
  ASSERT_TRUE(remote_.rename(path("a"), path("c")));
  EXPECT_EQ(test::read_text(tmp_ / "c"), "a");
  EXPECT_FALSE(fs::exists(tmp_ / "a"));
}

TEST_F(LocalRemoteTest, UploadIsExclusiveAndLeavesWhatIsThereAlone) {
  test::write_text(tmp_ / "taken", "precious", 0640);
  auto uploaded = remote_.upload(path("taken"), as_bytes("new"), 0600);
  ASSERT_FALSE(uploaded);
  EXPECT_THAT(uploaded.error().message, HasSubstr(path("taken")));
  EXPECT_EQ(test::read_text(tmp_ / "taken"), "precious");
  EXPECT_EQ(test::file_mode(tmp_ / "taken"), 0640u);
}

TEST_F(LocalRemoteTest, UploadNeverWritesThroughASymlink) {
  fs::path target = tmp_ / "target";
  fs::create_symlink(target, tmp_ / "link");
  EXPECT_FALSE(remote_.upload(path("link"), as_bytes("new"), 0600));
  EXPECT_FALSE(fs::exists(fs::symlink_status(target)));
  EXPECT_TRUE(fs::is_symlink(tmp_ / "link"));
}

TEST_F(LocalRemoteTest, UploadAndMkdirSetExactlyTheModeWhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}, mode_t{0277}}) {
    ScopedUmask umask(mask);
    for (mode_t mode : {mode_t{0600}, mode_t{0644}, mode_t{0640}, mode_t{0666}}) {
      std::string name = fmt::format("f-{:o}-{:o}", mask, mode);
      ASSERT_TRUE(remote_.upload(path(name), as_bytes("data"), mode)) << name;
      EXPECT_EQ(test::file_mode(tmp_ / name), mode) << name;
      EXPECT_EQ(test::read_text(tmp_ / name), "data");
    }
    for (mode_t mode : {mode_t{0700}, mode_t{0710}, mode_t{0755}}) {
      std::string name = fmt::format("d-{:o}-{:o}", mask, mode);
      ASSERT_TRUE(remote_.mkdir(path(name), mode)) << name;
      EXPECT_EQ(test::file_mode(tmp_ / name), mode) << name;
    }
  }
  auto again = remote_.mkdir(path("d-0-700"), 0700);
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message, HasSubstr("cannot create directory " + path("d-0-700")));
}

TEST_F(LocalRemoteTest, ListDirGivesEachEntrysOwnType) {
  test::write_text(tmp_ / "file", "12345", 0640);
  fs::create_directories(tmp_ / "dir");
  fs::create_symlink(tmp_ / "dir", tmp_ / "link-to-dir");
  fs::create_symlink("nowhere", tmp_ / "dangling");
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  auto entries = remote_.list_dir(tmp_.path().string());
  ASSERT_TRUE(entries) << entries.error().message;
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  EXPECT_THAT(names, ElementsAre("dangling", "dir", "fifo", "file", "link-to-dir"));  // sorted
  auto type_of = [&](const std::string& name) {
    for (const auto& e : *entries) {
      if (e.name == name) return e.stat.type;
    }
    return FileType::other;
  };
  EXPECT_EQ(type_of("dangling"), FileType::symlink);
  EXPECT_EQ(type_of("dir"), FileType::directory);
  EXPECT_EQ(type_of("fifo"), FileType::other);
  EXPECT_EQ(type_of("file"), FileType::regular);
  EXPECT_EQ(type_of("link-to-dir"), FileType::symlink);
  EXPECT_EQ((*entries)[3].stat.size, 5u);
  EXPECT_EQ((*entries)[3].stat.mode, 0640u);
  EXPECT_EQ((*entries)[3].stat.uid, ::getuid());
  EXPECT_FALSE(remote_.list_dir(path("missing")));
}

TEST_F(LocalRemoteTest, StatFollowsLinksAndLstatDoesNot) {
  fs::create_directories(tmp_ / "dir");
  fs::create_symlink(tmp_ / "dir", tmp_ / "link");
  fs::create_symlink("nowhere", tmp_ / "dangling");
  test::write_text(tmp_ / "file", "x");
  EXPECT_EQ(remote_.stat(path("link")).value()->type, FileType::directory);
  EXPECT_EQ(remote_.lstat(path("link")).value()->type, FileType::symlink);
  EXPECT_FALSE(remote_.stat(path("dangling")).value());
  EXPECT_EQ(remote_.lstat(path("dangling")).value()->type, FileType::symlink);
  EXPECT_FALSE(remote_.lstat(path("missing")).value());
  EXPECT_FALSE(remote_.lstat(path("file/below")).value());  // ENOTDIR: nothing there either
}

TEST_F(LocalRemoteTest, ReadlinkGivesTheLinksText) {
  fs::create_symlink("generations/000001", tmp_ / "current");
  EXPECT_EQ(remote_.readlink(path("current")).value_or("?"), "generations/000001");
  test::write_text(tmp_ / "file", "x");
  auto not_link = remote_.readlink(path("file"));
  ASSERT_FALSE(not_link);
  EXPECT_THAT(not_link.error().message, HasSubstr("cannot read the symlink " + path("file")));
  ASSERT_TRUE(remote_.symlink("generations/000002", path("next")));
  EXPECT_EQ(fs::read_symlink(tmp_ / "next").string(), "generations/000002");
  EXPECT_FALSE(remote_.symlink("x", path("next")));  // never over an existing name
}

TEST_F(LocalRemoteTest, ReadFileRefusesMoreThanAsked) {
  test::write_text(tmp_ / "file", "0123456789");
  auto all = remote_.read_file(path("file"), 10);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(std::string(all->begin(), all->end()), "0123456789");
  EXPECT_FALSE(remote_.read_file(path("file"), 9));
  EXPECT_FALSE(remote_.read_file(path("missing"), 9));
}

TEST_F(LocalRemoteTest, UnlinkRmdirChmodAndFsyncNameThePathOnFailure) {
  fs::create_directories(tmp_ / "dir" / "sub");
  auto rmdir = remote_.rmdir(path("dir"));
  ASSERT_FALSE(rmdir);
  EXPECT_THAT(rmdir.error().message, HasSubstr(path("dir")));
  auto unlink = remote_.unlink(path("dir"));
  ASSERT_FALSE(unlink);
  EXPECT_THAT(unlink.error().message, HasSubstr(path("dir")));
  EXPECT_TRUE(remote_.rmdir(path("dir/sub")));
  EXPECT_TRUE(remote_.chmod(path("dir"), 0711));
  EXPECT_EQ(test::file_mode(tmp_ / "dir"), 0711u);
  EXPECT_TRUE(remote_.fsync_dir(path("dir")));
  EXPECT_FALSE(remote_.fsync_dir(path("missing")));
  EXPECT_FALSE(remote_.chmod(path("missing"), 0700));
  auto space = remote_.space(tmp_.path().string());
  ASSERT_TRUE(space) << space.error().message;
  EXPECT_GT(space->total, 0u);
}

// lchown: a symlink's own owner changes, never its target's.
TEST_F(LocalRemoteTest, ChownNeverFollowsASymlink) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing owners needs root";
  test::write_text(tmp_ / "target", "x");
  fs::create_symlink(tmp_ / "target", tmp_ / "link");
  ASSERT_TRUE(remote_.chown(path("link"), 65534, 65534));
  struct stat st {};
  ASSERT_EQ(::lstat(path("link").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  ASSERT_EQ(::stat(path("target").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(LocalRemoteTest, ExecGivesExitStatusOutputAndError) {
  auto r = remote_.exec("echo out; echo err >&2; exit 3");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_status, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->ok());
  auto killed = remote_.exec("kill -9 $$");
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_EQ(killed->exit_status, -1);
}

TEST_F(LocalRemoteTest, ExecFeedsStdinLargerThanAPipe) {
  std::string data;
  for (int i = 0; data.size() < (std::size_t{3} << 20); ++i) data += std::to_string(i) + "\n";
  LocalRemote remote("here", Deadline::after(10s));  // a deadlock fails in 10 s, not 60
  auto echoed = remote.exec("cat", as_bytes(data));
  ASSERT_TRUE(echoed) << echoed.error().message;
  EXPECT_EQ(echoed->exit_status, 0);
  EXPECT_TRUE(echoed->out == data) << "got " << echoed->out.size() << " bytes";
  // A command that reads none of its input still reports its own exit status.
  auto ignored = remote.exec("exit 7", as_bytes(data));
  ASSERT_TRUE(ignored) << ignored.error().message;
  EXPECT_EQ(ignored->exit_status, 7);
}

TEST_F(LocalRemoteTest, OpenChannelReadsUntilAMarkerThenFinishes) {
  auto channel = remote_.open_channel(
      "echo ready; read -r a; echo \"got $a\"; read -r b; echo \"$b\" >&2; printf tail; exit 5");
  ASSERT_TRUE(channel) << channel.error().message;
  EXPECT_EQ((*channel)->read_until("\n").value_or("?"), "ready\n");
  ASSERT_TRUE((*channel)->write("one\n"));
  EXPECT_EQ((*channel)->read_until("\n").value_or("?"), "got one\n");
  ASSERT_TRUE((*channel)->write("two\n"));
  auto end = (*channel)->finish();
  ASSERT_TRUE(end) << end.error().message;
  EXPECT_EQ(end->exit_status, 5);
  EXPECT_EQ(end->out, "tail");
  EXPECT_EQ(end->err, "two\n");
}

TEST_F(LocalRemoteTest, TheDeadlineBoundsEveryCommand) {
  LocalRemote hurried("hurried", Deadline::after(300ms));
  auto begin = std::chrono::steady_clock::now();
  auto r = hurried.exec("sleep 30");
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
  EXPECT_EQ(r.error().status, NodeStatus::timeout);
  EXPECT_THAT(r.error().message, StartsWith("hurried: "));
  EXPECT_THAT(r.error().message, HasSubstr("deadline"));
}

}  // namespace
}  // namespace kf::keydir
