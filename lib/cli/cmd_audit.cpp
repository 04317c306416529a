#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <boost/filesystem/operations.hpp>

#include "cli/commands.hpp"
#include "core/audit_log.hpp"
#include "core/escape.hpp"

namespace kf::cli {

namespace fs = boost::filesystem;

namespace {

struct AuditArgs {
  std::string file;  // empty: the default log
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet audit show\n"
    "  keyfleet audit show --json | jq '.records[] | select(.command == \"push\")'\n"
    "  keyfleet audit verify\n"
    "  keyfleet audit verify /srv/backup/audit.jsonl\n"
    "\n"
    "create-keys, keygen, bundle, unpack, pull, push, rotate, rollback and cleanup append one\n"
    "JSON line each to the audit log, failed and interrupted runs included: time, user, host,\n"
    "the command line (never a secret: passphrases and identities are never on it), the exit\n"
    "code and error, the inventory's and the bundle's SHA-256, the key set id and generation,\n"
    "and each node's outcome; and per command: keygen's recipient, create-keys' and pull's out\n"
    "directory, pull's node and path, rotate's rotation id and mode (docs/status.md). The log is\n"
    "$KEYFLEET_AUDIT_LOG, else $XDG_STATE_HOME/keyfleet/audit.jsonl, else\n"
    "~/.local/state/keyfleet/audit.jsonl (--audit-log FILE on those commands names another,\n"
    "--no-audit-log leaves no record). It is 0600, appended with O_APPEND and fsynced per\n"
    "record, one writer at a time (FILE.lock).\n"
    "Each record carries \"prev\", the SHA-256 of the line before it, and \"hash\", the SHA-256\n"
    "of its own line: `audit verify` exits 3 naming the first line that was edited, removed or\n"
    "inserted. The chain shows tampering with a copy that is kept elsewhere too; it is no\n"
    "signature: someone who can rewrite the whole file can rewrite the chain.\n\n";

fs::path log_of(const AuditArgs& args) {
  return args.file.empty() ? audit::default_path() : fs::path(args.file);
}

// The log's lines; a log that was never written is named as such, not as an I/O error.
Result<std::vector<audit::Line>> lines_of(const fs::path& path) {
  boost::system::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) {
    return fail(ExitCode::usage,
                "{}: no audit log there (the commands that change key material write it; "
                "--audit-log or KEYFLEET_AUDIT_LOG may name another)",
                path.string());
  }
  return audit::read_lines(path);
}

Result<int> run_verify(const AuditArgs& args, Output& out) {
  const fs::path path = log_of(args);
  out.set({{"file", path.string()}});
  KF_TRY_ASSIGN(auto lines, lines_of(path));
  KF_TRY_ASSIGN(std::size_t records, audit::verify_chain(lines, path.string()));
  out.set({{"count", records}});
  out.text() << fmt::format("{}: {} record{}, chain intact\n", path.string(), records,
                            records == 1 ? "" : "s");
  return 0;
}

std::string node_summary(const nlohmann::json& nodes) {
  if (!nodes.is_array()) return "-";
  std::map<std::string, int> counts;
  for (const auto& n : nodes) counts[n.value("status", "?")]++;
  std::string out;
  for (const auto& [status, count] : counts) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", count, status);
  }
  return out.empty() ? "0 nodes" : out;
}

Result<int> run_show(const AuditArgs& args, Output& out) {
  const fs::path path = log_of(args);
  out.set({{"file", path.string()}});
  KF_TRY_ASSIGN(auto lines, lines_of(path));
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const auto& line : lines) {
    auto record = nlohmann::ordered_json::parse(line.text, nullptr, false);
    if (record.is_discarded()) {
      return fail(ExitCode::integrity, "{}:{}: not a JSON record (run keyfleet audit verify)",
                  path.string(), line.number);
    }
    records.push_back(std::move(record));
  }
  for (const auto& r : records) {
    auto text = [&](const char* key) {
      return r.contains(key) && r[key].is_string() ? r[key].get<std::string>() : std::string("-");
    };
    std::string generation =
        r.contains("generation") && r["generation"].is_number() ? r["generation"].dump() : "-";
    std::string nodes = r.contains("nodes") ? node_summary(r["nodes"]) : "-";
    out.text() << escape_untrusted(fmt::format(
                      "{}  {}@{}  {:<11}  exit {:>3}  generation {}  {}", text("time"),
                      text("user"), text("host"), text("command"),
                      r.contains("exit_code") ? r["exit_code"].dump() : "?", generation, nodes))
               << '\n';
  }
  out.set({{"count", records.size()}, {"records", std::move(records)}});
  return 0;
}

}  // namespace

Action setup_audit(CLI::App& sub) {
  sub.require_subcommand(0, 1);
  auto args = std::make_shared<AuditArgs>();
  CLI::App* show = sub.add_subcommand("show", "Print the audit log's records");
  show->add_option("file", args->file, "The audit log (default: the one commands append to)")
      ->type_name("FILE");
  show->footer(std::string(kExamples) + sub.get_footer());
  CLI::App* verify = sub.add_subcommand(
      "verify", "Check the audit log's hash chain: exit 3 naming the first edited record");
  verify->add_option("file", args->file, "The audit log (default: the one commands append to)")
      ->type_name("FILE");
  verify->footer(std::string(kExamples) + sub.get_footer());
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args, show, verify](Output& out) -> Result<int> {
    if (show->parsed()) return run_show(*args, out);
    if (verify->parsed()) return run_verify(*args, out);
    return fail(ExitCode::usage,
                "'audit' needs a command: keyfleet audit show, or keyfleet audit verify (see "
                "'keyfleet audit --help')");
  };
}

}  // namespace kf::cli
