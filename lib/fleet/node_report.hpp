#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/exit_code.hpp"
#include "keydir/node_status.hpp"

namespace kf {

struct FleetProgress;

// What a command's per-node work says about its node.
struct NodeOutcome {
  NodeStatus status = NodeStatus::ok;
  std::string step;                         // the step that failed, or the last one done
  std::string error;                        // empty on success
  std::optional<std::uint64_t> generation;  // the node's generation once done, if known
  std::string detail = {};                  // what was found or done, for people (may be empty)

  static NodeOutcome from_error(NodeError error, std::optional<std::uint64_t> generation = {}) {
    return {error.status, std::move(error.step), std::move(error.message), generation, {}};
  }
};

// One line of a command's account of the fleet.
struct NodeReport {
  std::string name;
  std::string host;
  NodeStatus status = NodeStatus::skipped;
  std::string step;
  std::string error;
  std::optional<std::uint64_t> generation;
  double seconds = 0;
  std::string detail = {};  // NodeOutcome::detail
};

// The whole account: the --json document's fields and the human summary.
struct FleetReport {
  std::string command;                      // "push", "verify", ...
  std::optional<std::uint64_t> generation;  // the bundle's or manifest's, if any
  std::string bundle_sha256;                // empty: none
  std::vector<NodeReport> nodes;            // inventory order
  std::size_t inventory_nodes = 0;          // how many the inventory has (--limit/--exclude)
  bool interrupted = false;                 // Ctrl-C: exit 130 whatever the nodes say
};

// How many nodes ended in each status, in the order statuses are declared.
std::vector<std::pair<NodeStatus, std::size_t>> tally(const std::vector<NodeReport>& nodes);

bool all_succeeded(const std::vector<NodeReport>& nodes);

// The one exit-code rule of every fleet command: 130 after Ctrl-C; else 3 if any node failed its
// host key or authentication check, else 4 if any node was refused (a downgrade, a conflict, a
// lock held), else 1 if any node failed, else 0.
ExitCode fleet_exit_code(const std::vector<NodeReport>& nodes, bool interrupted);

// The fields a fleet command adds to its --json document (docs/json.md), keys in this order:
// {"interrupted", "generation", "bundle_sha256", "summary": {every status of all_node_statuses():
// count, zeros included, "total"}, "nodes": [{"name", "host", "status", "step", "error",
// "generation", "seconds", "detail"}]}; absent values (no step, no error, unknown generation, no
// detail) are null. A FleetReport{} gives the fields of a command that stopped before its nodes.
nlohmann::ordered_json to_json(const FleetReport& report);

// For people: successes as folded name lists ("ok (98): node[1-40,43-100]"), then every other
// node on its own line with its step and error, then the tally, then after Ctrl-C a line that
// says so.
std::string format_summary(const FleetReport& report);

// How a fleet command prints its report; what differs between commands is a field here.
struct ReportOutput {
  // The command's own local step (cleanup's wipe of --bundle) failed: exit 1 even when every
  // node succeeded.
  bool local_failed = false;
  // Before the summary, "<name>: <detail>" for each node, in inventory order, whose detail is
  // not empty (cleanup says what it removed); in --json, that node's "detail" (instead of
  // NodeReport::detail). `index` is the node's position.
  std::function<std::string(std::size_t index, const NodeReport& node)> node_detail = {};
  // --json only: members added to that node's entry (cleanup's receipt), when an object.
  std::function<nlohmann::ordered_json(std::size_t index, const NodeReport& node)> node_json = {};
  // Human output only, after the node details and before the summary (cleanup's local wipe).
  std::string local_note = {};
  // --json only: the same local step as a top-level "local" member, when not null.
  nlohmann::ordered_json local_json = nullptr;
};

// A fleet command's report both ways, for the command to print one of them.
struct RenderedReport {
  nlohmann::ordered_json fields;  // to_json with the node details and the "local" step added
  std::string text;               // the node details, the local note, then format_summary
  ExitCode code;                  // fleet_exit_code, or 1 when it is 0 and the local step failed
};
RenderedReport render_fleet_report(const FleetReport& report, const ReportOutput& output);

// "node[1-3,7],web01": names that differ only in a trailing number, folded into ranges.
std::string fold_names(const std::vector<std::string>& names);

// The live "push: 12/100 done, 1 failed, 32 running, 4s" line on stderr, redrawn in place with
// \r; silent unless stderr is a terminal.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  ProgressLine(std::string label, int fd, bool enabled);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { clear(); }

  void update(const FleetProgress& progress);
  // Erases the line, before the summary is printed.
  void clear();
  [[nodiscard]] bool enabled() const { return enabled_; }

 private:
  std::string label_;
  int fd_;
  bool enabled_;
  bool shown_ = false;
};

}  // namespace kf
