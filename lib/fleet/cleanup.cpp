#include "fleet/cleanup.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/files.hpp"
#include "keydir/history.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"

namespace kf {
namespace {

std::string join_generations(const std::vector<std::uint64_t>& generations) {
  std::string out;
  for (auto g : generations) out += (out.empty() ? "" : ", ") + generation_name(g);
  return out;
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
    parts.push_back(fmt::format("removed {} leftover{} of interrupted runs",
                                receipt.leftovers_removed,
                                receipt.leftovers_removed == 1 ? "" : "s"));
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

NodeResult<void> wipe_remote_file(Remote& remote, const std::string& path, std::uint64_t size) {
  if (size > 0) {
    // bs=SIZE count=1: exactly the file's length, in place (notrunc), synced before dd exits.
    KF_TRY_ASSIGN(auto result, remote.exec(fmt::format(
                                   "dd if=/dev/zero of={} bs={} count=1 conv=notrunc,fsync 2>&1",
                                   shell_quote(path), size)));
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
  KF_TRY_ASSIGN(auto entries, remote.list_dir(dir));
  bool empty = true;
  for (const auto& entry : entries) {
    const std::string path = dir + "/" + entry.name;
    if (entry.stat.type == FileType::regular) {
      KF_CHECK(wipe_remote_file(remote, path, entry.stat.size));
      receipt.wiped.push_back(path);
    } else if (entry.stat.type == FileType::directory && descend) {
      KF_TRY_ASSIGN(bool emptied, clean_dir(remote, path, false, receipt));
      if (emptied) {
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
  KF_TRY_ASSIGN(auto st, remote.lstat(staging));
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

NodeResult<CleanupReceipt> cleanup_node(Remote& remote, const NodeConfig& node,
                                        const CleanupOptions& options) {
  CleanupReceipt receipt;
  const keydir::KeyDir dir(node.dest);
  // Under the lock push holds while staging and installing: no staged copy is wiped while it is
  // written, and `current` cannot move between reading it and pruning around it.
  KF_TRY_ASSIGN(auto lock, keydir::DestLock::acquire(remote, dir, node.lock_timeout, "lock"));
  KF_CHECK(clean_staging(remote, node.staging, receipt));
  KF_TRY_ASSIGN(auto state, keydir::read_node_state(remote, dir, {false}, "prune"));
  KF_TRY_ASSIGN(auto leftovers, keydir::remove_leftovers(remote, dir, state, "prune"));
  receipt.leftovers_removed = leftovers.size();
  if (state.current_kind != keydir::CurrentKind::absent && !state.current) {
    return node_fail(NodeStatus::failed, "prune", "{}: {}: {}; nothing pruned", remote.node_name(),
                     dir.current(), state.describe_current());
  }
  KF_TRY_ASSIGN(receipt.pruned, keydir::prune_generations(remote, dir, state, options.keep,
                                                          options.purge_old, "prune"));
  if (!receipt.pruned.empty()) {
    // The generations are gone whatever becomes of the line: it cannot fail the cleanup.
    (void)keydir::append_history(
        remote, dir,
        {options.purge_old ? "purge" : "prune", state.current, {}, "", receipt.pruned, "cleanup"});
  }
  return receipt;
}

FleetRun<CleanupReceipt> cleanup_fleet(std::span<const NodeConfig> nodes,
                                       const CleanupOptions& options, const FleetRunOptions& run) {
  return run_on_nodes<CleanupReceipt>(
      nodes, run,
      [&](Remote& remote, const NodeConfig& node, std::optional<CleanupReceipt>& receipt) {
        auto done = cleanup_node(remote, node, options);
        if (!done) return NodeOutcome::from_error(done.error());
        receipt = std::move(*done);
        return NodeOutcome{NodeStatus::ok, "done", "", std::nullopt};
      });
}

}  // namespace kf
