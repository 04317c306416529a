#pragma once

#include <string>

// The POSIX shell scripts keyfleet runs on a node, in one place because two of them share the
// switch of DEST/current: the one-shot switch script (rollback, and push after a `pre` hook) and
// the process that holds DEST/.lock, which also serves push's digest and switch so that a push
// starts one shell on the node where it would otherwise start three.
namespace kf::scripts {

// $1 = DEST, $2 = seconds to wait. Takes DEST/.lock (creating DEST 0700 when missing; a node
// without flock(1), or where DEST cannot be created, goes unlocked), prints "locked" or
// "unlocked", then serves requests on stdin until it ends, which lets go of the lock:
//   sha256 / PATH         sha256sum's output for PATH
//   switch / TMP / NNNNNN / EXPECTED / LINK     the switch (see switch_script), run in DEST
// one field per line; each answer is the command's output (stderr merged in) followed by a line
// "keyfleet-status N" with its exit status. Exits 75 when the lock stays held.
std::string lock_script();

// DEST TMP NNNNNN EXPECTED LINK as $1..$5: under DEST/.lock (waiting up to 5 s for it), renames
// generations/TMP to generations/NNNNNN (TMP empty: NNNNNN must already be a complete
// generation) and switches `current` to it, provided `current` still points at EXPECTED ("" for
// none). Everything that can refuse is checked before the first rename; if the link cannot be
// switched after the generation was renamed into place, it is renamed back.
std::string switch_script();

// The last line of a lock holder's answer: "keyfleet-status N".
inline constexpr std::string_view kStatusPrefix = "keyfleet-status ";

}  // namespace kf::scripts
