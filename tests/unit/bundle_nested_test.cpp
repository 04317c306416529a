// Bundles of nested key sets (manifest format 2): the tar reader's nested mode, the writer's
// directory entries, and validate_tar's rules for what the manifest lists.
#include <gtest/gtest.h>

#include "bundle/bundle.hpp"
#include "bundle/tar_reader.hpp"
#include "bundle/tar_writer.hpp"
#include "support/bundle_fixtures.hpp"

namespace kf::bundle {
namespace {

using test::RawEntry;

constexpr TarLimits kNested{16, 1024, true};

Result<std::vector<TarEntry>> read_nested(const std::vector<RawEntry>& entries) {
  std::string tar = test::craft_tar(entries);
  return read_tar(as_bytes(tar), kNested);
}

void expect_rejected(const Result<std::vector<TarEntry>>& result, std::string_view reason) {
  ASSERT_FALSE(result) << "accepted a tar that should fail with: " << reason;
  EXPECT_EQ(result.error().code, ExitCode::integrity);
  EXPECT_NE(result.error().message.find(reason), std::string::npos) << result.error().message;
}

TEST(TarReaderNested, ReadsDirectoriesAndNestedDotfiles) {
  auto result = read_nested({{"manifest.json", "{}"},
                             {".keytrustee/", "", AE_IFDIR, 0700},
                             {".keytrustee/secring.gpg", "ring"},
                             {"a/b/c", "x"}});
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->size(), 4u);
  EXPECT_EQ((*result)[1].name, ".keytrustee");
  EXPECT_TRUE((*result)[1].directory);
  EXPECT_EQ((*result)[2].name, ".keytrustee/secring.gpg");
  EXPECT_FALSE((*result)[2].directory);
}

TEST(TarReaderNested, EveryHostileCaseOfTheFlatReaderStillFails) {
  expect_rejected(read_nested({{"link", "", AE_IFLNK, 0777, "/etc/passwd"}}), "a symbolic link");
  expect_rejected(read_nested({{"a", "x"}, {"b", "", AE_IFREG, 0600, "", "a"}}), "a hard link");
  expect_rejected(read_nested({{"null", "", AE_IFCHR, 0600}}), "a character device");
  expect_rejected(read_nested({{"fifo", "", AE_IFIFO, 0600}}), "a FIFO");
  expect_rejected(read_nested({{"a", "1"}, {"a", "2"}}), "a second entry with this name");
  expect_rejected(read_nested({{"/abs", "x"}}), "'/abs': unsafe name: an absolute path");
  expect_rejected(read_nested({{"../x", "x"}}), "'../x': unsafe name: a '..' component");
  expect_rejected(read_nested({{"bad\x1b[2J", "x"}}), "'bad\\x1b[2J': unsafe name");
}

TEST(TarReaderNested, RefusesNestedDotDotAndPathsThroughFiles) {
  expect_rejected(read_nested({{"a/../../etc/passwd", "x"}}), "a '..' component");
  expect_rejected(read_nested({{"a/./b", "x"}}), "a '.' component");
  expect_rejected(read_nested({{"a//b", "x"}}), "an empty path component");
  expect_rejected(read_nested({{"1/2/3/4/5/6/7/8/9", "x"}}), "more than 8 levels deep");
  // A file, then a path through it; and the other way round.
  expect_rejected(read_nested({{"a", "x"}, {"a/b", "y"}}),
                  "'a/b': a path through an entry that is a file");
  expect_rejected(read_nested({{"a/b", "y"}, {"a", "x"}}),
                  "'a': a path through an entry that is a file");
  expect_rejected(read_nested({{"d/", "", AE_IFDIR, 0700}, {"d", "x"}}),
                  "a second entry with this name");
}

// A nested key set as create-keys --import writes it.
struct NestedSet {
  Manifest manifest;
  std::vector<test::FileSpec> files;
};

NestedSet nested_set() {
  NestedSet s;
  s.files = {{".keytrustee/secring.gpg", 0600, test::random_text(300)},
             {".keytrustee/pubring.gpg", 0640, test::random_text(200)},
             {"top.txt", 0644, "top"}};
  s.manifest = test::manifest_for(s.files, 4);
  s.manifest.kind = std::string(kKindImported);
  s.manifest.key_type.clear();  // an imported set has no certificate
  s.manifest.hosts.clear();
  s.manifest.not_after.clear();
  s.manifest.ca_fingerprint.clear();
  s.manifest.agent_fingerprint.clear();
  s.manifest.directories = {{".keytrustee", 0750}};
  return s;
}

std::vector<RawEntry> nested_entries(const NestedSet& s, bool with_directory_entry = true) {
  std::vector<RawEntry> entries{{"manifest.json", serialize(s.manifest), AE_IFREG, 0644}};
  if (with_directory_entry) entries.push_back({".keytrustee/", "", AE_IFDIR, 0750});
  for (const auto& f : s.files) entries.push_back({f.name, f.data, AE_IFREG, f.mode});
  return entries;
}

void expect_invalid(const std::vector<RawEntry>& entries, std::string_view reason) {
  std::string tar = test::craft_tar(entries);
  auto opened = validate_tar(as_bytes(tar));
  ASSERT_FALSE(opened) << "accepted; expected: " << reason;
  EXPECT_EQ(opened.error().code, ExitCode::integrity);
  EXPECT_NE(opened.error().message.find(reason), std::string::npos) << opened.error().message;
}

TEST(BundleNested, AVersion2TarOpensWithOrWithoutDirectoryEntries) {
  NestedSet s = nested_set();
  for (bool with_dir : {true, false}) {
    std::string tar = test::craft_tar(nested_entries(s, with_dir));
    auto opened = validate_tar(as_bytes(tar));
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->manifest, s.manifest);
    ASSERT_EQ(opened->files.size(), 3u);
    EXPECT_EQ(opened->files[0].name, ".keytrustee/pubring.gpg");
    EXPECT_EQ(opened->files[0].mode, 0640u);
  }
}

