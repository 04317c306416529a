#include "keydir/history.hpp"

#include <nlohmann/json.hpp>

#include "core/escape.hpp"
#include "core/time.hpp"
#include "core/whoami.hpp"

namespace kf::keydir {
namespace {

nlohmann::ordered_json or_null(const std::optional<std::uint64_t>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}

// $1 = the log. A symlink there is refused (it would append wherever it points); the file is
// made 0600 when new; one write of the whole line.
constexpr std::string_view kAppendScript =
    "f=$1; if [ -L \"$f\" ]; then echo \"$f is a symlink\" >&2; exit 77; fi; "
    "umask 077; cat >> \"$f\"";

}  // namespace

std::string history_line(const HistoryEntry& entry, std::time_t now, const std::string& by) {
  nlohmann::ordered_json line = {
      {"time", rfc3339_utc(now)},
      {"action", entry.action},
      {"generation", or_null(entry.generation)},
      {"previous", or_null(entry.previous)},
      {"keyset", entry.keyset.empty() ? nlohmann::ordered_json(nullptr)
                                      : nlohmann::ordered_json(entry.keyset)},
      {"removed", entry.removed},
      {"by", by},
      {"command", entry.command},
  };
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string history_command(const std::string& path) {
  return "sh -c " + shell_quote(kAppendScript) + " keyfleet-history " + shell_quote(path);
}

NodeResult<void> append_history(Remote& remote, const KeyDir& dir, const HistoryEntry& entry,
                                DestLock* holder) {
  const std::string line = history_line(entry, std::time(nullptr), operator_name());
  NodeResult<ExecResult> result;
  if (holder != nullptr) {
    // One field: the line without its newline (JSON escapes any inside it).
    const std::string request[] = {"append", dir.history(), line.substr(0, line.size() - 1)};
    result = holder->request(request);
  } else {
    result =
        remote.exec(history_command(dir.history()),
                    std::span(reinterpret_cast<const std::uint8_t*>(line.data()), line.size()));
  }
  if (!result) return std::unexpected(at_step(result.error(), "history"));
  if (!result->ok()) {
    std::string why = result->err;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    why = escape_untrusted(why, 200);
    return node_fail(NodeStatus::failed, "history", "{}: cannot append to {}: {}",
                     remote.node_name(), dir.history(),
                     why.empty() ? fmt::format("exit status {}", result->exit_status) : why);
  }
  return {};
}

}  // namespace kf::keydir
