#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>

#include "core/files.hpp"
#include "pki/cert.hpp"
#include "pki/key.hpp"
#include "pki/pkcs12.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

struct Material {
  ossl::PkeyPtr ca_key;
  ossl::X509Ptr ca_cert;
  ossl::PkeyPtr agent_key;
  ossl::X509Ptr agent_cert;
};

Material make_material() {
  std::time_t now = std::time(nullptr);
  Material m;
  m.ca_key = std::move(*generate_key(KeyType::ec_p256));
  m.ca_cert = std::move(*make_ca_cert(*m.ca_key, {"keyfleet CA test", "", now, 30}));
  m.agent_key = std::move(*generate_key(KeyType::ec_p256));
  m.agent_cert = std::move(
      *make_agent_cert(*m.agent_key, {{"node1"}, "node1", "", now, 10}, *m.ca_cert, *m.ca_key));
  return m;
}

template <class Bytes>
ossl::Pkcs12Ptr parse(const Bytes& der) {
  const unsigned char* p = der.data();
  return ossl::Pkcs12Ptr(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
}

template <class Bytes>
void write_bytes(const fs::path& path, const Bytes& bytes) {
  test::write_text(path, std::string(bytes.begin(), bytes.end()));
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST(Pkcs12, StorePasswordIsThirtyTwoAlphanumericCharacters) {
  SecretString a = make_store_password();
  SecretString b = make_store_password();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c));
  })) << a.view();
  EXPECT_NE(a.view(), b.view());
}

TEST(Pkcs12, KeystoreHoldsTheKeyTheCertificateAndTheChain) {
  Material m = make_material();
  SecretString password = make_store_password();
  auto der = make_keystore(*m.agent_key, *m.agent_cert, *m.ca_cert, password.view());
  ASSERT_TRUE(der) << der.error().message;
  auto p12 = parse(*der);
  ASSERT_TRUE(p12);
  EXPECT_EQ(PKCS12_verify_mac(p12.get(), "wrong", -1), 0);
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(PKCS12_parse(p12.get(), password.c_str(), &key, &cert, &chain), 1);
  ossl::PkeyPtr key_owner(key);
  ossl::X509Ptr cert_owner(cert);
  ossl::X509StackPtr chain_owner(chain);
  EXPECT_EQ(EVP_PKEY_eq(key, m.agent_key.get()), 1);
  EXPECT_EQ(X509_cmp(cert, m.agent_cert.get()), 0);
  ASSERT_EQ(sk_X509_num(chain), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), m.ca_cert.get()), 0);
  int len = 0;
  unsigned char* alias = X509_alias_get0(cert, &len);
  ASSERT_NE(alias, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(alias), static_cast<std::size_t>(len)),
            kKeystoreAlias);
}

TEST(Pkcs12, TruststoreHoldsOnlyTheCaCertificate) {
  Material m = make_material();
  SecretString password = make_store_password();
  auto der = make_truststore(*m.ca_cert, password.view());
  ASSERT_TRUE(der) << der.error().message;
  auto p12 = parse(*der);
  ASSERT_TRUE(p12);
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(PKCS12_parse(p12.get(), password.c_str(), &key, &cert, &chain), 1);
  ossl::X509StackPtr chain_owner(chain);
  EXPECT_EQ(key, nullptr);
  EXPECT_EQ(cert, nullptr);
  ASSERT_EQ(sk_X509_num(chain), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), m.ca_cert.get()), 0);
}

TEST(Pkcs12Interop, OpensslCliReadsBothStoresWithThePasswordFile) {
  Material m = make_material();
  SecretString password = make_store_password();
  test::TempDir dir;
  test::write_text(dir / "storepass", std::string(password.view()) + "\n");
  write_bytes(dir / "keystore.p12",
              *make_keystore(*m.agent_key, *m.agent_cert, *m.ca_cert, password.view()));
  write_bytes(dir / "truststore.p12", *make_truststore(*m.ca_cert, password.view()));
  std::string pass = "file:" + (dir / "storepass").string();
  for (const char* store : {"keystore.p12", "truststore.p12"}) {
    auto info = test::run(
        {"openssl", "pkcs12", "-info", "-noout", "-passin", pass, "-in", (dir / store).string()});
    EXPECT_EQ(info.exit_code, 0) << store << ": " << info.err;
    EXPECT_NE(info.err.find("MAC: sha256"), std::string::npos) << info.err;
    EXPECT_NE(info.err.find("AES-256-CBC"), std::string::npos) << info.err;
  }
  auto keystore = test::run(
      {"openssl", "pkcs12", "-noenc", "-passin", pass, "-in", (dir / "keystore.p12").string()});
  EXPECT_EQ(count(keystore.out, "-----BEGIN CERTIFICATE-----"), 2u);
  EXPECT_EQ(count(keystore.out, "-----BEGIN PRIVATE KEY-----"), 1u);
  EXPECT_NE(keystore.out.find("friendlyName: agent"), std::string::npos);
  auto truststore = test::run(
      {"openssl", "pkcs12", "-noenc", "-passin", pass, "-in", (dir / "truststore.p12").string()});
  EXPECT_EQ(count(truststore.out, "-----BEGIN CERTIFICATE-----"), 1u);
  EXPECT_EQ(count(truststore.out, "PRIVATE KEY"), 0u);
  EXPECT_NE(truststore.out.find("2.16.840.1.113894.746875.1.1"), std::string::npos)
      << truststore.out;
  auto wrong = test::run({"openssl", "pkcs12", "-info", "-noout", "-passin", "pass:wrong", "-in",
                          (dir / "keystore.p12").string()});
  EXPECT_NE(wrong.exit_code, 0);
}

// Java reads a certificate without a key only when the bag says it is trusted; keytool is the
// judge of that (scripts/deps.sh installs it with the test dependencies).
TEST(Pkcs12Interop, JavaKeytoolSeesAKeyEntryAndATrustedCertificate) {
  Material m = make_material();
  SecretString password = make_store_password();
  test::TempDir dir;
  test::write_text(dir / "storepass", std::string(password.view()) + "\n");
  write_bytes(dir / "keystore.p12",
              *make_keystore(*m.agent_key, *m.agent_cert, *m.ca_cert, password.view()));
  write_bytes(dir / "truststore.p12", *make_truststore(*m.ca_cert, password.view()));
  auto list = [&](const char* store) {
    return test::run({"keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore",
                      (dir / store).string(), "-storepass:file", (dir / "storepass").string()});
  };
  auto keystore = list("keystore.p12");
  ASSERT_EQ(keystore.exit_code, 0) << keystore.out << keystore.err;
  EXPECT_NE(keystore.out.find("Your keystore contains 1 entry"), std::string::npos) << keystore.out;
  EXPECT_NE(keystore.out.find("Alias name: agent"), std::string::npos);
  EXPECT_NE(keystore.out.find("Entry type: PrivateKeyEntry"), std::string::npos);
  EXPECT_NE(keystore.out.find("Certificate chain length: 2"), std::string::npos);
  auto truststore = list("truststore.p12");
  ASSERT_EQ(truststore.exit_code, 0) << truststore.out << truststore.err;
  EXPECT_NE(truststore.out.find("Your keystore contains 1 entry"), std::string::npos)
      << truststore.out;
  EXPECT_NE(truststore.out.find("Alias name: ca"), std::string::npos);
  EXPECT_NE(truststore.out.find("Entry type: trustedCertEntry"), std::string::npos);
}

}  // namespace
}  // namespace kf
