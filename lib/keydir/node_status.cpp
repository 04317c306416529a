#include "keydir/node_status.hpp"

#include <array>
#include <utility>

namespace kf {
namespace {

constexpr std::array<std::pair<NodeStatus, std::string_view>, 12> kNames{{
    {NodeStatus::ok, "ok"},
    {NodeStatus::unchanged, "unchanged"},
    {NodeStatus::mismatch, "mismatch"},
    {NodeStatus::missing, "missing"},
    {NodeStatus::stale, "stale"},
    {NodeStatus::unreachable, "unreachable"},
    {NodeStatus::hostkey, "hostkey"},
    {NodeStatus::auth, "auth"},
    {NodeStatus::timeout, "timeout"},
    {NodeStatus::refused, "refused"},
    {NodeStatus::failed, "failed"},
    {NodeStatus::skipped, "skipped"},
}};

}  // namespace

std::string_view to_string(NodeStatus status) {
  for (const auto& [value, name] : kNames) {
    if (value == status) return name;
  }
  return "failed";
}

std::optional<NodeStatus> parse_node_status(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

ExitCode exit_code_of(NodeStatus status) {
  switch (status) {
    case NodeStatus::hostkey:
    case NodeStatus::auth:
      return ExitCode::integrity;
    case NodeStatus::refused:
      return ExitCode::refused;
    default:
      return ExitCode::failure;
  }
}

}  // namespace kf
