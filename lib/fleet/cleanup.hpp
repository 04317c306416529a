#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"

// `keyfleet cleanup`: wipes the bundle copies push staged on a node and prunes old generations.
namespace kf {

inline constexpr std::string_view kPrunePrefix = ".tmp-prune-";

struct CleanupOptions {
  std::size_t keep = 5;    // generations kept, counting current (at least 2)
  bool purge_old = false;  // keep only current
};

// What cleanup did on one node.
struct CleanupReceipt {
  std::vector<std::string> wiped;     // staged copies overwritten with zeros and unlinked
  std::vector<std::uint64_t> pruned;  // generations removed
  std::size_t leftovers_removed = 0;  // .tmp-prune-* of an interrupted cleanup
  std::vector<std::string> kept;      // entries left alone under staging (not regular files)
};

// "wiped 1 staged copy, pruned 000001, 000002" or "nothing to clean".
std::string describe(const CleanupReceipt& receipt);

// The generations to remove from `present`: all but current with `purge_old`, else all but the
// newest `keep`; never `current`, never the newest one below it (rollback's target). Ascending.
std::vector<std::uint64_t> generations_to_remove(std::vector<std::uint64_t> present,
                                                 std::uint64_t current, std::size_t keep,
                                                 bool purge_old);

// Overwrites a regular file on the node with zeros over its whole size (dd conv=notrunc,fsync)
// and unlinks it.
NodeResult<void> wipe_remote_file(Remote& remote, const std::string& path, std::uint64_t size);

// Every regular file directly in STAGING or in its subdirectories is wiped and unlinked; the
// subdirectories and STAGING are removed when that leaves them empty. Symlinks are never
// followed (nor removed). A missing STAGING is nothing to do.
NodeResult<void> clean_staging(Remote& remote, const std::string& staging, CleanupReceipt& receipt);

// Removes generations per generations_to_remove: each is renamed to generations/.tmp-prune-<hex>
// first, then `rm -rf` on the node, so that a crash never leaves half a generation under its
// real name. Leftover .tmp-prune-* directories are removed too. No DEST/current: nothing pruned.
NodeResult<void> prune_generations(Remote& remote, const std::string& dest,
                                   const CleanupOptions& options, CleanupReceipt& receipt);

// clean_staging then prune_generations, under Remote::lock_dest (DEST/.lock, step "lock"): the
// lock push holds while staging and the switch script holds while moving `current`.
NodeResult<CleanupReceipt> cleanup_node(Remote& remote, const NodeConfig& node,
                                        const CleanupOptions& options);

}  // namespace kf
