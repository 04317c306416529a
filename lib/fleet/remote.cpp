#include "fleet/remote.hpp"

namespace kf {

namespace {

// $1 = DEST, $2 = seconds to wait. The closing read loop (a builtin: no process per lock) keeps
// fd 9, and so the lock, until stdin ends (unlock_dest, or the connection's end); it keeps the
// channel's stdout open so that the channel's end says the lock is free.
constexpr std::string_view kLockScript = R"sh(dest=$1 wait=$2
if ! command -v flock >/dev/null 2>&1; then echo unlocked; while read -r _; do :; done; exit 0; fi
if [ ! -d "$dest" ] && ! (umask 077 && mkdir -- "$dest") 2>/dev/null; then
  echo unlocked; while read -r _; do :; done; exit 0
fi
exec 9>>"$dest/.lock" || exit 1
if ! flock -w "$wait" 9; then
  echo "$dest/.lock is held by another keyfleet push, cleanup or install (waited $wait s)" >&2
  exit 75
fi
echo locked
while read -r _; do :; done
)sh";

}  // namespace

NodeResult<void> Remote::lock_dest(const std::string&, const std::string&) {
  return {};
}

std::string dest_lock_command(const std::string& dest, int wait_seconds) {
  return "sh -c " + shell_quote(kLockScript) + " keyfleet-lock " + shell_quote(dest) + " " +
         std::to_string(wait_seconds);
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
