#include <memory>

#include "cli/audit.hpp"
#include "cli/commands.hpp"
#include "cli/confirm.hpp"
#include "cli/fleet_options.hpp"
#include "fleet/rollback.hpp"

namespace kf::cli {

namespace {

struct RollbackArgs {
  FleetOptions fleet;
  std::uint64_t to = 0;
  CLI::Option* to_option = nullptr;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet rollback --inventory fleet.toml\n"
    "  keyfleet rollback --inventory fleet.toml --to 3 --yes --json\n"
    "\n"
    "Per node, under DEST/.lock, DEST/current is pointed back at the newest complete generation\n"
    "older than the current one (or at --to GEN, which must be complete) with one rename on the\n"
    "node: services see the old key set or the new one, never a mix. Complete: manifest.json\n"
    "parsed and every file it lists there with its size, mode and SHA-256, nothing else; an\n"
    "empty or partial generation is never a target (--to one: refused). A node with nothing to\n"
    "go back to fails and keeps its generation. Old generations are there only while\n"
    "`cleanup --keep` leaves them.\n"
    "Hooks: like push, rollback runs the inventory's pre hook before the switch and post, then\n"
    "check after it, with KEYFLEET_GENERATION the generation switched to, so services load the\n"
    "old keys. The hooks owed are recorded in DEST/.pending first; hooks a lost connection left\n"
    "owed (by a push or a rollback) run on a node whose current stays: one already on the asked\n"
    "generation, or one with nothing to go back to (its error says they ran).\n"
    "Statuses: ok, failed (nothing to go back to, or a hook failed: the error says which\n"
    "generation is current), refused (--to an incomplete generation, lock held), and the\n"
    "connection's (unreachable, hostkey, auth, timeout).\n"
    "Exit: 3 a host key or authentication failure; else 4 a node refused or not confirmed (pass\n"
    "--yes without a terminal); else 1 some node failed; else 0.\n\n";

Result<int> run_rollback(const RollbackArgs& args, Output& out) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  RollbackOptions options;
  if (args.to_option->count() > 0) options.to = args.to;
  KF_CHECK(confirm_or_refuse("rollback",
                             fmt::format("Roll back {} node{} to {}?", selection.nodes.size(),
                                         selection.nodes.size() == 1 ? "" : "s",
                                         options.to ? fmt::format("generation {}", *options.to)
                                                    : std::string("the previous generation")),
                             args.fleet.yes));
  FleetReport header{"rollback", options.to, "", {}};
  header.inventory_nodes = selection.total;
  FleetReporter fleet(args.fleet, out, "rollback", std::move(header));
  FleetRun<std::string> run = rollback_fleet(selection.nodes, options, fleet.run_options());
  fleet.report().nodes = std::move(run.reports);
  note_fleet_report(fleet.report());
  audit_note().keyset = shared_keyset(run.values);
  return fleet.finish();
}

}  // namespace

Action setup_rollback(CLI::App& sub) {
  auto args = std::make_shared<RollbackArgs>();
  args->fleet.add_to(sub, true);
  args->to_option = sub.add_option("--to", args->to, "Switch to this generation instead")
                        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{999999}))
                        ->type_name("GEN");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_rollback(*args, out); };
}

}  // namespace kf::cli
