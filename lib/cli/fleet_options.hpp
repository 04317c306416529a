#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/inventory_options.hpp"
#include "cli/output.hpp"
#include "core/error.hpp"
#include "fleet/node_report.hpp"
#include "fleet/run.hpp"
#include "inventory/selection.hpp"

namespace kf::cli {

// The options every fleet command shares (--inventory, --limit, --exclude, --ssh-config,
// --parallel, and --yes for those that change nodes), declared once, as bundle_key_options.hpp
// is for the bundle's key. (--json is every command's: app.cpp adds it.)
struct FleetOptions {
  InventoryOptions inventory;
  std::size_t parallel = 32;
  bool yes = false;

  // `confirms`: the command changes nodes and asks first (--yes).
  void add_to(CLI::App& sub, bool confirms);
  // The inventory's nodes that --limit and --exclude select; its warnings go to stderr.
  [[nodiscard]] Result<Selection> load() const;
};

// One fleet command from its first node to its report: the live progress line on stderr,
// Ctrl-C -- at the first, the nodes still running named on stderr (they are waited for, the rest
// skipped); at the second, the report so far printed and exit 130 at once -- and the report
// printed through Output.
class FleetReporter {
 public:
  // `label` names the progress line ("push --dry-run"); `report` is the report's header (command,
  // generation, bundle digest, inventory size), kept for a report printed at a second Ctrl-C.
  FleetReporter(const FleetOptions& options, Output& out, std::string label, FleetReport report);

  // The scheduler and connection settings of one pass over the selected nodes.
  [[nodiscard]] FleetRunOptions run_options();
  // Erases the progress line (before a question or a summary on stderr).
  void clear_progress() { progress_.clear(); }
  [[nodiscard]] FleetReport& report() { return report_; }
  // Prints report() (after Ctrl-C: interrupted) through `out` and returns the exit code. `text`,
  // when given, is what people see instead of the node details and summary (status's table).
  int finish(const ReportOutput& extra = {}, std::optional<std::string> text = std::nullopt);
  // Sets the document's fields from report() and prints no text: for a command that fails after
  // its nodes ran, whose error says the rest.
  void record();

 private:
  // The second Ctrl-C: prints the report so far and ends the process with 130.
  [[noreturn]] void abandon(std::vector<NodeReport> so_far);

  const FleetOptions& options_;
  Output& out_;
  ProgressLine progress_;
  FleetReport report_;
};

// "keyfleet: interrupted: waiting for 2 running nodes: node[3,5] (3 not started, skipped;
// Ctrl-C again stops at once, leaving them in an unknown state)"
[[nodiscard]] std::string interrupt_notice(const std::vector<std::string>& running,
                                           std::size_t not_started);

}  // namespace kf::cli
