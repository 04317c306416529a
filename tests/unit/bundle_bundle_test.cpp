#include <gtest/gtest.h>

#include "bundle/bundle.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf::bundle {
namespace {

using test::FileSpec;
using test::RawEntry;
using test::TempDir;

std::string text(const SecretBytes& bytes) {
  return {bytes.begin(), bytes.end()};
}

void expect_error(const auto& result, ExitCode code, std::string_view reason) {
  ASSERT_FALSE(result) << "succeeded, expected: " << reason;
  EXPECT_EQ(result.error().code, code) << result.error().message;
  EXPECT_NE(result.error().message.find(reason), std::string::npos) << result.error().message;
}

TEST(KeySet, LoadsEveryListedFileAndLeavesOutCaKey) {
  TempDir dir;
  auto specs = test::keyset_files();
  Manifest written = test::write_keyset(dir.path(), 3, specs);
  auto keyset = load_keyset(dir.path(), false);
  ASSERT_TRUE(keyset) << keyset.error().message;
  EXPECT_EQ(keyset->manifest.generation, 3u);
  EXPECT_EQ(keyset->manifest.find("ca.key"), nullptr);
  EXPECT_EQ(keyset->manifest.files.size(), written.files.size() - 1);
  ASSERT_EQ(keyset->files.size(), keyset->manifest.files.size());
  for (std::size_t i = 0; i < keyset->files.size(); ++i) {
    const auto& f = keyset->files[i];
    EXPECT_EQ(f.name, keyset->manifest.files[i].name);
    auto spec = std::find_if(specs.begin(), specs.end(), [&](auto& s) { return s.name == f.name; });
    EXPECT_EQ(text(f.data), spec->data);
    EXPECT_EQ(f.mode, spec->mode);
  }
  auto with_ca = load_keyset(dir.path(), true);
  ASSERT_TRUE(with_ca);
  EXPECT_EQ(with_ca->manifest, written);
}

TEST(KeySet, RefusesAKeySetChangedAfterCreateKeys) {
  TempDir dir;
  test::write_keyset(dir.path(), 1);
  std::string key = test::read_text(dir / "agent.key");
  key[5] ^= 1;  // same size, other bytes
  test::write_text(dir / "agent.key", key, 0600);
  expect_error(load_keyset(dir.path(), false), ExitCode::integrity,
               "agent.key does not match its SHA-256");

  test::write_text(dir / "agent.key", key + "x", 0600);
  expect_error(load_keyset(dir.path(), false), ExitCode::integrity, "agent.key has");

  fs::remove(dir / "agent.key");
  expect_error(load_keyset(dir.path(), false), ExitCode::integrity,
               "agent.key is listed in the manifest but missing");

  ASSERT_EQ(symlink((dir / "ca.crt").c_str(), (dir / "agent.key").c_str()), 0);
  expect_error(load_keyset(dir.path(), false), ExitCode::integrity,
               "agent.key is not a regular file");
}

TEST(KeySet, UsageErrors) {
  TempDir dir;
  expect_error(load_keyset(dir / "missing", false), ExitCode::usage, "not a directory");
  expect_error(load_keyset(dir.path(), false), ExitCode::usage, "no manifest.json");
  test::write_text(dir / "manifest.json", "{\"format\": \"other\"}");
  expect_error(load_keyset(dir.path(), false), ExitCode::usage, "\"format\"");
  test::write_keyset(dir.path(), 1, test::keyset_files(false));
  expect_error(load_keyset(dir.path(), true), ExitCode::usage, "--include-ca-key");
}

TEST(KeySet, SameKeySetGivesSameTar) {
  TempDir dir;
  test::write_keyset(dir.path(), 2);
  auto one = load_keyset(dir.path(), false);
  auto two = load_keyset(dir.path(), false);
  ASSERT_TRUE(one);
  ASSERT_TRUE(two);
  auto tar1 = keyset_tar(*one);
  auto tar2 = keyset_tar(*two);
  ASSERT_TRUE(tar1) << tar1.error().message;
  ASSERT_TRUE(tar2);
  EXPECT_EQ(*tar1, *tar2);
  // ...and the tar is what the format promises: manifest first, then the files in manifest order.
  auto opened = validate_tar(*tar1);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->manifest, one->manifest);
  EXPECT_EQ(text(opened->manifest_bytes), serialize(one->manifest));
}

