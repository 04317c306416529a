#include "keydir/prune.hpp"

#include <algorithm>

#include "core/files.hpp"
#include "keydir/crash_point.hpp"

namespace kf::keydir {

std::vector<std::uint64_t> generations_to_remove(std::vector<std::uint64_t> present,
                                                 std::optional<std::uint64_t> current,
                                                 std::size_t keep, bool purge_old) {
  if (!current) return {};
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  std::optional<std::uint64_t> previous;
  for (auto g : present) {
    if (g < *current) previous = g;
  }
  std::vector<std::uint64_t> remove;
  if (purge_old) {
    std::copy_if(present.begin(), present.end(), std::back_inserter(remove),
                 [&](std::uint64_t g) { return g != *current; });
    return remove;
  }
  keep = std::max(keep, kMinKeep);
  std::size_t excess = present.size() > keep ? present.size() - keep : 0;
  for (auto g : present) {
    if (remove.size() == excess) break;
    if (g == *current || g == previous) continue;
    remove.push_back(g);
  }
  return remove;
}

NodeResult<std::vector<std::uint64_t>> remove_generations(Remote& remote, const KeyDir& dir,
                                                          const NodeState& state,
                                                          const std::vector<std::uint64_t>& doomed,
                                                          const std::string& step) {
  std::vector<std::uint64_t> removed;
  for (auto g : doomed) {
    if (g == state.current || state.generation(g) == nullptr) continue;
    const std::string aside = dir.generation_entry(std::string(kPrunePrefix) + random_hex(8));
    if (auto renamed = remote.rename(dir.generation(g), aside); !renamed) {
      return std::unexpected(at_step(renamed.error(), step));
    }
    crash_point("pruning");
    if (auto gone = remove_tree(remote, aside); !gone) {
      return std::unexpected(at_step(gone.error(), step));
    }
    removed.push_back(g);
  }
  if (!removed.empty()) {
    if (auto synced = remote.fsync_dir(dir.generations()); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  return removed;
}

NodeResult<std::vector<std::uint64_t>> prune_generations(Remote& remote, const KeyDir& dir,
                                                         const NodeState& state, std::size_t keep,
                                                         bool purge_old, const std::string& step) {
  std::vector<std::uint64_t> present;
  present.reserve(state.generations.size());
  for (const auto& g : state.generations) present.push_back(g.number);
  return remove_generations(remote, dir, state,
                            generations_to_remove(present, state.current, keep, purge_old), step);
}

std::vector<std::string> leftovers_to_remove(const KeyDir& dir, const NodeState& state) {
  // What the link names, however it spells it ("./generations//.tmp-x/").
  std::string in_use;
  if (!state.current_text.empty()) in_use = dir.resolve_target(state.current_text);
  std::vector<std::string> doomed;
  for (const auto& path : state.leftovers) {
    if (lexically_normal(path) != in_use) doomed.push_back(path);
  }
  return doomed;
}

NodeResult<std::vector<std::string>> remove_leftovers(Remote& remote, const KeyDir& dir,
                                                      const NodeState& state,
                                                      const std::string& step) {
  std::vector<std::string> removed;
  for (const auto& path : leftovers_to_remove(dir, state)) {
    if (auto gone = remove_tree(remote, path); !gone) {
      return std::unexpected(at_step(gone.error(), step));
    }
    removed.push_back(path);
  }
  bool in_generations = false;
  bool in_home = false;
  for (const auto& p : removed) {
    (p.starts_with(dir.generations() + "/") ? in_generations : in_home) = true;
  }
  if (in_generations) {
    if (auto synced = remote.fsync_dir(dir.generations()); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  if (in_home) {
    if (auto synced = remote.fsync_dir(dir.home()); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  return removed;
}

}  // namespace kf::keydir
