#pragma once

#include <ctime>
#include <optional>
#include <span>

#include "bundle/bundle.hpp"
#include "fleet/probe.hpp"
#include "fleet/run.hpp"
#include "fleet/verify.hpp"

// `verify --served`: verify's file checks, then, on each node whose files verified and which has a
// `probe`, the certificate its agent serves, over the same pass (one SSH connection per node; the
// probe itself is a TLS connection from this machine).
namespace kf {

struct ServedVerifyOptions {
  // The bundle verified against, when there is one: its agent certificate and key are offered
  // when the agent asks for a client certificate. Without it none is offered.
  const bundle::OpenedBundle* bundle = nullptr;
  Prober prober = probe_served;
  std::time_t now = 0;
};

// The node's installed certificates as the probe expects them: DEST/current's agent.crt
// fingerprint and ca.crt, and the other generations' agent fingerprints.
NodeResult<ExpectedServed> expected_served(Remote& remote, const NodeConfig& node);

// A verified node (ok, pending-hooks) with a probe becomes served-ok, or the served status with
// its error; any other outcome, or a node without a probe, is left as it is.
NodeOutcome with_served(NodeOutcome verified, Remote& remote, const NodeConfig& node,
                        const ServedVerifyOptions& options);

// verify_fleet with the probe (see above).
FleetVerification verify_fleet_served(std::span<const NodeConfig> nodes,
                                      const std::optional<Manifest>& expected,
                                      const ServedVerifyOptions& options,
                                      const FleetRunOptions& run);

}  // namespace kf
