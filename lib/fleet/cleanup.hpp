#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/prune.hpp"
#include "keydir/remote.hpp"

// `keyfleet cleanup`: wipes the bundle copies push staged on a node and prunes old generations.
namespace kf {

struct CleanupOptions {
  // Generations kept, counting current (at least 2); unset: each node's inventory `keep`.
  std::optional<std::size_t> keep;
  bool purge_old = false;  // keep only current
};

// What cleanup did on one node.
struct CleanupReceipt {
  std::vector<std::string> wiped;     // staged copies overwritten with zeros and unlinked
  std::vector<std::uint64_t> pruned;  // generations removed
  std::size_t leftovers_removed = 0;  // temporaries of interrupted installs and prunes
  std::vector<std::string> kept;      // entries left alone under staging (not regular files)
};

// "wiped 1 staged copy, pruned 000001, 000002" or "nothing to clean".
std::string describe(const CleanupReceipt& receipt);

// Overwrites a regular file on the node with zeros over its whole size (dd conv=notrunc,fsync)
// and unlinks it.
NodeResult<void> wipe_remote_file(Remote& remote, const std::string& path, std::uint64_t size);

// Every regular file directly in STAGING or in its subdirectories is wiped and unlinked; the
// subdirectories and STAGING are removed when that leaves them empty. Symlinks are never
// followed (nor removed). A missing STAGING is nothing to do.
NodeResult<void> clean_staging(Remote& remote, const std::string& staging, CleanupReceipt& receipt);

// clean_staging, then leftovers of interrupted runs and old generations (keydir/prune.hpp), under
// DEST/.lock (step "lock"): the lock push holds while it stages and installs.
NodeResult<CleanupReceipt> cleanup_node(Remote& remote, const NodeConfig& node,
                                        const CleanupOptions& options);

// Every node through run_on_nodes; each node's receipt when it got that far.
FleetRun<CleanupReceipt> cleanup_fleet(std::span<const NodeConfig> nodes,
                                       const CleanupOptions& options, const FleetRunOptions& run);

}  // namespace kf
