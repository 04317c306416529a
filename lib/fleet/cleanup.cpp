#include "fleet/cleanup.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "keydir/history.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/staging.hpp"

namespace kf {
namespace {

// Paths and names come from the node: shown escaped, never raw.
std::string shown(std::string_view text) {
  return escape_untrusted(text, 400);
}

std::string join_shown(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + shown(item);
  return out;
}

std::string join_records(const std::vector<GenerationRecord>& records) {
  std::string out;
  for (const auto& r : records) {
    out += (out.empty() ? "" : ", ") + generation_name(r.generation);
    if (r.current) {
      out += " (current)";
    } else {
      out +=
          fmt::format(" (manifest {})",
                      r.manifest_sha256.empty() ? "unreadable" : r.manifest_sha256.substr(0, 12));
    }
  }
  return out;
}

GenerationRecord record_of(const keydir::GenerationState& g, const keydir::NodeState& state) {
  return {g.number, g.manifest_sha256, state.current == g.number};
}

std::vector<GenerationRecord> records_of(const keydir::NodeState& state) {
  std::vector<GenerationRecord> out;
  out.reserve(state.generations.size());
  for (const auto& g : state.generations) out.push_back(record_of(g, state));
  return out;
}

nlohmann::ordered_json records_json(const std::vector<GenerationRecord>& records) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : records) {
    out.push_back(
        {{"generation", r.generation},
         {"manifest_sha256", r.manifest_sha256.empty() ? nlohmann::ordered_json(nullptr)
                                                       : nlohmann::ordered_json(r.manifest_sha256)},
         {"current", r.current}});
  }
  return out;
}

nlohmann::ordered_json paths_json(const std::vector<std::string>& paths) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& p : paths) out.push_back(shown(p));
  return out;
}

// The first failure is the node's; later ones are added to its message.
void add_failure(CleanupReceipt& receipt, NodeError error) {
  if (!receipt.failure) {
    receipt.failure = std::move(error);
  } else {
    receipt.failure->message += "; " + error.message;
  }
}

