#include "keydir/node_scripts.hpp"

namespace kf::keydir::scripts {

namespace {

// Needs gens cur (the layout) and tmp gen expect link aside (the request) set. Works from
// the link's directory, where a relative EXPECTED resolves as the link's text does.
constexpr std::string_view kSwitchFunction = R"sh(do_switch() {
  curdir=${cur%/*}
  curname=${cur##*/}
  cd -- "${curdir:-/}" || return 1
  if [ -n "$tmp" ]; then
    if [ -e "$gens/$gen" ] || [ -L "$gens/$gen" ]; then
      echo "$gens/$gen already exists" >&2; return 1
    fi
    if [ -L "$gens/$tmp" ] || [ ! -d "$gens/$tmp" ]; then
      echo "$gens/$tmp is not a directory" >&2; return 1
    fi
  elif [ -L "$gens/$gen" ] || [ ! -d "$gens/$gen" ]; then
    echo "$gens/$gen is not a complete generation" >&2; return 1
  fi
  # Builtin tests first: reading the link costs two processes, paid only to explain a refusal.
  if [ -n "$expect" ]; then
    # Same directory (device and inode) as the one keyfleet read before: still that one.
    # A dangling link is named by its text, which costs a readlink.
    [ -L "$curname" ] && { [ "$curname" -ef "$expect" ] || [ "$(readlink -- "$curname")" = "$expect" ]; } || {
      now=$(readlink -- "$curname" 2>/dev/null || true)
      echo "$cur changed meanwhile: it points at '${now:-nothing}', not '$expect'" >&2
      return 1
    }
  elif [ -n "$aside" ]; then
    # What keyfleet moves aside is a file or directory, never a link it has not read.
    if [ -L "$curname" ] || [ ! -e "$curname" ]; then
      now=$(readlink -- "$curname" 2>/dev/null || true)
      echo "$cur changed meanwhile: it is no longer the directory or file keyfleet read (now '${now:-nothing}')" >&2
      return 1
    fi
  elif [ -e "$curname" ] || [ -L "$curname" ]; then
    now=$(readlink -- "$curname" 2>/dev/null || true)
    echo "$cur changed meanwhile: it points at '${now:-nothing}', not 'nothing'" >&2
    return 1
  fi
  if [ -n "$aside" ] && { [ -e "$aside" ] || [ -L "$aside" ]; }; then
    echo "$aside already exists" >&2; return 1
  fi
  # keyfleet makes LINK over SFTP beforehand (no process for it).
  if [ ! -L "$link" ]; then echo "$link is not a symlink" >&2; return 1; fi
  if [ -n "$tmp" ]; then mv -T -- "$gens/$tmp" "$gens/$gen" || return 1; fi
  # With ASIDE, what is at the link's path goes first: the path is empty between the two
  # renames, and gets it back if the second one fails.
  if [ -z "$aside" ] || mv -T -- "$curname" "$aside"; then
    mv -T -- "$link" "$curname" && return 0
    if [ -n "$aside" ]; then mv -T -- "$aside" "$curname" || true; fi
  fi
  if [ -n "$tmp" ]; then mv -T -- "$gens/$gen" "$gens/$tmp" || true; fi
  return 1
}
switch_or_clean() {
  do_switch && return 0
  rm -f -- "$link"
  return 1
}
)sh";

// Refuses a HOME or HOME/.lock that is a symlink: the lock file is created through them
// otherwise, outside HOME.
constexpr std::string_view kOpenLock = R"sh(open_lock() {
  if [ -L "$home" ] || [ -L "$home/.lock" ]; then
    echo "$home or $home/.lock is a symlink; refusing to take the lock through it" >&2
    exit 77
  fi
  exec 9>>"$home/.lock" || exit 1
}
)sh";

// The read loop is a builtin, so holding the lock costs no process beyond flock's; the lock is
// let go when stdin ends (the caller's release, or the connection's end), and stdout stays open
// until then, so the channel's end says the lock is free.
constexpr std::string_view kServeLoop = R"sh(serve() {
  while IFS= read -r op; do
    case $op in
      sha256-files)
        # COUNT paths, then one sha256sum for them all (not one process per file). Its stdin is
        # never this loop's: with no path it would read the requests.
        IFS= read -r count || exit 1
        case $count in ''|*[!0-9]*) exit 1 ;; esac
        set --
        while [ "$count" -gt 0 ]; do
          IFS= read -r path || exit 1
          set -- "$@" "$path"
          count=$((count - 1))
        done
        sha256sum -- "$@" </dev/null 2>&1
        echo "keyfleet-status $?" ;;
      switch)
        IFS= read -r tmp && IFS= read -r gen && IFS= read -r expect && IFS= read -r link &&
          IFS= read -r aside || exit 1
        { switch_or_clean; } 2>&1
        echo "keyfleet-status $?" ;;
      append)
        IFS= read -r path && IFS= read -r line || exit 1
        # Never through a symlink; printf is a builtin, and the line goes in one write.
        if [ -L "$path" ]; then
          echo "$path is a symlink"
          echo "keyfleet-status 77"
        else
          { printf '%s\n' "$line" >>"$path"; } 2>&1
          echo "keyfleet-status $?"
        fi ;;
      wipe)
        IFS= read -r path && IFS= read -r size || exit 1
        # dd reads /dev/zero, never this loop's stdin.
        wipe_copy "$path" "$size"
        echo "keyfleet-status $?" ;;
      *)
        echo "unknown request '$op'"
        echo "keyfleet-status 127" ;;
    esac
  done
  exit 0
}
home=$1 wait=$2 gens=$3 cur=$4 group=$5
umask 077
# Who we are on the node, for the owner checks of the staging directory (SFTP cannot say).
# The kernel's word for it costs no process; `id` where there is no /proc.
uid=
if [ -r /proc/self/status ]; then
  # Uid: real effective saved fs; `id -u` says the effective one.
  while read -r key real effective rest; do
    if [ "$key" = Uid: ]; then uid=$effective; break; fi
  done </proc/self/status
fi
[ -n "$uid" ] || uid=$(id -u 2>/dev/null) || uid=
if ! command -v flock >/dev/null 2>&1; then echo "unlocked $uid"; serve; fi
# A dangling symlink is no HOME that cannot be made: open_lock refuses it.
if [ ! -d "$home" ] && [ ! -L "$home" ]; then
  if ! (umask 077 && mkdir -- "$home") 2>/dev/null; then echo "unlocked $uid"; serve; fi
  # Made for an owner's group (inventory owner/group): it must reach the generations.
  if [ -n "$group" ] && ! { chgrp -- "$group" "$home" && chmod 0710 "$home"; }; then
    echo "cannot give $home to group $group" >&2
    exit 1
  fi
fi
open_lock
if ! flock -w "$wait" 9; then
  echo "$home is locked: $home/.lock is held by another keyfleet command (waited $wait s)" >&2
  exit 75
fi
echo "locked $uid"
serve
)sh";

}  // namespace

std::string lock_script() {
  return std::string(kSwitchFunction) + std::string(kOpenLock) +
         "wipe_copy() {\n  dd if=/dev/zero of=\"$1\" bs=65536 count=\"$2\" " +
         std::string(kWipeFlags) + " 2>&1\n}\n" + std::string(kServeLoop);
}

}  // namespace kf::keydir::scripts
