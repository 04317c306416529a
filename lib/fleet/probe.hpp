#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bundle/bundle.hpp"
#include "core/deadline.hpp"
#include "inventory/inventory.hpp"
#include "keydir/node_state.hpp"
#include "keydir/node_status.hpp"
#include "pki/ossl.hpp"

// The served-certificate probe: files on disk are not what a running agent serves. keyfleet
// connects to the node's `probe` endpoint (TLS, SNI) from this machine and compares the served
// certificate with the installed one.
namespace kf {

// The certificates a TLS server sent, its leaf first.
struct ServedChain {
  std::vector<ossl::X509Ptr> certs;
};

// A client certificate and key (PEM), offered when the server asks: only where keyfleet holds the
// key set (push, verify --served --bundle); status offers none.
struct ClientCredentials {
  std::span<const std::uint8_t> cert_pem;
  std::span<const std::uint8_t> key_pem;
};

// Connects to `node`'s probe endpoint by `deadline` (TCP, then the TLS handshake) and returns the
// chain the server sent. No connection or no handshake: served-unreachable, step "probe".
NodeResult<ServedChain> fetch_served_chain(const NodeConfig& node, Deadline deadline,
                                           const ClientCredentials* client);

// How the probe reaches a node; tests may hand in their own.
using Prober = std::function<NodeResult<ServedChain>(const NodeConfig&, const ClientCredentials*)>;

// fetch_served_chain bounded by the node's connect_timeout.
NodeResult<ServedChain> probe_served(const NodeConfig& node, const ClientCredentials* client);

// What the node is expected to serve: its installed (or just installed) generation's agent.crt
// fingerprint and ca.crt, and the agent fingerprints of the other generations it keeps, to name
// the one a stale agent still serves.
struct ExpectedServed {
  std::uint64_t generation = 0;
  std::string agent_sha256;  // "sha256:<hex>"
  std::vector<ossl::X509Ptr> ca;
  std::vector<std::pair<std::uint64_t, std::string>> other_generations;
};

// The other generations of `state` whose manifests name their agent certificate's fingerprint.
std::vector<std::pair<std::uint64_t, std::string>> agent_fingerprints(
    const keydir::NodeState& state, std::uint64_t except);

struct ServedCheck {
  NodeStatus status = NodeStatus::served_down;      // served-ok, -stale, -untrusted, -unreachable
  std::string endpoint;                             // "HOST:PORT"
  std::string sha256;                               // the served leaf's; empty when none
  std::optional<std::uint64_t> matches_generation;  // served-stale: whose agent.crt it is
  std::string error;                                // why, for anything but served-ok
};

// The served chain judged against `expected` at `now`: the leaf's SHA-256 must be the installed
// agent.crt's (else served-stale, naming the generation it matches, if any), and the chain must
// verify against the installed ca.crt with the endpoint's host in the SANs (else
// served-untrusted).
ServedCheck judge_served(const NodeConfig& node, const NodeResult<ServedChain>& served,
                         const ExpectedServed& expected, std::time_t now);

// push's probe once `post` and `check` passed for `bundle`'s generation: the agent must serve
// the bundle's agent.crt, chained to its ca.crt (the bundle's agent certificate and key are
// offered when the server asks for a client certificate). Unreachable and stale answers are asked
// again until the node's connect_timeout has passed (a reload may take effect a moment later);
// anything but served-ok then fails at step "probe" with the served status named, which push
// treats as a failed check. `others`: the node's other generations (agent_fingerprints).
std::function<NodeResult<void>(std::uint64_t)> served_check_after_install(
    const NodeConfig& node, const bundle::OpenedBundle& bundle,
    std::vector<std::pair<std::uint64_t, std::string>> others, Prober prober = probe_served);

// "HOST:PORT" (an IPv6 host in brackets).
std::string endpoint_name(const ProbeEndpoint& endpoint);

}  // namespace kf
