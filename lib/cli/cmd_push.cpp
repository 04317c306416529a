#include <iostream>
#include <memory>

#include "bundle/bundle_file.hpp"
#include "cli/audit.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"
#include "cli/confirm.hpp"
#include "cli/fleet_options.hpp"
#include "core/escape.hpp"
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
  PushOptions options;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --passphrase-file /root/.kf-pass\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --identity /root/.kf-identity --yes\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --dry-run\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --limit 'web[1-4]' --rolling --yes\n"
    "  # layout = \"link\" and DEST still the service's own directory: take it over, kept aside\n"
    "  keyfleet push kt.kfb --inventory kms.toml --limit kms2 --adopt --dry-run\n"
    "  keyfleet push kt.kfb --inventory kms.toml --limit kms2 --adopt --passphrase-file pass\n"
    "\n"
    "Push decides each node from what it really holds (B: the bundle's key set, generation G,\n"
    "manifest digest M), the first matching row deciding:\n"
    "  layout \"link\": DEST a real directory or file, or\n"
    "    a link keyfleet did not make                      refuse     -> refused (exit 4)\n"
    "  DEST absent, or no generation and no current        install    -> ok\n"
    "  current missing, dangling, not a link to a real\n"
    "    generation with a valid manifest                  repair     -> repaired\n"
    "  current is G, digest M, every file matches          nothing    -> unchanged (check runs)\n"
    "  current is G, digest M, a file differs or missing   repair     -> repaired\n"
    "  current is G with another digest                    refuse     -> conflict (exit 4)\n"
    "  current is another key set                          refuse     -> conflict (exit 4)\n"
    "  current is newer than G                             refuse     -> refused (exit 4)\n"
    "  generations/G intact (digest M), current elsewhere  switch     -> reactivated\n"
    "  otherwise                                           install    -> ok\n"
    "--replace-keyset installs over a conflict, then removes the other key set's generations;\n"
    "--allow-downgrade installs an older G. A damaged or different generations/G is replaced\n"
    "atomically: current names a complete generation at every instant.\n"
    "With the inventory's layout = \"link\", DEST itself is the link (services read DEST/FILE),\n"
    "switched to DEST.generations/NNNNNN; the generations, .lock, .pending and history.log live\n"
    "in DEST.generations. A DEST that is not keyfleet's is refused until --adopt, which moves it\n"
    "to DEST.generations/adopted-<UTC time> (kept: pruning never removes it, cleanup\n"
    "--purge-old does) in the same step that puts the link in place: DEST is absent for the\n"
    "moment between those two renames. The inventory's runtime_files (files the service writes\n"
    "there) are never compared nor installed.\n"
    "\n"
    "Without --yes push first reads every node and shows the plan (3 to install, 1 to repair,\n"
    "26 unchanged, 1 conflict, 1 refused: conflicts counted apart from downgrades and other\n"
    "refusals) and asks; --dry-run stops there (would-install, would-repair, would-reactivate,\n"
    "would-refuse, whose detail says conflict or refused), checking free space in staging and\n"
    "DEST too.\n"
    "Per node, over one SSH connection: read -> decide -> under DEST/.lock (waiting up to\n"
    "lock_timeout, 10 s, for cleanup, rollback or another push): read and decide again, remove\n"
    "leftovers of interrupted runs (generations/.tmp-*, current.tmp-*) -> staging (a 0700\n"
    "random directory in `staging`) -> upload (the bundle, unchanged, 0600) -> digest (the\n"
    "copy read back from the node must have its SHA-256) -> pre hook -> install (the hooks\n"
    "owed are recorded in DEST/.pending, G is written under a temporary name, then current\n"
    "switched with one rename) -> post hook -> check hook. Every refusal comes before `pre`\n"
    "runs. A failing post or check rolls the node back to its previous generation, running\n"
    "pre/post/check for it (rolled-back, exit 1; --keep-failed leaves the new generation\n"
    "current instead). Hooks owed by a switch whose connection was lost run at the next push\n"
    "or rollback. A switch cut short (the node's timeout) reports the generation current is\n"
    "read again to be, or none (null) when it cannot be read, and says which it may be.\n"
    "A node with a `probe` (inventory) is then probed: its agent must serve the new agent.crt,\n"
    "chained to the new ca.crt (the bundle's agent certificate is offered if it asks for a\n"
    "client certificate), within connect_timeout; anything else fails the node like a failed\n"
    "check (served-stale, -untrusted, -unreachable named in the error) and --rolling stops.\n"
    "Hooks run with KEYFLEET_STEP, KEYFLEET_DEST and KEYFLEET_GENERATION set, stdin empty; their\n"
    "output is collected when their shell exits (a daemon a hook starts must detach).\n"
    "A bundle sealed to age recipients (bundle --recipient) is opened with --identity FILE,\n"
    "one made with a passphrase with --passphrase-file/--passphrase-fd or the terminal.\n"
    "After an install, generations beyond the inventory's `keep` (5) are pruned, as cleanup\n"
    "does. The staged copies stay until `keyfleet cleanup`.\n"
    "With the inventory's `become` (\"sudo -n\": the SSH user is not root), push runs it once\n"
    "per connection first (a password asked for fails the node at step become, --dry-run\n"
    "too), then reads and writes DEST, runs the hooks and checks the digest through it, as\n"
    "root; the staged copy stays the SSH user's (by default under ~/.cache/keyfleet).\n"
    "Exit: 0 every node ok, unchanged, repaired, reactivated or staged; 3 a host key or\n"
    "authentication failure or a bundle not authentic; else 4 a node refused (conflict,\n"
    "downgrade, lock held) or not confirmed (without a terminal pass --yes); else 1 some node\n"
    "failed or rolled back; 130 interrupted.\n\n";

