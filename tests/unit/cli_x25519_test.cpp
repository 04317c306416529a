// bundle --recipient, --identity on the commands that open a bundle, and keygen, through the
// binary.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::keyfleet;
using test::TempDir;

// A key set, two identities made by keygen, and a bundle sealed to both.
struct Sealed {
  TempDir dir;
  fs::path keys = dir / "keys";
  Manifest manifest = test::write_keyset(keys, 4);
  fs::path id1 = dir / "id1";
  fs::path id2 = dir / "id2";
  std::string r1 = keygen(id1);
  std::string r2 = keygen(id2);
  fs::path bundle = dir / "keys.age";

  Sealed() {
    auto made = keyfleet({"bundle", "--keys", keys.string(), "--out", bundle.string(),
                          "--recipient", r1, "--recipient", r2});
    EXPECT_EQ(made.exit_code, 0) << made.err;
  }
  static std::string keygen(const fs::path& out) {
    auto r = keyfleet({"keygen", "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }
};

TEST(CliX25519, BundleToRecipientsThenInspectAndUnpackWithEitherIdentity) {
  Sealed s;
  EXPECT_EQ(test::file_mode(s.bundle), 0600u);
  auto header = test::run({"setsid", "-w", test::keyfleet_bin(), "inspect", s.bundle.string()});
  ASSERT_EQ(header.exit_code, 0) << header.err;
  EXPECT_NE(header.out.find("age v1, 2 X25519 recipients"), std::string::npos) << header.out;
  EXPECT_NE(header.out.find("--identity"), std::string::npos) << header.out;
  auto json = keyfleet({"inspect", s.bundle.string(), "--json"});
  ASSERT_EQ(json.exit_code, 0);
  auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["sealed_with"], "x25519");
  EXPECT_EQ(doc["x25519_recipients"], 2);
  EXPECT_TRUE(doc["work_factor"].is_null());

  for (const fs::path& id : {s.id1, s.id2}) {
    auto opened = keyfleet({"inspect", s.bundle.string(), "--identity", id.string(), "--json"});
    ASSERT_EQ(opened.exit_code, 0) << opened.err;
    auto manifest = nlohmann::json::parse(opened.out)["manifest"];
    EXPECT_EQ(manifest["generation"], 4);
    EXPECT_EQ(manifest["fingerprints"]["agent"], s.manifest.agent_fingerprint);
  }
  auto both = keyfleet({"unpack", s.bundle.string(), "--dest", (s.dir / "dest").string(),
                        "--identity", (s.dir / "id2").string(), "--identity", s.id1.string()});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_TRUE(test::current_is_complete(s.dir / "dest", 4));
}

TEST(CliX25519, TheWrongKeyKindIsAUsageErrorAndNeverPrompts) {
  Sealed s;
  // Run without a controlling terminal: a prompt would fail differently (or hang).
  auto none = test::run({"setsid", "-w", test::keyfleet_bin(), "unpack", s.bundle.string(),
                         "--dest", (s.dir / "dest").string()});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("sealed to age recipients (2 X25519 stanzas)"), std::string::npos)
      << none.err;
  EXPECT_NE(none.err.find("--identity"), std::string::npos);
  fs::path pass = test::passphrase_file(s.dir.path());
  auto with_pass = keyfleet({"inspect", s.bundle.string(), "--passphrase-file", pass.string()});
  EXPECT_EQ(with_pass.exit_code, 2);
  EXPECT_NE(with_pass.err.find("--identity"), std::string::npos) << with_pass.err;
  auto mixed = keyfleet({"inspect", s.bundle.string(), "--passphrase-file", pass.string(),
                         "--identity", s.id1.string()});
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.err.find("cannot be used together"), std::string::npos) << mixed.err;

  fs::path scrypt = s.dir / "pass.age";
  ASSERT_EQ(keyfleet({"bundle", "--keys", s.keys.string(), "--out", scrypt.string(),
                      "--passphrase-file", pass.string(), "--work-factor", "10"})
                .exit_code,
            0);
  auto identity_for_passphrase =
      keyfleet({"inspect", scrypt.string(), "--identity", s.id1.string()});
  EXPECT_EQ(identity_for_passphrase.exit_code, 2);
  EXPECT_NE(identity_for_passphrase.err.find("sealed with a passphrase"), std::string::npos)
      << identity_for_passphrase.err;
  EXPECT_NE(keyfleet({"inspect", scrypt.string()}).out.find("work factor 10"), std::string::npos);
}

