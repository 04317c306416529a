#pragma once

#include <optional>
#include <string>

#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

// One move of DEST/current, made on the node by the switch script so that it is one rename(2):
// a node is on the old generation or the new one, never a mix.
struct SwitchRequest {
  // An entry of DEST/generations renamed to `entry` first (a generation written under a temporary
  // name); empty when `entry` is already in place.
  std::string temp;
  // The entry `current` points at afterwards: "NNNNNN", or a temporary name while a generation
  // is replaced in place.
  std::string entry;
  // What `current` must still hold (its link text) for the switch to go ahead; nullopt: there
  // must be no `current`. A node that changed meanwhile is refused, not overwritten.
  std::optional<std::string> expected;
};

// Makes the new link over the Remote's file operations, then runs the switch in `lock`'s holder
// when one is held, else as a one-shot command that takes DEST/.lock itself (waiting up to
// `lock_wait` seconds); then fsyncs DEST (and DEST/generations after a rename), each call
// bounded by the node's deadline. Fails at `step` leaving no temporary link behind.
NodeResult<void> switch_current(Remote& remote, DestLock* lock, const KeyDir& dir,
                                const SwitchRequest& request, int lock_wait,
                                const std::string& step);

// The one-shot command line: the switch script and its arguments, as single-quoted words after
// the marker word `keyfleet-switch`: DEST TEMP ENTRY EXPECTED LINK WAIT.
std::string switch_command(const KeyDir& dir, const SwitchRequest& request,
                           const std::string& link_name, int lock_wait);

}  // namespace kf::keydir
