#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bundle/bundle.hpp"
#include "core/error.hpp"
#include "fleet/cleanup.hpp"
#include "fleet/node_report.hpp"
#include "fleet/rotation_journal.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "pki/keyset.hpp"
#include "pki/keyset_dir.hpp"

// `keyfleet rotate`: a whole rotation of a key directory as one resumable run, on the pieces the
// single commands use -- create-keys' key sets (pki), bundle's sealing, and per node over one SSH
// connection push (stage, digest, install, hooks, probe), verify and cleanup. Its journal is
// DIR/rotation.json (fleet/rotation_journal.hpp).
//
//   keep-ca    one generation: a new agent key and certificate from the same CA
//   new-ca     trust, leaf, retire (pki/keyset_ca_phase.hpp), each on every node and verified
//              before the next starts; leaf is refused while a node is not on trust, retire while
//              one is not on leaf (a node that cannot be read counts as not on it)
//   emergency  one generation with everything new, on every node at once, then every older
//              generation and leftover purged (cleanup --purge-old's receipt)
namespace kf {

struct RotateRequest {
  fs::path keys;                       // DIR, the key directory made by create-keys
  std::optional<rotation::Mode> mode;  // unset: --abandon alone
  bool abandon = false;                // give up the unfinished rotation first
  std::optional<CaPhase> until;        // new-ca: stop after this phase
  std::size_t canary = 0;              // the first N nodes alone, the rest if they all succeed
  // The new generations' names and validity (hosts from the inventory, days, ca_days,
  // common_name, organization); out, force, keep_ca and held_lock are set by rotate.
  CreateKeysOptions key_options;
  // The agent and CA key type; unset: the type of DIR's current generation.
  std::optional<KeyType> key_type;
};

// One phase as this run saw it.
struct PhaseRun {
  std::string phase;  // "keep-ca", "emergency", "trust", "leaf", "retire"
  std::uint64_t generation = 0;
  std::string bundle_sha256;  // empty when the phase stopped before its bundle
  std::vector<NodeReport> nodes;
  std::vector<std::optional<CleanupReceipt>> receipts;  // per node, when cleanup ran there
  bool refused = false;  // leaf or retire refused: a node was not on the phase before
};

struct RotationOutcome {
  std::vector<PhaseRun> phases;  // the phases this run worked on, in order
  // A local step failed (the key set, the seal, the journal): the run stopped there.
  std::optional<Error> error;
  rotation::Journal journal;  // as written last
  bool paused = false;        // stopped after the phase --until named
  bool interrupted = false;   // Ctrl-C
  std::vector<std::string> warnings;
};

struct RotateHooks {
  // Before a phase's nodes start, and once they are done (for the progress line and the report).
  std::function<void(const std::string& phase, std::uint64_t generation)> on_phase_start;
  std::function<void(const PhaseRun& phase)> on_phase_done;
};

// A rotation of one key directory, under the directory's lock for as long as it lives: a second
// rotate (or create-keys) on the same directory is refused at once (exit 4).
class Rotation {
 public:
  // Takes the lock, reads DIR/rotation.json and DIR's key set, and decides: continue the
  // unfinished rotation (the same mode), give it up (--abandon), or plan a new one. A different
  // rotation while one is unfinished is refused (exit 4). Nothing is written yet.
  static Result<Rotation> open(const RotateRequest& request);

  [[nodiscard]] const rotation::Journal& journal() const { return journal_; }
  [[nodiscard]] bool resumed() const { return resumed_; }
  // --abandon with an unfinished rotation: it is recorded as abandoned when the run starts.
  [[nodiscard]] bool abandons() const { return abandoned_.has_value(); }
  // --abandon alone: nothing but that.
  [[nodiscard]] bool only_abandons() const { return !request_.mode; }
  // "Rotate /srv/keys (--new-ca) on 6 nodes: trust (generation 000004), leaf (000005), retire
  // (000006)", "Continue rotation 3f2a... (--new-ca) on 6 nodes: leaf (...)": the question.
  [[nodiscard]] std::string describe_plan(std::size_t nodes) const;

  // Records the abandon (if any) and, unless that is all, works through the phases left: the plan
  // written first, then per phase its key set, its bundle and the nodes, until every phase is
  // done, one fails, --until is reached or Ctrl-C. `key` seals every bundle.
  RotationOutcome run(std::span<const NodeConfig> nodes, const bundle::SealKey& key,
                      const FleetRunOptions& run, const RotateHooks& hooks = {});

 private:
  Rotation(RotateRequest request, keyset_dir::Lock lock)
      : request_(std::move(request)), lock_(std::move(lock)) {}

  RotateRequest request_;
  keyset_dir::Lock lock_;
  rotation::Journal journal_;
  std::optional<rotation::Journal> abandoned_;  // the unfinished journal --abandon gives up
  std::optional<rotation::Journal> previous_;   // a journal a new rotation moves to the archive
  bool resumed_ = false;
};

// One node's work in a phase, over one connection: push (stage, digest, pre, install, post,
// check, probe), verify against the bundle's manifest, then cleanup (its staged copies wiped,
// generations pruned to `keep`, or with `purge` every generation but current). A node that an
// earlier run finished (`done_before`) and that still holds the phase's generation with its
// manifest, complete and owing no hooks, is `unchanged` without any of it ("done in an earlier
// run").
struct PhaseNodeWork {
  const bundle::OpenedBundle* bundle = nullptr;
  std::span<const std::uint8_t> bundle_bytes;
  bool purge = false;
  bool done_before = false;
};
NodeOutcome rotate_node(Remote& remote, const NodeConfig& node, const PhaseNodeWork& work,
                        std::optional<CleanupReceipt>& receipt);

// Before leaf or retire: whether the node holds `before` (the previous phase's generation with
// the manifest digest the journal recorded) or already `phase` itself. Not on it: refused, naming
// what it holds; a node that cannot be read counts as not on it (refused, with why), except for a
// host key or authentication failure, which keeps its status.
NodeOutcome check_node_phase(Remote& remote, const NodeConfig& node,
                             const rotation::PhaseRecord& before,
                             const rotation::PhaseRecord& phase);

// A node whose state could not be read for that check (its connection failed, its deadline ran
// out) is refused with why; success, a refusal, and host key and authentication failures stay.
NodeOutcome unreadable_for_phase(NodeOutcome outcome, const rotation::PhaseRecord& before,
                                 const rotation::PhaseRecord& phase);

}  // namespace kf
