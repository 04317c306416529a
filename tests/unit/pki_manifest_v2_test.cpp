#include <gtest/gtest.h>

#include "pki/keyset_path.hpp"
#include "pki/manifest.hpp"

namespace kf {
namespace {

const std::string kDigest(64, 'd');

Manifest imported() {
  Manifest m;
  m.keyset = std::string(32, 'e');
  m.generation = 3;
  m.created = "2026-11-23T10:00:00Z";
  m.kind = std::string(kKindImported);
  m.directories = {{".ssl", 0700}, {"private-keys-v1.d", 0750}};
  m.files = {{".ssl/ca.pem", 10, 0644, kDigest},
             {"private-keys-v1.d/ABC.key", 20, 0600, kDigest},
             {"pubring.kbx", 30, 0640, kDigest},
             {"secring.gpg", 40, 0600, kDigest}};
  m.exclude = {"*.bak", "/random_seed"};
  return m;
}

Result<Manifest> parse_edited(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = to_json(imported());
  edit(j);
  return parse_manifest(j.dump(), "manifest.json");
}

void expect_refused(const Result<Manifest>& parsed, std::string_view words) {
  ASSERT_FALSE(parsed) << "accepted; expected: " << words;
  EXPECT_EQ(parsed.error().code, ExitCode::integrity);
  EXPECT_NE(parsed.error().message.find(words), std::string::npos) << parsed.error().message;
}

TEST(ManifestV2, NestedNamesDotfilesAndOtherModesRoundTripAsVersion2) {
  Manifest m = imported();
  EXPECT_EQ(manifest_version(m), 2);
  std::string text = serialize(m);
  EXPECT_NE(text.find("\"format\": \"keyfleet-keyset/2\""), std::string::npos);
  EXPECT_NE(text.find("\"kind\": \"imported\""), std::string::npos);
  EXPECT_NE(text.find("\"mode\": \"0750\""), std::string::npos);
  EXPECT_EQ(text.find("fingerprints"), std::string::npos) << "an imported set has no certificate";
  auto parsed = parse_manifest(text, "manifest.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, m);
  EXPECT_EQ(serialize(*parsed), text);
}

TEST(ManifestV2, WhatFitsVersion1IsStillWrittenAsVersion1) {
  Manifest m = imported();
  m.directories.clear();
  m.files = {{"secring.gpg", 40, 0600, kDigest}, {"pubring.gpg", 30, 0644, kDigest}};
  EXPECT_EQ(manifest_version(m), 1);
  std::string text = serialize(m);
  EXPECT_NE(text.find("\"format\": \"keyfleet-keyset/1\""), std::string::npos);
  // A keyfleet that knows only version 1 needs these, and ignores "kind" and "exclude".
  EXPECT_NE(text.find("\"fingerprints\""), std::string::npos);
  EXPECT_NE(text.find("\"kind\": \"imported\""), std::string::npos);
  auto parsed = parse_manifest(text, "manifest.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->imported());
  EXPECT_EQ(parsed->exclude, m.exclude);

  // Any one of: a dotfile, a path, a mode besides 0600/0644, makes it version 2.
  for (auto change : {+[](Manifest& x) { x.files[0].name = ".hidden"; },
                      +[](Manifest& x) { x.files[0].mode = 0640; },
                      +[](Manifest& x) {
                        x.directories = {{"d", 0700}};
                      }}) {
    Manifest v = m;
    change(v);
    EXPECT_EQ(manifest_version(v), 2);
  }
}

TEST(ManifestV2, AGeneratedSetOfTodayKeepsItsExactBytes) {
  // Written before manifests had a kind: this text must parse and serialize back unchanged.
  const std::string text = R"({
  "created": "2026-11-23T10:00:00Z",
  "files": [
    {
      "mode": "0644",
      "name": "agent.crt",
      "sha256": ")" + kDigest +
                           R"(",
      "size": 700
    }
  ],
  "fingerprints": {
    "agent": "sha256:)" + kDigest +
                           R"(",
    "ca": "sha256:)" + kDigest +
                           R"("
  },
  "format": "keyfleet-keyset/1",
  "generation": 7,
  "hosts": [
    "node1"
  ],
  "key_type": "ec-p256",
  "not_after": "2029-02-25T10:00:00Z"
}
)";
  auto parsed = parse_manifest(text, "manifest.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->kind, kKindGenerated);
  EXPECT_EQ(serialize(*parsed), text);
}

TEST(ManifestV2, Version1KeepsItsRules) {
  nlohmann::json j = to_json(imported());
  j["format"] = "keyfleet-keyset/1";
  j["hosts"] = nlohmann::json::array();
  j["key_type"] = "";
  j["not_after"] = "";
  j["fingerprints"] = {{"ca", ""}, {"agent", ""}};
  expect_refused(parse_manifest(j.dump(), "manifest.json"),
                 "file name '.ssl/ca.pem' is not allowed");
  j["files"] = nlohmann::json::array(
      {{{"name", "pubring.kbx"}, {"size", 1}, {"mode", "0640"}, {"sha256", kDigest}}});
  expect_refused(parse_manifest(j.dump(), "manifest.json"), "only \"0600\" and \"0644\"");
}

TEST(ManifestV2, RefusesHostileOrInconsistentNames) {
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = ".ssl/../../etc/x"; }),
                 "a '..' component");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = "/etc/shadow"; }),
                 "an absolute path");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = ".ssl//ca.pem"; }),
                 "an empty path component");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = ".ssl/a\x1b[2J"; }),
                 "a control character");
  expect_refused(parse_edited([](auto& j) { j["directories"][0]["name"] = "./.ssl"; }),
                 "a '.' component");
  // A file whose directory is not listed, or is listed as a file: no path through a file.
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = "nowhere/ca.pem"; }),
                 "'nowhere/ca.pem' is in 'nowhere', which is not a listed directory");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = "secring.gpg/x"; }),
                 "'secring.gpg/x' is in 'secring.gpg', which is not a listed directory");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = ".ssl"; }),
                 "'.ssl' is listed as a directory and as a file");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["name"] = "manifest.json"; }),
                 "is not allowed: it is the manifest's own name");
  expect_refused(parse_edited([](auto& j) { j["directories"][0]["mode"] = "0777"; }),
                 "directory '.ssl' has mode \"0777\"");
  expect_refused(parse_edited([](auto& j) { j["files"][2]["mode"] = "0664"; }),
                 "file 'pubring.kbx' has mode \"0664\"");
  expect_refused(parse_edited([](auto& j) { j.erase("directories"); }), "\"directories\"");
  expect_refused(parse_edited([](auto& j) { j["kind"] = "stolen"; }), "\"kind\"");
  expect_refused(parse_edited([](auto& j) { j["exclude"] = {"[x"}; }), "\"exclude\"");
  expect_refused(parse_edited([](auto& j) { j["secrets"] = {"absent"}; }),
                 "\"secrets\" names 'absent'");
  // A generated set of version 2 still needs its certificate fields.
  expect_refused(parse_edited([](auto& j) { j["kind"] = "generated"; }), "\"key_type\"");
}

