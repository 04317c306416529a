#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"

namespace kf {

struct RollbackOptions {
  // --to: this generation (it must be there, complete); else the newest one older than current.
  std::optional<std::uint64_t> to;
};

// Switches one node's `current` back (step "rollback") under DEST/.lock, atomically on the node.
// A node with no `current`, or nothing older to go back to, or without the asked generation,
// fails and keeps its current generation; a node already on the asked generation is ok. Either
// way `current` stays, and the hooks a lost connection left owed there (DEST/.pending) run; a
// refusal (`--to` an incomplete generation) runs none. After a failed switch the generation
// reported is `current` read again, or none when it could not be read. `keyset`, when given, gets
// the key set id of the generation the node is left on when it succeeds (for the audit record).
NodeOutcome rollback_node(Remote& remote, const NodeConfig& node, const RollbackOptions& options,
                          std::string* keyset = nullptr);

// Each node's report, and the key set id its successful rollback left it on.
FleetRun<std::string> rollback_fleet(std::span<const NodeConfig> nodes,
                                     const RollbackOptions& options, const FleetRunOptions& run);

}  // namespace kf
