// certs/ca.cnf and certs/agent.cnf are the certificate profiles in OpenSSL's syntax, shipped for
// people and scripts that use the openssl CLI. These tests issue certificates from them with
// `openssl req` for the very keys keyfleet used and compare the extensions, so neither can drift.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <sstream>

#include "core/files.hpp"
#include "pki/cert.hpp"
#include "pki/key.hpp"
#include "pki/keyset.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

std::string certs_dir() {
  return test::source_dir() + "/certs";
}

// The extensions as `openssl x509 -text` prints them: one block per extension (its name line,
// critical flag and value), sorted, so that the order they were added in does not matter.
std::vector<std::string> extension_blocks(const fs::path& cert) {
  auto r = test::run({"openssl", "x509", "-in", cert.string(), "-noout", "-text", "-certopt",
                      "no_header,no_version,no_serial,no_signame,no_validity,no_subject,no_issuer,"
                      "no_pubkey,no_sigdump,no_aux"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> blocks;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("X509v3 extensions:") != std::string::npos) continue;
    if (line.starts_with("            ") && line[12] != ' ') {
      blocks.push_back(line.substr(12));
    } else if (!blocks.empty()) {
      blocks.back() += "\n" + line.substr(line.find_first_not_of(' '));
    }
  }
  std::sort(blocks.begin(), blocks.end());
  return blocks;
}

std::string joined(const std::vector<std::string>& blocks) {
  std::string out;
  for (const auto& b : blocks) out += b + "\n";
  return out;
}

class ProfileInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    CreateKeysOptions o;
    o.out = dir_.path();
    o.hosts = {"node1", "node1.example.com", "10.0.0.3", "::1"};
    auto created = create_keyset(o);
    ASSERT_TRUE(created) << created.error().message;
  }

  test::RunResult openssl_agent(const fs::path& key, const std::string& section,
                                const fs::path& out) {
    return test::run({"openssl",
                      "req",
                      "-new",
                      "-config",
                      certs_dir() + "/agent.cnf",
                      "-extensions",
                      section,
                      "-key",
                      key.string(),
                      "-CA",
                      (dir_ / "ca.crt").string(),
                      "-CAkey",
                      (dir_ / "ca.key").string(),
                      "-days",
                      "10",
                      "-subj",
                      "/CN=node1",
                      "-addext",
                      "subjectAltName=DNS:node1,DNS:node1.example.com,IP:10.0.0.3,IP:::1",
                      "-out",
                      out.string()});
  }

  TempDir dir_;
};

TEST_F(ProfileInterop, CaCnfMatchesTheCaKeyfleetWrites) {
  auto r = test::run({"openssl", "req", "-x509", "-new", "-config", certs_dir() + "/ca.cnf", "-key",
                      (dir_ / "ca.key").string(), "-days", "10", "-out",
                      (dir_ / "cli-ca.crt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ours = extension_blocks(dir_ / "ca.crt");
  EXPECT_EQ(ours.size(), 3u) << joined(ours);
  EXPECT_EQ(joined(extension_blocks(dir_ / "cli-ca.crt")), joined(ours));
}

TEST_F(ProfileInterop, AgentCnfMatchesTheAgentCertificateKeyfleetWrites) {
  auto r = openssl_agent(dir_ / "agent.key", "agent_ext", dir_ / "cli-agent.crt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ours = extension_blocks(dir_ / "agent.crt");
  EXPECT_EQ(ours.size(), 6u) << joined(ours);
  EXPECT_EQ(joined(extension_blocks(dir_ / "cli-agent.crt")), joined(ours));
}

TEST_F(ProfileInterop, AgentRsaSectionMatchesAnRsaAgentCertificate) {
  auto ca_key = read_private_key(dir_ / "ca.key");
  auto ca_cert = read_cert(dir_ / "ca.crt");
  // The profile depends on the algorithm, not the size: a small key keeps the test quick.
  ossl::PkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)));
  ASSERT_TRUE(ca_key && ca_cert && rsa);
  AgentSpec spec{
      {"node1", "node1.example.com", "10.0.0.3", "::1"}, "node1", "", std::time(nullptr), 10};
  auto cert = make_agent_cert(*rsa, spec, **ca_cert, **ca_key);
  ASSERT_TRUE(cert) << cert.error().message;
  test::write_text(dir_ / "rsa.crt", *cert_pem(**cert), 0644);
  test::write_text(dir_ / "rsa.key", std::string(private_key_pem(*rsa)->view()));
  auto r = openssl_agent(dir_ / "rsa.key", "agent_rsa_ext", dir_ / "cli-rsa.crt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ours = extension_blocks(dir_ / "rsa.crt");
  EXPECT_NE(joined(ours).find("Key Encipherment"), std::string::npos) << joined(ours);
  EXPECT_EQ(joined(extension_blocks(dir_ / "cli-rsa.crt")), joined(ours));
}

TEST(ProfileReadme, StatesTheDefaultsTheCodeUses) {
  std::string readme = test::read_text(certs_dir() + "/README.md");
  for (const std::string& fact :
       {std::string(key_type_name(kDefaultKeyType)), fmt::format("{} days", kDefaultDays),
        fmt::format("{} days", kDefaultCaDays), fmt::format("{} bits", kSerialBits),
        fmt::format("{} minutes", kBackdateSeconds / 60), fmt::format("{} days", kMaxDays),
        std::string("SHA-256")}) {
    EXPECT_NE(readme.find(fact), std::string::npos) << "certs/README.md does not say: " << fact;
  }
}

}  // namespace
}  // namespace kf
