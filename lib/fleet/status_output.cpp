// How `keyfleet status` shows what it read: the --json members, the table, the Prometheus file.
#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/time.hpp"
#include "fleet/status.hpp"

namespace kf {
namespace {

nlohmann::ordered_json certificate_json(const CertificateStatus& cert) {
  return {
      {"cert", cert.cert},
      {"file", cert.file},
      {"subject", cert.subject},
      {"sha256", cert.sha256},
      {"not_after", rfc3339_utc(cert.not_after)},
      {"days_left", cert.days_left},
  };
}

std::string date_of(std::time_t t) {
  return rfc3339_utc(t).substr(0, 10);  // "2026-12-03"
}

// "sha256:3f2a9c1e8b7d..." -> "3f2a9c1e8b7d": enough to tell certificates apart in a table.
std::string short_digest(const std::string& fingerprint) {
  std::string_view hex = fingerprint;
  if (hex.starts_with("sha256:")) hex.remove_prefix(7);
  return std::string(hex.substr(0, 12));
}

const CertificateStatus* soonest_ca(const NodeKeyStatus& keys) {
  const CertificateStatus* best = nullptr;
  for (const auto& cert : keys.certificates) {
    if (cert.file == "ca.crt" && (best == nullptr || cert.not_after < best->not_after)) {
      best = &cert;
    }
  }
  return best;
}

const CertificateStatus* agent_of(const NodeKeyStatus& keys) {
  for (const auto& cert : keys.certificates) {
    if (cert.cert == "agent") return &cert;
  }
  return nullptr;
}

long fewest_days(const NodeKeyStatus& keys) {
  long fewest = std::numeric_limits<long>::max();
  for (const auto& cert : keys.certificates) fewest = std::min(fewest, cert.days_left);
  return fewest;
}

// The columns of one row; nodes whose rows are equal share one.
struct Row {
  long urgency = 0;  // fewest days left, for the order
  std::vector<std::string> cells;
  auto operator<=>(const Row&) const = default;
};

Row row_of(const NodeReport& report, const NodeKeyStatus& keys) {
  Row row;
  row.urgency = fewest_days(keys);
  const CertificateStatus* agent = agent_of(keys);
  const CertificateStatus* ca = soonest_ca(keys);
  std::vector<std::string> notes;
  if (!keys.leftovers.empty()) notes.push_back(fmt::format("{} leftovers", keys.leftovers.size()));
  if (keys.pending_unknown) notes.push_back("pending unknown");
  if (!keys.pending_hooks.empty()) {
    notes.push_back(fmt::format("owes {}", fmt::join(keys.pending_hooks, ",")));
  }
  std::size_t cas = static_cast<std::size_t>(
      std::count_if(keys.certificates.begin(), keys.certificates.end(),
                    [](const CertificateStatus& c) { return c.file == "ca.crt"; }));
  if (cas > 1) notes.push_back(fmt::format("{} CAs", cas));
  if (keys.served) {
    std::string served(to_string(keys.served->status));
    if (keys.served->matches_generation) {
      served += fmt::format(" (serves {})", generation_name(*keys.served->matches_generation));
    }
    notes.push_back(served);
  }
  row.cells = {
      std::string(to_string(report.status)),
      generation_name(keys.generation),
      keys.keyset.empty() ? "-" : keys.keyset.substr(0, 8),
      agent ? short_digest(agent->sha256) : "-",
      agent ? date_of(agent->not_after) : "-",
      agent ? std::to_string(agent->days_left) : "-",
      ca ? date_of(ca->not_after) : "-",
      ca ? std::to_string(ca->days_left) : "-",
      std::to_string(keys.generations_kept),
      notes.empty() ? "-" : fmt::format("{}", fmt::join(notes, "; ")),
  };
  return row;
}

std::string render(const std::vector<std::vector<std::string>>& lines) {
  std::vector<std::size_t> widths;
  for (const auto& line : lines) {
    widths.resize(std::max(widths.size(), line.size()));
    for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += i + 1 == line.size() ? line[i] : fmt::format("{:<{}}  ", line[i], widths[i]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + '\n';
  }
  return out;
}

// Whether the node answered over SSH: whatever it holds, it was reached.
bool answered(NodeStatus status) {
  switch (status) {
    case NodeStatus::unreachable:
    case NodeStatus::hostkey:
    case NodeStatus::auth:
    case NodeStatus::timeout:
    case NodeStatus::skipped:
      return false;
    default:
      return true;
  }
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

nlohmann::ordered_json served_json(const std::optional<ServedCheck>& served) {
  if (!served) return nullptr;
  return {
      {"status", std::string(to_string(served->status))},
      {"endpoint", served->endpoint},
      {"sha256", served->sha256.empty() ? nlohmann::ordered_json(nullptr)
                                        : nlohmann::ordered_json(served->sha256)},
      {"matches_generation", served->matches_generation
                                 ? nlohmann::ordered_json(*served->matches_generation)
                                 : nlohmann::ordered_json(nullptr)},
      {"error", served->error.empty() ? nlohmann::ordered_json(nullptr)
                                      : nlohmann::ordered_json(served->error)},
  };
}

}  // namespace

nlohmann::ordered_json status_json(const NodeKeyStatus& keys) {
  nlohmann::ordered_json certs = nlohmann::ordered_json::array();
  for (const auto& cert : keys.certificates) certs.push_back(certificate_json(cert));
  return {
      {"keyset",
       keys.keyset.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(keys.keyset)},
      {"certificates", std::move(certs)},
      {"generations_kept", keys.generations_kept},
      {"leftovers", keys.leftovers},
      {"pending_hooks", keys.pending_unknown ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(keys.pending_hooks)},
      {"served", served_json(keys.served)},
  };
}

std::string format_status_table(const FleetStatus& status, int warn_days) {
  std::map<Row, std::vector<std::string>> groups;
  for (std::size_t i = 0; i < status.nodes.size() && i < status.keys.size(); ++i) {
    if (status.keys[i])
      groups[row_of(status.nodes[i], *status.keys[i])].push_back(status.nodes[i].name);
  }
  std::string out;
  if (!groups.empty()) {
    std::vector<std::vector<std::string>> lines = {{"NODES", "STATUS", "GEN", "KEYSET",
                                                    "AGENT SHA-256", "AGENT EXPIRES", "DAYS",
                                                    "CA EXPIRES", "DAYS", "KEPT", "NOTES"}};
    // std::map orders by urgency first: the fewest days left at the top.
    for (const auto& [row, names] : groups) {
      std::vector<std::string> line = {escape_untrusted(fold_names(names))};
      line.insert(line.end(), row.cells.begin(), row.cells.end());
      lines.push_back(std::move(line));
    }
    out += render(lines);
  }
  // Every node that is not ok says why, the unread ones included.
  std::vector<std::string> problems;
  for (const auto& report : status.nodes) {
    if (report.status == NodeStatus::ok || report.error.empty()) continue;
    std::string error = report.error;
    if (error.starts_with(report.name + ": ")) error.erase(0, report.name.size() + 2);
    problems.push_back(fmt::format("  {} {}{}: {}", report.name, report.status,
                                   report.step.empty() ? "" : " [" + report.step + "]", error));
  }
  if (!problems.empty()) {
    out += fmt::format("{}{}\n", out.empty() ? "" : "\n", fmt::join(problems, "\n"));
  }
  std::string counts;
  for (const auto& [s, count] : tally(status.nodes)) {
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", count, s);
  }
  out += fmt::format("{}status: {} node{}{}{} (--warn-days {})\n", out.empty() ? "" : "\n",
                     status.nodes.size(), status.nodes.size() == 1 ? "" : "s",
                     counts.empty() ? "" : ": ", counts, warn_days);
  return out;
}

std::string prometheus_text(const FleetStatus& status, std::time_t now) {
  std::string out;
  out +=
      "# HELP keyfleet_cert_not_after_seconds When the installed certificate expires (Unix "
      "time).\n"
      "# TYPE keyfleet_cert_not_after_seconds gauge\n";
  for (std::size_t i = 0; i < status.nodes.size() && i < status.keys.size(); ++i) {
    if (!status.keys[i]) continue;
    for (const auto& cert : status.keys[i]->certificates) {
      out += fmt::format("keyfleet_cert_not_after_seconds{{node=\"{}\",cert=\"{}\"}} {}\n",
                         label(status.nodes[i].name), label(cert.cert),
                         static_cast<long long>(cert.not_after));
    }
  }
  out +=
      "# HELP keyfleet_generation The key set generation DEST/current points at.\n"
      "# TYPE keyfleet_generation gauge\n";
  for (std::size_t i = 0; i < status.nodes.size() && i < status.keys.size(); ++i) {
    if (!status.keys[i]) continue;
    out += fmt::format("keyfleet_generation{{node=\"{}\"}} {}\n", label(status.nodes[i].name),
                       status.keys[i]->generation);
  }
  out +=
      "# HELP keyfleet_node_up Whether the node answered keyfleet status over SSH.\n"
      "# TYPE keyfleet_node_up gauge\n";
  for (std::size_t i = 0; i < status.nodes.size(); ++i) {
    bool up = answered(status.nodes[i].status);
    out += fmt::format("keyfleet_node_up{{node=\"{}\"}} {}\n", label(status.nodes[i].name),
                       up ? 1 : 0);
  }
  out +=
      "# HELP keyfleet_served_ok Whether the agent serves the installed certificate (nodes with a "
      "probe).\n"
      "# TYPE keyfleet_served_ok gauge\n";
  for (std::size_t i = 0; i < status.nodes.size() && i < status.keys.size(); ++i) {
    if (!status.keys[i] || !status.keys[i]->served) continue;
    out += fmt::format("keyfleet_served_ok{{node=\"{}\"}} {}\n", label(status.nodes[i].name),
                       status.keys[i]->served->status == NodeStatus::served_ok ? 1 : 0);
  }
  out +=
      "# HELP keyfleet_status_timestamp_seconds When keyfleet status read the fleet (Unix "
      "time).\n"
      "# TYPE keyfleet_status_timestamp_seconds gauge\n";
  out += fmt::format("keyfleet_status_timestamp_seconds {}\n", static_cast<long long>(now));
  return out;
}

}  // namespace kf
