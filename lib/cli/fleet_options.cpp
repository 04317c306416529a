#include "cli/fleet_options.hpp"

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

}  // namespace kf::cli
