#include <gtest/gtest.h>

#include <ctime>

#include "core/files.hpp"
#include "pki/cert.hpp"
#include "pki/key.hpp"
#include "pki/manifest.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

struct Ca {
  ossl::PkeyPtr key;
  ossl::X509Ptr cert;
};

Ca make_ca(KeyType type = KeyType::ec_p256, std::time_t now = std::time(nullptr)) {
  auto key = generate_key(type);
  EXPECT_TRUE(key);
  auto cert = make_ca_cert(**key, {"keyfleet CA test", "Example Org", now, 3650});
  EXPECT_TRUE(cert) << cert.error().message;
  return {std::move(*key), std::move(*cert)};
}

AgentSpec agent_spec(std::vector<std::string> hosts, std::time_t now = std::time(nullptr)) {
  return {std::move(hosts), "node1", "Example Org", now, 825};
}

std::time_t asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  EXPECT_EQ(ASN1_TIME_to_tm(t, &tm), 1);
  return timegm(&tm);
}

std::string subject(X509& cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(&cert), buf, sizeof buf);
  return buf;
}

void write_pem(const fs::path& path, const X509& cert) {
  auto pem = cert_pem(cert);
  ASSERT_TRUE(pem);
  test::write_text(path, *pem, 0644);
}

TEST(Cert, CaHasTheProfileExtensionsAndIsSelfSigned) {
  std::time_t now = std::time(nullptr);
  Ca ca = make_ca(KeyType::ec_p256, now);
  X509* cert = ca.cert.get();
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(cert), 1);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_get_pathlen(cert), 0);
  EXPECT_NE(X509_get0_subject_key_id(cert), nullptr);
  int crit = -1;
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, &crit, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(crit, 1);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_EQ(X509_verify(cert, ca.key.get()), 1);
  EXPECT_EQ(subject(*cert), "/O=Example Org/CN=keyfleet CA test");
  EXPECT_EQ(asn1_time(X509_get0_notBefore(cert)), now - kBackdateSeconds);
  EXPECT_EQ(asn1_time(X509_get0_notAfter(cert)), now + 3650L * 86400);
  EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
}

TEST(CertInterop, AgentCertificateCarriesEveryHostAndBothPurposes) {
  std::time_t now = std::time(nullptr);
  Ca ca = make_ca();
  auto key = generate_key(KeyType::ec_p256);
  ASSERT_TRUE(key);
  auto cert = make_agent_cert(
      **key, agent_spec({"node1", "node2.example.com", "10.0.0.3", "::1"}, now), *ca.cert, *ca.key);
  ASSERT_TRUE(cert) << cert.error().message;
  X509* c = cert->get();
  EXPECT_EQ(X509_check_ca(c), 0);
  EXPECT_EQ(X509_get_key_usage(c), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(c),
            static_cast<std::uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  ASSERT_NE(X509_get0_authority_key_id(c), nullptr);
  EXPECT_EQ(ASN1_STRING_cmp(X509_get0_authority_key_id(c), X509_get0_subject_key_id(ca.cert.get())),
            0);
  EXPECT_EQ(X509_verify(c, ca.key.get()), 1);
  EXPECT_EQ(subject(*c), "/O=Example Org/CN=node1");
  EXPECT_EQ(asn1_time(X509_get0_notAfter(c)), now + 825L * 86400);
  auto after = not_after(*c);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, now + 825L * 86400);
  EXPECT_EQ(X509_check_host(c, "node2.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(c, "node3", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(c, "10.0.0.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(c, "::1", 0), 1);
  // An address is an IP entry, never a DNS name.
  EXPECT_EQ(X509_check_host(c, "10.0.0.3", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr), 0);

  test::TempDir dir;
  write_pem(dir / "ca.crt", *ca.cert);
  write_pem(dir / "agent.crt", *c);
  for (const char* purpose : {"sslserver", "sslclient"}) {
    auto r = test::run({"openssl", "verify", "-CAfile", (dir / "ca.crt").string(), "-purpose",
                        purpose, (dir / "agent.crt").string()});
    EXPECT_EQ(r.exit_code, 0) << purpose << ": " << r.out << r.err;
  }
  auto san = test::run(
      {"openssl", "x509", "-in", (dir / "agent.crt").string(), "-noout", "-ext", "subjectAltName"});
  EXPECT_NE(san.out.find("DNS:node1, DNS:node2.example.com, IP Address:10.0.0.3, IP "
                         "Address:0:0:0:0:0:0:0:1"),
            std::string::npos)
      << san.out;
}

TEST(Cert, SerialsAreRandomPositive128BitNumbers) {
  Ca ca = make_ca();
  auto key = generate_key(KeyType::ec_p256);
  ASSERT_TRUE(key);
  auto a = make_agent_cert(**key, agent_spec({"node1"}), *ca.cert, *ca.key);
  auto b = make_agent_cert(**key, agent_spec({"node1"}), *ca.cert, *ca.key);
  ASSERT_TRUE(a && b);
  for (X509* cert : {ca.cert.get(), a->get(), b->get()}) {
    ossl::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    ASSERT_TRUE(serial);
    EXPECT_EQ(BN_num_bits(serial.get()), kSerialBits);
    EXPECT_FALSE(BN_is_negative(serial.get()));
  }
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->get()), X509_get0_serialNumber(b->get())),
            0);
}

