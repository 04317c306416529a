#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "core/error.hpp"  // KF_TRY / KF_CHECK work on NodeResult too

namespace kf {

// What happened to one node. The names are the JSON and summary vocabulary: scripts match on them.
enum class NodeStatus {
  ok,           // done as asked
  unchanged,    // push: the node already holds this generation or a newer one
  mismatch,     // verify: files differ from the manifest (or from the other nodes)
  missing,      // verify: no key set installed
  stale,        // verify: an older generation than expected
  unreachable,  // no TCP connection (refused, no route, DNS, connect timeout)
  hostkey,      // host key unknown, changed or of another type: nothing was sent
  auth,         // the node refused our key, or no usable identity
  timeout,      // the handshake or the per-node deadline ran out
  refused,      // refused for safety: a downgrade, a different generation in the way, lock held
  failed,       // any other failure, named by step and error
  skipped,      // never started: an earlier failure (--rolling) or Ctrl-C
};

std::string_view to_string(NodeStatus status);
std::optional<NodeStatus> parse_node_status(std::string_view name);

// ok and unchanged are the only successes.
constexpr bool is_success(NodeStatus status) {
  return status == NodeStatus::ok || status == NodeStatus::unchanged;
}

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

// The exit code a node's failure maps to when it is the whole command's (unpack): 3 for host key
// and authentication failures, 4 for refusals, else 1.
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
