#include <iostream>
#include <memory>

#include "bundle/bundle_file.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"
#include "core/interrupt.hpp"
#include "fleet/inventory.hpp"
#include "fleet/push.hpp"

namespace kf::cli {

namespace {

struct PushArgs {
  std::string bundle;
  std::string inventory;
  BundleKeyOptions key;
  std::size_t parallel = 32;
  bool rolling = false;
  std::size_t batch = 1;
  std::size_t max_failures = 0;
  CLI::Option* max_failures_option = nullptr;
  bool allow_downgrade = false;
  bool no_install = false;
  bool dry_run = false;
  bool yes = false;
  bool json = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --passphrase-file /root/.kf-pass\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --identity /root/.kf-identity --yes\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --dry-run\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --rolling --batch 5 --yes --json\n"
    "\n"
    "Per node, over one SSH connection: read DEST/current (a node already on this generation or\n"
    "a newer one is `unchanged` and untouched) -> staging (a 0700 random directory in `staging`)\n"
    "-> upload (the bundle, unchanged, 0600) -> digest (sha256sum on the node must match) -> pre\n"
    "hook -> install (DEST/generations/NNNNNN written under a temporary name, then DEST/current\n"
    "switched with one rename) -> post hook -> check hook. A failure names its step and leaves\n"
    "current where it was. The staged copies stay until `keyfleet cleanup`.\n"
    "Staging through the switch holds DEST/.lock on the node (released for a pre hook), the\n"
    "lock cleanup and rollback take too: push waits up to 10 s for it, else fails that node.\n"
    "Hooks run with KEYFLEET_STEP, KEYFLEET_DEST and KEYFLEET_GENERATION set.\n"
    "A bundle sealed to age recipients (bundle --recipient) is opened with --identity FILE,\n"
    "one made with a passphrase with --passphrase-file/--passphrase-fd or the terminal.\n"
    "Exit: 0 every node ok or unchanged; 1 some node failed; 3 bundle not authentic; 4 not\n"
    "confirmed (without a terminal pass --yes); 130 interrupted.\n\n";

Result<int> run_push(const PushArgs& args) {
  auto inventory = KF_TRY(load_inventory(args.inventory));
  auto file = KF_TRY(bundle::check_bundle_file(args.bundle));
  bundle::OpenKey key = KF_TRY(bundle::read_open_key(file, args.key.source()));
  PendingBundle bundle = open_in_background(file, std::move(key));
  auto opened = [&]() -> Result<const bundle::OpenedBundle*> {
    if (!bundle.get()) return std::unexpected(bundle.get().error());
    return &*bundle.get();
  };

  if (!args.dry_run && !args.yes) {
    // The question names the generation, so it waits for the decryption; with --yes the nodes
    // connect while it runs.
    const std::uint64_t generation = KF_TRY(opened())->manifest.generation;
    KF_CHECK(confirm_or_refuse(
        "push",
        fmt::format("Push generation {} to {} node{}{}?", generation, inventory.nodes.size(),
                    inventory.nodes.size() == 1 ? "" : "s",
                    args.no_install ? " (stage and check only)" : ""),
        args.yes));
  }

  PushOptions options{args.allow_downgrade, args.no_install, args.dry_run};
  ScheduleOptions schedule;
  schedule.parallel = args.parallel;
  schedule.rolling = args.rolling;
  schedule.batch = args.batch;
  if (args.max_failures_option->count() > 0) schedule.max_failures = args.max_failures;
  ProgressLine progress(args.dry_run ? "push --dry-run" : "push");
  schedule.on_progress = [&](const FleetProgress& p) { progress.update(p); };
  auto nodes = push_fleet(inventory.nodes, file.bytes, bundle, options, schedule);
  progress.clear();

  const bundle::OpenedBundle* opened_bundle = KF_TRY(opened());
  FleetReport report{"push", opened_bundle->manifest.generation, opened_bundle->sha256,
                     std::move(nodes)};
  return to_int(
      print_fleet_report(std::cout, report, {.json = args.json, .interrupted = kf::interrupted()}));
}

}  // namespace

Action setup_push(CLI::App& sub) {
  auto args = std::make_shared<PushArgs>();
  sub.add_option("bundle", args->bundle, "The bundle to push (made by `keyfleet bundle`)")
      ->required()
      ->type_name("FILE");
  sub.add_option("--inventory", args->inventory, "The fleet's inventory (TOML)")
      ->required()
      ->type_name("FILE");
  add_bundle_key_options(sub, args->key);
  sub.add_option("--parallel", args->parallel, "Nodes worked on at once, one connection each")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
      ->type_name("N")
      ->capture_default_str();
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
  sub.add_flag("-y,--yes", args->yes, "Do not ask for confirmation (needed without a terminal)");
  sub.add_flag("--json", args->json, "Print one JSON document with a line per node");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_push(*args); };
}

}  // namespace kf::cli
