#include "fleet/owner.hpp"

#include <charconv>

#include <fmt/format.h>

namespace kf {
namespace {

std::optional<std::uint32_t> number_of(std::string_view text) {
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One number printed by `command` on the node; `what` names it in messages.
NodeResult<std::uint32_t> ask(Remote& remote, const NodeConfig& node, const std::string& command,
                              std::string_view what) {
  auto result = remote.exec(command);
  if (!result) return std::unexpected(at_step(result.error(), "owner"));
  std::string out = result->out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (auto number = number_of(out.substr(0, out.find(':'))); result->ok() && number) {
    return *number;
  }
  return node_fail(NodeStatus::failed, "owner", "{}: {} does not exist on the node", node.name,
                   what);
}

}  // namespace

NodeResult<std::optional<keydir::Owner>> resolve_owner(Remote& remote, const NodeConfig& node) {
  if (node.owner.empty() && node.group.empty()) return std::nullopt;
  keydir::Owner owner;
  const std::string user = node.owner.empty() ? std::string() : shell_quote(node.owner);
  if (node.owner.empty()) {
    KF_TRY_ASSIGN(owner.uid, ask(remote, node, "id -u", "the SSH user"));
  } else if (auto number = number_of(node.owner)) {
    owner.uid = *number;
  } else {
    KF_TRY_ASSIGN(owner.uid,
                  ask(remote, node, "id -u -- " + user, fmt::format("owner '{}'", node.owner)));
  }
  if (node.group.empty()) {
    const std::string whose = node.owner.empty() ? "id -g" : "id -g -- " + user;
    KF_TRY_ASSIGN(owner.gid,
                  ask(remote, node, whose, fmt::format("the primary group of '{}'", node.owner)));
  } else if (auto number = number_of(node.group)) {
    owner.gid = *number;
  } else {
    // getent prints "name:x:gid:members"; the gid is the third field.
    KF_TRY_ASSIGN(owner.gid,
                  ask(remote, node, "getent group -- " + shell_quote(node.group) + " | cut -d: -f3",
                      fmt::format("group '{}'", node.group)));
  }
  return owner;
}

}  // namespace kf
