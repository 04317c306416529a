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
#include "fleet/inventory.hpp"
#include "fleet/remote.hpp"
#include "fleet/scheduler.hpp"

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

// Push's work on one connected node, in steps named in the outcome: read current ("install"
// when it cannot be read) -> "staging" -> "upload" -> "digest" -> "pre" -> "install" -> "post" ->
// "check". A node already on the bundle's generation or a newer one is `unchanged` and untouched.
// "staging" through "install" run under Remote::lock_dest (DEST/.lock), so that a concurrent
// cleanup never wipes a copy being written; the digest and the switch run in the lock's holder
// (Remote::run_locked). A `pre` hook runs without the lock, and the switch then takes it anew. Any
// failure leaves `current` where it was (a failing post/check hook comes after the switch and is
// reported as such). The staged copy stays for `keyfleet cleanup`.
NodeOutcome push_node(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                      const PushOptions& options);

// The bundle's opened contents, possibly still being decrypted on another thread.
using PendingBundle = std::shared_future<Result<bundle::OpenedBundle>>;

// Starts opening `file` with `key` (a passphrase or identities) on another thread. `file` must
// outlive the result.
PendingBundle open_in_background(const bundle::CheckedBundleFile& file, bundle::OpenKey key);

// Connects (one SSH session for everything), waits for `bundle` off the node's clock, and runs
// push_node. Connecting and authenticating overlap the decryption's scrypt work, yet nothing
// reaches the node before the bundle is authenticated. A bundle that could not be opened makes
// the node `skipped` (step "bundle"); one known to be bad before the node starts is not
// connected to at all. The bundle's own error is the caller's to report.
NodeOutcome push_over_ssh(const NodeConfig& node, std::span<const std::uint8_t> bundle_bytes,
                          const PendingBundle& bundle, const PushOptions& options);

// Every node through the scheduler.
std::vector<NodeReport> push_fleet(std::span<const NodeConfig> nodes,
                                   std::span<const std::uint8_t> bundle_bytes,
                                   const PendingBundle& bundle, const PushOptions& options,
                                   const ScheduleOptions& schedule);

// "sha256sum" output "<64 hex>  <path>" -> the digest; empty when it is not that.
std::string parse_sha256sum(std::string_view output);

// Asks on the terminal "<question> [y/N]" unless `yes`; without a terminal (stdin and stderr)
// and without `yes` it is refused (exit 4) with a hint to pass --yes. A "no" is refused too.
Result<void> confirm_or_refuse(std::string_view command, std::string_view question, bool yes);

}  // namespace kf
