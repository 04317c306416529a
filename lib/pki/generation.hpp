#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// A key set's generation number as it appears in names: the key set directory's archive/NNNNNN
// and a node's generations/NNNNNN. Six digits, zero-padded; never 0.
namespace kf {

inline std::string generation_name(std::uint64_t generation) {
  std::string digits = std::to_string(generation);
  return std::string(digits.size() < 6 ? 6 - digits.size() : 0, '0') + digits;
}

// "000042" -> 42; anything that is not exactly six digits (or is 000000) -> nullopt.
inline std::optional<std::uint64_t> parse_generation_name(std::string_view name) {
  if (name.size() != 6) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value == 0) return std::nullopt;
  return value;
}

}  // namespace kf
