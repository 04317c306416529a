#pragma once

#include <span>
#include <string>

#include "bundle/bundle.hpp"
#include "core/error.hpp"
#include "fleet/rotate.hpp"
#include "fleet/rotation_journal.hpp"
#include "fleet/run.hpp"
#include "pki/keyset_dir.hpp"

// One phase of a rotation, for rotate.cpp: the check before leaf and retire, the phase's key set
// (made, or found made by an earlier run), its bundle (sealed, kept in DIR while the phase runs),
// and the nodes (canary first, then the rest).
namespace kf::rotate_detail {

struct PhaseContext {
  const RotateRequest& request;
  const keyset_dir::Lock& lock;
  rotation::JournalWriter& journal;
  std::span<const NodeConfig> nodes;
  const bundle::SealKey& key;
  const FleetRunOptions& run;
  const RotateHooks& hooks;
};

// The phase named `phase` of the journal, worked through. A local failure (the key set, the
// seal, the journal) is the error; the nodes' failures are in the PhaseRun. The journal records
// the phase done (and its local bundle is wiped) once every node is.
Result<PhaseRun> run_phase(const PhaseContext& context, const std::string& phase,
                           std::vector<std::string>& warnings);

// DIR/rotation-NNNNNN.kfb: the phase's bundle while it runs.
std::string bundle_name(std::uint64_t generation);

}  // namespace kf::rotate_detail
