#include "keydir/node_status.hpp"

#include <array>
#include <utility>

namespace kf {
namespace {

struct StatusInfo {
  NodeStatus status;
  std::string_view name;
  ExitCode exit_code;
};

constexpr std::array kStatuses{
    StatusInfo{NodeStatus::ok, "ok", ExitCode::ok},
    StatusInfo{NodeStatus::served_ok, "served-ok", ExitCode::ok},
    StatusInfo{NodeStatus::unchanged, "unchanged", ExitCode::ok},
    StatusInfo{NodeStatus::repaired, "repaired", ExitCode::ok},
    StatusInfo{NodeStatus::reactivated, "reactivated", ExitCode::ok},
    StatusInfo{NodeStatus::staged, "staged", ExitCode::ok},
    StatusInfo{NodeStatus::would_install, "would-install", ExitCode::ok},
    StatusInfo{NodeStatus::would_repair, "would-repair", ExitCode::ok},
    StatusInfo{NodeStatus::would_reactivate, "would-reactivate", ExitCode::ok},
    StatusInfo{NodeStatus::would_refuse, "would-refuse", ExitCode::refused},
    StatusInfo{NodeStatus::rolled_back, "rolled-back", ExitCode::failure},
    StatusInfo{NodeStatus::mismatch, "mismatch", ExitCode::failure},
    StatusInfo{NodeStatus::missing, "missing", ExitCode::failure},
    StatusInfo{NodeStatus::stale, "stale", ExitCode::failure},
    StatusInfo{NodeStatus::damaged, "damaged", ExitCode::failure},
    StatusInfo{NodeStatus::pending_hooks, "pending-hooks", ExitCode::failure},
    StatusInfo{NodeStatus::expiring, "expiring", ExitCode::failure},
    StatusInfo{NodeStatus::expired, "expired", ExitCode::failure},
    StatusInfo{NodeStatus::served_stale, "served-stale", ExitCode::failure},
    StatusInfo{NodeStatus::served_untrusted, "served-untrusted", ExitCode::failure},
    StatusInfo{NodeStatus::served_down, "served-unreachable", ExitCode::failure},
    StatusInfo{NodeStatus::unreachable, "unreachable", ExitCode::failure},
    StatusInfo{NodeStatus::hostkey, "hostkey", ExitCode::integrity},
    StatusInfo{NodeStatus::auth, "auth", ExitCode::integrity},
    StatusInfo{NodeStatus::timeout, "timeout", ExitCode::failure},
    StatusInfo{NodeStatus::conflict, "conflict", ExitCode::refused},
    StatusInfo{NodeStatus::refused, "refused", ExitCode::refused},
    StatusInfo{NodeStatus::failed, "failed", ExitCode::failure},
    StatusInfo{NodeStatus::skipped, "skipped", ExitCode::failure},
};

constexpr std::array<NodeStatus, kStatuses.size()> kOrder = [] {
  std::array<NodeStatus, kStatuses.size()> out{};
  for (std::size_t i = 0; i < kStatuses.size(); ++i) out[i] = kStatuses[i].status;
  return out;
}();

const StatusInfo& info(NodeStatus status) {
  for (const auto& s : kStatuses) {
    if (s.status == status) return s;
  }
  return kStatuses[kStatuses.size() - 2];  // failed
}

}  // namespace

std::span<const NodeStatus> all_node_statuses() {
  return kOrder;
}

std::string_view to_string(NodeStatus status) {
  return info(status).name;
}

std::optional<NodeStatus> parse_node_status(std::string_view name) {
  for (const auto& s : kStatuses) {
    if (s.name == name) return s.status;
  }
  return std::nullopt;
}

bool is_success(NodeStatus status) {
  return info(status).exit_code == ExitCode::ok;
}

ExitCode exit_code_of(NodeStatus status) {
  return info(status).exit_code;
}

}  // namespace kf
