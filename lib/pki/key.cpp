#include "pki/key.hpp"

#include <array>

#include <fmt/ranges.h>
#include <openssl/pem.h>

#include "core/files.hpp"

namespace kf {
namespace {

constexpr std::array<std::string_view, 5> kNames = {"ec-p256", "ec-p384", "ed25519", "rsa-3072",
                                                    "rsa-4096"};

// A private key file is a few kilobytes at most; anything larger is not one.
constexpr std::size_t kMaxKeyFileSize = std::size_t{64} * 1024;

// OpenSSL's default password callback prompts on the terminal. keyfleet never does that for a key
// file: an encrypted key makes the read fail and we say why.
extern "C" int no_password(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return -1;
}

}  // namespace

std::string_view key_type_name(KeyType type) {
  return kNames.at(static_cast<std::size_t>(type));
}

std::span<const std::string_view> key_type_names() {
  return kNames;
}

Result<KeyType> parse_key_type(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<KeyType>(i);
  }
  return fail(ExitCode::usage, "--key-type: unknown key type '{}' (valid: {})", name,
              fmt::join(kNames, ", "));
}

Result<ossl::PkeyPtr> generate_key(KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::ec_p256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::ec_p384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyType::ed25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::rsa_3072:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(3072));
      break;
    case KeyType::rsa_4096:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(4096));
      break;
  }
  if (key == nullptr) {
    return fail_openssl(ExitCode::failure,
                        fmt::format("cannot generate a {} key", key_type_name(type)));
  }
  return ossl::PkeyPtr(key);
}

bool is_rsa(const EVP_PKEY& key) {
  return EVP_PKEY_is_a(&key, "RSA") == 1;
}

const EVP_MD* signing_digest(const EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "ED25519") == 1 || EVP_PKEY_is_a(&key, "ED448") == 1) return nullptr;
  return EVP_sha256();
}

Result<SecretString> private_key_pem(const EVP_PKEY& key) {
  KF_TRY_ASSIGN(auto bio, ossl::memory_bio(/*secure=*/true));
  if (PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail_openssl(ExitCode::failure, "cannot encode the private key as PEM");
  }
  return ossl::bio_secret_text(bio.get());
}

Result<ossl::PkeyPtr> parse_private_key_pem(std::span<const std::uint8_t> pem,
                                            std::string_view origin) {
  KF_TRY_ASSIGN(auto bio, ossl::read_bio(pem));
  ossl::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    return fail_openssl(
        ExitCode::usage,
        fmt::format("{}: not an unencrypted PEM private key (keyfleet cannot use an encrypted one)",
                    origin));
  }
  return key;
}

Result<ossl::PkeyPtr> read_private_key(const boost::filesystem::path& path) {
  KF_TRY_ASSIGN(SecretBytes pem, read_secret_file(path, kMaxKeyFileSize));
  return parse_private_key_pem(pem, path.string());
}

}  // namespace kf
