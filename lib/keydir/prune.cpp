#include "keydir/prune.hpp"

#include <algorithm>

#include "core/files.hpp"
#include "keydir/crash_point.hpp"

namespace kf::keydir {
namespace {

// An absolute path with empty and "." components dropped and ".." applied, lexically: the entry
// of DEST that `current`'s text names, however it is spelled ("./generations//.tmp-x/").
std::string lexically_normal(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t end = std::min(path.find('/', start), path.size());
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (auto part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

}  // namespace

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
  std::string in_use;
  if (!state.current_text.empty()) {
    in_use = lexically_normal(state.current_text.starts_with('/')
                                  ? state.current_text
                                  : join_path(dir.dest(), state.current_text));
  }
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
  bool in_dest = false;
  for (const auto& p : removed) {
    (p.starts_with(dir.generations() + "/") ? in_generations : in_dest) = true;
  }
  if (in_generations) {
    if (auto synced = remote.fsync_dir(dir.generations()); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  if (in_dest) {
    if (auto synced = remote.fsync_dir(dir.dest()); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  return removed;
}

}  // namespace kf::keydir
