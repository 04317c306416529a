#include "keydir/remote.hpp"

#include "keydir/node_scripts.hpp"

namespace kf {

NodeResult<void> Remote::lock_dest(const std::string&, const std::string&) {
  return {};
}

NodeResult<ExecResult> Remote::run_locked(const std::string&, std::span<const std::string>,
                                          std::string_view fallback) {
  return exec(fallback);
}

std::string dest_lock_command(const std::string& dest, int wait_seconds) {
  return "sh -c " + shell_quote(scripts::lock_script()) + " keyfleet-lock " + shell_quote(dest) +
         " " + std::to_string(wait_seconds);
}

std::string shell_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

}  // namespace kf
