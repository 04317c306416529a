#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pki/generation.hpp"

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

// The symlink target of `current` for a generation: "generations/NNNNNN".
inline std::string current_target(std::uint64_t generation) {
  return std::string(generations_dir) + "/" + generation_name(generation);
}

}  // namespace kf::layout
