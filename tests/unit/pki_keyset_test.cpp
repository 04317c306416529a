#include <gtest/gtest.h>

#include <ctime>

#include "core/files.hpp"
#include "core/time.hpp"
#include "pki/keyset.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

CreateKeysOptions options_for(const fs::path& out,
                              std::vector<std::string> hosts = {"node1", "node2", "10.0.0.3"}) {
  CreateKeysOptions o;
  o.out = out;
  o.hosts = std::move(hosts);
  return o;
}

std::string fingerprint_of(const fs::path& cert) {
  auto r =
      test::run({"openssl", "x509", "-in", cert.string(), "-noout", "-fingerprint", "-sha256"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // "sha256 Fingerprint=AB:CD:..." -> "sha256:abcd..."
  std::string hex;
  for (char c : r.out.substr(r.out.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
  }
  return "sha256:" + hex;
}

void expect_verifies(const fs::path& dir) {
  for (const char* purpose : {"sslserver", "sslclient"}) {
    auto r = test::run({"openssl", "verify", "-CAfile", (dir / "ca.crt").string(), "-purpose",
                        purpose, (dir / "agent.crt").string()});
    EXPECT_EQ(r.exit_code, 0) << purpose << ": " << r.out << r.err;
  }
}

TEST(Keyset, WritesACompleteSetWithModesAndAManifestThatDescribesIt) {
  TempDir tmp;
  fs::path out = tmp / "keys";
  std::time_t before = std::time(nullptr);
  auto created = create_keyset(options_for(out));
  ASSERT_TRUE(created) << created.error().message;
  const Manifest& m = created->manifest;
  EXPECT_FALSE(created->archived_to);
  EXPECT_EQ(test::file_mode(out), 0700u);
  EXPECT_EQ(m.generation, 1u);
  EXPECT_EQ(m.key_type, "ec-p256");
  EXPECT_EQ(m.hosts, (std::vector<std::string>{"node1", "node2", "10.0.0.3"}));
  auto created_at = parse_rfc3339_utc(m.created);
  ASSERT_TRUE(created_at);
  EXPECT_GE(*created_at, before);
  EXPECT_LE(*created_at, std::time(nullptr));
  auto not_after = parse_rfc3339_utc(m.not_after);
  ASSERT_TRUE(not_after);
  EXPECT_EQ(*not_after, *created_at + 825L * 86400);
  EXPECT_EQ(m.ca_fingerprint, fingerprint_of(out / "ca.crt"));
  EXPECT_EQ(m.agent_fingerprint, fingerprint_of(out / "agent.crt"));

  const std::map<std::string, mode_t> modes = {
      {"agent.crt", 0644},    {"agent.key", 0600}, {"ca.crt", 0644},        {"ca.key", 0600},
      {"keystore.p12", 0600}, {"storepass", 0600}, {"truststore.p12", 0600}};
  ASSERT_EQ(m.files.size(), modes.size());
  auto files = test::snapshot(out);
  EXPECT_EQ(files.size(), modes.size() + 1);  // and manifest.json; no temporaries, no lock file
  for (const auto& f : m.files) {
    ASSERT_TRUE(modes.contains(f.name)) << f.name;
    EXPECT_EQ(f.mode, modes.at(f.name)) << f.name;
    EXPECT_EQ(test::file_mode(out / f.name), modes.at(f.name)) << f.name;
    EXPECT_EQ(f.size, files.at(f.name).size()) << f.name;
    EXPECT_EQ(f.sha256, sha256_hex(as_bytes(files.at(f.name)))) << f.name;
  }
  EXPECT_TRUE(std::is_sorted(m.files.begin(), m.files.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));
  EXPECT_EQ(test::file_mode(out / "manifest.json"), 0644u);
  auto on_disk = parse_manifest(files.at("manifest.json"), "manifest.json");
  ASSERT_TRUE(on_disk) << on_disk.error().message;
  EXPECT_EQ(*on_disk, m);
  std::string storepass = files.at("storepass");
  EXPECT_EQ(storepass.size(), 33u);
  EXPECT_EQ(storepass.back(), '\n');
  expect_verifies(out);
}

TEST(Keyset, AnExistingSetIsRefusedAndLeftAsItWas) {
  TempDir tmp;
  ASSERT_TRUE(create_keyset(options_for(tmp.path())));
  auto before = test::snapshot(tmp.path());
  auto again = create_keyset(options_for(tmp.path()));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ExitCode::refused);
  EXPECT_NE(again.error().message.find("--force"), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("generation 1"), std::string::npos);
  EXPECT_EQ(test::snapshot(tmp.path()), before);
}

TEST(Keyset, ForceArchivesTheOldSetAndWritesTheNextGeneration) {
  TempDir tmp;
  auto first = create_keyset(options_for(tmp.path()));
  ASSERT_TRUE(first);
  auto old = test::snapshot(tmp.path());
  auto o = options_for(tmp.path(), {"node1", "node3"});
  o.force = true;
  auto second = create_keyset(o);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->manifest.generation, 2u);
  EXPECT_EQ(second->archived_to, tmp / "archive/000001");
  EXPECT_NE(second->manifest.ca_fingerprint, first->manifest.ca_fingerprint);
  EXPECT_EQ(second->manifest.hosts, (std::vector<std::string>{"node1", "node3"}));
  auto now = test::snapshot(tmp.path());
  for (const auto& [name, bytes] : old) EXPECT_EQ(now.at("archive/000001/" + name), bytes) << name;
  EXPECT_EQ(test::file_mode(tmp / "archive/000001"), 0700u);
  EXPECT_EQ(test::file_mode(tmp / "archive/000001/ca.key"), 0600u);
  expect_verifies(tmp.path());

  auto third = create_keyset(o);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->manifest.generation, 3u);
  EXPECT_TRUE(fs::exists(tmp / "archive/000002/manifest.json"));
  EXPECT_EQ(test::snapshot(tmp / "archive/000001").size(), 8u);
}

