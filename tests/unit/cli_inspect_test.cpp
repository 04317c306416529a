#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

struct Fixture {
  TempDir dir;
  fs::path file = dir / "keys.age";
  fs::path pass = test::passphrase_file(dir.path());
  Manifest manifest = test::write_bundle(file, 9);
  std::string sha = sha256_hex(as_bytes(test::read_text(file)));
};

// Without a passphrase inspect never prompts, even with no terminal and nothing on stdin.
TEST(CliInspect, WithoutPassphraseShowsDigestSizeAndWorkFactor) {
  Fixture f;
  auto r = test::run({"setsid", "-w", test::keyfleet_bin(), "inspect", f.file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(f.sha), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("{} bytes", fs::file_size(f.file))), std::string::npos);
  EXPECT_NE(r.out.find("work factor 10"), std::string::npos);
  EXPECT_EQ(r.out.find("node1.example.com"), std::string::npos);

  auto json = test::keyfleet({"inspect", f.file.string(), "--json"});
  ASSERT_EQ(json.exit_code, 0);
  auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["sha256"], f.sha);
  EXPECT_EQ(doc["size"], fs::file_size(f.file));
  EXPECT_EQ(doc["work_factor"], 10);
  EXPECT_EQ(doc["authenticated"], false);
  EXPECT_TRUE(doc["manifest"].is_null());
}

TEST(CliInspect, WithPassphraseShowsTheManifest) {
  Fixture f;
  auto r = test::keyfleet({"inspect", f.file.string(), "--passphrase-file", f.pass.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& s : {std::string("generation    9"), f.manifest.not_after,
                               f.manifest.ca_fingerprint, f.manifest.agent_fingerprint,
                               std::string("node1.example.com, node2.example.com, 10.0.0.3")}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
  for (const auto& file : f.manifest.files) {
    EXPECT_NE(r.out.find(file.name), std::string::npos);
    EXPECT_NE(r.out.find(file.sha256), std::string::npos);
  }
  auto json =
      test::keyfleet({"inspect", f.file.string(), "--passphrase-file", f.pass.string(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["authenticated"], true);
  EXPECT_EQ(doc["manifest"], to_json(f.manifest));
}

// A generation of rotate --new-ca says its phase and the CAs it trusts; others say neither.
TEST(CliInspect, ShowsTheCaPhaseAndTheTrustedCasOfACaRotation) {
  Fixture f;
  auto plain = test::keyfleet({"inspect", f.file.string(), "--passphrase-file", f.pass.string()});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("ca phase"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("trusted cas"), std::string::npos) << plain.out;

  const auto files = test::keyset_files(false);
  Manifest m = test::manifest_for(files, 4);
  const std::string old_ca = "sha256:" + std::string(64, 'b');
  m.ca_phase = CaPhase::trust;
  m.trusted_cas = {m.ca_fingerprint, old_ca};
  std::vector<test::RawEntry> entries{{"manifest.json", serialize(m), AE_IFREG, 0644}};
  for (const auto& file : files) entries.push_back({file.name, file.data, AE_IFREG, file.mode});
  fs::path trust = f.dir / "trust.age";
  test::write_bytes(trust, test::encrypt(test::craft_tar(entries)));
  auto r = test::keyfleet({"inspect", trust.string(), "--passphrase-file", f.pass.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ca phase      trust\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trusted cas   " + m.ca_fingerprint + ", " + old_ca + "\n"),
            std::string::npos)
      << r.out;
}

TEST(CliInspect, RejectsWrongPassphraseAndDamage) {
  Fixture f;
  fs::path wrong = f.dir / "wrong";
  test::write_text(wrong, "not it\n", 0600);
  auto r = test::keyfleet({"inspect", f.file.string(), "--passphrase-file", wrong.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;

  std::string bytes = test::read_text(f.file);
  bytes.back() ^= 1;
  test::write_text(f.file, bytes);
  r = test::keyfleet({"inspect", f.file.string(), "--passphrase-file", f.pass.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;

  test::write_text(f.file, "");
  r = test::keyfleet({"inspect", f.file.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(f.file.string()), std::string::npos) << r.err;

  test::write_text(f.file, "age-encryption.org/v1\n-> X25519 abc\n");
  r = test::keyfleet({"inspect", f.file.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;

  r = test::keyfleet({"inspect", (f.dir / "missing.age").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

// A tar of a key set made with GNU tar and encrypted by `age -p` is a valid bundle.
TEST(CliInspectInterop, AcceptsABundleMadeByTheAgeCli) {
  TempDir dir;
  fs::path keys = dir / "keys";
  auto files = test::keyset_files(false);
  Manifest m = test::write_keyset(keys, 5, files);
  std::string names = "manifest.json";
  for (const auto& file : m.files) names += " " + file.name;
  fs::path tar = dir / "keys.tar";
  auto made = test::shell(
      fmt::format("tar --format=pax -C {} -cf {} {}", keys.string(), tar.string(), names));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  fs::path sealed = dir / "keys.age";
  auto age = test::age_cli(fmt::format("-p -o {} {}", sealed.string(), tar.string()),
                           "age pass\nage pass\n");
  ASSERT_EQ(age.exit_code, 0) << age.out;
  fs::path pass = test::passphrase_file(dir.path(), "age pass");
  auto r =
      test::keyfleet({"inspect", sealed.string(), "--passphrase-file", pass.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["manifest"], to_json(m));
  EXPECT_EQ(doc["work_factor"], 18);
}

TEST(CliInspect, HelpTeachesWithAnExample) {
  auto r = test::keyfleet({"inspect", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("keyfleet inspect keys-gen2.age --passphrase-file"), std::string::npos);
}

}  // namespace
}  // namespace kf
