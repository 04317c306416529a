#include "pki/pkcs12.hpp"

#include <string>

#include <openssl/rand.h>

namespace kf {
namespace {

// Oracle's "trusted key usage" bag attribute and the usage it grants (anyExtendedKeyUsage), as
// `openssl pkcs12 -export -jdktrust anyExtendedKeyUsage` (OpenSSL 3.2) writes them.
constexpr const char* kJdkTrustedKeyUsageOid = "2.16.840.1.113894.746875.1.1";
constexpr const char* kAnyExtendedKeyUsageOid = "2.5.29.37.0";

constexpr int kIterations = PKCS12_DEFAULT_ITER;

template <class Bytes>
Result<Bytes> to_der(PKCS12& p12) {
  int len = i2d_PKCS12(&p12, nullptr);
  if (len <= 0) return fail_openssl(ExitCode::failure, "cannot encode the PKCS#12 store");
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_PKCS12(&p12, &out) != len) {
    return fail_openssl(ExitCode::failure, "cannot encode the PKCS#12 store");
  }
  return der;
}

Result<void> set_mac(PKCS12& p12, const SecretString& password) {
  if (PKCS12_set_mac(&p12, password.c_str(), -1, nullptr, 0, kIterations, EVP_sha256()) != 1) {
    return fail_openssl(ExitCode::failure, "cannot add the PKCS#12 MAC");
  }
  return {};
}

}  // namespace

SecretString make_store_password() {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // Rejection sampling: only bytes below 248 (= 4 * 62) map evenly onto the alphabet.
  constexpr unsigned limit = 4 * alphabet.size();
  SecretString password;
  password.reserve(32);
  SecretBytes random(64);
  while (password.size() < 32) {
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
      std::abort();  // no entropy
    for (std::uint8_t b : random) {
      if (b < limit && password.size() < 32) password += alphabet[b % alphabet.size()];
    }
  }
  return password;
}

Result<SecretBytes> make_keystore(EVP_PKEY& agent_key, X509& agent_cert, X509& ca_cert,
                                  std::string_view password) {
  ossl::X509StackPtr chain(sk_X509_new_null());
  if (!chain || X509_up_ref(&ca_cert) != 1) {
    return fail_openssl(ExitCode::failure, "cannot build the keystore's certificate chain");
  }
  if (sk_X509_push(chain.get(), &ca_cert) == 0) {
    X509_free(&ca_cert);
    return fail_openssl(ExitCode::failure, "cannot build the keystore's certificate chain");
  }
  SecretString pass(password);
  std::string alias(kKeystoreAlias);
  // mac_iter -1: no MAC here; set_mac adds one with SHA-256, where PKCS12_create would use SHA-1.
  ossl::Pkcs12Ptr p12(PKCS12_create(pass.c_str(), alias.c_str(), &agent_key, &agent_cert,
                                    chain.get(), NID_aes_256_cbc, NID_aes_256_cbc, kIterations, -1,
                                    0));
  if (!p12) return fail_openssl(ExitCode::failure, "cannot create the keystore");
  KF_CHECK(set_mac(*p12, pass));
  return to_der<SecretBytes>(*p12);
}

Result<std::vector<std::uint8_t>> make_truststore(X509& ca_cert, std::string_view password) {
  X509* one[] = {&ca_cert};
  return make_truststore(one, password);
}

Result<std::vector<std::uint8_t>> make_truststore(std::span<X509* const> ca_certs,
                                                  std::string_view password) {
  auto failed = [] { return fail_openssl(ExitCode::failure, "cannot create the truststore"); };
  if (ca_certs.empty()) return fail(ExitCode::failure, "cannot create a truststore of no CA");
  ossl::SafebagStackPtr bags(sk_PKCS12_SAFEBAG_new_null());
  if (!bags) return failed();
  for (std::size_t i = 0; i < ca_certs.size(); ++i) {
    STACK_OF(PKCS12_SAFEBAG)* raw_bags = bags.get();  // appended to, never replaced
    PKCS12_SAFEBAG* bag = PKCS12_add_cert(&raw_bags, ca_certs[i]);
    if (bag == nullptr) return failed();
    ossl::Asn1ObjectPtr any_usage(OBJ_txt2obj(kAnyExtendedKeyUsageOid, 1));
    std::string alias(kTruststoreAlias);
    if (i > 0) alias += "-" + std::to_string(i + 1);
    // With len -1 and an object type, OpenSSL takes the ASN1_OBJECT itself as the value.
    if (!any_usage || PKCS12_add_friendlyname_asc(bag, alias.c_str(), -1) != 1 ||
        PKCS12_add1_attr_by_txt(bag, kJdkTrustedKeyUsageOid, V_ASN1_OBJECT,
                                reinterpret_cast<const unsigned char*>(any_usage.get()), -1) != 1) {
      return failed();
    }
  }
  SecretString pass(password);
  STACK_OF(PKCS7)* raw_safes = nullptr;
  int added = PKCS12_add_safe(&raw_safes, bags.get(), NID_aes_256_cbc, kIterations, pass.c_str());
  ossl::Pkcs7StackPtr safes(raw_safes);
  if (added != 1) return failed();
  ossl::Pkcs12Ptr p12(PKCS12_add_safes(safes.get(), 0));
  if (!p12) return failed();
  KF_CHECK(set_mac(*p12, pass));
  return to_der<std::vector<std::uint8_t>>(*p12);
}

}  // namespace kf
