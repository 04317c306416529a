#include <iostream>
#include <memory>

#include "bundle/bundle_file.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"
#include "cli/confirm.hpp"
#include "cli/fleet_options.hpp"
#include "core/interrupt.hpp"
#include "fleet/push.hpp"

namespace kf::cli {

namespace {

struct PushArgs {
  std::string bundle;
  FleetOptions fleet;
  BundleKeyOptions key;
  bool rolling = false;
  std::size_t batch = 1;
  std::size_t max_failures = 0;
  CLI::Option* max_failures_option = nullptr;
  bool allow_downgrade = false;
  bool no_install = false;
  bool dry_run = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --passphrase-file /root/.kf-pass\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --identity /root/.kf-identity --yes\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --dry-run\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --rolling --batch 5 --yes --json\n"
    "\n"
    "Per node, over one SSH connection: read DEST (a node already on this generation or a\n"
    "newer one is `unchanged` and untouched) -> staging (a 0700 random directory in `staging`)\n"
    "-> upload (the bundle, unchanged, 0600) -> digest (sha256sum on the node must match) -> pre\n"
    "hook -> install (DEST/generations/NNNNNN written under a temporary name, then DEST/current\n"
    "switched with one rename) -> post hook -> check hook. A failure names its step and leaves\n"
    "current where it was. The staged copies stay until `keyfleet cleanup`.\n"
    "From staging to the last hook push holds DEST/.lock on the node, the lock cleanup and\n"
    "rollback take too: push waits up to lock_timeout (10 s) for it, else fails that node.\n"
    "Leftovers of interrupted installs (generations/.tmp-*, current.tmp-*) are removed then.\n"
    "Hooks run with KEYFLEET_STEP, KEYFLEET_DEST and KEYFLEET_GENERATION set.\n"
    "A bundle sealed to age recipients (bundle --recipient) is opened with --identity FILE,\n"
    "one made with a passphrase with --passphrase-file/--passphrase-fd or the terminal.\n"
    "Exit: 0 every node ok or unchanged; 1 some node failed; 3 bundle not authentic; 4 not\n"
    "confirmed (without a terminal pass --yes); 130 interrupted.\n\n";

Result<int> run_push(const PushArgs& args) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  KF_TRY_ASSIGN(auto file, bundle::check_bundle_file(args.bundle));
  KF_TRY_ASSIGN(bundle::OpenKey key, bundle::read_open_key(file, args.key.source()));
  PendingBundle bundle = open_in_background(file, std::move(key));
  auto opened = [&]() -> Result<const bundle::OpenedBundle*> {
    if (!bundle.get()) return std::unexpected(bundle.get().error());
    return &*bundle.get();
  };

  if (!args.dry_run && !args.fleet.yes) {
    // The question names the generation, so it waits for the decryption; with --yes the nodes
    // connect while it runs.
    KF_TRY_ASSIGN(const bundle::OpenedBundle* decrypted, opened());
    const std::uint64_t generation = decrypted->manifest.generation;
    KF_CHECK(confirm_or_refuse(
        "push",
        fmt::format("Push generation {} to {} node{}{}?", generation, selection.nodes.size(),
                    selection.nodes.size() == 1 ? "" : "s",
                    args.no_install ? " (stage and check only)" : ""),
        args.fleet.yes));
  }

  PushOptions options{args.allow_downgrade, args.no_install, args.dry_run};
  ProgressLine progress(args.dry_run ? "push --dry-run" : "push");
  FleetRunOptions run = args.fleet.run_options(progress);
  run.schedule.rolling = args.rolling;
  run.schedule.batch = args.batch;
  if (args.max_failures_option->count() > 0) run.schedule.max_failures = args.max_failures;
  auto nodes = push_fleet(selection.nodes, file.bytes, bundle, options, run);
  progress.clear();

  KF_TRY_ASSIGN(const bundle::OpenedBundle* opened_bundle, opened());
  FleetReport report{"push", opened_bundle->manifest.generation, opened_bundle->sha256,
                     std::move(nodes)};
  report.inventory_nodes = selection.total;
  return to_int(print_fleet_report(std::cout, report,
                                   {.json = args.fleet.json, .interrupted = kf::interrupted()}));
}

}  // namespace

Action setup_push(CLI::App& sub) {
  auto args = std::make_shared<PushArgs>();
  sub.add_option("bundle", args->bundle, "The bundle to push (made by `keyfleet bundle`)")
      ->required()
      ->type_name("FILE");
  args->fleet.add_to(sub, true);
  add_bundle_key_options(sub, args->key);
  auto* rolling = sub.add_flag("--rolling", args->rolling,
                               "Go in inventory order, a batch at a time, and stop at the first "
                               "failure");
  sub.add_option("--batch", args->batch, "Nodes per batch in --rolling mode")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
      ->type_name("K")
      ->needs(rolling)
      ->capture_default_str();
  args->max_failures_option =
      sub.add_option("--max-failures", args->max_failures,
                     "Failures tolerated before no new node is started (--rolling: 0)")
          ->type_name("M");
  sub.add_flag("--allow-downgrade", args->allow_downgrade,
               "Install even on nodes holding a newer generation");
  sub.add_flag("--no-install", args->no_install,
               "Stage the bundle and check its digest on every node, install nothing");
  sub.add_flag("--dry-run", args->dry_run,
               "Connect, check host keys, authentication, writability and free space; write "
               "nothing");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_push(*args); };
}

}  // namespace kf::cli
