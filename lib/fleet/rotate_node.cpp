#include <fmt/format.h>

#include "core/escape.hpp"
#include "fleet/owner.hpp"
#include "fleet/push.hpp"
#include "fleet/rotate.hpp"
#include "fleet/verify.hpp"
#include "keydir/install.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"

namespace kf {
namespace {

std::string joined(std::string a, const std::string& b) {
  if (b.empty()) return a;
  return a.empty() ? b : a + "; " + b;
}

// The node still holds what an earlier run left it: the phase's generation as `current`, with
// the bundle's manifest, every file as listed, no hooks owed.
bool still_done(const keydir::NodeState& state, const keydir::GenerationContent& content) {
  const keydir::GenerationState* current = state.current_generation();
  return current != nullptr && current->number == content.number &&
         current->manifest_sha256 == content.manifest_sha256 && current->complete() &&
         !state.pending && !state.pending_unreadable && state.leftovers.empty();
}

}  // namespace

NodeOutcome unreadable_for_phase(NodeOutcome outcome, const rotation::PhaseRecord& before,
                                 const rotation::PhaseRecord& phase) {
  if (is_success(outcome.status) || outcome.status == NodeStatus::refused ||
      outcome.status == NodeStatus::hostkey || outcome.status == NodeStatus::auth) {
    return outcome;
  }
  outcome.error = fmt::format(
      "{} (it counts as not on {}, generation {}: {} would leave it unable to talk to the nodes "
      "that are)",
      outcome.error, before.name, generation_name(before.generation), phase.name);
  outcome.status = NodeStatus::refused;
  outcome.step = "phase";
  return outcome;
}

NodeOutcome rotate_node(Remote& remote, const NodeConfig& node, const PhaseNodeWork& work,
                        std::optional<CleanupReceipt>& receipt) {
  const bundle::OpenedBundle& bundle = *work.bundle;
  const keydir::GenerationContent content = keydir::GenerationContent::of(bundle);
  if (work.done_before) {
    auto state = keydir::read_node_state(remote, keydir::KeyDir::of(node), {true}, "read");
    if (!state) return NodeOutcome::from_error(state.error());
    if (still_done(*state, content)) {
      return {NodeStatus::unchanged, "read", "", content.number, "done in an earlier run"};
    }
  }
  // One DEST/.lock for the node's whole turn: its holder serves the install's digest and switch,
  // the history lines and cleanup's wipes, so the turn starts one shell on the node, not five.
  auto owner = resolve_owner(remote, node);
  if (!owner) return NodeOutcome::from_error(owner.error());
  auto lock = keydir::DestLock::acquire(
      remote, keydir::KeyDir::of(node), node.lock_timeout, "staging",
      *owner ? std::optional<std::uint32_t>((*owner)->gid) : std::nullopt);
  if (!lock) return NodeOutcome::from_error(lock.error());

  NodeOutcome pushed =
      push_node(remote, node, PushPayload{work.bundle_bytes, &bundle}, {}, &*lock, &*owner);
  if (!is_success(pushed.status)) return pushed;

  // What verify reads is DEST as cleanup finds it: nothing but the staged copy changes meanwhile,
  // and the lock is held throughout.
  keydir::NodeState verified_state;
  NodeOutcome verified =
      verify_node(remote, keydir::KeyDir::of(node), bundle.manifest, &*lock, &verified_state);
  if (!is_success(verified.status)) {
    verified.step = "verify";
    verified.detail = joined(pushed.detail, verified.detail);
    return verified;
  }

  CleanupOptions cleanup;
  cleanup.purge_old = work.purge;
  auto cleaned = cleanup_node(remote, node, cleanup, &*lock, &verified_state);
  if (!cleaned) {
    NodeOutcome failed = NodeOutcome::from_error(cleaned.error(), content.number);
    failed.step = "cleanup";
    failed.detail = pushed.detail;
    return failed;
  }
  receipt = std::move(*cleaned);
  std::string detail = joined(pushed.detail, describe(*receipt));
  if (receipt->failure) {
    NodeOutcome failed = NodeOutcome::from_error(*receipt->failure, content.number);
    failed.detail = detail;
    return failed;
  }
  pushed.step = "cleanup";
  pushed.generation = content.number;
  pushed.detail = detail;
  return pushed;
}

NodeOutcome check_node_phase(Remote& remote, const NodeConfig& node,
                             const rotation::PhaseRecord& before,
                             const rotation::PhaseRecord& phase) {
  auto state = keydir::read_node_state(remote, keydir::KeyDir::of(node), {false}, "phase");
  if (!state) {
    return unreadable_for_phase(NodeOutcome::from_error(state.error()), before, phase);
  }
  const keydir::GenerationState* current = state->current_generation();
  auto holds = [&](const rotation::PhaseRecord& p) {
    return current != nullptr && current->number == p.generation && !p.manifest_sha256.empty() &&
           current->manifest_sha256 == p.manifest_sha256;
  };
  if (holds(before) || holds(phase)) {
    return {NodeStatus::ok, "phase", "", current->number, {}};
  }
  std::string holding =
      current != nullptr
          ? fmt::format("current is generation {}{}", generation_name(current->number),
                        current->number == before.generation ? " with another manifest" : "")
          : fmt::format("current is {}", escape_untrusted(state->describe_current(), 400));
  return {NodeStatus::refused, "phase",
          fmt::format("{}: {}, not {} (generation {}): {} would leave it unable to talk to the "
                      "nodes on {}; bring it to {} first",
                      node.name, holding, before.name, generation_name(before.generation),
                      phase.name, phase.name, before.name),
          state->current};
}

}  // namespace kf
