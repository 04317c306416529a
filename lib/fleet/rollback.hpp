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
// fails and keeps its current generation. A node already on the asked generation is ok and
// untouched.
NodeOutcome rollback_node(Remote& remote, const NodeConfig& node, const RollbackOptions& options);

std::vector<NodeReport> rollback_fleet(std::span<const NodeConfig> nodes,
                                       const RollbackOptions& options, const FleetRunOptions& run);

}  // namespace kf
