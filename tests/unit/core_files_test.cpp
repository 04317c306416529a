#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/files.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return as_bytes(s);
}

TEST(Files, CreateExclusiveSetsExactModeAndRefusesExisting) {
  TempDir dir;
  auto fd = create_exclusive(dir / "a", 0644);
  ASSERT_TRUE(fd) << fd.error().message;
  EXPECT_EQ(test::file_mode(dir / "a"), 0644u);
  auto again = create_exclusive(dir / "a", 0600);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ExitCode::refused);
  EXPECT_NE(again.error().message.find("/a"), std::string::npos);
}

TEST(Files, CreateExclusiveDoesNotFollowDanglingSymlink) {
  TempDir dir;
  ASSERT_EQ(symlink((dir / "target").c_str(), (dir / "link").c_str()), 0);
  EXPECT_FALSE(create_exclusive(dir / "link", 0600));
  EXPECT_FALSE(boost::filesystem::exists(dir / "target"));
}

TEST(Files, WriteFileAtomicReplacesAndLeavesNoTemporary) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir / "f", bytes("one"), 0600));
  ASSERT_TRUE(write_file_atomic(dir / "f", bytes("two"), 0644));
  EXPECT_EQ(test::read_text(dir / "f"), "two");
  EXPECT_EQ(test::file_mode(dir / "f"), 0644u);
  EXPECT_EQ(test::snapshot(dir.path()).size(), 1u);
}

TEST(Files, ReadFileRefusesOversizeAndSymlinks) {
  TempDir dir;
  test::write_text(dir / "f", "0123456789");
  auto ok = read_file(dir / "f", 10);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 10u);
  EXPECT_FALSE(read_file(dir / "f", 9));
  ASSERT_EQ(symlink((dir / "f").c_str(), (dir / "l").c_str()), 0);
  EXPECT_FALSE(read_file(dir / "l", 100));
}

TEST(Files, WipeFileZeroesAndRemoves) {
  TempDir dir;
  test::write_text(dir / "bundle", std::string(100000, 'x'));
  ASSERT_TRUE(wipe_file(dir / "bundle"));
  EXPECT_FALSE(boost::filesystem::exists(dir / "bundle"));
  EXPECT_FALSE(wipe_file(dir / "bundle"));
}

TEST(Files, MakeDirAcceptsDirectoryRefusesFile) {
  TempDir dir;
  ASSERT_TRUE(make_dir(dir / "d"));
  EXPECT_EQ(test::file_mode(dir / "d"), 0700u);
  EXPECT_TRUE(make_dir(dir / "d"));
  test::write_text(dir / "f", "x");
  EXPECT_FALSE(make_dir(dir / "f"));
}

TEST(Files, HexHelpers) {
  const std::uint8_t data[] = {0x00, 0xab, 0xff};
  EXPECT_EQ(to_hex(data), "00abff");
  EXPECT_EQ(random_hex(8).size(), 16u);
  EXPECT_NE(random_hex(8), random_hex(8));
}

}  // namespace
}  // namespace kf
