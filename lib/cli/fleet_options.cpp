#include "cli/fleet_options.hpp"

#include "cli/audit.hpp"

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
  sub.add_flag("--json", json, "Print one JSON document with a line per node");
}

Result<Selection> FleetOptions::load() const {
  KF_TRY_ASSIGN(Selection selection, load_selection(inventory));
  note_inventory(inventory.inventory);
  return selection;
}

FleetRunOptions FleetOptions::run_options(ProgressLine& progress) const {
  FleetRunOptions run;
  run.schedule.parallel = parallel;
  run.schedule.on_progress = [&progress](const FleetProgress& p) { progress.update(p); };
  return run;
}

}  // namespace kf::cli
