#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "bundle/age_format.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"

// age's X25519 recipient type (C2SP age specification): "age1..." public keys,
// "AGE-SECRET-KEY-1..." identities and the "-> X25519 <share>" stanza, from OpenSSL 3's X25519,
// HKDF-SHA-256 and ChaCha20-Poly1305.
namespace kf::age {

inline constexpr std::string_view kX25519Type = "X25519";
inline constexpr std::size_t kX25519KeySize = 32;

using X25519PublicKey = std::array<std::uint8_t, kX25519KeySize>;

struct X25519Recipient {
  X25519PublicKey public_key{};
};

struct X25519Identity {
  SecretBytes scalar;  // the 32-byte secret key
  X25519PublicKey public_key{};
};

// "age1..." (lower case, bech32, 32 bytes). Errors are ExitCode::usage and quote the text.
Result<X25519Recipient> parse_recipient(std::string_view text);
std::string format_recipient(const X25519Recipient& recipient);

// "AGE-SECRET-KEY-1..." (upper case, bech32, 32 bytes). Errors are ExitCode::usage and never
// quote the text.
Result<X25519Identity> parse_identity(std::string_view text);
Result<SecretString> format_identity(const X25519Identity& identity);

// A fresh identity from the OpenSSL CSPRNG.
Result<X25519Identity> generate_identity();
X25519Recipient recipient_of(const X25519Identity& identity);

// "-> X25519 <base64 of an ephemeral share>" wrapping `file_key` for `recipient`.
Result<Stanza> make_x25519_stanza(std::span<const std::uint8_t> file_key,
                                  const X25519Recipient& recipient);

// Checks an X25519 stanza's shape (one argument, the canonical base64 of 32 bytes; a 32-byte
// body) without any key: ExitCode::integrity, "invalid age header: ...".
Result<void> check_x25519_stanza(const Stanza& stanza);

// The file key when `identity` opens `stanza`, nullopt when the stanza is for someone else.
// A share that makes the shared secret all zero (a low-order point) is a header failure
// (ExitCode::integrity, "invalid age header: ..."), not a mismatch, as the spec requires.
Result<std::optional<SecretBytes>> unwrap_x25519(const Stanza& stanza,
                                                 const X25519Identity& identity);

}  // namespace kf::age
