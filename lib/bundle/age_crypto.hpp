#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include <openssl/evp.h>

#include "core/error.hpp"
#include "core/secret.hpp"

// The primitives age v1 is built from, each a thin wrapper over an OpenSSL 3 EVP interface.
// Failures of OpenSSL itself are ExitCode::failure; authentication failures are reported by
// return value so callers can say what was not authentic.
namespace kf::age {

inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kAeadNonceSize = 12;
inline constexpr std::size_t kMacSize = 32;

using AeadNonce = std::array<std::uint8_t, kAeadNonceSize>;
using Mac = std::array<std::uint8_t, kMacSize>;

// HKDF-SHA-256 (extract then expand) to a 32-byte key.
Result<SecretBytes> hkdf_sha256(std::span<const std::uint8_t> ikm,
                                std::span<const std::uint8_t> salt, std::string_view info);

Result<Mac> hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);

// scrypt(P = passphrase, S = salt, N = 2^log2_n, r = 8, p = 1, dkLen = 32). OpenSSL refuses to use
// more than 32 MiB unless told otherwise, so the memory limit is raised to what N needs.
Result<SecretBytes> scrypt_key(std::string_view passphrase, std::span<const std::uint8_t> salt,
                               int log2_n);

// ChaCha20-Poly1305 (RFC 7539) under one key, reused across many nonces (one per STREAM chunk)
// so the cipher context is set up once.
class ChaChaPoly {
 public:
  static Result<ChaChaPoly> create(std::span<const std::uint8_t> key, bool encrypt);

  // Writes in.size() bytes of ciphertext followed by the 16-byte tag to `out`.
  Result<void> seal(const AeadNonce& nonce, std::span<const std::uint8_t> in, std::uint8_t* out);

  // `in` is ciphertext || tag; writes in.size() - 16 bytes of plaintext to `out`, which the caller
  // must discard unless this returns true.
  bool open(const AeadNonce& nonce, std::span<const std::uint8_t> in, std::uint8_t* out);

 private:
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
  };
  explicit ChaChaPoly(EVP_CIPHER_CTX* ctx) : ctx_(ctx) {}
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx_;
};

// Fills `out` from the OpenSSL CSPRNG.
Result<void> random_bytes(std::span<std::uint8_t> out);

}  // namespace kf::age
