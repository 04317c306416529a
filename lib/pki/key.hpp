#pragma once

#include <span>
#include <string_view>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/secret.hpp"
#include "pki/ossl.hpp"

namespace kf {

// The key types create-keys offers. ec-p256 is the default: fast, small, and accepted by every TLS
// stack the agents are likely to use (OpenSSL, Java, Go, rustls).
enum class KeyType { ec_p256, ec_p384, ed25519, rsa_3072, rsa_4096 };

inline constexpr KeyType kDefaultKeyType = KeyType::ec_p256;

std::string_view key_type_name(KeyType type);
// "ec-p256", "ec-p384", "ed25519", "rsa-3072", "rsa-4096", in that order.
std::span<const std::string_view> key_type_names();
// An unknown name is a usage error that lists the valid ones.
Result<KeyType> parse_key_type(std::string_view name);

Result<ossl::PkeyPtr> generate_key(KeyType type);

bool is_rsa(const EVP_PKEY& key);
// The message digest to sign certificates with: SHA-256, or none for Ed25519 (which hashes
// internally and takes no digest).
const EVP_MD* signing_digest(const EVP_PKEY& key);

// Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"); the buffer is cleansed when it goes away.
Result<SecretString> private_key_pem(const EVP_PKEY& key);

// Parses an unencrypted PEM private key (PKCS#8 or the traditional forms). Never prompts: an
// encrypted key is an error. `origin` names the file in messages.
Result<ossl::PkeyPtr> parse_private_key_pem(std::span<const std::uint8_t> pem,
                                            std::string_view origin);
Result<ossl::PkeyPtr> read_private_key(const boost::filesystem::path& path);

}  // namespace kf