// push tells key sets apart by the id inside the (encrypted) manifest: the bundle carries it.
TEST(Bundle, CarriesTheKeySetId) {
  TempDir dir;
  Manifest m = test::write_keyset(dir / "keys", 3);
  m.keyset = new_keyset_id();
  test::write_text(dir / "keys" / "manifest.json", serialize(m), 0644);
  auto made = make_bundle(dir / "keys", test::kPassphrase, {false, test::kTestWorkFactor});
  ASSERT_TRUE(made) << made.error().message;
  auto opened = open_bundle(made->bytes, test::kPassphrase);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->manifest.keyset, m.keyset);
  EXPECT_NE(text(opened->manifest_bytes).find(m.keyset), std::string::npos);
}

TEST(Bundle, RoundTripGivesIdenticalBytes) {
  TempDir dir;
  auto specs = test::keyset_files();
  test::write_keyset(dir / "keys", 7, specs);
  auto made = make_bundle(dir / "keys", test::kPassphrase, {true, test::kTestWorkFactor});
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(made->sha256, sha256_hex(made->bytes));
  EXPECT_NE(made->manifest.find("ca.key"), nullptr);
  auto opened = open_bundle(made->bytes, test::kPassphrase);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->manifest, made->manifest);
  EXPECT_EQ(opened->sha256, made->sha256);
  EXPECT_EQ(opened->size, made->bytes.size());
  EXPECT_EQ(opened->work_factor, test::kTestWorkFactor);
  ASSERT_EQ(opened->files.size(), specs.size());
  for (const auto& f : opened->files) {
    auto spec = std::find_if(specs.begin(), specs.end(), [&](auto& s) { return s.name == f.name; });
    ASSERT_NE(spec, specs.end());
    EXPECT_EQ(text(f.data), spec->data) << f.name;
    EXPECT_EQ(f.mode, spec->mode) << f.name;
  }
}

// rotate pushes what it sealed without decrypting it: what seal_keyset hands over must be what
// opening the sealed bytes gives, field for field.
TEST(Bundle, SealKeysetGivesWhatOpeningTheBundleGives) {
  TempDir dir;
  test::write_keyset(dir / "keys", 4);
  auto keyset = load_keyset(dir / "keys", false);
  ASSERT_TRUE(keyset) << keyset.error().message;
  auto sealed =
      seal_keyset(*keyset, SealKey::with_passphrase(test::kPassphrase, test::kTestWorkFactor));
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(sealed->made.sha256, sha256_hex(sealed->made.bytes));
  auto opened = open_bundle(sealed->made.bytes, test::kPassphrase);
  ASSERT_TRUE(opened) << opened.error().message;
  const OpenedBundle& handed = sealed->opened;
  EXPECT_EQ(handed.manifest, opened->manifest);
  EXPECT_EQ(handed.manifest_bytes, opened->manifest_bytes);
  EXPECT_EQ(handed.sha256, opened->sha256);
  EXPECT_EQ(handed.size, opened->size);
  EXPECT_EQ(handed.work_factor, test::kTestWorkFactor);
  EXPECT_EQ(handed.kind, opened->kind);
  ASSERT_EQ(handed.files.size(), opened->files.size());
  for (std::size_t i = 0; i < handed.files.size(); ++i) {
    EXPECT_EQ(handed.files[i].name, opened->files[i].name);
    EXPECT_EQ(handed.files[i].mode, opened->files[i].mode);
    EXPECT_EQ(handed.files[i].data, opened->files[i].data);
  }
  auto bad = seal_keyset(*keyset, SealKey::with_passphrase(test::kPassphrase, 9));
  expect_error(bad, ExitCode::usage, "--work-factor 9");
}

TEST(Bundle, WorkFactorLimits) {
  TempDir dir;
  test::write_keyset(dir.path(), 1);
  expect_error(make_bundle(dir.path(), "pw", {false, 9}), ExitCode::usage, "--work-factor 9");
  expect_error(make_bundle(dir.path(), "pw", {false, 23}), ExitCode::usage, "--work-factor 23");
}

