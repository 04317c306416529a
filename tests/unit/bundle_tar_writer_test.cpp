#include <gtest/gtest.h>

#include "bundle/tar_reader.hpp"
#include "bundle/tar_writer.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf::bundle {
namespace {

constexpr std::time_t kCreated = 1769860800;  // 2026-01-31T12:00:00Z

std::vector<TarFile> sample(const std::vector<test::FileSpec>& specs) {
  std::vector<TarFile> files;
  for (const auto& f : specs) files.push_back({f.name, f.mode, as_bytes(f.data)});
  return files;
}

std::string field(const SecretBytes& tar, std::size_t block, std::size_t offset, std::size_t size) {
  std::string s(reinterpret_cast<const char*>(tar.data()) + block * 512 + offset, size);
  return s.substr(0, s.find('\0'));
}

TEST(TarWriter, SameFilesGiveSameBytes) {
  auto specs = test::keyset_files();
  auto one = write_tar(sample(specs), kCreated);
  auto two = write_tar(sample(specs), kCreated);
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(*one, *two);
  auto later = write_tar(sample(specs), kCreated + 1);
  ASSERT_TRUE(later);
  EXPECT_NE(*one, *later);
}

// Plain ustar headers only (no pax extended header carrying atime, ctime or xattrs), root-owned,
// with the given mtime and modes, ending right after the end-of-archive blocks.
TEST(TarWriter, HeadersHoldOnlyWhatWeSet) {
  std::vector<test::FileSpec> specs = {{"manifest.json", 0644, "{}\n"}, {"agent.key", 0600, "k"}};
  auto tar = write_tar(sample(specs), kCreated);
  ASSERT_TRUE(tar);
  ASSERT_EQ(tar->size(), 512u * 4 + 1024u);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::size_t block = i * 2;
    EXPECT_EQ(field(*tar, block, 0, 100), specs[i].name);
    EXPECT_EQ(field(*tar, block, 100, 8), i == 0 ? "000644 " : "000600 ");
    EXPECT_EQ(field(*tar, block, 108, 8), "000000 ");
    EXPECT_EQ(field(*tar, block, 116, 8), "000000 ");
    EXPECT_EQ(std::stoll(field(*tar, block, 136, 12), nullptr, 8), kCreated);
    EXPECT_EQ(field(*tar, block, 156, 1), "0");  // a regular file, not 'x' (pax header)
    EXPECT_EQ(field(*tar, block, 257, 6), "ustar");
    EXPECT_EQ(field(*tar, block, 265, 32), "root");
    EXPECT_EQ(field(*tar, block, 297, 32), "root");
  }
  EXPECT_TRUE(std::all_of(tar->end() - 1024, tar->end(), [](auto b) { return b == 0; }));
}

TEST(TarWriter, GnuTarListsEntriesInOrderWithModesAndOwner) {
  test::TempDir dir;
  auto specs = test::keyset_files();
  auto tar = write_tar(sample(specs), kCreated);
  ASSERT_TRUE(tar);
  test::write_bytes(dir / "k.tar", *tar);
  auto listed = test::shell("TZ=UTC tar -tvf " + (dir / "k.tar").string());
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::istringstream lines(listed.out);
  std::string line;
  for (const auto& f : specs) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_TRUE(line.starts_with(f.mode == 0600 ? "-rw------- root/root" : "-rw-r--r-- root/root"))
        << line;
    EXPECT_NE(line.find("2026-01-31 12:00"), std::string::npos) << line;
    EXPECT_TRUE(line.ends_with(" " + f.name)) << line;
  }
  EXPECT_FALSE(std::getline(lines, line));
}

TEST(TarWriter, LongestAllowedNameRoundTrips) {
  std::string name(128, 'n');
  std::vector<test::FileSpec> specs = {{name, 0600, "data"}};
  auto one = write_tar(sample(specs), kCreated);
  auto two = write_tar(sample(specs), kCreated);
  ASSERT_TRUE(one);
  ASSERT_TRUE(two);
  EXPECT_EQ(*one, *two);
  EXPECT_EQ(field(*one, 0, 156, 1), "x");  // a pax extended header carries the long name
  auto entries = read_tar(*one, {10, 100});
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, name);
}

TEST(TarWriter, EmptyFileAndNoFiles) {
  std::vector<test::FileSpec> specs = {{"storepass", 0600, ""}};
  auto tar = write_tar(sample(specs), kCreated);
  ASSERT_TRUE(tar);
  auto entries = read_tar(*tar, {10, 100});
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_TRUE((*entries)[0].data.empty());
  auto none = write_tar({}, kCreated);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->size(), 1024u);
}

}  // namespace
}  // namespace kf::bundle