// Generations of one directory (--force, --keep-ca) are one key set; a fresh directory is another.
TEST(Keyset, OneDirectoryKeepsItsKeySetIdAndAFreshDirectoryGetsAnother) {
  TempDir tmp;
  auto first = create_keyset(options_for(tmp / "a"));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(is_keyset_id(first->manifest.keyset)) << first->manifest.keyset;
  auto o = options_for(tmp / "a");
  o.force = true;
  auto forced = create_keyset(o);
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ(forced->manifest.keyset, first->manifest.keyset);
  o.keep_ca = true;
  auto kept = create_keyset(o);
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->manifest.keyset, first->manifest.keyset);
  auto on_disk = parse_manifest(test::read_text(tmp / "a" / "manifest.json"), "manifest.json");
  ASSERT_TRUE(on_disk) << on_disk.error().message;
  EXPECT_EQ(on_disk->keyset, first->manifest.keyset);

  auto fresh = create_keyset(options_for(tmp / "b"));
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_TRUE(is_keyset_id(fresh->manifest.keyset));
  EXPECT_NE(fresh->manifest.keyset, first->manifest.keyset);
}

TEST(Keyset, KeepCaReusesTheCaByteForByte) {
  TempDir tmp;
  auto first = create_keyset(options_for(tmp.path()));
  ASSERT_TRUE(first);
  auto old = test::snapshot(tmp.path());
  auto o = options_for(tmp.path(), {"node1-renamed", "node2"});
  o.force = true;
  o.keep_ca = true;
  auto second = create_keyset(o);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(second->ca_kept);
  EXPECT_EQ(second->manifest.generation, 2u);
  EXPECT_EQ(second->manifest.ca_fingerprint, first->manifest.ca_fingerprint);
  EXPECT_NE(second->manifest.agent_fingerprint, first->manifest.agent_fingerprint);
  auto now = test::snapshot(tmp.path());
  EXPECT_EQ(now.at("ca.crt"), old.at("ca.crt"));
  EXPECT_EQ(now.at("ca.key"), old.at("ca.key"));
  EXPECT_EQ(now.at("archive/000001/ca.key"), old.at("ca.key"));
  EXPECT_NE(now.at("agent.key"), old.at("agent.key"));
  EXPECT_NE(now.at("storepass"), old.at("storepass"));
  expect_verifies(tmp.path());
}

