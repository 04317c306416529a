#pragma once

#include <optional>
#include <string>

#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

// One move of the link (DEST/current, or DEST with layout "link"), made on the node by the switch
// script so that it is one rename(2): a node is on the old generation or the new one, never a mix.
struct SwitchRequest {
  // An entry of the generations directory renamed to `entry` first (a generation written under a
  // temporary name); empty when `entry` is already in place.
  std::string temp;
  // The entry the link points at afterwards: "NNNNNN", or a temporary name while a generation
  // is replaced in place.
  std::string entry;
  // What the link must still hold (its text) for the switch to go ahead; nullopt: there must be
  // no link (nor anything else, unless `aside`). A node that changed meanwhile is refused, not
  // overwritten.
  std::optional<std::string> expected;
  // An absolute path in the generations directory to rename what is at the link's path to, just
  // before the link takes its place: a file or directory there (`expected` nullopt), or the
  // symlink `expected` names. Empty: nothing is moved aside.
  std::string aside;
};

// Makes the new link over the Remote's file operations, then runs the switch in `lock`'s holder
// when one is held, else as a one-shot command that takes HOME/.lock itself (waiting up to
// `lock_wait` seconds); then fsyncs the link's directory (and the generations directory after a
// rename in it), each call bounded by the node's deadline. Fails at `step` leaving no
// temporary link behind.
NodeResult<void> switch_current(Remote& remote, DestLock* lock, const KeyDir& dir,
                                const SwitchRequest& request, int lock_wait,
                                const std::string& step);

// The one-shot command line: the switch script and its arguments, as single-quoted words after
// the marker word `keyfleet-switch`: HOME GENERATIONS LINKPATH PREFIX TEMP ENTRY EXPECTED LINK
// ASIDE WAIT (LINK: the temporary link's absolute path).
std::string switch_command(const KeyDir& dir, const SwitchRequest& request,
                           const std::string& link_path, int lock_wait);

}  // namespace kf::keydir
