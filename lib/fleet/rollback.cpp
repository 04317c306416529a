#include "fleet/rollback.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/escape.hpp"
#include "fleet/hooks.hpp"
#include "fleet/node_history.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/pending.hpp"
#include "keydir/switch.hpp"

namespace kf {
namespace {

// The generation to go back to: --to, or the newest complete one older than current. Only a
// complete generation (manifest.json parsed, every listed file as it says, nothing else) is a
// target: an empty or partial one would switch services onto broken keys.
NodeResult<std::uint64_t> choose_target(Remote& remote, const NodeConfig& node,
                                        keydir::NodeState& state, const RollbackOptions& options,
                                        keydir::DestLock& lock, const std::string& step) {
  const keydir::KeyDir dir = keydir::KeyDir::of(node);
  auto complete = [&](keydir::GenerationState& g) -> NodeResult<bool> {
    if (!g.files_read) {
      if (auto read = keydir::read_files(remote, g, &lock); !read) {
        return std::unexpected(at_step(read.error(), step));
      }
    }
    return g.complete();
  };
  std::vector<std::uint64_t> present;
  present.reserve(state.generations.size());
  for (const auto& g : state.generations) present.push_back(g.number);
  if (options.to) {
    keydir::GenerationState* target = state.generation(*options.to);
    if (target == nullptr) {
      return node_fail(NodeStatus::failed, step, "{}: generation {} is not in {} (present: {})",
                       node.name, *options.to, dir.generations(), fmt::join(present, ", "));
    }
    KF_TRY_ASSIGN(bool whole, complete(*target));
    if (!whole) {
      std::string why =
          target->manifest
              ? fmt::format("{}", fmt::join(target->differences(target->manifest->files), ", "))
              : target->problem;
      return node_fail(NodeStatus::refused, step,
                       "{}: generation {} is not a complete generation ({}): refusing to switch "
                       "to it",
                       node.name, *options.to, why);
    }
    return *options.to;
  }
  if (!state.current) {
    return node_fail(NodeStatus::failed, step,
                     "{}: {}: without a current generation there is nothing to go back from; "
                     "name one with --to (or push to repair the node)",
                     node.name, escape_untrusted(state.describe_current()));
  }
  std::vector<std::string> skipped;
  for (auto it = state.generations.rbegin(); it != state.generations.rend(); ++it) {
    if (it->number >= *state.current) continue;
    KF_TRY_ASSIGN(bool whole, complete(*it));
    if (whole) return it->number;
    skipped.push_back(generation_name(it->number));
  }
  return node_fail(
      NodeStatus::failed, step, "{}: no complete generation older than the current {} in {}{}",
      node.name, *state.current, dir.generations(),
      skipped.empty() ? std::string()
                      : fmt::format(" (incomplete, never a target: {})", fmt::join(skipped, ", ")));
}

// A rollback that leaves `current` where it is (nothing to go back to) runs the hooks a lost
// connection left owed there: the next push or rollback runs them, whatever else it does.
std::string settle_owed_hooks(Remote& remote, const NodeConfig& node, const keydir::KeyDir& dir,
                              const keydir::NodeState& state) {
  auto owed = run_owed_hooks(remote, node, dir, state);
  if (!owed) {
    std::string why = owed.error().message;
    if (why.starts_with(node.name + ": ")) why.erase(0, node.name.size() + 2);
    return fmt::format("; the hooks still owed in {} failed too: {}", dir.pending(), why);
  }
  return *owed ? fmt::format("; the hooks still owed in {} ran", dir.pending()) : "";
}

}  // namespace

NodeOutcome rollback_node(Remote& remote, const NodeConfig& node, const RollbackOptions& options,
                          std::string* keyset) {
  const std::string step = "rollback";
  const keydir::KeyDir dir = keydir::KeyDir::of(node);
  auto lock = keydir::DestLock::acquire(remote, dir, node.lock_timeout, step);
  if (!lock) return NodeOutcome::from_error(lock.error());
  auto state = keydir::read_node_state(remote, dir, {false}, step);
  if (!state) return NodeOutcome::from_error(state.error());
  if (state->current_kind == keydir::CurrentKind::unmanaged) {
    return {NodeStatus::refused,
            step,
            fmt::format("{}: {}: nothing of keyfleet's to roll back there (push --adopt takes it "
                        "over, keeping it)",
                        node.name, escape_untrusted(state->describe_current())),
            std::nullopt,
            {}};
  }
  if (state->current_kind == keydir::CurrentKind::absent && !options.to) {
    return {NodeStatus::failed,
            step,
            fmt::format("{}: {} does not exist: nothing is installed to roll back", node.name,
                        dir.current()),
            std::nullopt,
            {}};
  }
  auto target = choose_target(remote, node, *state, options, *lock, step);
  if (!target) {
    NodeError error = std::move(target.error());
    // A refusal changes nothing, hooks included.
    if (error.status == NodeStatus::failed)
      error.message += settle_owed_hooks(remote, node, dir, *state);
    return NodeOutcome::from_error(std::move(error), state->current);
  }
  if (*target == state->current) {
    // Already there; hooks a lost connection left owed run now.
    if (auto owed = run_owed_hooks(remote, node, dir, *state); !owed) {
      return NodeOutcome::from_error(owed.error(), state->current);
    }
    if (const auto* here = state->current_generation(); keyset && here && here->manifest) {
      *keyset = here->manifest->keyset;
    }
    return {NodeStatus::ok, step, "", state->current, "already on that generation"};
  }
  // Services must pick the old keys up: the same hooks as a push, around the switch.
  if (auto pre = run_hook(remote, node, "pre", node.pre, *target); !pre) {
    return NodeOutcome::from_error(pre.error(), state->current);
  }
  if (auto owed = record_owed_hooks(remote, dir, node, *target, "rollback", step); !owed) {
    return NodeOutcome::from_error(owed.error(), state->current);
  }
  std::optional<std::string> expected;
  if (state->current_kind != keydir::CurrentKind::absent) expected = state->current_text;
  keydir::SwitchRequest request{"", generation_name(*target), expected, ""};
  if (auto switched = keydir::switch_current(remote, &*lock, dir, request, node.lock_timeout, step);
      !switched) {
    // Report what is: the switch may have happened before the failure.
    NodeError error = std::move(switched.error());
    auto now = keydir::read_node_state(remote, dir, {false}, step);
    if (!now) {
      error.message += current_unread_note(error, node, dir, *target);
      return NodeOutcome::from_error(std::move(error), std::nullopt);
    }
    if (now->current != *target) (void)keydir::clear_pending(remote, dir, step);
    return NodeOutcome::from_error(std::move(error), now->current);
  }
  if (auto hooks = run_post_and_check(remote, node, *target); !hooks) {
    NodeError error = std::move(hooks.error().error);
    if (hooks.error().ran) {
      (void)keydir::clear_pending(remote, dir, error.step);
      error.message += fmt::format("; current is generation {}", *target);
    } else {
      error.message += fmt::format(
          "; current is generation {} and its hooks are owed (recorded in {}: the next push or "
          "rollback runs them)",
          *target, dir.pending());
    }
    return NodeOutcome::from_error(std::move(error), *target);
  }
  if (auto cleared = keydir::clear_pending(remote, dir, step); !cleared) {
    return NodeOutcome::from_error(cleared.error(), *target);
  }
  NodeOutcome outcome{NodeStatus::ok, step, "", *target, {}};
  const keydir::GenerationState* back = state->generation(*target);
  if (keyset && back && back->manifest) *keyset = back->manifest->keyset;
  note_history(remote, dir, outcome,
               {"rollback",
                *target,
                state->current,
                back && back->manifest ? back->manifest->keyset : "",
                {},
                "rollback"},
               &*lock);
  return outcome;
}

FleetRun<std::string> rollback_fleet(std::span<const NodeConfig> nodes,
                                     const RollbackOptions& options, const FleetRunOptions& run) {
  return run_on_nodes<std::string>(
      nodes, run, [&](Remote& remote, const NodeConfig& node, std::optional<std::string>& keyset) {
        std::string id;
        NodeOutcome outcome = rollback_node(remote, node, options, &id);
        if (!id.empty()) keyset = std::move(id);
        return outcome;
      });
}

}  // namespace kf
