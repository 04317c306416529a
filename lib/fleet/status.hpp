#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleet/node_report.hpp"
#include "fleet/probe.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/node_state.hpp"
#include "keydir/remote.hpp"

// `keyfleet status`: what each node holds -- generation, key set, certificates and when they
// expire, what is kept and what is owed -- read over one connection, changing nothing.
namespace kf {

// One certificate of the installed generation.
struct CertificateStatus {
  std::string cert;  // "agent", "ca", then "ca-2", "ca-3"... for further CAs in ca.crt
  std::string file;  // "agent.crt", "ca.crt"
  std::string subject;
  std::string sha256;  // "sha256:<hex of the DER certificate>"
  std::time_t not_after = 0;
  long days_left = 0;  // whole days from the run's clock; negative once expired
};

// A node's installed key set as status reports it.
struct NodeKeyStatus {
  std::uint64_t generation = 0;
  std::string keyset;                           // the manifest's key set id; empty in old ones
  std::vector<CertificateStatus> certificates;  // agent first, then every CA of ca.crt
  std::size_t generations_kept = 0;             // generation directories under DEST/generations
  std::vector<std::string> leftovers;           // paths an interrupted run left
  std::vector<std::string> pending_hooks;       // hooks DEST/.pending says are owed
  bool pending_unknown = false;                 // DEST/.pending is there but unreadable
  std::optional<ServedCheck> served;            // the agent's endpoint, for a node with a probe
};

struct StatusOptions {
  int warn_days = 30;   // a certificate expiring within this many days makes its node `expiring`
  std::time_t now = 0;  // the run's clock, for days_left
  // How nodes with a `probe` are reached (no client certificate is offered); empty: not probed.
  Prober prober = probe_served;
};

// The key set in `state`'s current generation, from its certificate files' bytes (`agent_crt`,
// `ca_crt`, as read from the node): the certificates parsed (every CA of ca.crt), days left from
// `now`. A certificate that does not parse fails the node as `damaged`, naming the file. An
// imported key set (create-keys --import, pull) has no certificate of keyfleet's: none are read.
NodeResult<NodeKeyStatus> describe_install(const std::string& node, const keydir::NodeState& state,
                                           std::span<const std::uint8_t> agent_crt,
                                           std::span<const std::uint8_t> ca_crt, std::time_t now);

// The node's status from what was read, worst first: served-stale, served-untrusted,
// served-unreachable, expired, pending-hooks, expiring (within `warn_days`), else ok. The error
// names every certificate that expires and everything owed.
NodeOutcome judge_status(const NodeKeyStatus& keys, int warn_days);

// One node: read DEST (keydir::read_node_state, the current generation's files hashed against its
// manifest), and its certificates, and with a probe the served certificate. Nothing installed, or
// (layout "link") a DEST keyfleet does not manage: missing; `current` broken or its files
// differing from their manifest: damaged.
NodeOutcome status_node(Remote& remote, const NodeConfig& node, const StatusOptions& options,
                        std::optional<NodeKeyStatus>& keys);

struct FleetStatus {
  std::vector<NodeReport> nodes;                   // inventory order
  std::vector<std::optional<NodeKeyStatus>> keys;  // nullopt: the node could not be read
};

FleetStatus status_fleet(std::span<const NodeConfig> nodes, const StatusOptions& options,
                         const FleetRunOptions& run);

// The members a node's object in `status --json` carries besides the report's: "keyset",
// "certificates" [{"cert", "file", "subject", "sha256", "not_after", "days_left"}],
// "generations_kept", "leftovers", "pending_hooks", "served" ({"status", "endpoint", "sha256",
// "matches_generation", "error"}, null without a probe).
nlohmann::ordered_json status_json(const NodeKeyStatus& keys);

// For people: one row per group of nodes whose rows are identical (folded as node[1-28]), the
// most urgent first (fewest days left), then the nodes that could not be read, each with why.
std::string format_status_table(const FleetStatus& status, int warn_days);

// A node_exporter textfile: keyfleet_cert_not_after_seconds{node,cert}, keyfleet_generation{node},
// keyfleet_node_up{node} (1 when the node answered over SSH), keyfleet_served_ok{node} (nodes
// with a probe: 1 when the agent serves the installed certificate) and
// keyfleet_status_timestamp_seconds.
std::string prometheus_text(const FleetStatus& status, std::time_t now);

}  // namespace kf
