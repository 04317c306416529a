#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/secret.hpp"

// Bech32 (BIP 173, not bech32m), as age encodes its keys: "age1..." recipients and
// "AGE-SECRET-KEY-1..." identities. Like age, and unlike BIP 173, no 90-character limit: an
// age identity is longer than that would allow for some human-readable parts. Everything is held
// in cleansed buffers because age identities go through here.
namespace kf::bech32 {

struct Decoded {
  std::string hrp;     // as written: upper case for an upper-case string
  SecretBytes values;  // the data part as 5-bit values, without the 6 checksum values
};

// Checks the separator (the last '1'; at least one character before it, six after), the
// human-readable part (ASCII 33..126), the data characters, the case rule (all lower or all
// upper) and the checksum. Errors are ExitCode::usage with the reason; they never quote `text`,
// which may be a secret key.
Result<Decoded> decode(std::string_view text);

// `hrp` must be all lower or all upper case; the result has the same case.
Result<SecretString> encode(std::string_view hrp, std::span<const std::uint8_t> values);

// Regroups bits: 8-bit bytes to 5-bit values, zero-padded at the end.
SecretBytes to_values(std::span<const std::uint8_t> bytes);
// 5-bit values back to bytes; nullopt when the padding is 5 bits or more, or not zero (BIP 173's
// convertbits with pad = false).
std::optional<SecretBytes> to_bytes(std::span<const std::uint8_t> values);

}  // namespace kf::bech32
