#include "pki/keyset_path.hpp"

#include <fmt/format.h>

namespace kf {
namespace {

// Length of the UTF-8 sequence at `s` (1..4), or 0 when it is not valid (overlong forms,
// surrogates and code points above U+10FFFF included).
std::size_t utf8_length(std::string_view s) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;
    if (c == 0xF4 && b(1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

std::string relative_path_problem(std::string_view path) {
  if (path.empty()) return "an empty name";
  if (path.size() > kMaxRelativePathLength) {
    return fmt::format("longer than {} bytes", kMaxRelativePathLength);
  }
  if (path.front() == '/') return "an absolute path";
  for (std::size_t i = 0; i < path.size();) {
    auto c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) return "a control character in the name";
    std::size_t n = utf8_length(path.substr(i));
    if (n == 0) return "not valid UTF-8";
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(path[i + 1]) < 0xA0) {
      return "a control character in the name";  // C1: U+0080..U+009F
    }
    i += n;
  }
  std::size_t depth = 0;
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return "an empty path component (\"//\" or a trailing \"/\")";
    if (part == "." || part == "..") return fmt::format("a '{}' component", part);
    if (part.size() > kMaxComponentLength) {
      return fmt::format("a component longer than {} bytes", kMaxComponentLength);
    }
    if (++depth > kMaxPathDepth) return fmt::format("more than {} levels deep", kMaxPathDepth);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

bool is_allowed_file_mode(mode_t mode) {
  return (mode & ~mode_t{0644}) == 0 && (mode & 0400) != 0;
}

bool is_allowed_directory_mode(mode_t mode) {
  return (mode & ~mode_t{0755}) == 0 && (mode & 0700) == 0700;
}

std::size_t path_depth(std::string_view path) {
  std::size_t depth = 1;
  for (char c : path) depth += c == '/' ? 1 : 0;
  return depth;
}

}  // namespace kf
