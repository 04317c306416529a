#include "fleet/cleanup.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/files.hpp"
#include "keydir/layout.hpp"

namespace kf {
namespace {

std::string join_generations(const std::vector<std::uint64_t>& generations) {
  std::string out;
  for (auto g : generations) out += (out.empty() ? "" : ", ") + generation_name(g);
  return out;
}

NodeResult<void> remove_tree_on_node(Remote& remote, const std::string& path) {
  auto result = KF_TRY(remote.exec("rm -rf -- " + shell_quote(path)));
  if (!result.ok()) {
    return node_fail(NodeStatus::failed, "prune", "{}: cannot remove {}: rm exited {}: {}",
                     remote.node_name(), path, result.exit_status, result.err);
  }
  return {};
}

}  // namespace

std::string describe(const CleanupReceipt& receipt) {
  std::vector<std::string> parts;
  if (!receipt.wiped.empty()) {
    parts.push_back(fmt::format("wiped {} staged cop{}", receipt.wiped.size(),
                                receipt.wiped.size() == 1 ? "y" : "ies"));
  }
  if (!receipt.pruned.empty()) parts.push_back("pruned " + join_generations(receipt.pruned));
  if (receipt.leftovers_removed > 0) {
    parts.push_back(fmt::format("removed {} interrupted prune(s)", receipt.leftovers_removed));
  }
  if (!receipt.kept.empty()) {
    std::string kept;
    for (const auto& k : receipt.kept) kept += (kept.empty() ? "" : ", ") + k;
    parts.push_back("left alone (not regular files): " + kept);
  }
  if (parts.empty()) return "nothing to clean";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

std::vector<std::uint64_t> generations_to_remove(std::vector<std::uint64_t> present,
                                                 std::uint64_t current, std::size_t keep,
                                                 bool purge_old) {
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  std::optional<std::uint64_t> previous;
  for (auto g : present) {
    if (g < current) previous = g;
  }
  std::vector<std::uint64_t> remove;
  if (purge_old) {
    for (auto g : present) {
      if (g != current) remove.push_back(g);
    }
    return remove;
  }
  keep = std::max<std::size_t>(keep, 2);
  std::size_t excess = present.size() > keep ? present.size() - keep : 0;
  for (auto g : present) {
    if (remove.size() == excess) break;
    if (g == current || g == previous) continue;
    remove.push_back(g);
  }
  return remove;
}

NodeResult<void> wipe_remote_file(Remote& remote, const std::string& path, std::uint64_t size) {
  if (size > 0) {
    // bs=SIZE count=1: exactly the file's length, in place (notrunc), synced before dd exits.
    auto result = KF_TRY(remote.exec(fmt::format(
        "dd if=/dev/zero of={} bs={} count=1 conv=notrunc,fsync 2>&1", shell_quote(path), size)));
    if (!result.ok()) {
      return node_fail(NodeStatus::failed, "wipe", "{}: cannot overwrite {}: dd exited {}: {}",
                       remote.node_name(), path, result.exit_status, result.out);
    }
  }
  auto removed = remote.unlink(path);
  if (!removed) return std::unexpected(at_step(removed.error(), "wipe"));
  return {};
}

namespace {

// Wipes the regular files of `dir`; recurses one level when `descend`. True when `dir` is left
// empty.
NodeResult<bool> clean_dir(Remote& remote, const std::string& dir, bool descend,
                           CleanupReceipt& receipt) {
  auto entries = KF_TRY(remote.list_dir(dir));
  bool empty = true;
  for (const auto& entry : entries) {
    const std::string path = dir + "/" + entry.name;
    if (entry.stat.type == FileType::regular) {
      KF_CHECK(wipe_remote_file(remote, path, entry.stat.size));
      receipt.wiped.push_back(path);
    } else if (entry.stat.type == FileType::directory && descend) {
      if (KF_TRY(clean_dir(remote, path, false, receipt))) {
        KF_CHECK(remote.rmdir(path));
      } else {
        empty = false;
      }
    } else {
      receipt.kept.push_back(path);
      empty = false;
    }
  }
  if (!entries.empty()) KF_CHECK(remote.fsync_dir(dir));
  return empty;
}

}  // namespace

NodeResult<void> clean_staging(Remote& remote, const std::string& staging,
                               CleanupReceipt& receipt) {
  auto st = KF_TRY(remote.lstat(staging));
  if (!st) return {};
  if (st->type != FileType::directory) {
    return node_fail(NodeStatus::failed, "staging", "{}: {} is not a directory; left alone",
                     remote.node_name(), staging);
  }
  auto cleaned = clean_dir(remote, staging, true, receipt);
  if (!cleaned) return std::unexpected(at_step(cleaned.error(), "staging"));
  if (*cleaned) {
    auto removed = remote.rmdir(staging);
    if (!removed) return std::unexpected(at_step(removed.error(), "staging"));
  }
  return {};
}

NodeResult<void> prune_generations(Remote& remote, const std::string& dest,
                                   const CleanupOptions& options, CleanupReceipt& receipt) {
  const std::string current_path = dest + "/" + std::string(layout::current_link);
  auto link = KF_TRY(remote.lstat(current_path));
  if (!link || link->type != FileType::symlink) return {};
  std::string target = KF_TRY(remote.readlink(current_path));
  std::string_view prefix = layout::generations_dir;
  if (!target.starts_with(std::string(prefix) + "/")) {
    return node_fail(NodeStatus::failed, "prune",
                     "{}: {} points at '{}', not at generations/NNNNNN; nothing pruned",
                     remote.node_name(), current_path, target);
  }
  auto current = parse_generation_name(std::string_view(target).substr(prefix.size() + 1));
  if (!current) {
    return node_fail(NodeStatus::failed, "prune",
                     "{}: {} points at '{}', not at generations/NNNNNN; nothing pruned",
                     remote.node_name(), current_path, target);
  }
  const std::string generations = dest + "/" + std::string(prefix);
  auto entries = KF_TRY(remote.list_dir(generations));
  std::vector<std::uint64_t> present;
  for (const auto& entry : entries) {
    if (entry.stat.type != FileType::directory) continue;
    if (entry.name.starts_with(kPrunePrefix)) {
      KF_CHECK(remove_tree_on_node(remote, generations + "/" + entry.name));
      ++receipt.leftovers_removed;
    } else if (auto g = parse_generation_name(entry.name)) {
      present.push_back(*g);
    }
  }
  for (auto g : generations_to_remove(present, *current, options.keep, options.purge_old)) {
    const std::string doomed = fmt::format("{}/{}{}", generations, kPrunePrefix, random_hex(8));
    auto renamed = remote.rename(generations + "/" + generation_name(g), doomed);
    if (!renamed) return std::unexpected(at_step(renamed.error(), "prune"));
    KF_CHECK(remove_tree_on_node(remote, doomed));
    receipt.pruned.push_back(g);
  }
  if (!receipt.pruned.empty() || receipt.leftovers_removed > 0) {
    auto synced = remote.fsync_dir(generations);
    if (!synced) return std::unexpected(at_step(synced.error(), "prune"));
  }
  return {};
}

NodeResult<CleanupReceipt> cleanup_node(Remote& remote, const NodeConfig& node,
                                        const CleanupOptions& options) {
  CleanupReceipt receipt;
  // Under the lock push holds while staging and the switch script holds while switching: no
  // staged copy is wiped while it is written, and `current` cannot move between reading it and
  // pruning around it (which could remove a generation just made current).
  KF_CHECK(remote.lock_dest(node.dest, "lock"));
  DestLock lock(remote);
  KF_CHECK(clean_staging(remote, node.staging, receipt));
  KF_CHECK(prune_generations(remote, node.dest, options, receipt));
  return receipt;
}

}  // namespace kf
