#include "fleet/node_history.hpp"

#include <fmt/format.h>

namespace kf {

void note_history(Remote& remote, const keydir::KeyDir& dir, NodeOutcome& outcome,
                  const keydir::HistoryEntry& entry, keydir::DestLock* holder) {
  auto appended = keydir::append_history(remote, dir, entry, holder);
  if (appended) return;
  std::string why = appended.error().message;
  if (why.starts_with(remote.node_name() + ": ")) why.erase(0, remote.node_name().size() + 2);
  outcome.detail +=
      fmt::format("{}not recorded in history.log: {}", outcome.detail.empty() ? "" : "; ", why);
}

std::string push_history_action(NodeStatus status) {
  switch (status) {
    case NodeStatus::ok:
      return "install";
    case NodeStatus::repaired:
      return "repair";
    case NodeStatus::reactivated:
      return "reactivate";
    case NodeStatus::rolled_back:
      return "rolled-back";
    default:
      return "";
  }
}

}  // namespace kf
