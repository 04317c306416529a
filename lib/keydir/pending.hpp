#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keydir/layout.hpp"
#include "keydir/remote.hpp"

// The hooks a node still owes: written to DEST/.pending before `current` switches and removed
// once they have run, so that a connection lost right after a switch is noticed. The next push or
// rollback runs them; verify reports the node as pending-hooks.
namespace kf::keydir {

struct PendingHooks {
  std::uint64_t generation = 0;    // the generation `current` was switched to
  std::vector<std::string> hooks;  // "post", "check", in the order they run
  std::string command;             // "push", "rollback"
};

// The file's JSON: {"generation": N, "hooks": [...], "command": "..."}.
std::string serialize(const PendingHooks& pending);
// nullopt for text that is not that (a partly written file): the hooks owed are then unknown.
std::optional<PendingHooks> parse_pending(std::string_view text);

// Replaces DEST/.pending (under DEST/.lock), fsynced.
NodeResult<void> write_pending(Remote& remote, const KeyDir& dir, const PendingHooks& pending,
                               const std::string& step);
// Removes it; nothing there is not an error.
NodeResult<void> clear_pending(Remote& remote, const KeyDir& dir, const std::string& step);

}  // namespace kf::keydir
