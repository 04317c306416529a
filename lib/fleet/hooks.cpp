#include "fleet/hooks.hpp"

#include <fmt/format.h>

#include "core/escape.hpp"
#include "keydir/pending.hpp"
#include "keydir/switch.hpp"

namespace kf {
namespace {

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return text;
}

std::string without_node(const std::string& message, const std::string& name) {
  std::string prefix = name + ": ";
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

// Runs one hook: its exit status and output, or the transport's error when it could not be run
// to its end.
NodeResult<ExecResult> exec_hook(Remote& remote, const NodeConfig& node, const std::string& step,
                                 const std::string& command, std::uint64_t generation) {
  // The hook's own output goes to files, read back once its shell has exited: a daemon it starts
  // without detaching would otherwise hold the channel's pipes, and sshd would keep the session
  // (and this node) open until it ends or the node's timeout.
  std::string line = fmt::format(
      "KEYFLEET_STEP={} KEYFLEET_DEST={} KEYFLEET_GENERATION={}; "
      "export KEYFLEET_STEP KEYFLEET_DEST KEYFLEET_GENERATION; "
      "kf_out=$(mktemp -d) || exit 125; "
      "( {} ) </dev/null >\"$kf_out/out\" 2>\"$kf_out/err\"; kf_status=$?; "
      "tail -c 65536 \"$kf_out/out\"; tail -c 65536 \"$kf_out/err\" >&2; "
      "rm -rf -- \"$kf_out\"; exit $kf_status",
      step, shell_quote(node.dest), generation, command);
  auto result = remote.exec(line);
  if (!result) return std::unexpected(at_step(result.error(), step));
  return result;
}

NodeError hook_failed(const NodeConfig& node, const std::string& step, const std::string& command,
                      const ExecResult& result) {
  std::string why = escape_untrusted(last_line(result.err), 300);
  return {NodeStatus::failed, step,
          fmt::format("{}: {} hook `{}` exited with status {}{}{}", node.name, step,
                      escape_untrusted(command, 200), result.exit_status, why.empty() ? "" : ": ",
                      why)};
}

}  // namespace

NodeResult<void> run_hook(Remote& remote, const NodeConfig& node, const std::string& step,
                          const std::string& command, std::uint64_t generation) {
  if (command.empty()) return {};
  KF_TRY_ASSIGN(ExecResult result, exec_hook(remote, node, step, command, generation));
  if (!result.ok()) return std::unexpected(hook_failed(node, step, command, result));
  return {};
}

std::expected<void, HookFailure> run_post_and_check(Remote& remote, const NodeConfig& node,
                                                    std::uint64_t generation) {
  for (const auto& [step, command] :
       {std::pair<std::string, const std::string&>{"post", node.post}, {"check", node.check}}) {
    if (command.empty()) continue;
    auto result = exec_hook(remote, node, step, command, generation);
    if (!result) return std::unexpected(HookFailure{std::move(result.error()), false});
    if (!result->ok())
      return std::unexpected(HookFailure{hook_failed(node, step, command, *result)});
  }
  return {};
}

NodeResult<void> record_owed_hooks(Remote& remote, const keydir::KeyDir& dir,
                                   const NodeConfig& node, std::uint64_t generation,
                                   const std::string& command, const std::string& step) {
  keydir::PendingHooks pending{generation, {}, command};
  if (!node.post.empty()) pending.hooks.emplace_back("post");
  if (!node.check.empty()) pending.hooks.emplace_back("check");
  if (pending.hooks.empty()) return {};
  return keydir::write_pending(remote, dir, pending, step);
}

NodeOutcome finish_switch(Remote& remote, keydir::DestLock* lock, const NodeConfig& node,
                          const keydir::KeyDir& dir, std::uint64_t generation,
                          std::optional<std::uint64_t> previous, const AfterSwitch& policy) {
  auto hooks = run_post_and_check(remote, node, generation);
  if (hooks && policy.after_check) {
    if (auto probed = policy.after_check(generation); !probed) {
      hooks = std::unexpected(HookFailure{std::move(probed.error())});
    }
  }
  if (hooks) {
    if (auto cleared = keydir::clear_pending(remote, dir, "check"); !cleared) {
      return NodeOutcome::from_error(cleared.error(), generation);
    }
    return {policy.success, "check", "", generation};
  }
  NodeError failure = std::move(hooks.error().error);
  if (!hooks.error().ran) {
    // Lost or timed out: nothing more can be done there, and a rollback would be a guess. The
    // hooks stay owed in DEST/.pending.
    failure.message += fmt::format(
        "; current is generation {} and its hooks are owed (recorded "
        "in {}: the next push or rollback runs them)",
        generation, dir.pending());
    return NodeOutcome::from_error(std::move(failure), generation);
  }
  const std::string why = without_node(failure.message, node.name);
  if (policy.keep_failed) {
    (void)keydir::clear_pending(remote, dir, failure.step);
    failure.message = fmt::format(
        "{}: {}; current is now generation {} (--keep-failed): run "
        "keyfleet rollback to go back",
        node.name, why, generation);
    return NodeOutcome::from_error(std::move(failure), generation);
  }

  const std::string step = failure.step;
  auto rolled = [&](std::optional<std::uint64_t> now, std::string what) {
    return NodeOutcome{NodeStatus::rolled_back, step,
                       fmt::format("{}: {}; {}", node.name, why, what), now};
  };
  if (!previous) {
    // Nothing to go back to: no `current` is better than keys whose service fails its check.
    if (auto removed = remote.unlink(dir.current()); !removed) {
      return NodeOutcome::from_error(removed.error(), generation);
    }
    (void)remote.fsync_dir(dir.link_dir());
    (void)keydir::clear_pending(remote, dir, step);
    return rolled(std::nullopt,
                  fmt::format("there was no previous generation: current was removed, and "
                              "generation {} stays in {} for inspection",
                              generation, dir.generations()));
  }
  auto back = [&]() -> NodeResult<void> {
    KF_CHECK(run_hook(remote, node, "pre", node.pre, *previous));
    KF_CHECK(record_owed_hooks(remote, dir, node, *previous, policy.command, step));
    keydir::SwitchRequest request{"", generation_name(*previous), dir.link_target(generation), ""};
    return keydir::switch_current(remote, lock, dir, request, node.lock_timeout, step);
  }();
  if (!back) {
    return NodeOutcome{
        NodeStatus::failed, step,
        fmt::format("{}: {}; rolling back to generation {} failed: {}; current is still "
                    "generation {}",
                    node.name, why, *previous, without_node(back.error().message, node.name),
                    generation),
        generation};
  }
  auto again = run_post_and_check(remote, node, *previous);
  // They ran, failed or not: nothing is owed any more.
  if (again || again.error().ran) (void)keydir::clear_pending(remote, dir, step);
  if (!again) {
    return rolled(previous,
                  fmt::format("rolled back to generation {}, where the hooks failed too ({}): the "
                              "node is unhealthy on both",
                              *previous, without_node(again.error().error.message, node.name)));
  }
  return rolled(previous, fmt::format("rolled back to generation {}", *previous));
}

NodeResult<bool> run_owed_hooks(Remote& remote, const NodeConfig& node, const keydir::KeyDir& dir,
                                const keydir::NodeState& state) {
  if (!state.pending && !state.pending_unreadable) return false;
  if (!state.current || (state.pending && state.pending->generation != state.current)) {
    KF_CHECK(keydir::clear_pending(remote, dir, "post"));
    return false;
  }
  if (auto hooks = run_post_and_check(remote, node, *state.current); !hooks) {
    return std::unexpected(std::move(hooks.error().error));
  }
  KF_CHECK(keydir::clear_pending(remote, dir, "check"));
  return true;
}

}  // namespace kf
