#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/remote.hpp"

// DEST/history.log: one JSON line appended per install, rollback or purge by the keyfleet
// command that made it, so that a node itself tells what happened to its keys and who did it,
// whatever became of the operator's audit log. Appended under DEST/.lock, never through a
// symlink; the file is created 0600.
namespace kf::keydir {

struct HistoryEntry {
  std::string action;                       // "install", "repair", "reactivate", "rollback", ...
  std::optional<std::uint64_t> generation;  // what `current` is afterwards (none: removed)
  std::optional<std::uint64_t> previous;    // what it was before, when it changed
  std::string keyset;                       // the key set id, when known
  std::vector<std::uint64_t> removed;       // purge: the generations removed
  std::string command;                      // "push", "rollback", "cleanup", "unpack"
};

// {"time", "action", "generation", "previous", "keyset", "removed", "by" ("user@host"),
// "command"} on one line with its newline.
std::string history_line(const HistoryEntry& entry, std::time_t now, const std::string& by);

// The command that appends its standard input to `path` ("keyfleet-history" marks it).
std::string history_command(const std::string& path);

// Appends `entry` (by the operator running keyfleet, now) to DEST/history.log: through `holder`
// when the caller holds DEST/.lock (no process of its own on the node), else with
// history_command.
NodeResult<void> append_history(Remote& remote, const KeyDir& dir, const HistoryEntry& entry,
                                DestLock* holder = nullptr);

}  // namespace kf::keydir
