#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// The key directory layout on a node, shared by `unpack` (local) and `push`/`verify`/`cleanup`/
// `rollback` (over SSH):
//   DEST/generations/NNNNNN/   one complete key set per generation (6 digits, zero-padded)
//   DEST/current -> generations/NNNNNN   relative symlink, switched by rename(2)
//   DEST/.lock                 flock'ed by installs
//   DEST/generations/.tmp-*    an install in progress (removed by the next run after a crash)
namespace kf::layout {

inline constexpr std::string_view generations_dir = "generations";
inline constexpr std::string_view current_link = "current";
inline constexpr std::string_view lock_file = ".lock";
inline constexpr std::string_view temp_prefix = ".tmp-";

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

// The symlink target of `current` for a generation: "generations/NNNNNN".
inline std::string current_target(std::uint64_t generation) {
  return std::string(generations_dir) + "/" + generation_name(generation);
}

}  // namespace kf::layout
