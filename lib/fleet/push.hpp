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
#include "core/secret.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"

namespace kf {

struct PushOptions {
  bool allow_downgrade = false;
  bool no_install = false;  // stop after the staged copy's digest is checked
  bool dry_run = false;     // connect, check dest and free space, write nothing
};

// What push sends: the bundle file's bytes (staged unchanged) and its opened contents (installed).
struct PushPayload {
  std::span<const std::uint8_t> bundle_bytes;
  const bundle::OpenedBundle* bundle = nullptr;
};

// The name of the staged copy inside its random staging subdirectory.
inline constexpr std::string_view kStagedBundleName = "bundle.kfb";

// Push's work on one connected node, in steps named in the outcome: read the key directory
// ("read") -> "staging" -> "upload" -> "digest" -> "pre" -> "install" -> "post" -> "check". A node
// already on the bundle's generation or a newer one is `unchanged` and untouched. From staging to
// the end the node's DEST/.lock is held (keydir::DestLock), so that a concurrent cleanup never
// wipes a copy being written and no other keyfleet command moves `current` meanwhile; the
// key directory is read again under it, and leftovers of interrupted runs are removed. The digest
// and the switch run in the lock's holder. Any failure before the switch leaves `current` where it
// was (a failing post/check hook comes after it and is reported as such). The staged copy stays
// for `keyfleet cleanup`.
NodeOutcome push_node(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                      const PushOptions& options);

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

// "sha256sum" output "<64 hex>  <path>" -> the digest; empty when it is not that.
std::string parse_sha256sum(std::string_view output);

}  // namespace kf
