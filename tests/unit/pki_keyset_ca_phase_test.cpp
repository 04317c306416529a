#include <gtest/gtest.h>

#include "core/files.hpp"
#include "pki/cert.hpp"
#include "pki/keyset.hpp"
#include "pki/keyset_ca_phase.hpp"
#include "pki/keyset_dir.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

CreateKeysOptions options_for(const fs::path& out) {
  CreateKeysOptions o;
  o.out = out;
  o.hosts = {"node1", "node2", "10.0.0.3"};
  o.force = true;
  return o;
}

// Generation 1 in `dir`, then each phase in turn; every step must succeed.
Manifest make(const fs::path& dir, std::initializer_list<CaPhase> phases) {
  auto o = options_for(dir);
  o.force = false;
  auto first = create_keyset(o);
  EXPECT_TRUE(first) << first.error().message;
  Manifest last = first ? first->manifest : Manifest{};
  for (CaPhase phase : phases) {
    auto made = create_ca_phase_keyset(options_for(dir), phase);
    EXPECT_TRUE(made) << to_string(phase) << ": " << made.error().message;
    if (made) last = made->manifest;
  }
  return last;
}

std::vector<std::string> fingerprints_in(const fs::path& pem) {
  auto bytes = read_file(pem, 1 << 20);
  EXPECT_TRUE(bytes) << bytes.error().message;
  auto certs = parse_certs_pem(*bytes, pem.string());
  EXPECT_TRUE(certs) << certs.error().message;
  std::vector<std::string> out;
  for (const auto& c : *certs) out.push_back(fingerprint(*c));
  return out;
}

// openssl verify -CAfile CA -purpose sslserver CERT: whether CERT chains to a CA of that file.
bool verifies(const fs::path& ca, const fs::path& cert) {
  auto r = test::run(
      {"openssl", "verify", "-CAfile", ca.string(), "-purpose", "sslserver", cert.string()});
  return r.exit_code == 0;
}

