#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/secret.hpp"
#include "pki/ossl.hpp"

namespace kf {

// Aliases (PKCS#12 friendlyName) that Java's keytool lists the entries under.
inline constexpr std::string_view kKeystoreAlias = "agent";
inline constexpr std::string_view kTruststoreAlias = "ca";

// 32 characters from [A-Za-z0-9] (about 190 bits), no line ending. Characters every tool reads
// the same way from a file, an argument or a Java properties file.
SecretString make_store_password();

// The agent key, its certificate and the CA certificate as the chain. Keys and certificates are
// encrypted with AES-256-CBC under PBKDF2, and the MAC is HMAC-SHA256: what OpenSSL 3 and Java
// (8u301 and later) write and read by default.
Result<SecretBytes> make_keystore(EVP_PKEY& agent_key, X509& agent_cert, X509& ca_cert,
                                  std::string_view password);

// The CA certificate alone, marked as a trusted certificate entry for Java: keytool ignores a
// certificate without a key unless the bag carries Oracle's trusted-key-usage attribute.
Result<std::vector<std::uint8_t>> make_truststore(X509& ca_cert, std::string_view password);
// The same with every CA of `ca_certs`, in that order, one trusted entry each (aliases "ca",
// "ca-2", "ca-3", ...): during a CA rotation the agents trust the old and the new CA.
Result<std::vector<std::uint8_t>> make_truststore(std::span<X509* const> ca_certs,
                                                  std::string_view password);

}  // namespace kf
