#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "bundle/age_x25519.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"

// The age v1 file format (C2SP age specification), binary (not armored), with scrypt passphrase
// or X25519 recipients; crypto from OpenSSL 3 (and libsodium's scrypt) only. Errors are
// ExitCode::integrity with a reason.
// The layers below (base64, header, STREAM, a known file key) are in bundle/age_format.hpp.
namespace kf::age {

inline constexpr int kDefaultWorkFactor = 18;
inline constexpr int kMaxWorkFactor = 22;  // checked before the KDF runs
inline constexpr std::size_t kMaxFileSize = 64u << 20;

// What opens a file: a passphrase (one scrypt stanza, alone) or an identity (X25519 stanzas).
enum class RecipientKind { scrypt, x25519 };

struct HeaderInfo {
  RecipientKind kind = RecipientKind::scrypt;
  int work_factor = 0;             // the scrypt stanza's log2(N); 0 for X25519
  std::size_t x25519_stanzas = 0;  // X25519 recipients
  std::size_t other_stanzas = 0;   // stanzas of types keyfleet does not know (skipped)
  std::size_t header_size = 0;     // bytes up to and including the MAC line
  std::size_t payload_size = 0;    // nonce + STREAM chunks
};

// Parses the header without a key: it must be a well-formed age v1 header with exactly one scrypt
// stanza, or one or more well-formed X25519 stanzas (and any number of stanzas of unknown types,
// which the spec says to skip). The MAC cannot be checked without the file key.
Result<HeaderInfo> inspect_header(std::span<const std::uint8_t> file);

// Encrypts `plaintext` to a single scrypt recipient with work factor log2(N).
Result<std::vector<std::uint8_t>> encrypt_scrypt(std::span<const std::uint8_t> plaintext,
                                                 std::string_view passphrase, int work_factor);

// Decrypts and authenticates the whole file (header MAC, every STREAM chunk, the final-chunk flag,
// nothing after it) before returning a byte. A work factor above `max_work_factor` is refused
// before the KDF runs. Wrong passphrase, tampering and truncation are ExitCode::integrity.
Result<SecretBytes> decrypt_scrypt(std::span<const std::uint8_t> file, std::string_view passphrase,
                                   int max_work_factor = kMaxWorkFactor);

// Encrypts `plaintext` to X25519 recipients, one stanza each (at least one).
Result<std::vector<std::uint8_t>> encrypt_x25519(std::span<const std::uint8_t> plaintext,
                                                 std::span<const X25519Recipient> recipients);

// Decrypts and authenticates the whole file, as decrypt_scrypt does, with the first identity that
// opens one of its X25519 stanzas. Every X25519 stanza is checked for shape before any key is
// tried; a low-order share is a header failure. None opening: ExitCode::integrity, "no identity
// matched", naming how many stanzas and identities were tried.
Result<SecretBytes> decrypt_x25519(std::span<const std::uint8_t> file,
                                   std::span<const X25519Identity> identities);

}  // namespace kf::age