TEST(Bundle, WriteBundleFileIs0600AndNeverReplaces) {
  TempDir dir;
  std::vector<std::uint8_t> bytes{1, 2, 3};
  ASSERT_TRUE(write_bundle_file(dir / "b.age", bytes));
  EXPECT_EQ(test::file_mode(dir / "b.age"), 0600u);
  expect_error(write_bundle_file(dir / "b.age", std::vector<std::uint8_t>{9}), ExitCode::refused,
               "already exists");
  EXPECT_EQ(test::read_text(dir / "b.age"), "\x01\x02\x03");
}

TEST(Bundle, ReadBundleFileLimits) {
  TempDir dir;
  expect_error(read_bundle_file(dir / "none.age"), ExitCode::usage, "does not exist");
  test::write_text(dir / "big.age", "");
  ASSERT_EQ(truncate((dir / "big.age").c_str(), static_cast<off_t>(age::kMaxFileSize) + 1), 0);
  expect_error(read_bundle_file(dir / "big.age"), ExitCode::integrity, "more than the limit");
}

TEST(Bundle, InspectWithoutPassphrase) {
  auto sealed = test::encrypt(test::craft_tar(test::valid_entries(test::keyset_files())));
  auto info = inspect_bundle(sealed);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->header.work_factor, test::kTestWorkFactor);
  EXPECT_EQ(info->size, sealed.size());
  EXPECT_EQ(info->sha256, sha256_hex(sealed));
  expect_error(inspect_bundle({}), ExitCode::integrity, "empty");
  std::string text = "not an age file\n";
  EXPECT_EQ(inspect_bundle(as_bytes(text)).error().code, ExitCode::integrity);
}

// Every rule of docs/bundle-format.md that the tar must pass, each broken on its own.
TEST(Bundle, RejectsTarsThatBreakTheRules) {
  auto files = test::keyset_files(false);
  auto valid = test::valid_entries(files);
  auto with = [&](auto change) {
    auto entries = valid;
    change(entries);
    return entries;
  };
  struct Case {
    std::string what;
    std::vector<RawEntry> entries;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"../x", with([](auto& e) {
         e.push_back({"../x", "x"});
       }),
       "'../x': unsafe name"},
      {"/abs", with([](auto& e) {
         e.push_back({"/abs", "x"});
       }),
       "'/abs': unsafe name"},
      {"symlink", with([](auto& e) {
         e.push_back({"evil", "", AE_IFLNK, 0777, "/etc/shadow"});
       }),
       "a symbolic link"},
      {"hard link", with([](auto& e) {
         e.push_back({"evil", "", AE_IFREG, 0600, "", "agent.key"});
       }),
       "a hard link"},
      {"directory", with([](auto& e) {
         e.push_back({"sub", "", AE_IFDIR, 0700});
       }),
       "a directory"},
      {"device", with([](auto& e) {
         e.push_back({"null", "", AE_IFCHR, 0600});
       }),
       "a character device"},
      {"duplicate", with([](auto& e) { e.push_back(e[1]); }), "a second entry with this name"},
      {"unlisted file", with([](auto& e) {
         e.push_back({"extra", "x"});
       }),
       "'extra' is not listed in the manifest"},
      {"missing file", with([](auto& e) { e.pop_back(); }),
       "is listed in the manifest but not in the tar"},
      {"digest mismatch", with([](auto& e) { e[1].data[0] ^= 1; }), "has SHA-256"},
      {"size mismatch", with([](auto& e) { e[1].data += "x"; }), "bytes, the manifest says"},
      {"manifest not first", with([](auto& e) { std::swap(e[0], e[1]); }),
       "a bundle starts with manifest.json"},
      {"no manifest", with([](auto& e) { e.erase(e.begin()); }),
       "a bundle starts with manifest.json"},
      {"empty tar", {}, "no entries"},
      {"bad manifest", with([](auto& e) { e[0].data = "{\"format\": 1}"; }),
       "manifest.json in the bundle"},
      {"oversize entry", with([](auto& e) {
         e.push_back({"huge", std::string(kMaxEntrySize + 1, 'x')});
       }),
       "more than the limit of 16777216"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    std::string tar = test::craft_tar(c.entries);
    expect_error(validate_tar(as_bytes(tar)), ExitCode::integrity, c.reason);
    if (c.what == "../x" || c.what == "device") {  // through the whole bundle reader as well
      expect_error(open_bundle(test::encrypt(tar), test::kPassphrase), ExitCode::integrity,
                   c.reason);
    }
  }
  std::string ok = test::craft_tar(valid);
  EXPECT_TRUE(validate_tar(as_bytes(ok)));
}

