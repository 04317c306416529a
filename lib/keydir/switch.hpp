#pragma once

#include <optional>
#include <string>

#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

// One move of the link (DEST/current, or DEST with layout "link"), one rename(2) of a new link
// over the old one: a node is on the old generation or the new one, never a mix.
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

// Makes the new link over the Remote's file operations, then moves it over the old one under
// `lock` (taking HOME/.lock for the call, waiting up to `lock_wait` seconds, when it is null):
// with the Remote's replace() when the node can (no process there), else in the lock's holder
// (scripts::lock_script's `switch`, with `mv -T`). Either way every check that can refuse comes
// before the first rename, and a failed rename undoes the ones before it. Then fsyncs the link's
// directory (and the generations directory after a rename in it), each call bounded by the node's
// deadline. Fails at `step` leaving no temporary link behind.
NodeResult<void> switch_current(Remote& remote, DestLock* lock, const KeyDir& dir,
                                const SwitchRequest& request, int lock_wait,
                                const std::string& step);

}  // namespace kf::keydir
