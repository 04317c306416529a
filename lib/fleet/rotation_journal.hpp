#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "fleet/node_report.hpp"
#include "pki/manifest.hpp"

// DIR/rotation.json: what `keyfleet rotate` set out to do in a key directory and how far it got,
// so that a run killed at any instant (the control host crashed, Ctrl-C, nodes failed) is
// continued by running rotate again. The plan -- mode, phases, the generation each phase makes --
// is written before the first key set is made; each phase then records its key set (the manifest
// digest the nodes must hold), its bundle, and each node's outcome. 0600, replaced atomically
// (temporary file, fsync, rename). docs/bundle-format.md describes the format.
namespace kf::rotation {

inline constexpr std::string_view kJournalName = "rotation.json";
inline constexpr std::string_view kJournalFormat = "keyfleet-rotation/1";

enum class Mode {
  keep_ca,    // a host name changed: one generation, a new agent key and certificate, same CA
  new_ca,     // a planned CA rotation: trust, leaf, retire
  emergency,  // a key compromise: everything new at once, older generations purged
};
std::string_view to_string(Mode mode);  // "keep-ca", "new-ca", "emergency"
std::optional<Mode> parse_mode(std::string_view text);

enum class State {
  running,    // started and not finished (or killed while it ran)
  paused,     // stopped after the phase --until named; the next run goes on
  finished,   // every phase done on every node
  abandoned,  // given up with --abandon
};
std::string_view to_string(State state);

enum class PhaseState { pending, running, done };
std::string_view to_string(PhaseState state);

// One node's outcome in one phase: done once installed, verified and cleaned up.
struct NodeRecord {
  bool done = false;
  NodeStatus status = NodeStatus::skipped;
  std::string step;
  std::string error;
  std::optional<std::uint64_t> generation;
  std::string time;  // RFC 3339 UTC
};

struct PhaseRecord {
  std::string name;  // "keep-ca", "emergency", or a CA phase: "trust", "leaf", "retire"
  std::uint64_t generation = 0;
  PhaseState state = PhaseState::pending;
  std::string manifest_sha256;  // of the manifest the nodes get (in the bundle), once made
  std::string bundle;           // the bundle's file name in DIR while the phase runs
  std::string bundle_sha256;
  std::string started;
  std::string finished;
  std::map<std::string, NodeRecord> nodes;  // by node name

  [[nodiscard]] std::optional<CaPhase> ca_phase() const { return parse_ca_phase(name); }
};

struct Journal {
  std::string id;  // 16 random hex digits
  Mode mode = Mode::keep_ca;
  State state = State::running;
  std::string started;
  std::string updated;
  std::string by;      // user@host of the operator who started it
  std::string keyset;  // the key set id of DIR when it started
  std::uint64_t from_generation = 0;
  std::optional<std::string> until;  // the last --until given
  // The nodes selected when it started: a phase is done once every one of them is (a run with
  // --limit works on fewer, and the phase waits for the rest).
  std::vector<std::string> nodes;
  std::vector<PhaseRecord> phases;
  std::string abandoned;     // when --abandon gave it up (RFC 3339), else empty
  std::string abandoned_by;  // and who

  [[nodiscard]] bool unfinished() const {
    return state == State::running || state == State::paused;
  }
  // The first phase not done; null once every phase is.
  [[nodiscard]] PhaseRecord* next_phase();
  [[nodiscard]] const PhaseRecord* next_phase() const;
  [[nodiscard]] const PhaseRecord* phase(std::string_view name) const;
  // The rotation's nodes that `phase` has not done yet.
  [[nodiscard]] std::vector<std::string> not_done(const PhaseRecord& phase) const;
};

// The plan of a new rotation of the key set `current` (DIR's manifest), whose next generation is
// `next` (after DIR's archive): its phases with their generations, every one pending.
Journal plan(Mode mode, const Manifest& current, std::uint64_t next, std::string by,
             std::time_t now);

nlohmann::ordered_json to_json(const Journal& journal);
// Strict: a journal keyfleet cannot read is an error naming `origin`, never guessed at.
Result<Journal> parse_journal(std::string_view text, std::string_view origin);

[[nodiscard]] fs::path journal_path(const fs::path& dir);
// DIR/rotation.json, or nullopt when there is none.
Result<std::optional<Journal>> read_journal(const fs::path& dir);
// Replaces DIR/rotation.json atomically, 0600, with `journal` (its `updated` set to now).
Result<void> write_journal(const fs::path& dir, Journal& journal);

// "rotation 3f2a9c1e0b7d41e6 (--new-ca, started 2026-11-23T10:00:00Z by root@deploy): leaf
// (generation 5) running: 3 of 6 nodes done, 1 failed (node4)" and a line per phase and node that
// is not done; for `status --keys` and rotate's own messages.
std::string describe(const Journal& journal);

// The journal of a running rotation, updated by the nodes' worker threads: each update is written
// at once. A node's record that cannot be written is kept in memory and reported once at the end
// (a resumed run reads every node again, so a lost record costs a re-read, not a wrong result).
class JournalWriter {
 public:
  JournalWriter(fs::path dir, Journal journal);
  // Applies `change` and writes the journal; an error leaves the change in memory.
  Result<void> update(const std::function<void(Journal&)>& change);
  // A node's outcome in `phase`: done when it is a success.
  void record_node(const std::string& phase, const std::string& node, const NodeOutcome& outcome);
  [[nodiscard]] Journal snapshot() const;
  // The first error record_node met, if any.
  [[nodiscard]] std::optional<Error> lost_record() const;

 private:
  fs::path dir_;
  mutable std::mutex mutex_;
  Journal journal_;
  std::optional<Error> lost_;
};

}  // namespace kf::rotation
