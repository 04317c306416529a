#include <ctime>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/fleet_options.hpp"
#include "core/files.hpp"
#include "core/interrupt.hpp"
#include "fleet/status.hpp"

namespace kf::cli {

namespace {

struct StatusArgs {
  FleetOptions fleet;
  int warn_days = 30;
  std::string prometheus;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet status --inventory fleet.toml\n"
    "  keyfleet status --inventory fleet.toml --warn-days 14 --json\n"
    "  keyfleet status --inventory fleet.toml --prometheus "
    "/var/lib/prometheus/node-exporter/keyfleet.prom\n"
    "\n"
    "Reads every node over one SSH connection and changes nothing (no lock is taken): the\n"
    "generation DEST/current points at, its files hashed against its manifest, the key set id,\n"
    "the agent certificate and every CA certificate of ca.crt (SHA-256 of the DER, subject,\n"
    "notAfter, days left), how many generations are kept, leftovers of interrupted runs and\n"
    "hooks still owed (DEST/.pending). Nodes with identical rows share one line (node[1-28]),\n"
    "the fewest days left first; every node that is not ok says why below the table.\n"
    "Statuses: ok, expiring (a certificate expires within --warn-days), expired, pending-hooks,\n"
    "missing, damaged (current broken or its files differ from its manifest), unreachable,\n"
    "hostkey, auth, timeout, failed.\n"
    "--prometheus FILE writes a node_exporter textfile (temporary file + rename, 0644):\n"
    "keyfleet_cert_not_after_seconds{node,cert}, keyfleet_generation{node},\n"
    "keyfleet_node_up{node}, keyfleet_status_timestamp_seconds; run it from cron or a systemd\n"
    "timer and alert on `keyfleet_cert_not_after_seconds - time() < 14 * 86400` (docs/status.md).\n"
    "Exit: 0 every node ok; 3 a host key or authentication failure; else 1 any other problem,\n"
    "a certificate expiring within --warn-days included.\n\n";

Result<int> run_status(const StatusArgs& args) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  StatusOptions options;
  options.warn_days = args.warn_days;
  options.now = std::time(nullptr);

  ProgressLine progress("status");
  FleetStatus status = status_fleet(selection.nodes, options, args.fleet.run_options(progress));
  progress.clear();

  if (!args.prometheus.empty()) {
    std::string text = prometheus_text(status, options.now);
    auto written = write_file_atomic(
        args.prometheus, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
        0644);
    if (!written) {
      return std::unexpected(with_context(written.error(), "--prometheus"));
    }
  }

  FleetReport report{"status", std::nullopt, "", status.nodes};
  report.inventory_nodes = selection.total;
  if (args.fleet.json) {
    nlohmann::ordered_json doc = to_json(report);
    doc["warn_days"] = args.warn_days;
    for (std::size_t i = 0; i < status.keys.size(); ++i) {
      if (status.keys[i]) doc["nodes"][i].update(status_json(*status.keys[i]));
    }
    std::cout << doc.dump(2) << '\n';
  } else {
    std::cout << format_status_table(status, args.warn_days);
  }
  return to_int(fleet_exit_code(status.nodes, kf::interrupted()));
}

}  // namespace

Action setup_status(CLI::App& sub) {
  auto args = std::make_shared<StatusArgs>();
  args->fleet.add_to(sub, false);
  sub.add_option("--warn-days", args->warn_days,
                 "A certificate expiring within this many days makes its node `expiring` (exit 1)")
      ->check(CLI::Range(0, 36525))
      ->type_name("N")
      ->capture_default_str();
  sub.add_option("--prometheus", args->prometheus,
                 "Also write the metrics as a node_exporter textfile, atomically (0644)")
      ->type_name("FILE");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_status(*args); };
}

}  // namespace kf::cli