TEST(Bundle, TooManyEntries) {
  std::vector<FileSpec> files;
  for (std::size_t i = 0; i < kMaxEntries; ++i) files.push_back({fmt::format("f{}", i), 0600, "x"});
  std::string tar = test::craft_tar(test::valid_entries(files));
  expect_error(validate_tar(as_bytes(tar)), ExitCode::integrity, "more than 1024 entries");
  files.pop_back();
  tar = test::craft_tar(test::valid_entries(files));
  EXPECT_TRUE(validate_tar(as_bytes(tar)));
}

// A plaintext of three STREAM chunks (64 KiB each), to damage each one in turn.
struct Sealed {
  std::vector<std::uint8_t> bytes;
  std::size_t header_size = 0;
  std::size_t chunks = 0;
};

Sealed sealed_multi_chunk() {
  auto files = test::keyset_files(false);
  files.push_back({"big.bin", 0600, test::random_text(150 * 1024)});
  std::string tar = test::craft_tar(test::valid_entries(files));
  Sealed s{test::encrypt(tar)};
  s.header_size = age::inspect_header(s.bytes)->header_size;
  s.chunks = (tar.size() + 65535) / 65536;
  return s;
}

constexpr std::size_t kNonceSize = 16;
constexpr std::size_t kChunkSize = 65536 + 16;

TEST(Bundle, RejectsDamagedCiphertext) {
  Sealed s = sealed_multi_chunk();
  ASSERT_EQ(s.chunks, 3u);
  ASSERT_TRUE(open_bundle(s.bytes, test::kPassphrase));

  auto flipped = [&](std::size_t offset) {
    auto bytes = s.bytes;
    bytes.at(offset) ^= 0x20;
    return bytes;
  };
  for (std::size_t offset : {std::size_t{3}, s.header_size / 2, s.header_size - 5}) {
    SCOPED_TRACE(fmt::format("header byte {}", offset));
    auto r = open_bundle(flipped(offset), test::kPassphrase);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::integrity);
  }
  {
    SCOPED_TRACE("payload nonce");
    auto r = open_bundle(flipped(s.header_size + 1), test::kPassphrase);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::integrity);
  }
  for (std::size_t chunk = 0; chunk < s.chunks; ++chunk) {
    SCOPED_TRACE(fmt::format("payload chunk {}", chunk));
    std::size_t offset = s.header_size + kNonceSize + chunk * kChunkSize + 100;
    auto r = open_bundle(flipped(offset), test::kPassphrase);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::integrity);
  }
  {
    SCOPED_TRACE("final chunk dropped");
    auto bytes = s.bytes;
    bytes.resize(s.header_size + kNonceSize + (s.chunks - 1) * kChunkSize);
    auto r = open_bundle(bytes, test::kPassphrase);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::integrity);
  }
  {
    SCOPED_TRACE("bytes appended");
    auto bytes = s.bytes;
    bytes.push_back(0);
    auto r = open_bundle(bytes, test::kPassphrase);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::integrity);
  }
  {
    SCOPED_TRACE("wrong passphrase");
    auto r = open_bundle(s.bytes, "wrong horse");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::integrity);
  }
  expect_error(open_bundle({}, test::kPassphrase), ExitCode::integrity, "empty");
}

// The work factor is read from the header and refused before the KDF would run for minutes.
TEST(Bundle, RejectsWorkFactorAboveTheCap) {
  auto sealed = test::encrypt(test::craft_tar(test::valid_entries(test::keyset_files())));
  std::string file(sealed.begin(), sealed.end());
  auto line = file.find("-> scrypt ");
  auto end = file.find('\n', line);
  ASSERT_EQ(file.substr(end - 3, 3), " 10");
  file.replace(end - 2, 2, "30");
  auto r = open_bundle(as_bytes(file), test::kPassphrase);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::integrity);
  EXPECT_NE(r.error().message.find("30"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace kf::bundle
