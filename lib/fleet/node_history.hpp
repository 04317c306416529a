#pragma once

#include "fleet/node_report.hpp"
#include "keydir/history.hpp"
#include "keydir/layout.hpp"
#include "keydir/remote.hpp"

namespace kf {

// Appends `entry` to the node's DEST/history.log. The change it records has happened whatever
// becomes of the line: one that cannot be written is named in `outcome.detail`, and the node's
// status stands. `holder`: the caller's DEST/.lock, whose holder appends the line.
void note_history(Remote& remote, const keydir::KeyDir& dir, NodeOutcome& outcome,
                  const keydir::HistoryEntry& entry, keydir::DestLock* holder = nullptr);

// The history action for push's outcome: "install" (ok), "repair", "reactivate", "rolled-back";
// empty when `current` did not change.
std::string push_history_action(NodeStatus status);

}  // namespace kf
