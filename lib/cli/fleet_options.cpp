#include "cli/fleet_options.hpp"

#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "cli/audit.hpp"
#include "core/interrupt.hpp"

namespace kf::cli {

void FleetOptions::add_to(CLI::App& sub, bool confirms) {
  add_inventory_options(sub, inventory);
  sub.add_option("--parallel", parallel, "Nodes worked on at once, one connection each")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
      ->type_name("N")
      ->capture_default_str();
  if (confirms) {
    sub.add_flag("-y,--yes", yes, "Do not ask for confirmation (needed without a terminal)");
  }
}

Result<Selection> FleetOptions::load() const {
  KF_TRY_ASSIGN(Selection selection, load_selection(inventory));
  note_inventory(inventory.inventory);
  return selection;
}

FleetReporter::FleetReporter(const FleetOptions& options, Output& out, std::string label,
                             FleetReport report)
    : options_(options), out_(out), progress_(std::move(label)), report_(std::move(report)) {}

FleetRunOptions FleetReporter::run_options() {
  FleetRunOptions run;
  run.schedule.parallel = options_.parallel;
  run.schedule.on_progress = [this](const FleetProgress& p) { progress_.update(p); };
  run.schedule.on_interrupt = [this](const std::vector<std::string>& running,
                                     std::size_t not_started) {
    progress_.clear();
    std::cerr << interrupt_notice(running, not_started) << std::flush;
  };
  run.schedule.on_abandon = [this](std::vector<NodeReport> so_far) { abandon(std::move(so_far)); };
  return run;
}

int FleetReporter::finish(const ReportOutput& extra, std::optional<std::string> text) {
  progress_.clear();
  report_.interrupted = kf::interrupted();
  RenderedReport rendered = render_fleet_report(report_, extra);
  out_.set(rendered.fields);
  out_.text() << (text ? *text : rendered.text);
  return to_int(rendered.code);
}

void FleetReporter::record() {
  progress_.clear();
  report_.interrupted = kf::interrupted();
  out_.set(render_fleet_report(report_, {}).fields);
}

void FleetReporter::abandon(std::vector<NodeReport> so_far) {
  report_.nodes = std::move(so_far);
  finish();
  out_.finish(to_int(ExitCode::interrupted), nullptr);
  std::cerr.flush();
  note_fleet_report(report_);
  audit_before_exit(to_int(ExitCode::interrupted));
  // The running nodes' threads cannot be joined (they wait on their nodes): no destructor may
  // run under them, so the process ends here.
  ::_exit(to_int(ExitCode::interrupted));
}

std::string interrupt_notice(const std::vector<std::string>& running, std::size_t not_started) {
  std::string out = "keyfleet: interrupted: ";
  if (running.empty()) {
    out += fmt::format("{} node{} not started (skipped)", not_started, not_started == 1 ? "" : "s");
  } else {
    out += fmt::format(
        "waiting for {} running node{}: {} ({} not started, skipped; Ctrl-C again "
        "stops at once, leaving {} in an unknown state)",
        running.size(), running.size() == 1 ? "" : "s", fold_names(running), not_started,
        running.size() == 1 ? "it" : "them");
  }
  return out + '\n';
}

}  // namespace kf::cli
