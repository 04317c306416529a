#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keydir/layout.hpp"
#include "keydir/node_state.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

inline constexpr std::size_t kDefaultKeep = 5;
// Current and the one before it, rollback's target: never fewer. Commands refuse a smaller
// --keep; the policy below holds to it whatever it is given.
inline constexpr std::size_t kMinKeep = 2;

// The one pruning policy, for push, unpack and cleanup: the generations to remove from `present`
// so that `keep` remain (oldest first), never `current` and never the newest one below it
// (rollback's target); with `purge_old`, every one but `current`. Ascending. Without a current
// generation nothing is removed: there is no telling which one the services use.
std::vector<std::uint64_t> generations_to_remove(std::vector<std::uint64_t> present,
                                                 std::optional<std::uint64_t> current,
                                                 std::size_t keep, bool purge_old);

// Removes each generation `generations_to_remove` names for `state`: renamed to
// generations/.tmp-prune-<random> first, then deleted file by file, so that a crash never leaves
// half a generation under its real name (the leftover is removed by the next run). Returns the
// generations removed. Needs DEST/.lock held.
NodeResult<std::vector<std::uint64_t>> prune_generations(Remote& remote, const KeyDir& dir,
                                                         const NodeState& state, std::size_t keep,
                                                         bool purge_old, const std::string& step);

// Removes the given generations (never the one `current` names), each renamed to
// generations/.tmp-prune-<random> first: --replace-keyset's removal of another key set, once the
// new one is current and healthy. Returns the generations removed.
NodeResult<std::vector<std::uint64_t>> remove_generations(Remote& remote, const KeyDir& dir,
                                                          const NodeState& state,
                                                          const std::vector<std::uint64_t>& doomed,
                                                          const std::string& step);

// The leftovers of `state` (interrupted installs and prunes, temporary links) that may go: all
// but what `current` points at, however its link spells it.
std::vector<std::string> leftovers_to_remove(const KeyDir& dir, const NodeState& state);

// Removes leftovers_to_remove's paths. Returns the paths removed. Needs DEST/.lock held.
NodeResult<std::vector<std::string>> remove_leftovers(Remote& remote, const KeyDir& dir,
                                                      const NodeState& state,
                                                      const std::string& step);

}  // namespace kf::keydir
