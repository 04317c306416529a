// `keyfleet create-keys` through the real binary, with the openssl CLI as the independent judge.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "pki/manifest.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::keyfleet;
using test::RunResult;
using test::TempDir;

std::string openssl_out(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

void expect_verifies(const fs::path& dir) {
  for (const char* purpose : {"sslserver", "sslclient"}) {
    auto r = test::run({"openssl", "verify", "-CAfile", (dir / "ca.crt").string(), "-purpose",
                        purpose, (dir / "agent.crt").string()});
    EXPECT_EQ(r.exit_code, 0) << purpose << ": " << r.out << r.err;
    EXPECT_NE(r.out.find(": OK"), std::string::npos) << r.out;
  }
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

Manifest manifest_of(const fs::path& dir) {
  auto m = parse_manifest(test::read_text(dir / "manifest.json"), "manifest.json");
  EXPECT_TRUE(m) << m.error().message;
  return m ? *m : Manifest{};
}

TEST(CliCreateKeysInterop, WritesAKeySetTheOpensslCliAccepts) {
  TempDir tmp;
  fs::path out = tmp / "k";
  auto r = keyfleet({"create-keys", "--out", out.string(), "--hosts", "node1,node2,10.0.0.3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("generation 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(out.string()), std::string::npos) << r.out;
  expect_verifies(out);

  std::string pass = "file:" + (out / "storepass").string();
  for (const char* store : {"keystore.p12", "truststore.p12"}) {
    auto info = test::run(
        {"openssl", "pkcs12", "-info", "-noout", "-passin", pass, "-in", (out / store).string()});
    EXPECT_EQ(info.exit_code, 0) << store << ": " << info.err;
  }
  std::string keystore =
      openssl_out({"pkcs12", "-noenc", "-passin", pass, "-in", (out / "keystore.p12").string()});
  EXPECT_EQ(count(keystore, "BEGIN CERTIFICATE"), 2u);
  EXPECT_EQ(count(keystore, "BEGIN PRIVATE KEY"), 1u);
  std::string truststore =
      openssl_out({"pkcs12", "-noenc", "-passin", pass, "-in", (out / "truststore.p12").string()});
  EXPECT_EQ(count(truststore, "BEGIN CERTIFICATE"), 1u);
  EXPECT_EQ(count(truststore, "PRIVATE KEY"), 0u);
  // The keystore's key is agent.key.
  EXPECT_EQ(openssl_out({"pkey", "-in", (out / "agent.key").string(), "-pubout"}),
            openssl_out({"x509", "-in", (out / "agent.crt").string(), "-noout", "-pubkey"}));

  std::string san = openssl_out(
      {"x509", "-in", (out / "agent.crt").string(), "-noout", "-ext", "subjectAltName"});
  EXPECT_NE(san.find("DNS:node1, DNS:node2, IP Address:10.0.0.3"), std::string::npos) << san;
  std::string subject =
      openssl_out({"x509", "-in", (out / "agent.crt").string(), "-noout", "-subject"});
  EXPECT_NE(subject.find("CN = node1"), std::string::npos) << subject;

  EXPECT_EQ(test::file_mode(out), 0700u);
  for (const char* name : {"ca.crt", "agent.crt", "manifest.json"})
    EXPECT_EQ(test::file_mode(out / name), 0644u) << name;
  for (const char* name : {"ca.key", "agent.key", "keystore.p12", "truststore.p12", "storepass"}) {
    EXPECT_EQ(test::file_mode(out / name), 0600u) << name;
  }
  Manifest m = manifest_of(out);
  EXPECT_EQ(m.generation, 1u);
  EXPECT_EQ(m.hosts, (std::vector<std::string>{"node1", "node2", "10.0.0.3"}));
  ASSERT_EQ(m.files.size(), 7u);
  for (const auto& f : m.files) {
    std::string bytes = test::read_text(out / f.name);
    EXPECT_EQ(f.sha256, sha256_hex(as_bytes(bytes))) << f.name;
    EXPECT_EQ(f.size, bytes.size()) << f.name;
  }
}

TEST(CliCreateKeys, RefusesToOverwriteThenForceArchivesAndIncrements) {
  TempDir tmp;
  fs::path out = tmp / "k";
  std::vector<std::string> args{"create-keys", "--out", out.string(), "--hosts",
                                "node1,node2,10.0.0.3"};
  ASSERT_EQ(keyfleet(args).exit_code, 0);
  auto first = test::snapshot(out);

  auto again = keyfleet(args);
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.err.find("keyfleet: error: " + out.string() + " already holds a key set"),
            std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("--force"), std::string::npos);
  EXPECT_TRUE(again.out.empty());
  EXPECT_EQ(test::snapshot(out), first);

  args.push_back("--force");
  auto forced = keyfleet(args);
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.out.find("generation 2"), std::string::npos) << forced.out;
  EXPECT_NE(forced.out.find((out / "archive/000001").string()), std::string::npos) << forced.out;
  auto now = test::snapshot(out);
  for (const auto& [name, bytes] : first)
    EXPECT_EQ(now.at("archive/000001/" + name), bytes) << name;
  EXPECT_EQ(manifest_of(out).generation, 2u);
  EXPECT_NE(now.at("ca.crt"), first.at("ca.crt"));  // a new CA without --keep-ca
  expect_verifies(out);
}

TEST(CliCreateKeys, KeepCaKeepsTheCaFingerprint) {
  TempDir tmp;
  ASSERT_EQ(keyfleet({"create-keys", "--out", tmp.path().string(), "--host", "node1"}).exit_code,
            0);
  Manifest first = manifest_of(tmp.path());
  auto kept = keyfleet({"create-keys", "--out", tmp.path().string(), "--host", "node1", "--host",
                        "node1.example.com", "--force", "--keep-ca"});
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_NE(kept.out.find("(kept)"), std::string::npos) << kept.out;
  Manifest second = manifest_of(tmp.path());
  EXPECT_EQ(second.generation, 2u);
  EXPECT_EQ(second.ca_fingerprint, first.ca_fingerprint);
  EXPECT_NE(second.agent_fingerprint, first.agent_fingerprint);
  EXPECT_EQ(second.hosts, (std::vector<std::string>{"node1", "node1.example.com"}));
  expect_verifies(tmp.path());
}

TEST(CliCreateKeys, JsonIsTheDirectoryAndTheManifest) {
  TempDir tmp;
  auto r =
      keyfleet({"create-keys", "--out", (tmp / "k").string() + "/", "--hosts", "node1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);  // exactly one document, or this throws
  EXPECT_EQ(doc["command"], "create-keys");
  EXPECT_EQ(doc["out"], (tmp / "k").string());
  EXPECT_TRUE(doc["archived_to"].is_null());
  EXPECT_EQ(doc["manifest"], nlohmann::json::parse(test::read_text(tmp / "k/manifest.json")));
}

struct KeyTypeCase {
  const char* name;
  const char* text;  // what `openssl x509 -text` says about the key
};

TEST(CliCreateKeysInterop, EveryFastKeyTypeVerifies) {
  for (auto [name, text] :
       {KeyTypeCase{"ec-p256", "NIST CURVE: P-256"}, KeyTypeCase{"ec-p384", "NIST CURVE: P-384"},
        KeyTypeCase{"ed25519", "Public Key Algorithm: ED25519"},
        KeyTypeCase{"rsa-3072", "Public-Key: (3072 bit)"}}) {
    TempDir tmp;
    auto r = keyfleet(
        {"create-keys", "--out", tmp.path().string(), "--hosts", "node1,::1", "--key-type", name});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    expect_verifies(tmp.path());
    for (const char* cert : {"ca.crt", "agent.crt"}) {
      std::string details = openssl_out({"x509", "-in", (tmp / cert).string(), "-noout", "-text"});
      EXPECT_NE(details.find(text), std::string::npos) << name << " " << cert;
    }
    std::string usage =
        openssl_out({"x509", "-in", (tmp / "agent.crt").string(), "-noout", "-ext", "keyUsage"});
    EXPECT_EQ(usage.find("Key Encipherment") != std::string::npos,
              std::string(name).starts_with("rsa"))
        << name << usage;
    EXPECT_EQ(manifest_of(tmp.path()).key_type, name);
    EXPECT_EQ(
        test::run({"openssl", "pkcs12", "-info", "-noout", "-passin",
                   "file:" + (tmp / "storepass").string(), "-in", (tmp / "keystore.p12").string()})
            .exit_code,
        0)
        << name;
  }
}

TEST(CliCreateKeysInterop, Rsa4096) {
  TempDir tmp;
  auto r = keyfleet(
      {"create-keys", "--out", tmp.path().string(), "--hosts", "node1", "--key-type", "rsa-4096"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_verifies(tmp.path());
  std::string details =
      openssl_out({"x509", "-in", (tmp / "agent.crt").string(), "-noout", "-text"});
  EXPECT_NE(details.find("Public-Key: (4096 bit)"), std::string::npos);
  EXPECT_NE(details.find("sha256WithRSAEncryption"), std::string::npos);
}

struct BadInput {
  std::vector<std::string> args;
  int code;
  std::string culprit;
};

TEST(CliCreateKeys, EveryBadInputHasItsExitCodeAndNamesTheCulprit) {
  TempDir tmp;
  std::string out = (tmp / "k").string();
  const BadInput cases[] = {
      {{"--hosts", "node1,bad_host!"}, 2, "'bad_host!'"},
      {{"--host", "node1", "--days", "0"}, 2, "--days"},
      {{"--host", "node1", "--days", "soon"}, 2, "--days"},
      {{"--host", "node1", "--ca-days", "-5"}, 2, "--ca-days"},
      {{"--host", "node1", "--days", "4000"}, 2, "--days 4000 is more than --ca-days 3650"},
      {{"--host", "node1", "--days", "900", "--ca-days", "800"},
       2,
       "--days 900 is more than --ca-days 800"},
      {{"--host", "node1", "--key-type", "rsa-2048"},
       2,
       "ec-p256,ec-p384,ed25519,rsa-3072,rsa-4096"},
      {{}, 2, "no hosts"},
      {{"--host", "node1", "--keep-ca"}, 2, "ca.crt does not exist"},
      {{"--host", "node1", "stray"}, 2, "stray"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"create-keys", "--out", out};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = keyfleet(args);
    std::string shown = fmt::format("{}", fmt::join(c.args, " "));
    EXPECT_EQ(r.exit_code, c.code) << shown << ": " << r.err;
    EXPECT_NE(r.err.find("keyfleet: error: "), std::string::npos) << shown << ": " << r.err;
    EXPECT_NE(r.err.find(c.culprit), std::string::npos) << shown << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << shown;
    EXPECT_FALSE(fs::exists(out)) << shown;
  }
  auto no_out = keyfleet({"create-keys", "--host", "node1"});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_NE(no_out.err.find("--out"), std::string::npos) << no_out.err;
}

TEST(CliCreateKeys, RefusesADirectoryOthersCanWrite) {
  TempDir tmp;
  fs::path out = tmp / "shared";
  ASSERT_TRUE(fs::create_directory(out));
  fs::permissions(out, fs::perms::all_all);
  auto r = keyfleet({"create-keys", "--out", out.string(), "--host", "node1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("key directory " + out.string() + ": mode 0777"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("chmod 700 " + out.string()), std::string::npos) << r.err;
  EXPECT_TRUE(test::snapshot(out).empty());

  fs::permissions(out, fs::perms::owner_all);
  auto fixed = keyfleet({"create-keys", "--out", out.string(), "--host", "node1"});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
  // A directory create-keys makes is 0700.
  auto fresh = keyfleet({"create-keys", "--out", (tmp / "new").string(), "--host", "node1"});
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(test::file_mode(tmp / "new"), 0700u);
}

TEST(CliCreateKeysInterop, InventoryHostsAndSansGoIntoTheCertificate) {
  TempDir tmp;
  std::string inventory = std::string(KEYFLEET_TESTDATA) + "/inventory/three-nodes.toml";
  auto r = keyfleet({"create-keys", "--out", tmp.path().string(), "--inventory", inventory,
                     "--host", "agent.example.com", "--cn", "agents"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_verifies(tmp.path());
  std::string san = openssl_out(
      {"x509", "-in", (tmp / "agent.crt").string(), "-noout", "-ext", "subjectAltName"});
  EXPECT_NE(
      san.find("DNS:agent.example.com, IP Address:192.0.2.10, DNS:node1.example.com, "
               "DNS:node2.example.com, IP Address:2001:DB8:0:0:0:0:0:3, DNS:node3.example.com"),
      std::string::npos)
      << san;
  EXPECT_EQ(manifest_of(tmp.path()).hosts.size(), 6u);  // agent.example.com once
  EXPECT_NE(openssl_out({"x509", "-in", (tmp / "agent.crt").string(), "-noout", "-subject"})
                .find("CN = agents"),
            std::string::npos);

  test::write_text(tmp / "bad.toml", "[[node]]\nname = \"n\"\nhost = \"bad_host!\"\n");
  auto bad = keyfleet(
      {"create-keys", "--out", (tmp / "k2").string(), "--inventory", (tmp / "bad.toml").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.toml:3"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("bad_host!"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(tmp / "k2"));
}

TEST(CliCreateKeys, HelpTeachesWithAnExample) {
  auto r = keyfleet({"create-keys", "--help"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("keyfleet create-keys --out /etc/keyfleet/new --hosts node1,node2,10.0.0.3"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("{ec-p256,ec-p384,ed25519,rsa-3072,rsa-4096}"), std::string::npos);
  for (const char* option : {"--out", "--host", "--hosts", "--inventory", "--key-type", "--days",
                             "--ca-days", "--cn", "--org", "--keep-ca", "--force", "--json"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
  auto listed = keyfleet({"help"});
  EXPECT_NE(listed.out.find("create-keys"), std::string::npos);
}

}  // namespace
}  // namespace kf
