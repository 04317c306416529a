#include <ctime>
#include <memory>

#include "cli/commands.hpp"
#include "cli/fleet_options.hpp"
#include "core/files.hpp"
#include "fleet/rotation_journal.hpp"
#include "fleet/status.hpp"

namespace kf::cli {

namespace {

struct StatusArgs {
  FleetOptions fleet;
  int warn_days = 30;
  std::string prometheus;
  std::string keys;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet status --inventory fleet.toml\n"
    "  keyfleet status --inventory fleet.toml --warn-days 14 --json\n"
    "  keyfleet status --inventory fleet.toml --prometheus "
    "/var/lib/prometheus/node-exporter/keyfleet.prom\n"
    "  keyfleet status --keys /srv/keyfleet/keys      (a rotation's progress, no node contacted)\n"
    "\n"
    "Reads every node over one SSH connection and changes nothing (no lock is taken): the\n"
    "generation DEST/current points at, its files hashed against its manifest, the key set id,\n"
    "the agent certificate and every CA certificate of ca.crt (SHA-256 of the DER, subject,\n"
    "notAfter, days left), how many generations are kept, leftovers of interrupted runs and\n"
    "hooks still owed (DEST/.pending). Nodes with identical rows share one line (node[1-28]),\n"
    "the fewest days left first; every node that is not ok says why below the table.\n"
    "Files on disk are not what a running agent serves: a node with `probe = \"HOST:PORT\"` in\n"
    "the inventory also has its agent's TLS endpoint checked from this machine (SNI, within\n"
    "connect_timeout, no client certificate offered). The served leaf must be the installed\n"
    "agent.crt, chained to the installed ca.crt, with HOST among its names. NOTES and --json's\n"
    "\"served\" show the result (served-ok when it matches); any other is the node's status.\n"
    "Statuses: ok, expiring (a certificate expires within --warn-days), expired, pending-hooks,\n"
    "missing, damaged (current broken or its files differ from its manifest), refused (DEST is\n"
    "not a directory, e.g. a symlink: nothing is read through it), served-stale (the agent\n"
    "serves another certificate: the generation it belongs to is named, if the node keeps it;\n"
    "restart or reload the agent), served-untrusted (the installed certificate, but its chain\n"
    "or host name fails against the installed ca.crt), served-unreachable (no TLS handshake\n"
    "with the probe), unreachable, hostkey, auth, timeout, failed.\n"
    "--prometheus FILE writes a node_exporter textfile (temporary file + rename, 0644):\n"
    "keyfleet_cert_not_after_seconds{node,cert}, keyfleet_generation{node},\n"
    "keyfleet_node_up{node}, keyfleet_served_ok{node} (nodes with a probe only: 1 when the\n"
    "agent serves the installed certificate), keyfleet_status_timestamp_seconds. Run it from\n"
    "cron or a systemd timer and alert on, e.g. (more in docs/status.md):\n"
    "  keyfleet_cert_not_after_seconds - time() < 14 * 86400\n"
    "  keyfleet_served_ok == 0\n"
    "--keys DIR adds the rotation recorded in DIR/rotation.json (keyfleet rotate): its mode,\n"
    "each phase and how far each node got; without --inventory, that alone.\n"
    "Exit: 3 a host key or authentication failure; else 4 a node refused; else 1 any other\n"
    "problem, a certificate expiring within --warn-days and a served-* status included; else\n"
    "0; 130 interrupted. An unfinished rotation alone does not change it (its journal's\n"
    "\"state\" says so).\n\n";

// DIR/rotation.json as status shows it: the document's "rotation", and text for people.
struct RotationView {
  nlohmann::ordered_json json = nullptr;
  std::string text;
};

Result<RotationView> read_rotation(const std::string& keys) {
  RotationView view;
  if (keys.empty()) return view;
  KF_TRY_ASSIGN(auto journal, rotation::read_journal(keys));
  if (!journal) {
    view.text = fmt::format("No rotation recorded in {}.\n", keys);
    return view;
  }
  view.json = rotation::to_json(*journal);
  view.text = rotation::describe(*journal);
  return view;
}

Result<int> run_status(const StatusArgs& args, Output& out) {
  out.set({{"warn_days", args.warn_days}});
  KF_TRY_ASSIGN(RotationView rotation, read_rotation(args.keys));
  out.set({{"rotation", rotation.json}});
  if (args.fleet.inventory.inventory.empty()) {
    if (args.keys.empty() || !args.prometheus.empty()) {
      return fail(ExitCode::usage, "--inventory is required{}",
                  args.keys.empty() ? " (or --keys DIR, for a rotation's progress alone)"
                                    : ": --prometheus writes the nodes' metrics");
    }
    FleetReporter fleet(args.fleet, out, "status", FleetReport{"status", std::nullopt, "", {}});
    return fleet.finish({}, rotation.text);
  }
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  StatusOptions options;
  options.warn_days = args.warn_days;
  options.now = std::time(nullptr);

  FleetReport header{"status", std::nullopt, "", {}};
  header.inventory_nodes = selection.total;
  FleetReporter fleet(args.fleet, out, "status", std::move(header));
  FleetStatus status = status_fleet(selection.nodes, options, fleet.run_options());
  fleet.report().nodes = status.nodes;

  if (!args.prometheus.empty()) {
    std::string text = prometheus_text(status, options.now);
    auto written = write_file_atomic(
        args.prometheus, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
        0644);
    if (!written) {
      fleet.record();
      return std::unexpected(with_context(written.error(), "--prometheus"));
    }
  }

  ReportOutput output;
  output.node_json = [&](std::size_t i, const NodeReport&) {
    return i < status.keys.size() && status.keys[i] ? status_json(*status.keys[i])
                                                    : nlohmann::ordered_json(nullptr);
  };
  std::string text = format_status_table(status, args.warn_days);
  if (!rotation.text.empty()) text += "\n" + rotation.text;
  return fleet.finish(output, text);
}

}  // namespace

Action setup_status(CLI::App& sub) {
  auto args = std::make_shared<StatusArgs>();
  args->fleet.add_to(sub, false);
  // Not required with --keys: a rotation's journal is read without any node.
  sub.get_option("--inventory")->required(false);
  sub.add_option("--warn-days", args->warn_days,
                 "A certificate expiring within this many days makes its node `expiring` (exit 1)")
      ->check(CLI::Range(0, 36525))
      ->type_name("N")
      ->capture_default_str();
  sub.add_option("--prometheus", args->prometheus,
                 "Also write the metrics as a node_exporter textfile, atomically (0644)")
      ->type_name("FILE");
  sub.add_option("--keys", args->keys,
                 "Also show the rotation recorded in this key directory (DIR/rotation.json)")
      ->type_name("DIR");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_status(*args, out); };
}

}  // namespace kf::cli
