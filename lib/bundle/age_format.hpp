#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/age_crypto.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"

// The building blocks of an age v1 file below the recipient layer: canonical base64, the textual
// header, the header MAC and the STREAM payload. Exposed for tests (the CCTV vectors give the file
// key directly) and for tools that need more than age.hpp offers.
namespace kf::age {

inline constexpr std::string_view kVersionLine = "age-encryption.org/v1";
inline constexpr std::size_t kFileKeySize = 16;
inline constexpr std::size_t kPayloadNonceSize = 16;
inline constexpr std::size_t kChunkSize = std::size_t{64} * 1024;
inline constexpr std::size_t kSealedChunkSize = kChunkSize + kTagSize;
inline constexpr std::size_t kColumns = 64;

// Standard alphabet, no padding, canonical (unused trailing bits zero), as the spec requires.
std::string encode_base64(std::span<const std::uint8_t> bytes);
// Rejects padding, whitespace, characters outside the alphabet and non-canonical encodings.
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text);

struct Stanza {
  std::vector<std::string> args;  // args[0] is the recipient type ("scrypt")
  std::vector<std::uint8_t> body;
};

struct Header {
  std::vector<Stanza> stanzas;
  std::size_t mac_input_size = 0;  // bytes covered by the MAC: up to and including "---"
  std::size_t size = 0;            // bytes up to and including the MAC line's newline
  Mac mac{};
};

// Parses (never authenticates) the header at the start of `file`. Errors are ExitCode::integrity
// and start with "invalid age header".
Result<Header> parse_header(std::span<const std::uint8_t> file);

// The header text from the version line up to and including "---", ready for the MAC.
std::string format_header_until_mac(std::span<const Stanza> stanzas);

// Checks that `payload_size` bytes can be a nonce followed by well-formed STREAM chunks (a final
// chunk that holds at least its tag, and is empty only if it is the only one), before any key is
// derived. Returns the plaintext size.
Result<std::size_t> check_payload_layout(std::size_t payload_size);

// The size of the nonce and STREAM chunks for `plaintext_size` bytes.
std::size_t sealed_payload_size(std::size_t plaintext_size);

// Appends the nonce and the STREAM chunks of `plaintext` to `out`.
Result<void> seal_payload(std::span<const std::uint8_t> file_key,
                          std::span<const std::uint8_t> plaintext, std::vector<std::uint8_t>& out);

// Authenticates and decrypts every chunk; returns the plaintext only if all of it is authentic.
Result<SecretBytes> open_payload(std::span<const std::uint8_t> file_key,
                                 std::span<const std::uint8_t> payload);

// A complete file: header with `stanzas` (already wrapping `file_key`), MAC, payload.
Result<std::vector<std::uint8_t>> seal_file(std::span<const Stanza> stanzas,
                                            std::span<const std::uint8_t> file_key,
                                            std::span<const std::uint8_t> plaintext);

// Checks the header MAC with a known file key, then opens the payload.
Result<SecretBytes> open_with_file_key(std::span<const std::uint8_t> file, const Header& header,
                                       std::span<const std::uint8_t> file_key);
Result<SecretBytes> open_with_file_key(std::span<const std::uint8_t> file,
                                       std::span<const std::uint8_t> file_key);

// The scrypt recipient stanza for `file_key`: "-> scrypt <salt> <work factor>" and the wrapped
// key, with a fresh salt.
Result<Stanza> make_scrypt_stanza(std::span<const std::uint8_t> file_key,
                                  std::string_view passphrase, int work_factor);

}  // namespace kf::age