// Push's staged copies (keydir/staging.hpp), nothing else: each wiped, its directory removed when
// that leaves it empty. STAGING itself stays, so that nobody else can take its name meanwhile.
NodeResult<void> clean_staging(Remote& remote, const std::string& staging, std::uint32_t uid,
                               bool dry_run, keydir::DestLock* wiper, CleanupReceipt& receipt) {
  const std::string step = "staging";
  KF_TRY_ASSIGN(auto contents, keydir::read_staging(remote, staging, uid, step));
  receipt.left_alone = std::move(contents.left_alone);
  if (!contents.refused.empty()) {
    add_failure(receipt, NodeError{NodeStatus::failed, step, contents.refused});
    return {};
  }
  bool changed = false;
  for (const auto& dir : contents.dirs) {
    if (!dir.copy.empty()) {
      if (!dry_run) {
        KF_CHECK(keydir::wipe_staged_copy(remote, dir.copy, dir.size, step, wiper,
                                          dir.only_copy ? dir.path : std::string()));
        changed = changed || dir.only_copy;
      }
      receipt.wiped.push_back(dir.copy);
    } else if (dir.only_copy && !dry_run) {
      if (auto removed = remote.rmdir(dir.path); !removed) {
        return std::unexpected(at_step(removed.error(), step));
      }
      changed = true;
    }
  }
  if (changed) {
    if (auto synced = remote.fsync_dir(staging); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  return {};
}

// Without a generation `current` names there is no telling which one the services use: a purge
// removes nothing then, and says what it left.
std::optional<NodeError> current_problem(const std::string& node, const keydir::KeyDir& dir,
                                         const keydir::NodeState& state, bool purge_old) {
  using keydir::CurrentKind;
  if (state.current_kind == CurrentKind::generation) return std::nullopt;
  if (state.current_kind == CurrentKind::absent && (!purge_old || state.generations.empty())) {
    return std::nullopt;
  }
  // Layout "link", DEST not keyfleet's and nothing of keyfleet's beside it: nothing to clean.
  if (state.current_kind == CurrentKind::unmanaged && state.generations.empty() &&
      state.adopted.empty()) {
    return std::nullopt;
  }
  std::string what = state.current_kind == CurrentKind::absent
                         ? fmt::format("{} is missing", dir.current())
                         : fmt::format("{}: {}", dir.current(), shown(state.describe_current()));
  std::string left;
  for (const auto& g : state.generations) {
    left += (left.empty() ? "" : ", ") + generation_name(g.number);
  }
  return NodeError{
      NodeStatus::failed, "prune",
      fmt::format("{}: {}; nothing {}: {} (point current at the right generation "
                  "with push or rollback, then clean up again)",
                  node, what, purge_old ? "purged" : "pruned",
                  left.empty() ? "no generation is there" : "generations " + left + " remain")};
}

// The manifests a receipt names generations by, read only for a receipt that lists them: a
// cleanup with nothing to remove reads current's alone (each one is four SFTP round trips).
// `only` empty: every generation's.
NodeResult<void> read_manifests(Remote& remote, keydir::NodeState& state,
                                std::span<const std::uint64_t> only, const std::string& step) {
  for (auto& g : state.generations) {
    if (!only.empty() && std::find(only.begin(), only.end(), g.number) == only.end()) continue;
    KF_CHECK(keydir::read_manifest_of(remote, g, step));
  }
  return {};
}

// Leftovers of interrupted runs, then generations; DEST read again after any removal, so that the
// receipt says what the node holds, not what the removals returned.
NodeResult<void> clean_dest(Remote& remote, const keydir::KeyDir& dir,
                            const CleanupOptions& options, std::size_t keep,
                            keydir::DestLock* holder, const keydir::NodeState* read,
                            CleanupReceipt& receipt) {
  const std::string step = "prune";
  keydir::NodeState state;
  if (read != nullptr) {
    state = *read;
  } else {
    KF_TRY_ASSIGN(state, keydir::read_node_state(
                             remote, dir, {false, nullptr, keydir::Manifests::current}, step));
  }
  receipt.unexpected = state.unexpected;
  if (const auto* current = state.current_generation(); current && current->manifest) {
    receipt.keyset = current->manifest->keyset;
  }
  if (options.dry_run) {
    receipt.leftovers = keydir::leftovers_to_remove(dir, state);
  } else {
    KF_TRY_ASSIGN(receipt.leftovers, keydir::remove_leftovers(remote, dir, state, step));
  }
  if (auto problem = current_problem(remote.node_name(), dir, state, options.purge_old)) {
    KF_CHECK(read_manifests(remote, state, {}, step));
    receipt.remaining = records_of(state);
    add_failure(receipt, std::move(*problem));
    return {};
  }
  std::vector<std::uint64_t> present;
  present.reserve(state.generations.size());
  for (const auto& g : state.generations) present.push_back(g.number);
  std::vector<std::uint64_t> doomed =
      keydir::generations_to_remove(present, state.current, keep, options.purge_old);
  if (!doomed.empty()) KF_CHECK(read_manifests(remote, state, doomed, step));
  std::vector<std::uint64_t> removed = doomed;
  if (!options.dry_run) {
    KF_TRY_ASSIGN(removed, keydir::remove_generations(remote, dir, state, doomed, step));
  }
  for (auto g : removed) receipt.removed.push_back(record_of(*state.generation(g), state));
  receipt.adopted = state.adopted;
  if (options.purge_old) {
    // What --adopt took over was kept as a backup: only a purge, confirmed, removes it.
    for (const auto& path : state.adopted) {
      if (!options.dry_run) {
        if (auto gone = remove_tree(remote, path); !gone) {
          return std::unexpected(at_step(gone.error(), step));
        }
      }
      receipt.adopted_removed.push_back(path);
    }
    receipt.adopted.clear();
    if (!receipt.adopted_removed.empty() && !options.dry_run) {
      if (auto synced = remote.fsync_dir(dir.home()); !synced) {
        return std::unexpected(at_step(synced.error(), step));
      }
    }
  }
  if (!removed.empty() && !options.dry_run) {
    // The generations are gone whatever becomes of the line: it cannot fail the cleanup.
    (void)keydir::append_history(
        remote, dir,
        {options.purge_old ? "purge" : "prune", state.current, {}, "", removed, "cleanup"}, holder);
  }

  const bool changed =
      !removed.empty() || !receipt.leftovers.empty() || !receipt.adopted_removed.empty();
  if (!changed && !options.purge_old) return {};
  if (options.dry_run) {
    KF_CHECK(read_manifests(remote, state, {}, step));
    for (const auto& r : records_of(state)) {
      if (std::find(doomed.begin(), doomed.end(), r.generation) == doomed.end()) {
        receipt.remaining.push_back(r);
      }
    }
    return {};
  }
  KF_TRY_ASSIGN(auto after, keydir::read_node_state(remote, dir, {false}, step));
  receipt.remaining = records_of(after);
  receipt.unexpected = after.unexpected;
  receipt.adopted = after.adopted;
  std::vector<std::string> still;
  for (auto g : removed) {
    if (after.generation(g) != nullptr) still.push_back(dir.generation(g));
  }
  for (const auto& path : receipt.adopted_removed) {
    if (std::find(after.adopted.begin(), after.adopted.end(), path) != after.adopted.end()) {
      still.push_back(path);
    }
  }
  for (const auto& path : keydir::leftovers_to_remove(dir, after)) still.push_back(path);
  if (!still.empty()) {
    add_failure(receipt, NodeError{NodeStatus::failed, step,
                                   fmt::format("{}: still on the node after their removal: {}",
                                               remote.node_name(), join_shown(still))});
  }
  return {};
}

}  // namespace

std::string describe(const CleanupReceipt& receipt) {
  const bool dry = receipt.dry_run;
  std::vector<std::string> parts;
  if (const auto n = receipt.wiped.size(); n > 0) {
    parts.push_back(
        fmt::format("{} {} staged cop{}", dry ? "would wipe" : "wiped", n, n == 1 ? "y" : "ies"));
  }
  if (!receipt.leftovers.empty()) {
    parts.push_back(fmt::format("{} leftovers of interrupted runs: {}",
                                dry ? "would remove" : "removed", join_shown(receipt.leftovers)));
  }
  if (!receipt.removed.empty()) {
    parts.push_back(fmt::format("{} generation{} {}", dry ? "would remove" : "removed",
                                receipt.removed.size() == 1 ? "" : "s",
                                join_records(receipt.removed)));
  }
  if (!receipt.adopted_removed.empty()) {
    parts.push_back(fmt::format("{} what push --adopt kept: {}", dry ? "would remove" : "removed",
                                join_shown(receipt.adopted_removed)));
  }
  if (!receipt.remaining.empty()) {
    parts.push_back(
        fmt::format("{}: {}", dry ? "would remain" : "remaining", join_records(receipt.remaining)));
  }
  if (!receipt.adopted.empty()) {
    parts.push_back(
        fmt::format("kept what push --adopt moved aside (cleanup --purge-old removes "
                    "it): {}",
                    join_shown(receipt.adopted)));
  }
  if (!receipt.left_alone.empty()) parts.push_back("left alone: " + join_shown(receipt.left_alone));
  if (!receipt.unexpected.empty()) {
    parts.push_back("not keyfleet's, left in place: " + join_shown(receipt.unexpected));
  }
  if (parts.empty()) return "nothing to clean";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

nlohmann::ordered_json to_json(const CleanupReceipt& receipt) {
  return {
      {"wiped", paths_json(receipt.wiped)},
      {"left_alone", paths_json(receipt.left_alone)},
      {"leftovers", paths_json(receipt.leftovers)},
      {"removed", records_json(receipt.removed)},
      {"remaining", records_json(receipt.remaining)},
      {"unexpected", paths_json(receipt.unexpected)},
      {"adopted_removed", paths_json(receipt.adopted_removed)},
      {"adopted", paths_json(receipt.adopted)},
  };
}

NodeResult<CleanupReceipt> cleanup_node(Remote& remote, const NodeConfig& node,
                                        const CleanupOptions& options, keydir::DestLock* held,
                                        const keydir::NodeState* dest) {
  CleanupReceipt receipt;
  receipt.dry_run = options.dry_run;
  const keydir::KeyDir dir = keydir::KeyDir::of(node);
  // Under the lock push holds while staging and installing: no staged copy is wiped while it is
  // written, and `current` cannot move between reading it and pruning around it. A dry run
  // writes nothing, DEST/.lock included.
  std::optional<keydir::DestLock> own;
  if (held == nullptr && !options.dry_run) {
    KF_TRY_ASSIGN(auto taken, keydir::DestLock::acquire(remote, dir, node.lock_timeout, "lock"));
    own.emplace(std::move(taken));
    held = &*own;
  }
  // The staged copies are the SSH user's, also with `become` (whose lock holder is root): the
  // holder wipes them only when it runs as that user.
  Remote& login = remote.login();
  keydir::DestLock* wiper = keydir::holder_is_login(remote) ? held : nullptr;
  KF_TRY_ASSIGN(auto owner, keydir::staging_owner(remote, node.staging, held, "staging"));
  KF_CHECK(clean_staging(login, owner.staging, owner.uid, options.dry_run, wiper, receipt));
  // Another's reading of DEST stands only under the lock it was read under.
  if (held == nullptr) dest = nullptr;
  KF_CHECK(clean_dest(remote, dir, options,
                      options.keep.value_or(static_cast<std::size_t>(node.keep)), held, dest,
                      receipt));
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
        if (receipt->failure) return NodeOutcome::from_error(*receipt->failure);
        return NodeOutcome{NodeStatus::ok, "done", "", std::nullopt};
      });
}

}  // namespace kf
