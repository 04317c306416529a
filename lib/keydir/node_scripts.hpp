#pragma once

#include <string>
#include <string_view>

// The POSIX shell script keyfleet runs on a node: the lock holder, which also serves the digest,
// the switch (where SFTP cannot do it), the history append and the wipe, so that a push or a whole
// rotation starts one shell on the node where it would otherwise start five. Only
// keydir/lock.cpp and keydir/switch.cpp speak to it.
namespace kf::keydir::scripts {

// $1 = HOME, $2 = seconds to wait, $3 = GENERATIONS, $4 = the link's path, $5 = a group for a
// HOME it creates (or "").
// Takes HOME/.lock (creating HOME 0700 when missing, 0710 and that group when one is given; a
// node without flock(1), or where HOME cannot be created, goes unlocked), prints "locked UID" or
// "unlocked UID" (UID: from /proc/self/status, else `id -u`; empty when both fail), then serves
// requests on stdin until it ends, which lets go of the lock:
//   sha256-files / COUNT / PATH (COUNT lines)     one sha256sum's output for all those paths
//   switch / TMP / GEN / EXPECTED / LINK / ASIDE     the switch, for nodes whose SFTP server cannot
//                         replace a path (keydir/switch.hpp): renames GENERATIONS/TMP to
//                         GENERATIONS/GEN (TMP empty: GEN must already be a complete generation)
//                         and the symlink LINK (made beforehand) over the link, provided it still
//                         points at EXPECTED ("" for none); with ASIDE, what is at the link's path
//                         is renamed to ASIDE just before, and back if the link cannot take its
//                         place. Every check comes before the first rename; on failure the
//                         renames are undone and LINK removed.
//   append / PATH / LINE  LINE and a newline appended to PATH, never through a symlink (77)
//   wipe / PATH / SIZE    SIZE bytes of zeros over PATH with dd and kWipeFlags
// one field per line; each answer is the command's output (stderr merged in) followed by a line
// "keyfleet-status N" with its exit status. Exits 75 when the lock stays held, 77 when HOME or
// HOME/.lock is a symlink.
std::string lock_script();

// GNU dd's flags for overwriting a staged copy in place ("bs=65536 count=SIZE" before them):
// SIZE counts bytes; a name swapped for a symlink, a FIFO or nothing since it was listed fails at
// once instead of being followed, waited on or created.
inline constexpr std::string_view kWipeFlags =
    "iflag=count_bytes oflag=nofollow,nonblock conv=notrunc,nocreat,fsync";

// The last line of a lock holder's answer: "keyfleet-status N".
inline constexpr std::string_view kStatusPrefix = "keyfleet-status ";

}  // namespace kf::keydir::scripts
