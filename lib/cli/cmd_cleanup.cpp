#include <sys/stat.h>

#include <cerrno>
#include <iostream>
#include <memory>

#include "cli/audit.hpp"
#include "cli/commands.hpp"
#include "cli/confirm.hpp"
#include "cli/fleet_options.hpp"
#include "core/files.hpp"
#include "core/interrupt.hpp"
#include "fleet/cleanup.hpp"

namespace kf::cli {

namespace fs = boost::filesystem;
namespace {

struct CleanupArgs {
  FleetOptions fleet;
  std::string bundle;
  CleanupOptions options;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet cleanup --inventory fleet.toml --bundle keys-gen2.age\n"
    "  keyfleet cleanup --inventory fleet.toml --purge-old --dry-run   # what would go\n"
    "  keyfleet cleanup --inventory fleet.toml --purge-old --yes       # after a compromise\n"
    "\n"
    "On every node cleanup touches only what push made. Under `staging` that is\n"
    "STAGING/<random>/bundle.kfb in a <random> directory (16 hex digits) that is 0700 and the\n"
    "SSH user's: each such copy is overwritten with zeros on the node without following a\n"
    "symlink (GNU dd oflag=nofollow,nonblock conv=notrunc,nocreat,fsync), unlinked, and its\n"
    "emptied directory removed. Anything else there is left alone and named; STAGING itself\n"
    "stays. A STAGING that is a symlink, not the SSH user's (or root's), or writable by its\n"
    "group or others is not touched at all and fails the node.\n"
    "Then the leftovers of interrupted installs and prunes (generations/.tmp-*, current.tmp-*,\n"
    "which may hold plaintext keys) are removed, and old generations beyond --keep, oldest\n"
    "first (--keep defaults to the node's inventory `keep`, 5): never DEST/current and never the\n"
    "generation before it (rollback's target).\n"
    "--purge-old removes every generation but current, and (inventory layout = \"link\") what\n"
    "push --adopt kept in DEST.generations/adopted-*, which pruning never removes; with\n"
    "`current` missing or damaged it removes none and fails the node, naming the generations\n"
    "left. A generation is renamed to generations/.tmp-prune-<random> first, then deleted, so\n"
    "a crash never leaves half a generation under its real name. DEST is then listed again:\n"
    "the report says per node what was wiped and removed (generation, manifest SHA-256) and\n"
    "what remains (--json: `wiped`, `left_alone`, `leftovers`, `removed`, `remaining`,\n"
    "`unexpected`, `adopted_removed`, `adopted`).\n"
    "--purge-old asks first (without a terminal pass --yes); plain cleanup never asks.\n"
    "--dry-run reads every node and says what would go; it takes no lock and writes nothing.\n"
    "Each node's work holds DEST/.lock, the lock push and rollback take too: cleanup waits up\n"
    "to lock_timeout for a push in progress, else fails that node at step `lock`.\n"
    "--bundle FILE wipes the local copy too (zeros, fsync, unlink), once every node is clean;\n"
    "a FILE already gone counts as wiped, so a rerun after a partial failure finishes the job.\n"
    "A node with nothing to clean is ok: a rerun is harmless.\n"
    "Exit: 3 a host key or authentication failure; else 4 a node refused (its lock held) or\n"
    "--purge-old not confirmed; else 1 some node failed, or the local wipe did; else 0.\n\n";

// --bundle FILE as found before any node is touched: a missing one counts as wiped already.
Result<bool> bundle_present(const std::string& bundle) {
  struct stat st {};
  if (::lstat(bundle.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return fail_errno(ExitCode::usage, bundle);
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(ExitCode::usage, "--bundle {}: not a regular file; nothing wiped", bundle);
  }
  return true;
}

// The local half of --bundle, once the nodes are done.
void wipe_local_bundle(const std::string& bundle, bool present, bool dry_run, bool nodes_clean,
                       ReportOutput& output) {
  auto note = [&](bool wiped, const std::string& text, const std::string& error) {
    output.local_note = "local: " + text + "\n";
    output.local_json = {
        {"bundle", bundle},
        {"wiped", wiped},
        {"already_gone", !present},
        {"error", error.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error)}};
  };
  if (!present) return note(true, fmt::format("{} already wiped (not there)", bundle), "");
  if (dry_run) return note(false, fmt::format("would wipe {}", bundle), "");
  if (!nodes_clean) {
    // Kept while a node may still hold a staged copy: the rerun that cleans it wipes this too.
    return note(false,
                fmt::format("kept {}: not every node was cleaned; run cleanup again", bundle),
                "not wiped: not every node was cleaned");
  }
  if (auto wiped = wipe_file(bundle); !wiped) {
    output.local_failed = true;
    std::cerr << "keyfleet: error: " << wiped.error().message << '\n';
    return note(false, fmt::format("{} not wiped", bundle), wiped.error().message);
  }
  note(true, fmt::format("wiped {}", bundle), "");
}

// --purge-old removes key material for good: asked as push asks, with the plan read first.
Result<void> confirm_purge(const CleanupArgs& args, const Selection& selection,
                           FleetRunOptions& run, SessionPool& pool, FleetReporter& fleet) {
  if (!can_ask()) {
    return fail(ExitCode::refused,
                "cleanup: --purge-old needs confirmation and there is no terminal to ask on: "
                "pass --yes (or --dry-run to see what would go)");
  }
  if (selection.nodes.size() <= args.fleet.parallel) run.connect = pool.connector(run.connect);
  CleanupOptions planning = args.options;
  planning.dry_run = true;
  auto planned = cleanup_fleet(selection.nodes, planning, run);
  fleet.clear_progress();
  std::size_t generations = 0;
  std::size_t adopted = 0;
  for (std::size_t i = 0; i < planned.reports.size(); ++i) {
    if (!planned.values[i]) continue;
    generations += planned.values[i]->removed.size();
    adopted += planned.values[i]->adopted_removed.size();
    std::cerr << planned.reports[i].name << ": " << describe(*planned.values[i]) << '\n';
  }
  FleetReport plan{"cleanup --dry-run", std::nullopt, "", planned.reports};
  std::cerr << format_summary(plan);
  Result<void> confirmed;
  pool.off_the_clock([&] {
    confirmed = confirm_or_refuse(
        "cleanup",
        fmt::format("Remove {} old generation{}{} from {} node{}, keeping only current?",
                    generations, generations == 1 ? "" : "s",
                    adopted == 0 ? ""
                                 : fmt::format(" and {} director{} push --adopt kept", adopted,
                                               adopted == 1 ? "y" : "ies"),
                    selection.nodes.size(), selection.nodes.size() == 1 ? "" : "s"),
        false);
  });
  return confirmed;
}

Result<int> run_cleanup(const CleanupArgs& args, Output& out) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  bool bundle_there = false;
  if (!args.bundle.empty()) {
    KF_TRY_ASSIGN(bundle_there, bundle_present(args.bundle));
  }

