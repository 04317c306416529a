#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/confirm.hpp"
#include "core/interrupt.hpp"
#include "fleet/push.hpp"
#include "fleet/rollback.hpp"
#include "inventory/inventory.hpp"

namespace kf::cli {

namespace {

struct RollbackArgs {
  std::string inventory;
  std::uint64_t to = 0;
  CLI::Option* to_option = nullptr;
  std::size_t parallel = 32;
  bool yes = false;
  bool json = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet rollback --inventory fleet.toml\n"
    "  keyfleet rollback --inventory fleet.toml --to 3 --yes --json\n"
    "\n"
    "Per node, DEST/current is pointed back at the newest complete generation older than the\n"
    "current one (or at --to GEN, which must be in DEST/generations) with one rename on the node:\n"
    "services see the old key set or the new one, never a mix. A node with nothing to go back to\n"
    "fails and keeps its generation. Old generations are there only while `cleanup --keep` leaves\n"
    "them.\n"
    "Exit: 0 every node ok; 1 some node failed; 4 not confirmed (pass --yes without a "
    "terminal).\n\n";

Result<int> run_rollback(const RollbackArgs& args) {
  auto inventory = KF_TRY(load_inventory(args.inventory));
  RollbackOptions options;
  if (args.to_option->count() > 0) options.to = args.to;
  KF_CHECK(confirm_or_refuse("rollback",
                             fmt::format("Roll back {} node{} to {}?", inventory.nodes.size(),
                                         inventory.nodes.size() == 1 ? "" : "s",
                                         options.to ? fmt::format("generation {}", *options.to)
                                                    : std::string("the previous generation")),
                             args.yes));

  ScheduleOptions schedule;
  schedule.parallel = args.parallel;
  ProgressLine progress("rollback");
  schedule.on_progress = [&](const FleetProgress& p) { progress.update(p); };
  FleetReport report{"rollback", options.to, "", {}};
  report.nodes = rollback_fleet(inventory.nodes, options, schedule);
  progress.clear();
  return to_int(
      print_fleet_report(std::cout, report, {.json = args.json, .interrupted = kf::interrupted()}));
}

}  // namespace

Action setup_rollback(CLI::App& sub) {
  auto args = std::make_shared<RollbackArgs>();
  sub.add_option("--inventory", args->inventory, "The fleet's inventory (TOML)")
      ->required()
      ->type_name("FILE");
  args->to_option = sub.add_option("--to", args->to, "Switch to this generation instead")
                        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{999999}))
                        ->type_name("GEN");
  sub.add_option("--parallel", args->parallel, "Nodes worked on at once, one connection each")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
      ->type_name("N")
      ->capture_default_str();
  sub.add_flag("-y,--yes", args->yes, "Do not ask for confirmation (needed without a terminal)");
  sub.add_flag("--json", args->json, "Print one JSON document with a line per node");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_rollback(*args); };
}

}  // namespace kf::cli
