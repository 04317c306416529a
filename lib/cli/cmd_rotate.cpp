#include <iostream>
#include <memory>

#include "cli/audit.hpp"
#include "cli/commands.hpp"
#include "cli/confirm.hpp"
#include "cli/fleet_options.hpp"
#include "cli/inventory_hosts.hpp"
#include "cli/seal_key_options.hpp"
#include "core/escape.hpp"
#include "core/interrupt.hpp"
#include "fleet/rotate.hpp"
#include "pki/cert.hpp"
#include "pki/generation.hpp"

namespace kf::cli {

namespace {

struct RotateArgs {
  FleetOptions fleet;
  SealKeyOptions seal;
  std::string keys;
  bool keep_ca = false;
  bool new_ca = false;
  bool emergency = false;
  bool abandon = false;
  std::string until;
  std::size_t canary = 0;
  bool rolling = false;
  std::size_t batch = 1;
  std::size_t max_failures = 0;
  CLI::Option* max_failures_option = nullptr;
  int days = kDefaultDays;
  int ca_days = kDefaultCaDays;
  CLI::Option* ca_days_option = nullptr;
  std::string cn;
  std::string org;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  # a host name changed: a new agent certificate from the same CA, on every node\n"
    "  keyfleet rotate --inventory fleet.toml --keys /srv/keyfleet/keys --keep-ca \\\n"
    "      --passphrase-file ~/.keyfleet-pass --rolling --batch 5\n"
    "  # replace the CA without downtime: trust both, new leaf, retire the old CA\n"
    "  keyfleet rotate --inventory fleet.toml --keys /srv/keyfleet/keys --new-ca --canary 1\n"
    "  keyfleet rotate --inventory fleet.toml --keys /srv/keyfleet/keys --new-ca --until trust\n"
    "  # unattended: sealed to the deploy host's age recipient, no passphrase anywhere\n"
    "  keyfleet rotate --inventory fleet.toml --keys /srv/keyfleet/keys --keep-ca \\\n"
    "      --recipients-file /etc/keyfleet/recipients --yes\n"
    "  # a key compromise: everything new on every node at once, older generations purged\n"
    "  keyfleet rotate --inventory fleet.toml --keys /srv/keyfleet/keys --emergency --yes\n"
    "  keyfleet status --keys /srv/keyfleet/keys      (how far an unfinished rotation got)\n"
    "\n"
    "rotate makes the next key set in DIR (as create-keys --force: the old one goes to\n"
    "DIR/archive/NNNNNN, the key set id stays), seals it (the passphrase is read once, twice to\n"
    "confirm on a terminal; scrypt work factor 18; or to --recipient / --recipients-file, as\n"
    "bundle seals: then no passphrase is read), and on every node, over one SSH connection,\n"
    "does what push, verify and cleanup do: stage, digest, pre, install, post, check (and the\n"
    "probe), verify every file against the manifest, wipe the staged copy and prune to `keep`.\n"
    "The bundle is kept in DIR while its phase runs, then wiped.\n"
    "--new-ca goes in three phases, each on every node and verified before the next starts:\n"
    "  trust   ca.crt and truststore.p12 hold the old and the new CA; the agent's key and\n"
    "          certificate are unchanged (byte for byte)\n"
    "  leaf    a new agent key and certificate from the new CA; both CAs still trusted\n"
    "  retire  the new CA alone\n"
    "leaf is refused while a node is not on trust, retire while one is not on leaf (exit 4,\n"
    "naming them; a node that cannot be read counts as not on it). --until PHASE stops after\n"
    "that phase; rotate --new-ca again goes on with the next. A failing post or check hook puts\n"
    "a node back on its previous generation (leaf goes back to trust).\n"
    "--emergency makes everything new (the CA, the agent, --secret files), pushes it to every\n"
    "node at once (no --rolling), then purges every older generation and leftover (as cleanup\n"
    "--purge-old, with its receipt: with layout = \"link\", what push --adopt kept goes too).\n"
    "A node is installed as push installs it, on either inventory layout; rotate never adopts:\n"
    "a layout = \"link\" node whose DEST is still the service's own directory is refused until\n"
    "push --adopt has taken it over.\n"
    "DIR/rotation.json (0600) records the plan -- written before the key set is made -- and each\n"
    "node's progress; DIR is locked while rotate runs (a second one: exit 4 at once). After a\n"
    "crash, Ctrl-C or failed nodes, run the same command again: every node is read again, those\n"
    "done are skipped, the rest retried. Another rotation while one is unfinished is refused\n"
    "(exit 4) unless --abandon, which records that it was given up.\n"
    "--canary N: the first N nodes alone, the rest only if they all succeed (in every phase).\n"
    "Exit: as push (3, else 4, else 1, else 0) over the nodes of the last phase run; 4 also\n"
    "for a refused phase; 130 interrupted.\n\n";

std::optional<rotation::Mode> mode_of(const RotateArgs& args) {
  if (args.keep_ca) return rotation::Mode::keep_ca;
  if (args.new_ca) return rotation::Mode::new_ca;
  if (args.emergency) return rotation::Mode::emergency;
  return std::nullopt;
}

Result<RotateRequest> request_of(const RotateArgs& args) {
  RotateRequest request;
  request.keys = args.keys;
  request.mode = mode_of(args);
  request.abandon = args.abandon;
  if (!args.until.empty()) request.until = parse_ca_phase(args.until);
  request.canary = args.canary;
  if (request.mode == rotation::Mode::keep_ca && args.ca_days_option->count() > 0) {
    return fail(ExitCode::usage, "--ca-days cannot be combined with --keep-ca: the CA stays");
  }
  KF_CHECK(check_seal_key_options(args.seal));
  if (request.mode == rotation::Mode::emergency && args.rolling) {
    return fail(ExitCode::usage,
                "--emergency cannot be --rolling: after a compromise every node changes at once");
  }
  CreateKeysOptions& keys = request.key_options;
  KF_TRY_ASSIGN(keys.hosts, add_inventory_hosts({}, args.fleet.inventory.inventory));
  keys.days = args.days;
  if (args.ca_days_option->count() > 0) keys.ca_days = args.ca_days;
  keys.common_name = args.cn;
  keys.organization = args.org;
  return request;
}

std::string found(std::size_t, const NodeReport& node) {
  return node.detail;
}

FleetReport phase_report(const PhaseRun& phase) {
  FleetReport report{"rotate", phase.generation, phase.bundle_sha256, phase.nodes};
  report.inventory_nodes = phase.nodes.size();
  return report;
}

ReportOutput phase_output(const PhaseRun& phase) {
  ReportOutput output;
  output.node_detail = found;
  output.node_json = [&phase](std::size_t i, const NodeReport&) {
    return i < phase.receipts.size() && phase.receipts[i] ? to_json(*phase.receipts[i])
                                                          : nlohmann::ordered_json(nullptr);
  };
  return output;
}

// What to say once the run is over, for people.
std::string closing(const RotationOutcome& outcome, const RotateArgs& args) {
  const rotation::Journal& j = outcome.journal;
  const rotation::PhaseRecord* next = j.next_phase();
  if (j.state == rotation::State::abandoned) {
    return fmt::format("rotate: rotation {} is abandoned (recorded in {}/rotation.json)\n", j.id,
                       args.keys);
  }
  if (j.state == rotation::State::finished) {
    const auto& last = j.phases.back();
    return fmt::format("rotate: rotation {} finished: every node holds generation {} ({})\n", j.id,
                       generation_name(last.generation), last.name);
  }
  if (outcome.paused && next != nullptr) {
    return fmt::format(
        "rotate: stopped after {} (--until {}); run rotate --{} again to go on with {}\n",
        j.phases[static_cast<std::size_t>(next - j.phases.data()) - 1].name, args.until,
        to_string(j.mode), next->name);
  }
  if (next == nullptr) return "";
  const std::vector<std::string> waiting = j.not_done(*next);
  return fmt::format(
      "rotate: rotation {} is unfinished at {} (generation {}){}: run the same command again to "
      "continue (nodes done are skipped), or rotate --abandon\n",
      j.id, next->name, generation_name(next->generation),
      waiting.empty() ? std::string()
                      : fmt::format(", not done on {}", escape_untrusted(fold_names(waiting))));
}

Result<int> run_rotate(const RotateArgs& args, Output& out) {
  KF_TRY_ASSIGN(RotateRequest request, request_of(args));
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  const bool ask = !args.fleet.yes;
  if (ask && !can_ask()) {
    return fail(ExitCode::refused,
                "rotate: confirmation needed and there is no terminal to ask on: pass --yes");
  }
  KF_TRY_ASSIGN(Rotation rotation, Rotation::open(request));
  out.set({{"keys", args.keys},
           {"mode", request.mode ? nlohmann::ordered_json(std::string(to_string(*request.mode)))
                                 : nlohmann::ordered_json(nullptr)},
           {"resumed", rotation.resumed()},
           {"rotation", rotation::to_json(rotation.journal())}});
  audit_note().keyset = rotation.journal().keyset;
  audit_note().extra["rotation"] = rotation.journal().id;
  if (request.mode) audit_note().extra["mode"] = std::string(to_string(*request.mode));

  const std::string plan = rotation.describe_plan(selection.nodes.size());
  if (ask) {
    std::cerr << plan << "\n";
    KF_CHECK(confirm_or_refuse("rotate", "Go ahead?", false));
  }
  bundle::SealKey key;
  if (!rotation.only_abandons()) {
    KF_TRY_ASSIGN(key, read_seal_key(args.seal));
  }

  FleetReport header{"rotate", std::nullopt, "", {}};
  header.inventory_nodes = selection.total;
  FleetReporter fleet(args.fleet, out, "rotate", std::move(header));
  FleetRunOptions run = fleet.run_options();
  run.schedule.rolling = args.rolling;
  run.schedule.batch = args.batch;
  if (args.max_failures_option->count() > 0) run.schedule.max_failures = args.max_failures;

  std::optional<PhaseRun> last;
  std::string phase_now;  // the phase started last: the one the document's nodes are about
  RotateHooks hooks;
  hooks.on_phase_start = [&](const std::string& phase, std::uint64_t generation) {
    fleet.clear_progress();
    phase_now = phase;
    // What a second Ctrl-C prints, should it come during this phase.
    fleet.report().generation = generation;
    fleet.report().bundle_sha256.clear();
    fleet.report().nodes.clear();
    out.text() << fmt::format("rotate: {} (generation {})\n", phase, generation_name(generation));
    std::cout.flush();
  };
  hooks.on_phase_done = [&](const PhaseRun& phase) {
    fleet.clear_progress();
    out.text() << render_fleet_report(phase_report(phase), phase_output(phase)).text;
    std::cout.flush();
    last = phase;
    fleet.report() = phase_report(phase);
    fleet.report().inventory_nodes = selection.total;
  };
  RotationOutcome outcome = rotation.run(selection.nodes, key, run, hooks);

  out.set({{"phase", phase_now.empty() ? nlohmann::ordered_json(nullptr)
                                       : nlohmann::ordered_json(phase_now)},
           {"rotation", rotation::to_json(outcome.journal)}});
  // The last phase's receipts, when its nodes are the ones reported.
  const PhaseRun* reported = last && last->phase == phase_now ? &*last : nullptr;
  note_fleet_report(fleet.report());
  if (last) {
    audit_note().generation = last->generation;
    audit_note().bundle_sha256 = last->bundle_sha256;
    audit_note().bundle =
        (fs::path(args.keys) / fmt::format("rotation-{}.kfb", generation_name(last->generation)))
            .string();
  }
  for (const auto& warning : outcome.warnings) {
    std::cerr << "keyfleet: warning: " << warning << '\n';
  }
  if (outcome.error) {
    fleet.record();
    if (reported) out.set(render_fleet_report(fleet.report(), phase_output(*reported)).fields);
    std::cerr << closing(outcome, args);
    return std::unexpected(*outcome.error);
  }
  std::string text = closing(outcome, args);
  if (reported) return fleet.finish(phase_output(*reported), text);
  return fleet.finish({}, text);
}

}  // namespace

Action setup_rotate(CLI::App& sub) {
  auto args = std::make_shared<RotateArgs>();
  args->fleet.add_to(sub, true);
  sub.add_option("--keys", args->keys,
                 "The key directory made by create-keys (and pushed): its next generations are "
                 "made there")
      ->required()
      ->type_name("DIR");
  auto* keep_ca = sub.add_flag("--keep-ca", args->keep_ca,
                               "A host name changed: a new agent key and certificate, same CA");
  auto* new_ca = sub.add_flag("--new-ca", args->new_ca,
                              "Replace the CA without downtime: trust, leaf and retire phases");
  auto* emergency = sub.add_flag(
      "--emergency", args->emergency,
      "A key compromise: everything new on every node at once, older generations purged");
  keep_ca->excludes(new_ca)->excludes(emergency);
  new_ca->excludes(emergency);
  sub.add_flag("--abandon", args->abandon,
               "Give up the unfinished rotation in DIR (recorded in DIR/rotation.json); with a "
               "mode, then start that one");
  sub.add_option("--until", args->until, "--new-ca: stop after this phase (trust, leaf, retire)")
      ->check(CLI::IsMember({"trust", "leaf", "retire"}))
      ->type_name("PHASE")
      ->needs(new_ca);
  sub.add_option("--canary", args->canary,
                 "Work on the first N nodes alone, and on the rest only if they all succeed")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
      ->type_name("N");
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
  add_seal_key_options(sub, args->seal,
                       "scrypt work factor log2(N) of the bundles rotate seals with a passphrase");
  sub.add_option("--days", args->days, "Validity of a new agent certificate in days")
      ->type_name("N")
      ->check(CLI::Range(1, kMaxDays))
      ->capture_default_str();
  args->ca_days_option = sub.add_option("--ca-days", args->ca_days,
                                        "Validity of a new CA in days (--new-ca, "
                                        "--emergency)")
                             ->check(CLI::Range(1, kMaxDays))
                             ->capture_default_str();
  sub.add_option("--cn", args->cn,
                 "Common name of a new agent certificate (default: the inventory's first host)")
      ->type_name("NAME");
  sub.add_option("--org", args->org, "Organization (O) of new certificates")->type_name("NAME");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_rotate(*args, out); };
}

}  // namespace kf::cli
