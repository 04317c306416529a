#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/secret.hpp"

// The age v1 file format (C2SP age specification), binary (not armored), with scrypt passphrase
// recipients; crypto from OpenSSL 3 only. Errors are ExitCode::integrity with a reason.
// The layers below (base64, header, STREAM, a known file key) are in bundle/age_format.hpp.
namespace kf::age {

inline constexpr int kDefaultWorkFactor = 18;
inline constexpr int kMaxWorkFactor = 22;  // checked before the KDF runs
inline constexpr std::size_t kMaxFileSize = 64u << 20;

struct HeaderInfo {
  int work_factor = 0;           // the scrypt stanza's log2(N)
  std::size_t header_size = 0;   // bytes up to and including the MAC line
  std::size_t payload_size = 0;  // nonce + STREAM chunks
};

// Parses the header without a passphrase: it must be a well-formed age v1 header with exactly one
// scrypt stanza. The MAC cannot be checked without the file key.
Result<HeaderInfo> inspect_header(std::span<const std::uint8_t> file);

// Encrypts `plaintext` to a single scrypt recipient with work factor log2(N).
Result<std::vector<std::uint8_t>> encrypt_scrypt(std::span<const std::uint8_t> plaintext,
                                                 std::string_view passphrase, int work_factor);

// Decrypts and authenticates the whole file (header MAC, every STREAM chunk, the final-chunk flag,
// nothing after it) before returning a byte. A work factor above `max_work_factor` is refused
// before the KDF runs. Wrong passphrase, tampering and truncation are ExitCode::integrity.
Result<SecretBytes> decrypt_scrypt(std::span<const std::uint8_t> file, std::string_view passphrase,
                                   int max_work_factor = kMaxWorkFactor);

}  // namespace kf::age