// The certificates in a truststore, as openssl pkcs12 lists them (storepass from the set).
int truststore_certs(const fs::path& dir) {
  auto r = test::run({"openssl", "pkcs12", "-in", (dir / "truststore.p12").string(), "-nokeys",
                      "-passin", "file:" + (dir / "storepass").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  int count = 0;
  for (std::size_t at = 0; (at = r.out.find("BEGIN CERTIFICATE", at)) != std::string::npos; ++at) {
    ++count;
  }
  return count;
}

TEST(KeysetCaPhaseInterop, TrustCarriesTheAgentByteForByteAndTrustsBothCas) {
  TempDir tmp;
  Manifest trust = make(tmp.path(), {CaPhase::trust});
  auto now = test::snapshot(tmp.path());
  for (const char* name : {"agent.crt", "agent.key", "keystore.p12", "storepass"}) {
    EXPECT_EQ(now.at(name), now.at(std::string("archive/000001/") + name)) << name;
  }
  const std::string& old_ca = now.at("archive/000001/ca.crt");
  const std::string& ca = now.at("ca.crt");
  ASSERT_GT(ca.size(), old_ca.size());
  EXPECT_EQ(ca.substr(ca.size() - old_ca.size()), old_ca);  // the old CA, unchanged, second
  EXPECT_NE(now.at("ca.key"), now.at("archive/000001/ca.key"));

  EXPECT_EQ(trust.generation, 2u);
  EXPECT_EQ(trust.ca_phase, CaPhase::trust);
  auto in_file = fingerprints_in(tmp / "ca.crt");
  ASSERT_EQ(in_file.size(), 2u);
  EXPECT_EQ(trust.trusted_cas, in_file);
  EXPECT_EQ(in_file[1], fingerprints_in(tmp / "archive/000001/ca.crt")[0]);
  EXPECT_EQ(trust.ca_fingerprint, in_file[1]);  // the agent's issuer: still the old CA
  EXPECT_EQ(truststore_certs(tmp.path()), 2);
  EXPECT_TRUE(verifies(tmp / "ca.crt", tmp / "agent.crt"));
  auto on_disk = parse_manifest(now.at("manifest.json"), "manifest.json");
  ASSERT_TRUE(on_disk) << on_disk.error().message;
  EXPECT_EQ(*on_disk, trust);
}

TEST(KeysetCaPhaseInterop, LeafIssuesFromTheNewCaAndRetireDropsTheOld) {
  TempDir tmp;
  Manifest first = make(tmp.path(), {});
  auto leaf = create_ca_phase_keyset(options_for(tmp.path()), CaPhase::trust);
  ASSERT_TRUE(leaf) << leaf.error().message;
  leaf = create_ca_phase_keyset(options_for(tmp.path()), CaPhase::leaf);
  ASSERT_TRUE(leaf) << leaf.error().message;
  auto at_leaf = test::snapshot(tmp.path());
  EXPECT_EQ(leaf->manifest.generation, 3u);
  EXPECT_EQ(leaf->manifest.ca_phase, CaPhase::leaf);
  EXPECT_EQ(leaf->manifest.keyset, first.keyset);
  EXPECT_EQ(at_leaf.at("ca.crt"), at_leaf.at("archive/000002/ca.crt"));  // carried
  EXPECT_EQ(at_leaf.at("ca.key"), at_leaf.at("archive/000002/ca.key"));
  EXPECT_NE(at_leaf.at("agent.key"), at_leaf.at("archive/000002/agent.key"));
  EXPECT_EQ(leaf->manifest.ca_fingerprint, fingerprints_in(tmp / "ca.crt")[0]);
  EXPECT_EQ(leaf->manifest.trusted_cas, fingerprints_in(tmp / "ca.crt"));
  EXPECT_EQ(truststore_certs(tmp.path()), 2);
  // Both agent certificates verify against a leaf node's ca.crt: old and new nodes talk.
  EXPECT_TRUE(verifies(tmp / "ca.crt", tmp / "agent.crt"));
  EXPECT_TRUE(verifies(tmp / "ca.crt", tmp / "archive/000001/agent.crt"));
  EXPECT_FALSE(verifies(tmp / "archive/000001/ca.crt", tmp / "agent.crt"));

  auto retire = create_ca_phase_keyset(options_for(tmp.path()), CaPhase::retire);
  ASSERT_TRUE(retire) << retire.error().message;
  auto at_retire = test::snapshot(tmp.path());
  EXPECT_EQ(retire->manifest.generation, 4u);
  EXPECT_EQ(retire->manifest.ca_phase, CaPhase::retire);
  for (const char* name : {"agent.crt", "agent.key", "keystore.p12", "storepass", "ca.key"}) {
    EXPECT_EQ(at_retire.at(name), at_leaf.at(name)) << name;
  }
  EXPECT_EQ(fingerprints_in(tmp / "ca.crt"),
            std::vector<std::string>{leaf->manifest.ca_fingerprint});
  EXPECT_EQ(retire->manifest.trusted_cas, std::vector<std::string>{leaf->manifest.ca_fingerprint});
  EXPECT_EQ(at_leaf.at("ca.crt").rfind(at_retire.at("ca.crt"), 0), 0u);  // its first PEM block
  EXPECT_EQ(truststore_certs(tmp.path()), 1);
  EXPECT_TRUE(verifies(tmp / "ca.crt", tmp / "agent.crt"));
  EXPECT_FALSE(verifies(tmp / "ca.crt", tmp / "archive/000001/agent.crt"));

  // After a finished rotation the next one may start, and --keep-ca issues from the new CA.
  auto o = options_for(tmp.path());
  o.keep_ca = true;
  auto kept = create_keyset(o);
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_FALSE(kept->manifest.ca_phase);
  EXPECT_TRUE(kept->manifest.trusted_cas.empty());
  EXPECT_EQ(kept->manifest.ca_fingerprint, retire->manifest.ca_fingerprint);
  auto again = create_ca_phase_keyset(options_for(tmp.path()), CaPhase::trust);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->manifest.generation, 6u);
}

TEST(KeysetCaPhase, EachPhaseFollowsOnlyThePhaseBeforeIt) {
  TempDir tmp;
  auto empty = create_ca_phase_keyset(options_for(tmp / "empty"), CaPhase::trust);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ExitCode::refused);
  EXPECT_NE(empty.error().message.find("holds no key set"), std::string::npos);

  make(tmp.path(), {});
  auto expect_refused = [&](CaPhase phase, const std::string& words) {
    auto before = test::snapshot(tmp.path());
    auto r = create_ca_phase_keyset(options_for(tmp.path()), phase);
    ASSERT_FALSE(r) << to_string(phase);
    EXPECT_EQ(r.error().code, ExitCode::refused);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
    EXPECT_EQ(test::snapshot(tmp.path()), before);
  };
  expect_refused(CaPhase::leaf, "not part of a CA rotation");
  expect_refused(CaPhase::retire, "follows its leaf phase");
  ASSERT_TRUE(create_ca_phase_keyset(options_for(tmp.path()), CaPhase::trust));
  expect_refused(CaPhase::trust, "in the trust phase of a CA rotation");
  expect_refused(CaPhase::retire, "in the trust phase");
}

