#include "fleet/rollback.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "keydir/layout.hpp"
#include "keydir/remote_install.hpp"
#include "ssh/ssh_session.hpp"

namespace kf {

NodeOutcome rollback_node(Remote& remote, const NodeConfig& node, const RollbackOptions& options) {
  const std::string step = "rollback";
  auto current = keydir::read_current(remote, node.dest, step);
  if (!current) return NodeOutcome::from_error(current.error());
  if (!*current) {
    return {NodeStatus::failed, step,
            fmt::format("{}: {}/current does not exist: nothing is installed to roll back",
                        node.name, node.dest),
            std::nullopt};
  }
  const std::uint64_t now = **current;
  auto present = keydir::list_generations(remote, node.dest, step);
  if (!present) return NodeOutcome::from_error(present.error(), now);

  std::uint64_t target = 0;
  if (options.to) {
    target = *options.to;
    if (target == now) return {NodeStatus::ok, step, "", now};
    if (!std::ranges::binary_search(*present, target)) {
      return {NodeStatus::failed, step,
              fmt::format("{}: generation {} is not in {}/generations (present: {})", node.name,
                          target, node.dest, fmt::join(*present, ", ")),
              now};
    }
  } else {
    auto older = std::ranges::lower_bound(*present, now);
    if (older == present->begin()) {
      return {NodeStatus::failed, step,
              fmt::format("{}: no generation older than the current {} in {}/generations",
                          node.name, now, node.dest),
              now};
    }
    target = *std::prev(older);
  }
  if (auto switched = keydir::switch_current(remote, node.dest, target, now, step); !switched) {
    return NodeOutcome::from_error(switched.error(), now);
  }
  return {NodeStatus::ok, step, "", target};
}

NodeOutcome rollback_over_ssh(const NodeConfig& node, const RollbackOptions& options) {
  auto session = SshSession::connect(node, Deadline::after_seconds(node.timeout));
  if (!session) return NodeOutcome::from_error(session.error());
  NodeOutcome outcome = rollback_node(*session, node, options);
  session->close();
  return outcome;
}

std::vector<NodeReport> rollback_fleet(std::span<const NodeConfig> nodes,
                                       const RollbackOptions& options,
                                       const ScheduleOptions& schedule) {
  return run_fleet(nodes, schedule,
                   [&](const NodeConfig& node) { return rollback_over_ssh(node, options); });
}

}  // namespace kf
