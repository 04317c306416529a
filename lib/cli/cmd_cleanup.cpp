#include <sys/stat.h>

#include <cerrno>
#include <iostream>
#include <memory>

#include "cli/audit.hpp"
#include "cli/commands.hpp"
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
    "  keyfleet cleanup --inventory fleet.toml --purge-old     # after a compromise\n"
    "\n"
    "On every node, each regular file push staged under `staging` (STAGING/<random>/bundle.kfb)\n"
    "is overwritten with zeros over its whole size and fsynced (dd conv=notrunc,fsync), then\n"
    "unlinked; the emptied subdirectories and STAGING itself are removed. Symlinks are never\n"
    "followed and are left in place (and named). Then old generations beyond --keep are removed,\n"
    "oldest first: never DEST/current and never the generation before it (rollback's target);\n"
    "--purge-old removes every generation but current. Leftovers of interrupted installs and\n"
    "prunes (generations/.tmp-*, current.tmp-*) are removed. A generation is first renamed to\n"
    "generations/.tmp-prune-<random>, then deleted, so a crash never leaves half a generation\n"
    "under its real name; the next cleanup finishes the job.\n"
    "Each node's work holds DEST/.lock, the lock push and rollback take too: cleanup waits up\n"
    "to 10 s for a push in progress, else fails that node at step `lock` (run it again later).\n"
    "--bundle FILE wipes the local copy too (zeros, fsync, unlink), after the nodes.\n"
    "A node with nothing to clean is ok: a rerun is harmless. Exit 0 when every node is ok.\n\n";

Result<int> run_cleanup(const CleanupArgs& args) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  if (!args.bundle.empty()) {
    struct stat st {};
    if (::lstat(args.bundle.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        return fail(ExitCode::usage, "bundle {} does not exist; nothing was cleaned", args.bundle);
      }
      return fail_errno(ExitCode::usage, args.bundle);
    }
    if (!S_ISREG(st.st_mode)) {
      return fail(ExitCode::usage, "--bundle {}: not a regular file; nothing wiped", args.bundle);
    }
  }

  ProgressLine progress("cleanup");
  auto cleaned = cleanup_fleet(selection.nodes, args.options, args.fleet.run_options(progress));
  progress.clear();
  FleetReport report{"cleanup", std::nullopt, "", std::move(cleaned.reports)};
  report.inventory_nodes = selection.total;
  const auto& receipts = cleaned.values;

  ReportOutput output{.json = args.fleet.json};
  output.node_detail = [&](std::size_t i, const NodeReport& node) {
    return node.status == NodeStatus::ok && receipts[i] ? describe(*receipts[i]) : std::string();
  };
  if (!args.bundle.empty()) {
    if (auto wiped = wipe_file(args.bundle); wiped) {
      output.local_note = fmt::format("local: wiped {}\n", args.bundle);
      output.local_json = {{"bundle", args.bundle}, {"wiped", true}, {"error", nullptr}};
    } else {
      output.local_failed = true;
      output.local_json = {
          {"bundle", args.bundle}, {"wiped", false}, {"error", wiped.error().message}};
      std::cerr << "keyfleet: error: " << wiped.error().message << '\n';
    }
  }
  output.interrupted = kf::interrupted();
  note_fleet_report(report);
  return to_int(print_fleet_report(std::cout, report, output));
}

}  // namespace

Action setup_cleanup(CLI::App& sub) {
  auto args = std::make_shared<CleanupArgs>();
  args->fleet.add_to(sub, false);
  sub.add_option("--bundle", args->bundle, "Also wipe this local bundle file")->type_name("FILE");
  auto* keep = sub.add_option("--keep", args->options.keep,
                              "Generations to keep on each node, current included")
                   ->check(CLI::Range(keydir::kMinKeep, std::size_t{999999}))
                   ->type_name("N")
                   ->capture_default_str();
  sub.add_flag("--purge-old", args->options.purge_old,
               "Remove every generation but current (after a compromise)")
      ->excludes(keep);
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_cleanup(*args); };
}

}  // namespace kf::cli
