#include "keydir/node_scripts.hpp"

namespace kf::keydir::scripts {

namespace {

// Needs dest tmp gen expect link set, DEST as the working directory.
constexpr std::string_view kSwitchFunction = R"sh(do_switch() {
  if [ -n "$tmp" ]; then
    if [ -e "generations/$gen" ] || [ -L "generations/$gen" ]; then
      echo "$dest/generations/$gen already exists" >&2; return 1
    fi
    if [ -L "generations/$tmp" ] || [ ! -d "generations/$tmp" ]; then
      echo "$dest/generations/$tmp is not a directory" >&2; return 1
    fi
  elif [ -L "generations/$gen" ] || [ ! -d "generations/$gen" ]; then
    echo "$dest/generations/$gen is not a complete generation" >&2; return 1
  fi
  # Builtin tests first: reading the link costs two processes, paid only to explain a refusal.
  if [ -n "$expect" ]; then
    # Same directory (device and inode) as the one keyfleet read before: still that one.
    # A dangling `current` is named by its text, which costs a readlink.
    [ -L current ] && { [ current -ef "$expect" ] || [ "$(readlink current)" = "$expect" ]; } || {
      now=$(readlink current 2>/dev/null || true)
      echo "$dest/current changed meanwhile: it points at '${now:-nothing}', not '$expect'" >&2
      return 1
    }
  elif [ -e current ] || [ -L current ]; then
    now=$(readlink current 2>/dev/null || true)
    echo "$dest/current changed meanwhile: it points at '${now:-nothing}', not 'nothing'" >&2
    return 1
  fi
  if [ -n "$tmp" ]; then mv -T -- "generations/$tmp" "generations/$gen" || return 1; fi
  # keyfleet makes LINK over SFTP beforehand (no process for it); ln serves other callers.
  if { [ -L "$link" ] || ln -s -- "generations/$gen" "$link"; } && mv -T -- "$link" current; then
    return 0
  fi
  if [ -n "$tmp" ]; then mv -T -- "generations/$gen" "generations/$tmp" || true; fi
  return 1
}
switch_or_clean() {
  do_switch && return 0
  rm -f -- "$link"
  return 1
}
)sh";

// Refuses a DEST or DEST/.lock that is a symlink: the lock file is created through them
// otherwise, outside DEST.
constexpr std::string_view kOpenLock = R"sh(open_lock() {
  if [ -L "$dest" ] || [ -L "$dest/.lock" ]; then
    echo "$dest or $dest/.lock is a symlink; refusing to take the lock through it" >&2
    exit 77
  fi
  exec 9>>"$dest/.lock" || exit 1
}
)sh";

// The read loop is a builtin, so holding the lock costs no process beyond flock's; the lock is
// let go when stdin ends (the caller's release, or the connection's end), and stdout stays open
// until then, so the channel's end says the lock is free.
constexpr std::string_view kServeLoop = R"sh(serve() {
  while IFS= read -r op; do
    case $op in
      sha256)
        IFS= read -r path || exit 1
        sha256sum -- "$path" 2>&1
        echo "keyfleet-status $?" ;;
      switch)
        IFS= read -r tmp && IFS= read -r gen && IFS= read -r expect && IFS= read -r link || exit 1
        { cd -- "$dest" && switch_or_clean; } 2>&1
        echo "keyfleet-status $?" ;;
      *)
        echo "unknown request '$op'"
        echo "keyfleet-status 127" ;;
    esac
  done
  exit 0
}
dest=$1 wait=$2
case $dest in /*) ;; *) dest=$PWD/$dest ;; esac
umask 077
# Who we are on the node, for the owner checks of the staging directory (SFTP cannot say).
uid=$(id -u 2>/dev/null) || uid=
if ! command -v flock >/dev/null 2>&1; then echo "unlocked $uid"; serve; fi
# A dangling symlink is no DEST that cannot be made: open_lock refuses it.
if [ ! -d "$dest" ] && [ ! -L "$dest" ] && ! (umask 077 && mkdir -- "$dest") 2>/dev/null; then
  echo "unlocked $uid"; serve
fi
open_lock
if ! flock -w "$wait" 9; then
  echo "$dest is locked: $dest/.lock is held by another keyfleet command (waited $wait s)" >&2
  exit 75
fi
echo "locked $uid"
serve
)sh";

constexpr std::string_view kSwitchMain = R"sh(set -eu
umask 077
dest=$1 tmp=$2 gen=$3 expect=$4 link=$5 wait=$6
cd -- "$dest"
if command -v flock >/dev/null 2>&1; then
  open_lock
  # A cleanup or another switch holds it for moments; waiting a little beats failing the node.
  if ! flock -w "$wait" 9; then echo "$dest/.lock is still held after $wait s by another keyfleet command" >&2; exit 75; fi
fi
switch_or_clean
)sh";

}  // namespace

std::string lock_script() {
  return std::string(kSwitchFunction) + std::string(kOpenLock) + std::string(kServeLoop);
}

std::string switch_script() {
  return std::string(kSwitchFunction) + std::string(kOpenLock) + std::string(kSwitchMain);
}

}  // namespace kf::keydir::scripts
