#include "fleet/hooks.hpp"

#include <fmt/format.h>

namespace kf {
namespace {

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return text;
}

}  // namespace

NodeResult<void> run_hook(Remote& remote, const NodeConfig& node, const std::string& step,
                          const std::string& command, std::uint64_t generation) {
  if (command.empty()) return {};
  std::string line = fmt::format(
      "KEYFLEET_STEP={} KEYFLEET_DEST={} KEYFLEET_GENERATION={}; "
      "export KEYFLEET_STEP KEYFLEET_DEST KEYFLEET_GENERATION; {}",
      step, shell_quote(node.dest), generation, command);
  auto result = remote.exec(line);
  if (!result) return std::unexpected(at_step(result.error(), step));
  if (!result->ok()) {
    std::string why = last_line(result->err);
    return node_fail(NodeStatus::failed, step, "{}: {} hook `{}` exited with status {}{}{}",
                     node.name, step, command, result->exit_status, why.empty() ? "" : ": ", why);
  }
  return {};
}

}  // namespace kf