// The profile depends on the algorithm, not the size: a small key keeps the test quick.
ossl::PkeyPtr small_rsa_key() {
  return ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)));
}

TEST(Cert, RsaAgentKeyAlsoGetsKeyEncipherment) {
  Ca ca = make_ca();
  auto key = small_rsa_key();
  ASSERT_TRUE(key);
  auto cert = make_agent_cert(*key, agent_spec({"node1"}), *ca.cert, *ca.key);
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(X509_get_key_usage(cert->get()),
            static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  // Signed by the EC CA: the signature follows the CA's key, not the subject's.
  EXPECT_EQ(X509_get_signature_nid(cert->get()), NID_ecdsa_with_SHA256);
}

TEST(Cert, Ed25519CaSignsWithEd25519) {
  Ca ca = make_ca(KeyType::ed25519);
  EXPECT_EQ(X509_get_signature_nid(ca.cert.get()), NID_ED25519);
  auto key = generate_key(KeyType::ed25519);
  ASSERT_TRUE(key);
  auto cert = make_agent_cert(**key, agent_spec({"node1"}), *ca.cert, *ca.key);
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(X509_get_signature_nid(cert->get()), NID_ED25519);
  EXPECT_EQ(X509_verify(cert->get(), ca.key.get()), 1);
}

TEST(Cert, NoHostsAndOverlongNamesAreRefused) {
  Ca ca = make_ca();
  auto key = generate_key(KeyType::ec_p256);
  ASSERT_TRUE(key);
  auto none = make_agent_cert(**key, agent_spec({}), *ca.cert, *ca.key);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ExitCode::usage);
  AgentSpec spec = agent_spec({"node1"});
  spec.organization = std::string(65, 'o');
  auto long_org = make_agent_cert(**key, spec, *ca.cert, *ca.key);
  ASSERT_FALSE(long_org);
  EXPECT_NE(long_org.error().message.find("organization"), std::string::npos);
}

TEST(Cert, FingerprintIsSha256OfTheDer) {
  Ca ca = make_ca();
  unsigned char* der = nullptr;
  int len = i2d_X509(ca.cert.get(), &der);
  ASSERT_GT(len, 0);
  std::string expected =
      "sha256:" + sha256_hex(std::span<const std::uint8_t>(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  EXPECT_EQ(fingerprint(*ca.cert), expected);
  EXPECT_EQ(fingerprint(*ca.cert).size(), 7u + 64u);
}

TEST(Cert, PemRoundTripsAndBadFilesNameThemselves) {
  Ca ca = make_ca();
  test::TempDir dir;
  write_pem(dir / "ca.crt", *ca.cert);
  auto back = read_cert(dir / "ca.crt");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(X509_cmp(back->get(), ca.cert.get()), 0);
  test::write_text(dir / "bad.crt",
                   "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  auto bad = read_cert(dir / "bad.crt");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad.crt"), std::string::npos);
}

}  // namespace
}  // namespace kf