TEST(KeysetPath, RelativePathRules) {
  EXPECT_TRUE(is_relative_path("a"));
  EXPECT_TRUE(is_relative_path(".keytrustee/.ssl/ca.pem"));
  EXPECT_TRUE(is_relative_path("caf\xc3\xa9"));  // UTF-8
  EXPECT_TRUE(is_relative_path("a b/c'd"));
  EXPECT_TRUE(is_relative_path("1/2/3/4/5/6/7/8"));
  EXPECT_EQ(relative_path_problem("1/2/3/4/5/6/7/8/9"), "more than 8 levels deep");
  EXPECT_EQ(relative_path_problem(""), "an empty name");
  EXPECT_EQ(relative_path_problem("/a"), "an absolute path");
  EXPECT_EQ(relative_path_problem("a/"), "an empty path component (\"//\" or a trailing \"/\")");
  EXPECT_EQ(relative_path_problem("a/../b"), "a '..' component");
  EXPECT_EQ(relative_path_problem("."), "a '.' component");
  EXPECT_EQ(relative_path_problem("a\nb"), "a control character in the name");
  EXPECT_EQ(relative_path_problem("a\x7f"), "a control character in the name");
  EXPECT_EQ(relative_path_problem("a\xc2\x85"), "a control character in the name");
  EXPECT_EQ(relative_path_problem("a\xff"), "not valid UTF-8");
  EXPECT_EQ(relative_path_problem("\xc0\xaf"), "not valid UTF-8");  // overlong "/"
  EXPECT_TRUE(is_relative_path(std::string(255, 'x')));
  EXPECT_EQ(relative_path_problem(std::string(256, 'x')), "a component longer than 255 bytes");
}

TEST(KeysetPath, Modes) {
  for (mode_t m : {0600, 0640, 0644, 0400, 0440, 0444}) EXPECT_TRUE(is_allowed_file_mode(m)) << m;
  for (mode_t m : {0666, 0660, 0700, 0755, 0200, 04600, 0000}) {
    EXPECT_FALSE(is_allowed_file_mode(m)) << m;
  }
  for (mode_t m : {0700, 0750, 0755, 0710}) EXPECT_TRUE(is_allowed_directory_mode(m)) << m;
  for (mode_t m : {0775, 0777, 0500, 01777, 02750}) EXPECT_FALSE(is_allowed_directory_mode(m)) << m;
}

}  // namespace
}  // namespace kf