TEST(BundleNested, KeysetTarWritesDirectoriesFirstAndReadsBack) {
  NestedSet s = nested_set();
  KeySet keyset;
  keyset.manifest = s.manifest;
  for (const auto& f : s.manifest.files) {
    auto it = std::find_if(s.files.begin(), s.files.end(),
                           [&](const auto& spec) { return spec.name == f.name; });
    keyset.files.push_back({f.name, f.mode, SecretBytes(it->data.begin(), it->data.end())});
  }
  auto tar = keyset_tar(keyset);
  ASSERT_TRUE(tar) << tar.error().message;
  auto entries = read_tar(*tar, {kMaxEntries, kMaxEntrySize, true});
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 5u);
  EXPECT_EQ((*entries)[1].name, ".keytrustee");
  EXPECT_TRUE((*entries)[1].directory);
  EXPECT_EQ((*entries)[1].mode, 0750u);
  auto opened = validate_tar(*tar);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->manifest.directories, s.manifest.directories);
  // And GNU tar extracts it as it is, modes included (the emergency path of bundle-format.md).
  test::TempDir dir;
  test::write_bytes(dir / "k.tar", *tar);
  auto x = test::shell("mkdir " + (dir / "x").string() + " && tar -xpf " +
                       (dir / "k.tar").string() + " -C " + (dir / "x").string());
  ASSERT_EQ(x.exit_code, 0) << x.err;
  EXPECT_EQ(test::file_mode(dir / "x" / ".keytrustee"), 0750u);
  EXPECT_EQ(test::file_mode(dir / "x" / ".keytrustee" / "pubring.gpg"), 0640u);
}

TEST(BundleNested, RefusesWhatTheManifestDoesNotSayOrSaysOtherwise) {
  NestedSet s = nested_set();
  auto with = [&](auto change) {
    auto entries = nested_entries(s);
    change(entries);
    return entries;
  };
  expect_invalid(with([](auto& e) {
                   e.push_back({".keytrustee/../../x", "x"});
                 }),
                 "a '..' component");
  expect_invalid(with([](auto& e) {
                   e.push_back({"other/", "", AE_IFDIR, 0700});
                 }),
                 "tar entry 'other' is not listed in the manifest");
  expect_invalid(with([](auto& e) {
                   e.push_back({"top.txt/", "", AE_IFDIR, 0700});
                 }),
                 "a second entry with this name");
  expect_invalid(with([](auto& e) {
                   e.erase(e.begin() + 4);
                   e.push_back({"top.txt/", "", AE_IFDIR, 0700});
                 }),
                 "tar entry 'top.txt' is a directory, the manifest lists a file");
  expect_invalid(with([](auto& e) {
                   e.erase(e.begin() + 1);
                   e.push_back({".keytrustee", "x"});
                 }),
                 "a path through an entry that is a file");
  expect_invalid(with([](auto& e) {
                   e.push_back({"top.txt/evil", "x"});
                 }),
                 "a path through an entry that is a file");
  expect_invalid(with([](auto& e) { e[2].data[0] ^= 1; }), "has SHA-256");
  expect_invalid(with([](auto& e) { e.pop_back(); }), "listed in the manifest but not in the tar");
}

TEST(BundleNested, AVersion1ManifestStillRefusesDirectoriesAndPaths) {
  auto files = test::keyset_files(false);
  auto entries = test::valid_entries(files);
  auto dir = entries;
  dir.push_back({"sub/", "", AE_IFDIR, 0700});
  expect_invalid(dir, "'sub': a directory");
  auto nested = entries;
  nested.push_back({"sub/x", "x"});
  expect_invalid(nested, "'sub/x': unsafe name (only");
  auto dotfile = entries;
  dotfile.push_back({".hidden", "x"});
  expect_invalid(dotfile, "'.hidden': unsafe name (only");
}

}  // namespace
}  // namespace kf::bundle