TEST(KeysetInterop, KeepCaIssuesFromACaPutThereByHand) {
  TempDir tmp;
  // A CA made with the openssl CLI from the shipped profile, alone in the directory.
  auto ca =
      test::run({"openssl", "req", "-x509", "-new", "-config", test::source_dir() + "/certs/ca.cnf",
                 "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-noenc", "-keyout",
                 (tmp / "ca.key").string(), "-out", (tmp / "ca.crt").string(), "-days", "100",
                 "-subj", "/CN=imported CA"});
  ASSERT_EQ(ca.exit_code, 0) << ca.err;
  auto o = options_for(tmp.path());
  o.keep_ca = true;
  o.days = 50;
  auto created = create_keyset(o);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->manifest.generation, 1u);
  EXPECT_FALSE(created->archived_to);
  expect_verifies(tmp.path());
  EXPECT_EQ(test::file_mode(tmp / "ca.key"), 0600u);
}

void expect_refused_and_unchanged(const fs::path& dir, const CreateKeysOptions& o, ExitCode code,
                                  const std::string& culprit) {
  auto before = test::snapshot(dir);
  auto r = create_keyset(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(culprit), std::string::npos) << r.error().message;
  EXPECT_EQ(test::snapshot(dir), before);
}

TEST(Keyset, KeepCaNeedsAMatchingUsableCaThatOutlivesTheAgent) {
  TempDir tmp;
  auto o = options_for(tmp / "fresh");
  o.keep_ca = true;
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::usage, "ca.crt does not exist");
  EXPECT_FALSE(fs::exists(tmp / "fresh"));

  auto short_ca = options_for(tmp.path());
  short_ca.ca_days = 10;
  short_ca.days = 5;
  ASSERT_TRUE(create_keyset(short_ca));
  o = options_for(tmp.path());
  o.keep_ca = true;
  o.force = true;
  o.days = 20;
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::usage, "after the kept CA");
  o.days = 9;
  o.ca_days = 9;
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::usage, "--ca-days");
  o.ca_days.reset();

  // The agent key is not the CA's key; the agent certificate is not a CA.
  std::string ca_key = test::read_text(tmp / "ca.key");
  test::write_text(tmp / "ca.key", test::read_text(tmp / "agent.key"));
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::usage, "is not the private key of");
  std::string ca_crt = test::read_text(tmp / "ca.crt");
  test::write_text(tmp / "ca.crt", test::read_text(tmp / "agent.crt"), 0644);
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::usage, "is not a CA certificate");
  test::write_text(tmp / "ca.crt", ca_crt, 0644);
  test::write_text(tmp / "ca.key", ca_key);
  auto ok = create_keyset(o);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->manifest.generation, 2u);
}

TEST(Keyset, AnUnreadableManifestIsRefusedEvenWithForce) {
  TempDir tmp;
  ASSERT_TRUE(create_keyset(options_for(tmp.path())));
  test::write_text(tmp / "manifest.json", "{\"format\": \"something else\"}\n", 0644);
  auto o = options_for(tmp.path());
  o.force = true;
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::refused, "generation is unknown");
}

TEST(Keyset, KeySetFilesWithoutAManifestAreRefusedEvenWithForce) {
  TempDir tmp;
  test::write_text(tmp / "agent.key", "left over");
  auto o = options_for(tmp.path());
  o.force = true;
  expect_refused_and_unchanged(tmp.path(), o, ExitCode::refused, "agent.key");
  // A CA alone is something to issue from: the message says how.
  TempDir ca_only;
  test::write_text(ca_only / "ca.crt", "x");
  expect_refused_and_unchanged(ca_only.path(), options_for(ca_only.path()), ExitCode::refused,
                               "--keep-ca");
}

TEST(Keyset, GenerationsContinueAfterTheHighestArchivedOne) {
  TempDir tmp;
  fs::create_directories(tmp / "archive/000004");
  auto created = create_keyset(options_for(tmp.path()));
  ASSERT_TRUE(created);
  EXPECT_EQ(created->manifest.generation, 5u);
}

