#pragma once

#include <optional>

#include "inventory/inventory.hpp"
#include "keydir/install.hpp"
#include "keydir/remote.hpp"

namespace kf {

// The inventory's `owner` and `group` as numbers on the node (`id`, `getent group`): nullopt when
// neither is set. A name the node does not know fails the node at step `owner`, before anything
// is written. Only `group`: the SSH user keeps the files; only `owner`: its primary group.
NodeResult<std::optional<keydir::Owner>> resolve_owner(Remote& remote, const NodeConfig& node);

}  // namespace kf
