#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

// The names a key set may hold since manifest format 2 (nested files, directories, dotfiles), and
// the modes they may carry. Every reader and writer of names checks them here: create-keys
// --import and pull on the way in, the manifest and tar readers of a bundle, and the node side
// before it creates anything.
namespace kf {

inline constexpr std::size_t kMaxPathDepth = 8;              // components of one relative path
inline constexpr std::size_t kMaxComponentLength = 255;      // bytes, NAME_MAX
inline constexpr std::size_t kMaxRelativePathLength = 2047;  // 8 x 255 and the slashes between

// Why `path` is not a key set path, or empty when it is one: relative ("a/b", no leading or
// trailing "/", no empty component), no "." or ".." component, at most kMaxPathDepth components
// of 1..kMaxComponentLength bytes, valid UTF-8 without control bytes (C0, DEL, C1).
std::string relative_path_problem(std::string_view path);
inline bool is_relative_path(std::string_view path) {
  return relative_path_problem(path).empty();
}

// A file keeps its source's mode when that gives nobody more than 0644 and its owner read
// access: 0600, 0640, 0644 (and 0400, 0440, 0444). A directory: within 0755 with the owner's rwx
// (0700, 0750, 0755...).
bool is_allowed_file_mode(mode_t mode);
bool is_allowed_directory_mode(mode_t mode);

// The number of components of a valid relative path.
std::size_t path_depth(std::string_view path);

}  // namespace kf