TEST(Keyset, ResumesAnArchiveThatWasInterrupted) {
  TempDir tmp;
  ASSERT_TRUE(create_keyset(options_for(tmp.path())));
  auto old = test::snapshot(tmp.path());
  // As if the previous --force stopped after moving two files.
  fs::create_directories(tmp / "archive/000001");
  fs::rename(tmp / "ca.key", tmp / "archive/000001/ca.key");
  fs::rename(tmp / "agent.crt", tmp / "archive/000001/agent.crt");
  test::write_text(tmp / ".agent.key.tmp-abcdef", "half a key");
  auto o = options_for(tmp.path());
  o.force = true;
  auto created = create_keyset(o);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->manifest.generation, 2u);
  auto now = test::snapshot(tmp.path());
  for (const auto& [name, bytes] : old) EXPECT_EQ(now.at("archive/000001/" + name), bytes) << name;
  EXPECT_FALSE(now.contains(".agent.key.tmp-abcdef"));
}

struct BadOptions {
  const char* what;
  CreateKeysOptions (*make)(const fs::path&);
  std::string culprit;
};

TEST(Keyset, BadOptionsAreUsageErrorsNamingTheCulpritAndWriteNothing) {
  const BadOptions cases[] = {
      {"bad host",
       [](const fs::path& d) {
         return options_for(d, {"node1", "bad_host!"});
       },
       "'bad_host!'"},
      {"no hosts", [](const fs::path& d) { return options_for(d, {}); }, "no hosts"},
      {"no directory", [](const fs::path&) { return options_for(""); }, "--out is required"},
      {"days 0",
       [](const fs::path& d) {
         auto o = options_for(d);
         o.days = 0;
         return o;
       },
       "--days 0"},
      {"ca-days negative",
       [](const fs::path& d) {
         auto o = options_for(d);
         o.ca_days = -1;
         return o;
       },
       "--ca-days -1"},
      {"days beyond ca-days",
       [](const fs::path& d) {
         auto o = options_for(d);
         o.days = 4000;
         return o;
       },
       "--days 4000 is more than --ca-days 3650"},
      {"days beyond 100 years",
       [](const fs::path& d) {
         auto o = options_for(d);
         o.days = 40000;
         o.ca_days = 40000;
         return o;
       },
       "--days 40000"},
      {"long first host",
       [](const fs::path& d) {
         return options_for(d, {std::string(40, 'a') + "." + std::string(40, 'b')});
       },
       "--cn"},
      {"long cn",
       [](const fs::path& d) {
         auto o = options_for(d);
         o.common_name = std::string(65, 'c');
         return o;
       },
       "--cn"},
      {"control character in org",
       [](const fs::path& d) {
         auto o = options_for(d);
         o.organization = "Example\nOrg";
         return o;
       },
       "--org"},
  };
  for (const auto& c : cases) {
    TempDir tmp;
    auto r = create_keyset(c.make(tmp / "keys"));
    ASSERT_FALSE(r) << c.what;
    EXPECT_EQ(r.error().code, ExitCode::usage) << c.what;
    EXPECT_NE(r.error().message.find(c.culprit), std::string::npos)
        << c.what << ": " << r.error().message;
    EXPECT_FALSE(fs::exists(tmp / "keys")) << c.what;
  }
}

TEST(KeysetInterop, CommonNameAndOrganization) {
  TempDir tmp;
  auto o = options_for(tmp.path(), {"10.0.0.3", "node1"});
  o.organization = "Example Org";
  ASSERT_TRUE(create_keyset(o));
  auto agent = test::run(
      {"openssl", "x509", "-in", (tmp / "agent.crt").string(), "-noout", "-subject", "-issuer"});
  EXPECT_NE(agent.out.find("subject=O = Example Org, CN = 10.0.0.3"), std::string::npos)
      << agent.out;
  EXPECT_NE(agent.out.find("issuer=O = Example Org, CN = keyfleet CA "), std::string::npos)
      << agent.out;
  o.common_name = "agents.example.com";
  o.force = true;
  ASSERT_TRUE(create_keyset(o));
  agent = test::run({"openssl", "x509", "-in", (tmp / "agent.crt").string(), "-noout", "-subject"});
  EXPECT_NE(agent.out.find("CN = agents.example.com"), std::string::npos) << agent.out;
}

TEST(Keyset, ASymlinkIsNotAnOutputDirectory) {
  TempDir tmp;
  fs::create_directory(tmp / "real");
  fs::create_directory_symlink(tmp / "real", tmp / "link");
  auto r = create_keyset(options_for(tmp / "link"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::refused);
  EXPECT_TRUE(fs::is_empty(tmp / "real"));
}

}  // namespace
}  // namespace kf
