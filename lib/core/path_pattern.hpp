#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace kf {

// One rsync exclude pattern (rsync(1), "INCLUDE/EXCLUDE PATTERN RULES"), matched against a path
// relative to the top of a tree ("a/b/c", no leading slash):
//   * a trailing "/" matches only a directory ("cache/");
//   * a leading "/" anchors the pattern at the top ("/x" is x at the top, not a/x);
//   * otherwise a pattern without "/" or "**" matches the last component at any depth (".ssl",
//     "*.bak"), and one with them matches the path's end at a component boundary ("gpg/*.lock"
//     matches "a/gpg/x.lock");
//   * "*" is any run of characters but "/", "**" any run including "/", "?" one character but
//     "/", "[...]" a class ("[!...]" or "[^...]" negated, "a-z" ranges); "\" quotes the next one.
// A directory that matches is excluded with everything below it, as rsync never descends into it.
class PathPattern {
 public:
  // An empty pattern, "/" alone, an unterminated "[" and a trailing "\" are usage errors.
  static Result<PathPattern> parse(std::string_view text);

  [[nodiscard]] bool matches(std::string_view path, bool is_directory) const;
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  std::string text_;  // as given
  std::string glob_;  // without the anchoring "/" and the trailing "/"
  bool anchored_ = false;
  bool directory_only_ = false;
  bool whole_path_ = false;  // has "/" or "**": matched against trailing components
};

// Whether any of `patterns` excludes `path` or one of the directories above it.
bool excluded(std::span<const PathPattern> patterns, std::string_view path, bool is_directory);

// Parses every pattern; the first bad one is a usage error naming `option` and the pattern.
Result<std::vector<PathPattern>> parse_patterns(std::span<const std::string> texts,
                                                std::string_view option);

}  // namespace kf
