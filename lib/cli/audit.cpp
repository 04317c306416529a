#include "cli/audit.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <ctime>
#include <iostream>

#include "core/audit_log.hpp"
#include "core/files.hpp"
#include "core/interrupt.hpp"
#include "core/time.hpp"
#include "core/whoami.hpp"

namespace kf::cli {
namespace {

constexpr std::array kAudited = {
    std::string_view("create-keys"), std::string_view("keygen"),   std::string_view("bundle"),
    std::string_view("unpack"),      std::string_view("pull"),     std::string_view("push"),
    std::string_view("rotate"),      std::string_view("rollback"), std::string_view("cleanup")};

// Bound to every audited command's options; only one command runs per process.
struct AuditOptions {
  std::string file;
  bool disabled = false;
};

AuditOptions& options() {
  static AuditOptions stored;
  return stored;
}

nlohmann::ordered_json file_json(const std::string& path, const std::string& sha256) {
  if (path.empty() && sha256.empty()) return nullptr;
  return {{"path", path.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(path)},
          {"sha256",
           sha256.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(sha256)}};
}

nlohmann::ordered_json nodes_json(const std::optional<std::vector<NodeReport>>& nodes) {
  if (!nodes) return nullptr;
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& n : *nodes) {
    out.push_back({{"name", n.name},
                   {"status", std::string(to_string(n.status))},
                   {"generation", n.generation ? nlohmann::ordered_json(*n.generation)
                                               : nlohmann::ordered_json(nullptr)},
                   {"error", n.error.empty() ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(n.error)}});
  }
  return out;
}

nlohmann::ordered_json make_record(std::string_view command, int argc, char** argv,
                                   const Result<int>& result) {
  const AuditNote& note = audit_note();
  const bool interrupted = kf::interrupted();
  int exit_code = result ? *result : to_int(result.error().code);
  nlohmann::ordered_json record = {
      {"time", rfc3339_utc(std::time(nullptr))},
      {"user", operator_user()},
      {"host", operator_host()},
      {"command", std::string(command)},
      {"argv", recorded_argv(argc, argv)},
      {"exit_code", exit_code},
      {"error",
       result ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(result.error().message)},
      {"interrupted", interrupted},
      {"inventory", file_json(note.inventory, note.inventory_sha256)},
      {"bundle", file_json(note.bundle, note.bundle_sha256)},
      {"keyset",
       note.keyset.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(note.keyset)},
      {"generation", note.generation ? nlohmann::ordered_json(*note.generation)
                                     : nlohmann::ordered_json(nullptr)},
      {"nodes", nodes_json(note.nodes)},
  };
  for (const auto& [key, value] : note.extra.items()) record[key] = value;
  return record;
}

// An age identity ("AGE-SECRET-KEY-1...") is the one secret an operator could paste into a
// command line by mistake; passphrases are never taken from argv at all.
bool looks_secret(std::string_view word) {
  std::string upper(word);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper.find("AGE-SECRET-KEY-") != std::string::npos;
}

}  // namespace

bool is_audited(std::string_view command) {
  return std::find(kAudited.begin(), kAudited.end(), command) != kAudited.end();
}

std::span<const std::string_view> audited_commands() {
  return kAudited;
}

void add_audit_options(CLI::App& sub) {
  auto* file = sub.add_option("--audit-log", options().file,
                              "Append this run's audit record to FILE (default: "
                              "$KEYFLEET_AUDIT_LOG, else $XDG_STATE_HOME/keyfleet/audit.jsonl)")
                   ->type_name("FILE");
  sub.add_flag("--no-audit-log", options().disabled, "Leave no audit record of this run")
      ->excludes(file);
}

AuditNote& audit_note() {
  static AuditNote note;
  return note;
}

void note_fleet_report(const FleetReport& report) {
  AuditNote& note = audit_note();
  if (report.generation) note.generation = report.generation;
  if (!report.bundle_sha256.empty()) note.bundle_sha256 = report.bundle_sha256;
  note.nodes = report.nodes;
}

std::string shared_keyset(const std::vector<std::optional<std::string>>& per_node) {
  std::string shared;
  for (const auto& keyset : per_node) {
    if (!keyset) continue;
    // Mid-rotation, or a node whose key set is unknown: no one key set to record.
    if (keyset->empty() || (!shared.empty() && *keyset != shared)) return "";
    shared = *keyset;
  }
  return shared;
}

void note_inventory(const std::string& path) {
  AuditNote& note = audit_note();
  note.inventory = path;
  // The bytes as they are now: the same the command has just parsed.
  if (auto bytes = read_file(path, std::size_t{64} << 20)) {
    note.inventory_sha256 = audit::sha256_text(
        std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  }
}

std::vector<std::string> recorded_argv(int argc, char** argv) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(argc));
  for (int i = 0; i < argc; ++i) {
    out.emplace_back(looks_secret(argv[i]) ? "[redacted]" : argv[i]);
  }
  return out;
}

namespace {

// The audited run in progress: its record is appended once, when the command returns or, after a
// second Ctrl-C, just before the process ends without returning.
struct RunningAudit {
  std::string_view command;
  int argc = 0;
  char** argv = nullptr;
  fs::path path;
  std::atomic<bool> written{false};
};

RunningAudit& running_audit() {
  static RunningAudit running;
  return running;
}

void append_once(const Result<int>& result) {
  RunningAudit& running = running_audit();
  if (running.path.empty() || running.written.exchange(true)) return;
  auto record = make_record(running.command, running.argc, running.argv, result);
  if (auto appended = audit::append(running.path, record); !appended) {
    std::cerr << "keyfleet: warning: no audit record of this run: " << appended.error().message
              << '\n';
  }
}

}  // namespace

Result<int> run_audited(std::string_view command, int argc, char** argv,
                        const std::function<Result<int>()>& action) {
  if (!is_audited(command) || options().disabled) return action();
  const fs::path path = options().file.empty() ? audit::default_path() : fs::path(options().file);
  if (auto ready = audit::prepare(path); !ready) {
    return fail(ExitCode::usage, "{} (--no-audit-log runs without a record)",
                ready.error().message);
  }
  RunningAudit& running = running_audit();
  running.command = command;
  running.argc = argc;
  running.argv = argv;
  running.path = path;
  Result<int> result = action();
  append_once(result);
  return result;
}

void audit_before_exit(int exit_code) {
  append_once(Result<int>(exit_code));
}

void audit_after_throw(const std::string& error) {
  append_once(Result<int>(std::unexpected(Error{ExitCode::failure, error})));
}

}  // namespace kf::cli
