#include <gtest/gtest.h>

#include "bundle/tar_reader.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf::bundle {
namespace {

using test::RawEntry;

constexpr TarLimits kLimits{16, 1024};

Result<std::vector<TarEntry>> read(const std::vector<RawEntry>& entries,
                                   const TarLimits& limits = kLimits) {
  std::string tar = test::craft_tar(entries);
  return read_tar(as_bytes(tar), limits);
}

void expect_rejected(const std::vector<RawEntry>& entries, std::string_view reason) {
  auto result = read(entries);
  ASSERT_FALSE(result) << "accepted a tar that should fail with: " << reason;
  EXPECT_EQ(result.error().code, ExitCode::integrity);
  EXPECT_NE(result.error().message.find(reason), std::string::npos) << result.error().message;
}

TEST(TarReader, ReadsRegularFilesInOrder) {
  auto result = read({{"manifest.json", "{}"}, {"b", "bee", AE_IFREG, 0644}, {"a", ""}});
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->size(), 3u);
  EXPECT_EQ((*result)[0].name, "manifest.json");
  EXPECT_EQ((*result)[1].name, "b");
  EXPECT_EQ((*result)[1].mode, 0644u);
  EXPECT_EQ(std::string((*result)[1].data.begin(), (*result)[1].data.end()), "bee");
  EXPECT_TRUE((*result)[2].data.empty());
}

TEST(TarReader, RejectsUnsafeNames) {
  expect_rejected({{"../x", "x"}}, "'../x': unsafe name");
  expect_rejected({{"/abs", "x"}}, "'/abs': unsafe name");
  expect_rejected({{"dir/file", "x"}}, "unsafe name");
  expect_rejected({{".hidden", "x"}}, "unsafe name");
  expect_rejected({{"a b", "x"}}, "unsafe name");
  expect_rejected({{"ok", "x"}, {"bad\x1b[2J", "x"}}, "tar entry 2 'bad\\x1b[2J'");
  expect_rejected({{std::string(129, 'a'), "x"}}, "unsafe name");
}

TEST(TarReader, RejectsEverythingButPlainFiles) {
  expect_rejected({{"link", "", AE_IFLNK, 0777, "/etc/passwd"}}, "'link': a symbolic link");
  expect_rejected({{"a", "x"}, {"b", "", AE_IFREG, 0600, "", "a"}}, "'b': a hard link");
  expect_rejected({{"dir", "", AE_IFDIR, 0700}}, "a directory");
  expect_rejected({{"null", "", AE_IFCHR, 0600}}, "'null': a character device");
  expect_rejected({{"disk", "", AE_IFBLK, 0600}}, "'disk': a block device");
  expect_rejected({{"fifo", "", AE_IFIFO, 0600}}, "'fifo': a FIFO");
}

TEST(TarReader, RejectsDuplicatesAndEnforcesLimits) {
  expect_rejected({{"a", "1"}, {"a", "2"}}, "'a': a second entry with this name");
  auto big = read({{"a", std::string(1025, 'x')}});
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("1025 bytes is more than the limit of 1024"),
            std::string::npos);
  EXPECT_TRUE(read({{"a", std::string(1024, 'x')}}));
  std::vector<RawEntry> many;
  for (int i = 0; i < 17; ++i) many.push_back({fmt::format("f{}", i), "x"});
  auto too_many = read(many);
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find("more than 16 entries"), std::string::npos);
  many.pop_back();
  EXPECT_TRUE(read(many));
}

TEST(TarReader, RejectsGarbageAndTruncation) {
  std::string noise = test::random_text(4096);
  auto garbage = read_tar(as_bytes(noise), kLimits);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ExitCode::integrity);

  std::string tar = test::craft_tar({{"a", std::string(900, 'x')}});
  auto cut = read_tar(as_bytes(tar).first(512 + 100), kLimits);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, ExitCode::integrity);

  std::string corrupt = tar;
  corrupt[148] ^= 0x01;  // the header checksum
  auto bad_sum = read_tar(as_bytes(corrupt), kLimits);
  ASSERT_FALSE(bad_sum);
  EXPECT_EQ(bad_sum.error().code, ExitCode::integrity);
}

// Other tools' tars are accepted when they hold only plain files with simple names: GNU tar's own
// format and its pax format (whose extended headers carry atime and ctime).
TEST(TarReader, AcceptsGnuTarArchives) {
  test::TempDir dir;
  test::write_text(dir / "manifest.json", "{}");
  test::write_text(dir / "agent.key", "secret", 0600);
  for (std::string format : {"gnu", "pax", "ustar"}) {
    auto made = test::shell("tar --format=" + format + " -C " + dir.path().string() + " -cf " +
                            (dir / "x.tar").string() + " manifest.json agent.key");
    ASSERT_EQ(made.exit_code, 0) << made.err;
    auto bytes = read_file(dir / "x.tar", 1 << 20);
    ASSERT_TRUE(bytes);
    auto result = read_tar(*bytes, kLimits);
    ASSERT_TRUE(result) << format << ": " << result.error().message;
    ASSERT_EQ(result->size(), 2u);
    EXPECT_EQ((*result)[1].name, "agent.key");
    std::remove((dir / "x.tar").c_str());
  }
}

TEST(TarReader, PrintableNameEscapesControlBytes) {
  EXPECT_EQ(printable_name("ok.txt"), "ok.txt");
  // One escaper for everything that comes from outside (core/escape.hpp).
  EXPECT_EQ(printable_name("a\nb"), "a\\nb");
  EXPECT_EQ(printable_name("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(printable_name(std::string(120, 'x')), std::string(100, 'x') + "...");
}

}  // namespace
}  // namespace kf::bundle

namespace kf::bundle {
namespace {

// The end-of-archive blocks end the walk: what follows them (authenticated, in a bundle) has no
// meaning and is not parsed as entries.
TEST(TarReader, StopsAtEndOfArchive) {
  std::string tar = test::craft_tar({{"a", "1"}});
  std::string trailing = tar + test::craft_tar({{"b", "2"}});
  auto result = read_tar(as_bytes(trailing), kLimits);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->size(), 1u);
  EXPECT_EQ((*result)[0].name, "a");
}

}  // namespace
}  // namespace kf::bundle