TEST(KeysetCaPhase, ACarriedFileThatDiffersFromItsManifestIsRefused) {
  TempDir tmp;
  make(tmp.path(), {});
  test::write_text(tmp / "agent.key", "not the key the manifest lists\n", 0600);
  auto before = test::snapshot(tmp.path());
  auto r = create_ca_phase_keyset(options_for(tmp.path()), CaPhase::trust);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::integrity);
  EXPECT_NE(r.error().message.find("agent.key differs from its SHA-256"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(test::snapshot(tmp.path()), before);
}

// A run killed while it archived the previous set has moved some of its files already: the next
// run carries them from the archive and finishes the move.
TEST(KeysetCaPhase, AnInterruptedArchiveIsResumedAndItsFilesStillCarried) {
  TempDir tmp;
  make(tmp.path(), {});
  auto before = test::snapshot(tmp.path());
  fs::create_directories(tmp / "archive/000001");
  fs::rename(tmp / "agent.crt", tmp / "archive/000001/agent.crt");
  fs::rename(tmp / "storepass", tmp / "archive/000001/storepass");
  auto trust = create_ca_phase_keyset(options_for(tmp.path()), CaPhase::trust);
  ASSERT_TRUE(trust) << trust.error().message;
  auto now = test::snapshot(tmp.path());
  EXPECT_EQ(now.at("agent.crt"), before.at("agent.crt"));
  EXPECT_EQ(now.at("storepass"), before.at("storepass"));
  EXPECT_EQ(now.at("archive/000001/manifest.json"), before.at("manifest.json"));
}

// --keep-ca on a directory whose ca.crt holds two CAs (an abandoned CA rotation) keeps trusting
// both, and says so in the manifest.
TEST(KeysetCaPhaseInterop, KeepCaOverTwoCasTrustsThemBoth) {
  TempDir tmp;
  Manifest trust = make(tmp.path(), {CaPhase::trust});
  auto o = options_for(tmp.path());
  o.keep_ca = true;
  auto kept = create_keyset(o);
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->manifest.trusted_cas, trust.trusted_cas);
  EXPECT_EQ(kept->manifest.ca_fingerprint, trust.trusted_cas[0]);
  EXPECT_FALSE(kept->manifest.ca_phase);
  EXPECT_EQ(truststore_certs(tmp.path()), 2);
  EXPECT_TRUE(verifies(tmp / "ca.crt", tmp / "agent.crt"));
}

}  // namespace
}  // namespace kf