  const bool dry_run = args.options.dry_run;
  FleetReport header{dry_run ? "cleanup --dry-run" : "cleanup", std::nullopt, "", {}};
  header.inventory_nodes = selection.total;
  FleetReporter fleet(args.fleet, out, dry_run ? "cleanup --dry-run" : "cleanup",
                      std::move(header));
  FleetRunOptions run = fleet.run_options();
  SessionPool pool;
  if (args.options.purge_old && !dry_run && !args.fleet.yes) {
    KF_CHECK(confirm_purge(args, selection, run, pool, fleet));
  }
  auto cleaned = cleanup_fleet(selection.nodes, args.options, run);
  pool.close();
  fleet.report().nodes = std::move(cleaned.reports);
  const auto& receipts = cleaned.values;

  ReportOutput output;
  output.node_detail = [&](std::size_t i, const NodeReport&) {
    return receipts[i] ? describe(*receipts[i]) : std::string();
  };
  output.node_json = [&](std::size_t i, const NodeReport&) {
    return receipts[i] ? to_json(*receipts[i]) : nlohmann::ordered_json(nullptr);
  };
  note_fleet_report(fleet.report());
  // Cleanup never moves current: the key set each node read is on.
  std::vector<std::optional<std::string>> keysets;
  keysets.reserve(receipts.size());
  for (const auto& receipt : receipts) {
    keysets.push_back(receipt ? std::optional(receipt->keyset) : std::nullopt);
  }
  audit_note().keyset = shared_keyset(keysets);
  if (!args.bundle.empty()) {
    const bool nodes_clean = all_succeeded(fleet.report().nodes) && !kf::interrupted();
    wipe_local_bundle(args.bundle, bundle_there, dry_run, nodes_clean, output);
  }
  return fleet.finish(output);
}

}  // namespace

Action setup_cleanup(CLI::App& sub) {
  auto args = std::make_shared<CleanupArgs>();
  args->fleet.add_to(sub, true);
  sub.add_option("--bundle", args->bundle,
                 "Also wipe this local bundle file, once every node is clean")
      ->type_name("FILE");
  auto* keep = sub.add_option("--keep", args->options.keep,
                              "Generations to keep on each node, current included (default: the "
                              "inventory's keep, 5 unless it says)")
                   ->check(CLI::Range(keydir::kMinKeep, std::size_t{999999}))
                   ->type_name("N");
  sub.add_flag("--purge-old", args->options.purge_old,
               "Remove every generation but current (after a compromise); asks first")
      ->excludes(keep);
  sub.add_flag("--dry-run", args->options.dry_run,
               "Read every node and say what would be wiped and removed; change nothing");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_cleanup(*args, out); };
}

}  // namespace kf::cli
