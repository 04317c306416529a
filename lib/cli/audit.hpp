#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "fleet/node_report.hpp"

// The audit record of a command that changes key material (audited_commands()): one line in the
// operator's audit log (core/audit_log.hpp) per run, failed and interrupted runs included. The
// command fills in what it knows as it goes.
namespace kf::cli {

// Whether `command` changes key material and so leaves an audit record.
bool is_audited(std::string_view command);
// Those commands, in the order `audit --help` and docs/status.md name them.
std::span<const std::string_view> audited_commands();

// --audit-log FILE and --no-audit-log, on an audited command.
void add_audit_options(CLI::App& sub);

// What the running command tells the record; each field is left out while unset.
struct AuditNote {
  std::string inventory;         // the inventory file, as given
  std::string inventory_sha256;  // of its bytes when read
  std::string bundle;            // the bundle read or written
  std::string bundle_sha256;
  std::string keyset;
  std::optional<std::uint64_t> generation;
  std::optional<std::vector<NodeReport>> nodes;  // a fleet command's outcome per node
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // command-specific facts
};

// The note of the command running in this process.
AuditNote& audit_note();

// The fleet command's report: its generation, bundle digest and per-node outcome.
void note_fleet_report(const FleetReport& report);
// The key set the nodes name, for the note: nullopt for a node that names nothing (not reached),
// "" for one whose key set is unknown. Empty unless every node that names one names the same.
std::string shared_keyset(const std::vector<std::optional<std::string>>& per_node);
// The inventory file a command read (its SHA-256 is taken now).
void note_inventory(const std::string& path);

// Runs `action` for `command` and, for an audited command, appends its record: the log is
// prepared (made, checked writable) before the command runs, so that a log that cannot be
// written stops it before it changes anything (exit 2); a record that cannot be appended
// afterwards is a warning on stderr. argv is recorded with any secret-looking word replaced.
Result<int> run_audited(std::string_view command, int argc, char** argv,
                        const std::function<Result<int>()>& action);

// Appends the running command's record now, for a process that ends without returning from its
// command (a second Ctrl-C); nothing when the command is not audited or its record is written.
void audit_before_exit(int exit_code);
// The same for a command that threw (main's one catch): its record says exit 1 and `error`.
void audit_after_throw(const std::string& error);

// argv as recorded: words that hold secret material (an age identity) are replaced by
// "[redacted]".
std::vector<std::string> recorded_argv(int argc, char** argv);

}  // namespace kf::cli
