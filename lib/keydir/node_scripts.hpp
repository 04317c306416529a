#pragma once

#include <string>
#include <string_view>

// The POSIX shell scripts keyfleet runs on a node, in one place because two of them share the
// switch of DEST/current: the one-shot switch script and the lock holder, which also serves
// push's digest and switch so that a push starts one shell on the node where it would otherwise
// start three. Only keydir/lock.cpp and keydir/switch.cpp run them.
namespace kf::keydir::scripts {

// $1 = DEST, $2 = seconds to wait. Takes DEST/.lock (creating DEST 0700 when missing; a node
// without flock(1), or where DEST cannot be created, goes unlocked), prints "locked UID" or
// "unlocked UID" (UID: `id -u`, empty when that fails), then serves requests on stdin until it
// ends, which lets go of the lock:
//   sha256 / PATH         sha256sum's output for PATH
//   switch / TMP / GEN / EXPECTED / LINK     the switch (see switch_script), run in DEST
// one field per line; each answer is the command's output (stderr merged in) followed by a line
// "keyfleet-status N" with its exit status. Exits 75 when the lock stays held, 77 when DEST or
// DEST/.lock is a symlink.
std::string lock_script();

// DEST TMP GEN EXPECTED LINK WAIT as $1..$6: under DEST/.lock (waiting up to WAIT s for it),
// renames generations/TMP to generations/GEN (TMP empty: GEN must already be a complete
// generation) and points `current` at generations/GEN by renaming the symlink LINK over it,
// provided `current` still points at EXPECTED ("" for none). Everything that can refuse is
// checked before the first rename; if the link cannot be switched after the generation was
// renamed into place, it is renamed back. The caller fsyncs DEST afterwards.
std::string switch_script();

// The last line of a lock holder's answer: "keyfleet-status N".
inline constexpr std::string_view kStatusPrefix = "keyfleet-status ";

}  // namespace kf::keydir::scripts
