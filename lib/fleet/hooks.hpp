#pragma once

#include <cstdint>
#include <string>

#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"

namespace kf {

// Runs one of the node's hook commands (`pre`, `post`, `check`; empty: nothing to do) with
// KEYFLEET_STEP, KEYFLEET_DEST and KEYFLEET_GENERATION set, so one script can serve every
// generation. A non-zero exit fails at `step`, with the last line of its stderr.
NodeResult<void> run_hook(Remote& remote, const NodeConfig& node, const std::string& step,
                          const std::string& command, std::uint64_t generation);

}  // namespace kf
