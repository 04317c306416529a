#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>

#include "fleet/node_report.hpp"
#include "inventory/inventory.hpp"
#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/remote.hpp"

// The node's hooks (`pre`, `post`, `check`) around a switch of `current`, honestly: the hooks a
// switch owes are recorded on the node before it (DEST/.pending), a failing `post` or `check`
// rolls the node back, and the report says what the node really is on.
namespace kf {

// Runs one hook command (empty: nothing to do) with KEYFLEET_STEP, KEYFLEET_DEST and
// KEYFLEET_GENERATION set, so one script can serve every generation. Its stdin is empty, its
// output goes back on pipes that keyfleet closes when the hook's shell exits (a daemon it starts
// must detach from them). A non-zero exit fails at `step`, with the last line of its stderr.
NodeResult<void> run_hook(Remote& remote, const NodeConfig& node, const std::string& step,
                          const std::string& command, std::uint64_t generation);

// How a hook failed: `ran` is false when it could not be run to its end (the connection was lost,
// the deadline ran out), so whether it passes is unknown and the node cannot be acted on now.
struct HookFailure {
  NodeError error;
  bool ran = true;
};

// `post` then `check` for `generation`: the first failure.
std::expected<void, HookFailure> run_post_and_check(Remote& remote, const NodeConfig& node,
                                                    std::uint64_t generation);

// Records the hooks a switch to `generation` owes (`post` and `check`, those configured) in
// DEST/.pending; nothing when none is configured.
NodeResult<void> record_owed_hooks(Remote& remote, const keydir::KeyDir& dir,
                                   const NodeConfig& node, std::uint64_t generation,
                                   const std::string& command, const std::string& step);

struct AfterSwitch {
  std::string command = "push";  // for DEST/.pending
  // A failing hook leaves the new generation current (the report says so) instead of rolling
  // back: push --keep-failed.
  bool keep_failed = false;
  // What the node is reported as when every hook passes (ok, repaired, reactivated).
  NodeStatus success = NodeStatus::ok;
  // Run after `check` passes for the new generation (push: the served-certificate probe); its
  // failure counts as a failed check.
  std::function<NodeResult<void>(std::uint64_t generation)> after_check = {};
};

// After `current` switched to `generation` (from `previous`, if it was a real generation): runs
// `post` and `check`, then clears DEST/.pending. When one cannot be run (the connection lost), the
// hooks stay owed in DEST/.pending and the report says so. When one fails, unless `keep_failed`,
// the node goes back under `lock`: to `previous` with pre/post/check run for it (status
// rolled-back; if they fail too, the report says the node is unhealthy on both), or, without a
// previous generation, by removing `current` (the new generation stays for inspection). The
// outcome's generation is what `current` really is at the end.
NodeOutcome finish_switch(Remote& remote, keydir::DestLock* lock, const NodeConfig& node,
                          const keydir::KeyDir& dir, std::uint64_t generation,
                          std::optional<std::uint64_t> previous, const AfterSwitch& policy);

// The hooks DEST/.pending says the current generation still owes (a switch whose connection was
// lost), run now; the file is cleared once they pass. Nothing owed: nothing done. An unreadable
// .pending owes every configured hook. A .pending for another generation than the current one is
// dropped (the node was switched since): its hooks are the new switch's business. Returns
// whether the hooks ran (then `check` has just passed, when there is one).
NodeResult<bool> run_owed_hooks(Remote& remote, const NodeConfig& node, const keydir::KeyDir& dir,
                                const keydir::NodeState& state);

}  // namespace kf
