#include "fleet/rollback.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/switch.hpp"

namespace kf {

NodeOutcome rollback_node(Remote& remote, const NodeConfig& node, const RollbackOptions& options) {
  const std::string step = "rollback";
  const keydir::KeyDir dir(node.dest);
  auto lock = keydir::DestLock::acquire(remote, dir, node.lock_timeout, step);
  if (!lock) return NodeOutcome::from_error(lock.error());
  auto state = keydir::read_node_state(remote, dir, {false}, step);
  if (!state) return NodeOutcome::from_error(state.error());
  if (state->current_kind == keydir::CurrentKind::absent) {
    return {NodeStatus::failed, step,
            fmt::format("{}: {} does not exist: nothing is installed to roll back", node.name,
                        dir.current()),
            std::nullopt};
  }
  if (!state->current) {
    return {NodeStatus::failed, step,
            fmt::format("{}: {}: {}; refusing to replace it", node.name, dir.current(),
                        state->describe_current()),
            std::nullopt};
  }
  const std::uint64_t now = *state->current;
  std::vector<std::uint64_t> present;
  for (const auto& g : state->generations) present.push_back(g.number);

  std::uint64_t target = 0;
  if (options.to) {
    target = *options.to;
    if (target == now) return {NodeStatus::ok, step, "", now};
    if (!std::ranges::binary_search(present, target)) {
      return {NodeStatus::failed, step,
              fmt::format("{}: generation {} is not in {} (present: {})", node.name, target,
                          dir.generations(), fmt::join(present, ", ")),
              now};
    }
  } else {
    auto older = std::ranges::lower_bound(present, now);
    if (older == present.begin()) {
      return {NodeStatus::failed, step,
              fmt::format("{}: no generation older than the current {} in {}", node.name, now,
                          dir.generations()),
              now};
    }
    target = *std::prev(older);
  }
  keydir::SwitchRequest request{"", generation_name(target), state->current_text};
  if (auto switched = keydir::switch_current(remote, &*lock, dir, request, node.lock_timeout, step);
      !switched) {
    return NodeOutcome::from_error(switched.error(), now);
  }
  return {NodeStatus::ok, step, "", target};
}

std::vector<NodeReport> rollback_fleet(std::span<const NodeConfig> nodes,
                                       const RollbackOptions& options, const FleetRunOptions& run) {
  return run_on_nodes(nodes, run, [&](Remote& remote, const NodeConfig& node) {
    return rollback_node(remote, node, options);
  });
}

}  // namespace kf