// What each node was found holding (the file a repair replaces, the key set a conflict names) and
// what was removed; escaped by the library.
std::string found(std::size_t, const NodeReport& node) {
  return node.detail;
}

Result<int> run_push(const PushArgs& args, Output& out) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  audit_note().bundle = args.bundle;
  KF_TRY_ASSIGN(auto file, bundle::check_bundle_file(args.bundle));
  const bool ask = !args.options.dry_run && !args.fleet.yes;
  if (ask && !can_ask()) {
    // Refused before the passphrase is asked for or any node is contacted.
    return fail(ExitCode::refused,
                "push: confirmation needed and there is no terminal to ask on: pass --yes");
  }
  KF_TRY_ASSIGN(bundle::OpenKey key, bundle::read_open_key(file, args.key.source()));
  PendingBundle bundle = open_in_background(file, std::move(key));
  auto opened = [&]() -> Result<const bundle::OpenedBundle*> {
    if (!bundle.get()) return std::unexpected(bundle.get().error());
    return &*bundle.get();
  };

  FleetReport header{"push", std::nullopt, "", {}};
  header.inventory_nodes = selection.total;
  FleetReporter fleet(args.fleet, out, args.options.dry_run ? "push --dry-run" : "push",
                      std::move(header));
  FleetRunOptions run = fleet.run_options();
  // The plan and the push share their connections when the whole fleet fits in --parallel.
  SessionPool pool;
  if (ask && selection.nodes.size() <= args.fleet.parallel) {
    run.connect = pool.connector(run.connect);
  }
  if (ask) {
    // The question names the generation and the plan, read from every node first.
    KF_TRY_ASSIGN(const bundle::OpenedBundle* decrypted, opened());
    fleet.report().generation = decrypted->manifest.generation;
    fleet.report().bundle_sha256 = decrypted->sha256;
    PushOptions planning = args.options;
    planning.dry_run = true;
    auto planned = push_fleet(selection.nodes, file.bytes, bundle, planning, run);
    fleet.clear_progress();
    if (kf::interrupted()) {
      // Ctrl-C while the plan was read: nothing was changed, and nothing is asked.
      fleet.report().nodes = std::move(planned);
      return fleet.finish();
    }
    FleetReport plan{"push --dry-run", decrypted->manifest.generation, decrypted->sha256, planned};
    std::cerr << render_fleet_report(plan, {.node_detail = found}).text;
    Result<void> confirmed;
    pool.off_the_clock([&] {
      confirmed = confirm_or_refuse(
          "push",
          fmt::format("Push generation {} to {} node{} ({}){}?", decrypted->manifest.generation,
                      selection.nodes.size(), selection.nodes.size() == 1 ? "" : "s",
                      describe_plan(planned),
                      args.options.no_install ? ", stage and check only" : ""),
          false);
    });
    if (!confirmed) return std::unexpected(confirmed.error());
  }

  run.schedule.rolling = args.rolling;
  run.schedule.batch = args.batch;
  if (args.max_failures_option->count() > 0) run.schedule.max_failures = args.max_failures;
  fleet.report().nodes = push_fleet(selection.nodes, file.bytes, bundle, args.options, run);
  pool.close();

  auto opened_bundle = opened();
  if (!opened_bundle) {
    // The nodes were skipped; the document says so beside the bundle's error.
    fleet.record();
    return std::unexpected(opened_bundle.error());
  }
  fleet.report().generation = (*opened_bundle)->manifest.generation;
  fleet.report().bundle_sha256 = (*opened_bundle)->sha256;
  note_fleet_report(fleet.report());
  audit_note().keyset = (*opened_bundle)->manifest.keyset;
  ReportOutput output;
  output.node_detail = found;
  return fleet.finish(output);
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
  sub.add_flag("--allow-downgrade", args->options.allow_downgrade,
               "Install even on nodes holding a newer generation");
  sub.add_flag("--replace-keyset", args->options.replace_keyset,
               "Install over another key set (a conflict), then remove its generations");
  sub.add_flag("--adopt", args->options.adopt,
               "layout \"link\": move a DEST keyfleet does not manage to "
               "DEST.generations/adopted-<time> (kept), then install");
  sub.add_flag("--keep-failed", args->options.keep_failed,
               "Leave the new generation current when a post or check hook fails (no rollback)");
  sub.add_flag("--no-install", args->options.no_install,
               "Stage the bundle and check its digest on every node, install nothing");
  sub.add_flag("--dry-run", args->options.dry_run,
               "Read every node and show what push would do (would-install, would-repair, ...), "
               "with host keys, authentication and free space checked; write nothing");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_push(*args, out); };
}

}  // namespace kf::cli