TEST(CliX25519, AWrongIdentityIsExit3AndAnOpenIdentityFileExit2) {
  Sealed s;
  fs::path other = s.dir / "other";
  Sealed::keygen(other);
  auto wrong = keyfleet({"inspect", s.bundle.string(), "--identity", other.string()});
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_NE(wrong.err.find("no identity matched: 1 identity tried against 2 X25519 stanzas"),
            std::string::npos)
      << wrong.err;

  ::chmod(s.id1.c_str(), 0644);
  auto loose = keyfleet({"inspect", s.bundle.string(), "--identity", s.id1.string()});
  EXPECT_EQ(loose.exit_code, 2);
  EXPECT_NE(loose.err.find(s.id1.string()), std::string::npos) << loose.err;
  ASSERT_EQ(::mkfifo((s.dir / "fifo").c_str(), 0600), 0);
  auto fifo = keyfleet({"inspect", s.bundle.string(), "--identity", (s.dir / "fifo").string()});
  EXPECT_EQ(fifo.exit_code, 2);
  EXPECT_NE(fifo.err.find("not a regular file"), std::string::npos) << fifo.err;
  auto dir = keyfleet({"inspect", s.bundle.string(), "--identity", s.dir.path().string()});
  EXPECT_EQ(dir.exit_code, 2);
}

TEST(CliX25519, RecipientsFromAFileAndTheirErrors) {
  TempDir dir;
  test::write_keyset(dir / "keys", 2);
  std::string r1 = Sealed::keygen(dir / "id1");
  std::string r2 = Sealed::keygen(dir / "id2");
  test::write_text(dir / "recipients", "# deploy hosts\n" + r1 + "\n\n" + r2 + "\n", 0644);
  auto made =
      keyfleet({"bundle", "--keys", (dir / "keys").string(), "--out", (dir / "a.age").string(),
                "--recipients-file", (dir / "recipients").string(), "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto doc = nlohmann::json::parse(made.out);
  EXPECT_EQ(doc["sealed_with"], "x25519");
  EXPECT_EQ(doc["recipients"], nlohmann::json::array({r1, r2}));
  EXPECT_TRUE(doc["work_factor"].is_null());

  test::write_text(dir / "bad", "# fine\n" + r1 + "\nage1typo\n", 0644);
  auto bad = keyfleet({"bundle", "--keys", (dir / "keys").string(), "--out",
                       (dir / "b.age").string(), "--recipients-file", (dir / "bad").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find((dir / "bad").string() + ":3:"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(dir / "b.age"));

  auto typo = keyfleet({"bundle", "--keys", (dir / "keys").string(), "--out",
                        (dir / "b.age").string(), "--recipient", r1 + "x"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("--recipient"), std::string::npos) << typo.err;

  fs::path pass = test::passphrase_file(dir.path());
  auto mixed =
      keyfleet({"bundle", "--keys", (dir / "keys").string(), "--out", (dir / "b.age").string(),
                "--recipient", r1, "--passphrase-file", pass.string()});
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.err.find("never both"), std::string::npos) << mixed.err;
  auto work_factor = keyfleet({"bundle", "--keys", (dir / "keys").string(), "--out",
                               (dir / "b.age").string(), "--recipient", r1, "--work-factor", "12"});
  EXPECT_EQ(work_factor.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "b.age"));
}

TEST(CliKeygen, WritesA0600IdentityOnceAndPrintsItsRecipient) {
  TempDir dir;
  fs::path out = dir / "identity";
  auto made = keyfleet({"keygen", "--out", out.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string recipient = made.out.substr(0, made.out.find('\n'));
  EXPECT_EQ(made.out, recipient + "\n");
  EXPECT_TRUE(recipient.starts_with("age1")) << recipient;
  EXPECT_EQ(test::file_mode(out), 0600u);
  std::string text = test::read_text(out);
  EXPECT_TRUE(text.starts_with("# created: ")) << text;
  EXPECT_NE(text.find("\n# public key: " + recipient + "\nAGE-SECRET-KEY-1"), std::string::npos)
      << text;

  auto again = keyfleet({"keygen", "--out", out.string()});
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_EQ(test::read_text(out), text);

  auto json = keyfleet({"keygen", "--out", (dir / "second").string(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["command"], "keygen");
  EXPECT_EQ(doc["exit_code"], 0);
  EXPECT_TRUE(doc["error"].is_null());
  EXPECT_EQ(doc["file"], (dir / "second").string());
  EXPECT_TRUE(doc["recipient"].get<std::string>().starts_with("age1"));
  auto refused = keyfleet({"keygen", "--out", out.string(), "--json"});
  EXPECT_EQ(refused.exit_code, 4);
  auto error = nlohmann::json::parse(refused.out);
  EXPECT_EQ(error["exit_code"], 4);
  EXPECT_TRUE(error["recipient"].is_null());
  EXPECT_NE(error["error"]["message"].get<std::string>().find("already exists"), std::string::npos);
}

}  // namespace
}  // namespace kf
