#pragma once

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "core/error.hpp"  // KF_TRY_ASSIGN / KF_CHECK work on NodeResult too

namespace kf {

// What happened to one node. The names are the JSON and summary vocabulary: scripts match on them.
enum class NodeStatus {
  ok,             // done as asked (push: installed now; verify: matches)
  served_ok,      // verify --served: matches, and the agent serves the installed certificate
  unchanged,      // push: the node already holds exactly this generation, verified
  repaired,       // push: a damaged install (files or `current`) was replaced by this one
  reactivated,    // push: this generation was there intact; `current` was switched back to it
  staged,         // push --no-install: the bundle is on the node, its digest checked
  would_install,  // push --dry-run: what push would do
  would_repair,
  would_reactivate,
  would_refuse,      // push --dry-run: push would refuse this node (see its error)
  rolled_back,       // push: a post or check hook failed, the node went back to its previous
                     // generation (or lost `current` when it had none)
  mismatch,          // verify: files differ from the manifest (or from the other nodes)
  missing,           // verify: no key set installed
  stale,             // verify: an older generation than expected
  damaged,           // verify: `current` is not a link to a complete generation
  pending_hooks,     // verify: hooks of the last switch never ran (DEST/.pending)
  expiring,          // status: a certificate expires within --warn-days
  expired,           // status: a certificate is past its notAfter
  served_stale,      // the probe: the agent serves another certificate than the installed one
  served_untrusted,  // the probe: the served chain or name fails against the installed CA
  served_down,       // the probe: no TLS handshake with the agent (named served-unreachable)
  unreachable,       // no TCP connection (refused, no route, DNS, connect timeout)
  hostkey,           // host key unknown, changed, revoked or of another type: nothing was sent
  auth,              // the node refused our key, or no usable identity
  timeout,           // the handshake or the per-node deadline ran out
  conflict,          // push: the node holds another key set, or this generation with other files
  refused,           // refused for safety: a downgrade, a lock held, a symlinked DEST
  failed,            // any other failure, named by step and error
  skipped,           // never started: an earlier failure (--rolling), a canary, or Ctrl-C
};

// Every status, in the order reports list them.
std::span<const NodeStatus> all_node_statuses();

std::string_view to_string(NodeStatus status);
std::optional<NodeStatus> parse_node_status(std::string_view name);

// What a status means for the command: success (ok, served-ok, unchanged, repaired, reactivated,
// staged, and a dry run's plans but would-refuse), else a failure whose exit code exit_code_of
// gives.
bool is_success(NodeStatus status);

// One node's failure: its status, the step that failed ("connect", "hostkey", "auth", "upload",
// "install", ...) and a message "<what failed>: <why>" naming the node and path.
struct NodeError {
  NodeStatus status = NodeStatus::failed;
  std::string step;
  std::string message;
};

template <class T = void>
using NodeResult = std::expected<T, NodeError>;

template <class... Args>
[[nodiscard]] std::unexpected<NodeError> node_fail(NodeStatus status, std::string step,
                                                   fmt::format_string<Args...> format,
                                                   Args&&... args) {
  return std::unexpected(
      NodeError{status, std::move(step), fmt::format(format, std::forward<Args>(args)...)});
}

// The exit code a node's status maps to (the fleet's is the most serious of its nodes'): 0 for a
// success, 3 for host key and authentication failures, 4 for refusals (conflict, refused,
// would-refuse), else 1.
ExitCode exit_code_of(NodeStatus status);

// A node's result as a command's: the message kept, the status mapped by exit_code_of.
template <class T>
Result<T> as_result(NodeResult<T> result) {
  if (!result)
    return std::unexpected(
        Error{exit_code_of(result.error().status), std::move(result.error().message)});
  if constexpr (std::is_void_v<T>) {
    return {};
  } else {
    return std::move(*result);
  }
}

// Relabels the step of a transport error with the caller's step ("sftp" -> "upload").
[[nodiscard]] inline NodeError at_step(NodeError error, std::string step) {
  error.step = std::move(step);
  return error;
}

}  // namespace kf

template <>
struct fmt::formatter<kf::NodeStatus> : fmt::formatter<std::string_view> {
  auto format(kf::NodeStatus status, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(kf::to_string(status), ctx);
  }
};
