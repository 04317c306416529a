#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/prune.hpp"
#include "keydir/remote.hpp"

// `keyfleet cleanup`: wipes the bundle copies push staged on a node, removes what interrupted runs
// left, and prunes old generations, touching nothing keyfleet did not make.
namespace kf {

struct CleanupOptions {
  // Generations kept, counting current (at least 2); unset: each node's inventory `keep`.
  std::optional<std::size_t> keep;
  bool purge_old = false;  // keep only current
  bool dry_run = false;    // read and say what would go; take no lock, write nothing
};

// A generation as the receipt names it.
struct GenerationRecord {
  std::uint64_t generation = 0;
  std::string manifest_sha256;  // of its manifest.json; empty when that could not be read
  bool current = false;
};

// What cleanup did on one node (with dry_run: what it would do). Paths are the node's own, not
// escaped: describe() and to_json() escape them.
struct CleanupReceipt {
  bool dry_run = false;
  std::vector<std::string> wiped;       // staged copies zeroed and unlinked
  std::vector<std::string> left_alone;  // under STAGING, not push's: "PATH (why)"
  std::vector<std::string> leftovers;   // generations/.tmp-*, current.tmp-* removed
  std::vector<GenerationRecord> removed;
  // DEST's generations once done, listed again after any removal; filled when something was
  // removed, with --purge-old, and when the node fails for its `current`.
  std::vector<GenerationRecord> remaining;
  std::vector<std::string> unexpected;  // entries of DEST/generations keyfleet does not make
  // Layout "link": what `push --adopt` moved aside (DEST.generations/adopted-*). Pruning keeps
  // them; --purge-old removes them with the old generations.
  std::vector<std::string> adopted_removed;
  std::vector<std::string> adopted;  // those there once done
  // The key set id in current's manifest (cleanup never moves current); empty when unknown. For
  // the audit record only: the receipt's JSON does not carry it.
  std::string keyset;
  // Why the node failed although the receipt says what was done (a STAGING that breaks the rules,
  // a purge refused for a missing or damaged `current`, something still there after removal).
  std::optional<NodeError> failure;
};

// "wiped 1 staged copy; removed generations 000001 (manifest 3f2a...)", "nothing to clean", ...
std::string describe(const CleanupReceipt& receipt);

// The receipt as members of the node's --json entry: "wiped", "left_alone", "leftovers",
// "removed" and "remaining" ([{"generation", "manifest_sha256", "current"}]), "unexpected",
// "adopted_removed", "adopted".
nlohmann::ordered_json to_json(const CleanupReceipt& receipt);

// One node, under DEST/.lock (step "lock"; none with dry_run): the staged copies push made under
// STAGING (keydir/staging.hpp: anything else there is left alone and named), then the leftovers
// of interrupted runs (keydir/prune.hpp), then generations beyond options.keep, or every one but
// current and every adopted directory with purge_old -- which fails the node when `current` is
// missing or damaged and generations remain. DEST is read again after any removal. A transport
// error is the result's error; the node's other failures are receipt.failure. `held`: DEST/.lock
// as the caller already holds it (rotate's node turn), whose holder then also wipes and appends
// to history.log. `dest`: DEST as the caller read it under `held` since its last change there
// (rotate: verify's read, current's manifest included), taken for cleanup's first read of it.
NodeResult<CleanupReceipt> cleanup_node(Remote& remote, const NodeConfig& node,
                                        const CleanupOptions& options,
                                        keydir::DestLock* held = nullptr,
                                        const keydir::NodeState* dest = nullptr);

// Every node through run_on_nodes; each node's receipt when it got that far.
FleetRun<CleanupReceipt> cleanup_fleet(std::span<const NodeConfig> nodes,
                                       const CleanupOptions& options, const FleetRunOptions& run);

}  // namespace kf
