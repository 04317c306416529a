#include <gtest/gtest.h>

#include <boost/filesystem/operations.hpp>

#include "core/files.hpp"
#include "pki/keyset.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

CreateKeysOptions with_secrets(const fs::path& out, std::vector<SecretSpec> secrets,
                               std::vector<std::string> keep = {}, bool force = false) {
  CreateKeysOptions o;
  o.out = out;
  o.hosts = {"node1"};
  o.secrets = std::move(secrets);
  o.keep_secrets = std::move(keep);
  o.force = force;
  return o;
}

std::string hex_of(const std::string& bytes) {
  return to_hex(as_bytes(bytes));
}

TEST(Secret, ParsesNameAndSize) {
  auto plain = parse_secret_spec("rootkey");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->name, "rootkey");
  EXPECT_FALSE(plain->bytes);
  auto sized = parse_secret_spec("cache.key:64");
  ASSERT_TRUE(sized);
  EXPECT_EQ(sized->bytes, 64u);
  for (std::string_view bad : {"rootkey:15", "rootkey:1025", "rootkey:", "rootkey:x", "../x",
                               ".hidden", "a/b:32", "manifest.json", ""}) {
    auto r = parse_secret_spec(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ExitCode::usage);
  }
  EXPECT_TRUE(parse_secret_spec("k:16"));
  EXPECT_TRUE(parse_secret_spec("k:1024"));
}

TEST(Secret, IsRandomOfItsSize0600AndOnlyItsDigestIsInTheManifest) {
  TempDir tmp;
  auto created = create_keyset(with_secrets(tmp / "keys", {{"rootkey", 32}, {"big", 1024}}));
  ASSERT_TRUE(created) << created.error().message;
  std::string root = test::read_text(tmp / "keys" / "rootkey");
  EXPECT_EQ(root.size(), 32u);
  EXPECT_EQ(test::read_text(tmp / "keys" / "big").size(), 1024u);
  EXPECT_EQ(test::file_mode(tmp / "keys" / "rootkey"), 0600u);
  const Manifest& m = created->manifest;
  EXPECT_EQ(m.secrets, (std::vector<std::string>{"big", "rootkey"}));
  ASSERT_NE(m.find("rootkey"), nullptr);
  EXPECT_EQ(m.find("rootkey")->mode, 0600u);
  EXPECT_EQ(m.find("rootkey")->sha256, sha256_hex(as_bytes(root)));
  std::string text = test::read_text(tmp / "keys" / "manifest.json");
  EXPECT_EQ(text.find(hex_of(root)), std::string::npos);
  EXPECT_EQ(text.find(root), std::string::npos);
  EXPECT_NE(text.find("keyfleet-keyset/1"), std::string::npos) << "flat names stay version 1";
  EXPECT_NE(root, std::string(32, '\0'));
}

TEST(Secret, DefaultSizeIs32AndANewGenerationGetsANewOneUnlessKept) {
  TempDir tmp;
  ASSERT_TRUE(create_keyset(with_secrets(tmp / "keys", {{"rootkey", std::nullopt}})));
  std::string first = test::read_text(tmp / "keys" / "rootkey");
  EXPECT_EQ(first.size(), 32u);

  ASSERT_TRUE(create_keyset(with_secrets(tmp / "keys", {{"rootkey", std::nullopt}}, {}, true)));
  std::string second = test::read_text(tmp / "keys" / "rootkey");
  EXPECT_EQ(second.size(), 32u);
  EXPECT_NE(second, first);
  EXPECT_EQ(test::read_text(tmp / "keys" / "archive" / "000001" / "rootkey"), first);

  // --keep-secret alone carries it over (and its size); the manifest digest is the same.
  auto kept = create_keyset(with_secrets(tmp / "keys", {}, {"rootkey"}, true));
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(test::read_text(tmp / "keys" / "rootkey"), second);
  EXPECT_EQ(kept->manifest.secrets, (std::vector<std::string>{"rootkey"}));
  EXPECT_EQ(kept->manifest.generation, 3u);
}

TEST(Secret, KeepingNeedsThePreviousSecretIntactAndOfTheSameSize) {
  TempDir tmp;
  auto expect_refused = [](const Result<CreatedKeyset>& r, ExitCode code, std::string_view words) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  expect_refused(create_keyset(with_secrets(tmp / "keys", {}, {"rootkey"})), ExitCode::usage,
                 "there is no key set in");
  ASSERT_TRUE(create_keyset(with_secrets(tmp / "keys", {{"rootkey", 32}})));
  expect_refused(create_keyset(with_secrets(tmp / "keys", {}, {"other"}, true)), ExitCode::usage,
                 "has no secret by that name");
  expect_refused(create_keyset(with_secrets(tmp / "keys", {}, {"agent.key"}, true)),
                 ExitCode::usage, "has no secret by that name");
  expect_refused(create_keyset(with_secrets(tmp / "keys", {{"rootkey", 64}}, {"rootkey"}, true)),
                 ExitCode::usage, "the kept secret has 32 bytes");
  expect_refused(create_keyset(with_secrets(tmp / "keys", {{"agent.key", 32}}, {}, true)),
                 ExitCode::usage, "'agent.key' would be in the key set twice");
  test::write_text(tmp / "keys" / "rootkey", std::string(32, 'x'), 0600);
  expect_refused(create_keyset(with_secrets(tmp / "keys", {}, {"rootkey"}, true)),
                 ExitCode::integrity, "differs from its SHA-256 in the manifest");
  // Each refusal left generation 1 where it was.
  EXPECT_FALSE(boost::filesystem::exists(tmp / "keys" / "archive"));
}

TEST(Secret, AnImportedSetCanCarryOneToo) {
  TempDir tmp;
  boost::filesystem::create_directories(tmp / "src");
  test::write_text(tmp / "src" / "secring.gpg", "ring", 0600);
  CreateKeysOptions o;
  o.out = tmp / "keys";
  o.import_dir = tmp / "src";
  o.secrets = {{"rootkey", 16}};
  auto created = create_keyset(o);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(test::read_text(tmp / "keys" / "rootkey").size(), 16u);
  EXPECT_EQ(created->manifest.files.size(), 2u);
}

}  // namespace
}  // namespace kf
