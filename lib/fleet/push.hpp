#pragma once

#include <cstdint>
#include <future>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/bundle.hpp"
#include "bundle/bundle_file.hpp"
#include "core/error.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/install.hpp"
#include "keydir/lock.hpp"
#include "keydir/remote.hpp"

namespace kf {

struct PushOptions {
  bool allow_downgrade = false;  // install even where current is a newer generation
  bool replace_keyset = false;   // install over another key set, then remove its generations
  bool keep_failed = false;      // a failing post/check hook leaves the new generation current
  bool no_install = false;       // stop once the staged copy's digest is checked: `staged`
  bool dry_run = false;          // read and decide, check free space, write nothing: would-*
  // Layout "link": where DEST is not keyfleet's (a real directory), move it to
  // DEST.generations/adopted-<time> (kept) and install; without it such a node is refused.
  bool adopt = false;
};

// What push sends: the bundle file's bytes (staged unchanged) and its opened contents (installed).
struct PushPayload {
  std::span<const std::uint8_t> bundle_bytes;
  const bundle::OpenedBundle* bundle = nullptr;
};

// Push's work on one connected node, decided from what the node really holds (keydir/plan.hpp's
// table) and reported as what it really is: read ("read") -> decide -> under DEST/.lock: read and
// decide again, remove leftovers -> "staging" -> "upload" -> "digest" -> "pre" -> "install"
// (hooks owed recorded in DEST/.pending, then the switch) -> "post" -> "check" (a failure rolls
// the node back, see fleet/hooks.hpp). Statuses: ok (installed), unchanged (verified identical;
// its check hook runs again), repaired, reactivated, staged (--no-install), conflict and refused
// (nothing changed, before any hook; refused also for a DEST keyfleet does not manage, layout
// "link", without --adopt), rolled-back, and the transport's. --dry-run stops after the
// decision: would-install, would-repair, would-reactivate, would-refuse (its detail: "push would
// report conflict" or "... refused"), unchanged. The staged copy (keydir/staging.hpp: refused,
// nothing uploaded, where others could change it) stays for `keyfleet cleanup`. Leftovers of
// interrupted runs are removed under the lock and named, escaped, in the outcome's detail. After
// a failed switch `current` is read again and reported as it is; when it cannot be read (the
// connection cut at the deadline) the generation is null and the error says what it may be.
// `held`: DEST/.lock as the caller already holds it (rotate's node turn, which goes on to verify
// and clean up under it): the node is then read and decided once, under it. `owner`: the
// inventory's owner and group as the caller resolved them on this node (resolve_owner), not asked
// of the node again.
NodeOutcome push_node(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                      const PushOptions& options, keydir::DestLock* held = nullptr,
                      const std::optional<keydir::Owner>* owner = nullptr);

// The bundle's opened contents, possibly still being decrypted on another thread.
using PendingBundle = std::shared_future<Result<bundle::OpenedBundle>>;

// Starts opening `file` with `key` (a passphrase or identities) on another thread. `file` must
// outlive the result.
PendingBundle open_in_background(const bundle::CheckedBundleFile& file, bundle::OpenKey key);

// Every node through run_on_nodes: connecting and authenticating overlap the decryption's scrypt
// work (it is waited for off each node's clock), yet nothing reaches a node before the bundle is
// authenticated. A bundle that could not be opened makes the node `skipped` (step "bundle"), and
// a node not yet connected when that is known is not connected to at all. The bundle's own error
// is the caller's to report.
std::vector<NodeReport> push_fleet(std::span<const NodeConfig> nodes,
                                   std::span<const std::uint8_t> bundle_bytes,
                                   const PendingBundle& bundle, const PushOptions& options,
                                   const FleetRunOptions& run);

// "3 to install, 1 to repair, 26 unchanged, 1 conflict, 2 refused" from a dry run's reports: the
// plan push shows before it asks. Conflicts are told from the other refusals (downgrades, a DEST
// keyfleet does not manage) by the detail push_node gives a would-refuse.
std::string describe_plan(const std::vector<NodeReport>& planned);

}  // namespace kf
