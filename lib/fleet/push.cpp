#include "fleet/push.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "fleet/hooks.hpp"
#include "fleet/node_history.hpp"
#include "fleet/owner.hpp"
#include "fleet/probe.hpp"
#include "keydir/install.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/plan.hpp"
#include "keydir/prune.hpp"
#include "keydir/staging.hpp"
#include "pki/manifest.hpp"

namespace kf {

namespace {

// The directory that would receive new entries for `path`: itself when it exists, else its parent.
NodeResult<std::string> writable_home(Remote& remote, const NodeConfig& node,
                                      const std::string& path, const std::string& step) {
  auto st = remote.stat(path);
  if (!st) return std::unexpected(at_step(st.error(), step));
  std::string dir = path;
  if (*st) {
    if ((*st)->type != FileType::directory) {
      return node_fail(NodeStatus::failed, step, "{}: {} is not a directory", node.name, path);
    }
  } else {
    dir = parent_path(path);
  }
  auto test = remote.exec("test -d " + shell_quote(dir) + " && test -w " + shell_quote(dir));
  if (!test) return std::unexpected(at_step(test.error(), step));
  if (!test->ok()) {
    return node_fail(NodeStatus::failed, step, "{}: {} is missing or not writable", node.name, dir);
  }
  return dir;
}

std::uint64_t installed_size(const bundle::OpenedBundle& bundle) {
  std::uint64_t total = bundle.manifest_bytes.size();
  for (const auto& file : bundle.files) total += file.data.size();
  return total;
}

// Free space and writability where push would write: staging (whose rules are checked as push
// checks them, keydir/staging.hpp; the SSH user's, also with `become`) and DEST.
NodeResult<void> check_room(Remote& remote, const NodeConfig& node, const PushPayload& payload) {
  Remote& login = remote.login();
  KF_TRY_ASSIGN(auto owner, keydir::staging_owner(login, node.staging, "staging"));
  KF_TRY_ASSIGN(auto found, keydir::inspect_staging(login, owner.staging, owner.uid, "staging"));
  KF_TRY_ASSIGN(auto staging, writable_home(login, node, found.existing, "staging"));
  KF_TRY_ASSIGN(auto dest, writable_home(remote, node, keydir::KeyDir::of(node).home(), "install"));
  const std::uint64_t staged = payload.bundle->size;
  const std::uint64_t installed = installed_size(*payload.bundle);
  auto space_of = [&](Remote& where, const std::string& dir,
                      const std::string& step) -> NodeResult<SpaceInfo> {
    auto space = where.space(dir);
    if (!space) return std::unexpected(at_step(space.error(), step));
    return *space;
  };
  KF_TRY_ASSIGN(SpaceInfo at_staging, space_of(login, staging, "staging"));
  KF_TRY_ASSIGN(SpaceInfo at_dest, space_of(remote, dest, "install"));
  // One filesystem holding both needs room for both.
  const bool shared =
      at_staging.total == at_dest.total && at_staging.available == at_dest.available;
  auto check = [&](const SpaceInfo& space, const std::string& dir, std::uint64_t needed,
                   const std::string& step) -> NodeResult<void> {
    if (space.read_only || space.available < needed) {
      return node_fail(NodeStatus::failed, step, "{}: {} has {} bytes free{}, the push needs {}",
                       node.name, dir, space.available, space.read_only ? " and is read-only" : "",
                       needed);
    }
    return {};
  };
  KF_CHECK(check(at_staging, staging, shared ? staged + installed : staged, "staging"));
  return check(at_dest, dest, installed, "install");
}

NodeResult<void> stage_and_check(Remote& remote, keydir::DestLock& lock, const NodeConfig& node,
                                 const PushPayload& payload) {
  // Only where nobody but the SSH user and root can change what is staged (keydir/staging.hpp).
  // The staged copy is the SSH user's, also with `become` (whose lock holder is root).
  Remote& login = remote.login();
  KF_TRY_ASSIGN(auto owner, keydir::staging_owner(remote, node.staging, &lock, "staging"));
  KF_TRY_ASSIGN(std::string dir,
                keydir::make_staging_dir(login, owner.staging, owner.uid, "staging"));
  std::string staged = join_path(dir, keydir::kStagedBundleName);
  // The copy is checked as the node holds it, read back before it is closed: no sha256sum
  // process on the node.
  auto back = login.upload_and_read_back(staged, payload.bundle_bytes, 0600);
  if (!back) return std::unexpected(at_step(back.error(), "upload"));
  std::string digest = sha256_hex(*back);
  if (digest != payload.bundle->sha256) {
    return node_fail(NodeStatus::failed, "digest",
                     "{}: the staged copy {} reads back as {} bytes with SHA-256 {}, the bundle "
                     "has {} bytes with SHA-256 {}",
                     node.name, staged, back->size(), digest, payload.bundle_bytes.size(),
                     payload.bundle->sha256);
  }
  return {};
}

}  // namespace

namespace {

keydir::BundleIdentity identity_of(const bundle::OpenedBundle& bundle,
                                   const keydir::GenerationContent& content) {
  return keydir::BundleIdentity::of(bundle.manifest, content);
}

// What the plan found, for the report: link texts and file names come from the node.
std::string found(const keydir::Plan& plan) {
  return escape_untrusted(plan.reason, 1000);
}

// A dry run reports every refusal as would-refuse, with the status the push would report as its
// detail: the plan counts conflicts apart from downgrades and the rest.
std::string would_report(NodeStatus status) {
  return fmt::format("push would report {}", to_string(status));
}

// A plan that changes nothing and says why: conflict (another key set, or this generation with
// other files), downgrade and a DEST keyfleet does not manage are refusals, exit 4, before any
// hook runs.
NodeOutcome refusal(const NodeConfig& node, const keydir::NodeState& state,
                    const keydir::Plan& plan, bool dry_run) {
  const NodeStatus pushed =
      plan.action == keydir::Action::conflict ? NodeStatus::conflict : NodeStatus::refused;
  std::string hint;
  switch (plan.action) {
    case keydir::Action::conflict:
      hint =
          "nothing changed; --replace-keyset installs this one and removes the other key set's "
          "generations";
      break;
    case keydir::Action::unmanaged:
      hint = fmt::format(
          "nothing changed; push --adopt moves it to {}/{}<time> (kept until cleanup "
          "--purge-old) and installs there",
          keydir::KeyDir::of(node).home(), keydir::kAdoptedPrefix);
      break;
    default:
      hint = "nothing changed; --allow-downgrade installs it anyway";
      break;
  }
  return {dry_run ? NodeStatus::would_refuse : pushed, "decide",
          fmt::format("{}: {}: {}", node.name, found(plan), hint), state.current,
          dry_run ? would_report(pushed) : std::string()};
}

NodeStatus planned_status(keydir::Action action) {
  switch (action) {
    case keydir::Action::repair:
      return NodeStatus::would_repair;
    case keydir::Action::reactivate:
      return NodeStatus::would_reactivate;
    case keydir::Action::unchanged:
      return NodeStatus::unchanged;
    default:
      return NodeStatus::would_install;
  }
}

NodeStatus done_status(keydir::Action action) {
  switch (action) {
    case keydir::Action::repair:
      return NodeStatus::repaired;
    case keydir::Action::reactivate:
      return NodeStatus::reactivated;
    default:
      return NodeStatus::ok;
  }
}

bool refuses(const keydir::Plan& plan) {
  return plan.action == keydir::Action::conflict || plan.action == keydir::Action::downgrade ||
         plan.action == keydir::Action::unmanaged;
}

// What --adopt does, for the report: `where` is the adopted-* path, or "" for a dry run.
std::string adoption(const keydir::KeyDir& dir, const std::string& where) {
  if (where.empty()) {
    return fmt::format("--adopt: would move {} to {}/{}<time> (kept), then install", dir.current(),
                       dir.home(), keydir::kAdoptedPrefix);
  }
  return fmt::format("moved what was at {} to {} (kept; cleanup --purge-old removes it)",
                     dir.current(), where);
}

NodeOutcome dry_run(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                    const keydir::NodeState& state, const keydir::Plan& plan) {
  if (refuses(plan)) return refusal(node, state, plan, true);
  NodeOutcome planned{planned_status(plan.action), "decide", "", state.current, found(plan)};
  if (plan.adopt) planned.detail += "; " + adoption(keydir::KeyDir::of(node), "");
  if (plan.action == keydir::Action::unchanged) return planned;
  if (auto owner = resolve_owner(remote, node); !owner) {
    return NodeOutcome::from_error(owner.error(), state.current);
  }
  if (auto room = check_room(remote, node, payload); !room) {
    return NodeOutcome::from_error(room.error(), state.current);
  }
  return planned;
}

// The inventory's `keep` after an install, under the same lock, with the one pruning policy
// (keydir/prune.hpp). The install stands whatever happens here: a failure is only reported.
std::string prune_after_install(Remote& remote, const NodeConfig& node, const keydir::KeyDir& dir) {
  // Pruning goes by generation numbers: no manifest is read.
  auto state =
      keydir::read_node_state(remote, dir, {false, nullptr, keydir::Manifests::none}, "prune");
  if (!state) return "not pruned: " + state.error().message;
  auto pruned = keydir::prune_generations(remote, dir, *state, static_cast<std::size_t>(node.keep),
                                          false, "prune");
  if (!pruned) return "not pruned: " + pruned.error().message;
  if (pruned->empty()) return "";
  std::vector<std::string> names;
  for (auto g : *pruned) names.push_back(generation_name(g));
  return fmt::format("pruned {} (keep = {})", fmt::join(names, ", "), node.keep);
}

// The rest of a push once DEST/.lock is held and the plan is final.
NodeOutcome push_locked(Remote& remote, keydir::DestLock& lock, const NodeConfig& node,
                        const PushPayload& payload, const PushOptions& options,
                        keydir::NodeState& state, const keydir::Plan& plan,
                        const keydir::GenerationContent& content,
                        const std::optional<keydir::Owner>& owner) {
  const keydir::KeyDir dir = keydir::KeyDir::of(node);
  const std::uint64_t generation = content.number;
  // Leftovers of interrupted runs may hold plaintext keys: removed, and named in the report.
  std::string leftovers;
  auto noted = [&](NodeOutcome outcome) {
    if (!leftovers.empty()) outcome.detail += (outcome.detail.empty() ? "" : "; ") + leftovers;
    return outcome;
  };
  auto fail = [&](NodeError e) {
    return noted(NodeOutcome::from_error(std::move(e), state.current));
  };
  if (auto removed = keydir::remove_leftovers(remote, dir, state, "staging"); !removed) {
    return fail(removed.error());
  } else if (!removed->empty()) {
    state.leftovers.clear();
    std::vector<std::string> names;
    for (const auto& path : *removed) names.push_back(escape_untrusted(path, 300));
    leftovers = fmt::format("removed leftovers of interrupted runs: {}", fmt::join(names, ", "));
  }
  if (plan.action == keydir::Action::unchanged) {
    // Verified identical: nothing to install, but hooks a lost connection left owed run now, and
    // the check runs again (once): a failed check is never hidden behind `unchanged`.
    auto owed = run_owed_hooks(remote, node, dir, state);
    if (!owed) return fail(owed.error());
    if (!*owed) {
      if (auto check = run_hook(remote, node, "check", node.check, generation); !check) {
        return fail(check.error());
      }
    }
    return noted({NodeStatus::unchanged, "check", "", generation, {}});
  }
  if (auto staged = stage_and_check(remote, lock, node, payload); !staged) {
    return fail(staged.error());
  }
  if (options.no_install) {
    return noted({NodeStatus::staged, "digest", "", state.current, found(plan)});
  }
  if (auto pre = run_hook(remote, node, "pre", node.pre, generation); !pre) {
    return fail(pre.error());
  }
  if (auto owed = record_owed_hooks(remote, dir, node, generation, "push", "install"); !owed) {
    return fail(owed.error());
  }
  keydir::InstallOptions install;
  install.lock_wait = node.lock_timeout;
  install.owner = owner;
  auto installed = keydir::apply_plan(remote, &lock, dir, state, plan, content, install, "install");
  if (!installed) {
    // Report what is: the switch may have happened before the failure (a deadline during the
    // fsync that follows it).
    NodeError error = installed.error();
    auto reread = keydir::read_node_state(remote, dir, {false}, "install");
    if (!reread) {
      error.message += current_unread_note(error, node, dir, generation);
      return noted(NodeOutcome::from_error(std::move(error), std::nullopt));
    }
    const std::optional<std::uint64_t> now = reread->current;
    if (now == generation && state.current != generation) {
      error.message += fmt::format("; current is generation {}", generation);
      if (!node.post.empty() || !node.check.empty()) {
        error.message += fmt::format(
            ": its post and check hooks did not run (recorded in {}: the next push or rollback "
            "runs them)",
            dir.pending());
      }
    } else {
      (void)keydir::clear_pending(remote, dir, "install");
    }
    return noted(NodeOutcome::from_error(std::move(error), now));
  }
  AfterSwitch after{"push", options.keep_failed, done_status(plan.action)};
  if (node.probe) {
    after.after_check =
        served_check_after_install(node, *payload.bundle, agent_fingerprints(state, generation));
  }
  NodeOutcome outcome = finish_switch(remote, &lock, node, dir, generation, plan.previous, after);
  if (auto action = push_history_action(outcome.status); !action.empty()) {
    note_history(
        remote, dir, outcome,
        {action, outcome.generation, state.current, payload.bundle->manifest.keyset, {}, "push"},
        &lock);
  }
  outcome.detail = found(plan);
  if (!installed->adopted.empty()) outcome.detail += "; " + adoption(dir, installed->adopted);
  for (const auto& warning : installed->warnings) {
    outcome.detail += (outcome.detail.empty() ? "" : "; ") + warning;
  }
  if (is_success(outcome.status) && !plan.foreign_generations.empty()) {
    auto after_state = keydir::read_node_state(remote, dir, {false}, "install");
    auto removed =
        after_state ? keydir::remove_generations(remote, dir, *after_state,
                                                 plan.foreign_generations, "install")
                    : NodeResult<std::vector<std::uint64_t>>(std::unexpected(after_state.error()));
    if (!removed) return noted(NodeOutcome::from_error(removed.error(), generation));
    // The other key set's generations/G went already: the install replaced it.
    if (std::find(plan.foreign_generations.begin(), plan.foreign_generations.end(), generation) !=
        plan.foreign_generations.end()) {
      removed->push_back(generation);
      std::sort(removed->begin(), removed->end());
    }
    outcome.detail += fmt::format("{}removed the other key set's generations {}",
                                  outcome.detail.empty() ? "" : "; ", fmt::join(*removed, ", "));
  }
  if (is_success(outcome.status)) {
    if (std::string pruned = prune_after_install(remote, node, dir); !pruned.empty()) {
      outcome.detail += (outcome.detail.empty() ? "" : "; ") + pruned;
    }
  }
  return noted(std::move(outcome));
}

}  // namespace

NodeOutcome push_node(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                      const PushOptions& options, keydir::DestLock* held,
                      const std::optional<keydir::Owner>* resolved_owner) {
  const auto& bundle = *payload.bundle;
  const keydir::GenerationContent content = keydir::GenerationContent::of(bundle);
  const keydir::BundleIdentity identity = identity_of(bundle, content);
  const keydir::DecideOptions decide_options{options.allow_downgrade, options.replace_keyset,
                                             options.adopt};
  const keydir::KeyDir dir = keydir::KeyDir::of(node);

  // Every manifest only where something reads them: foreign() for --replace-keyset, the served
  // check for the agent certificates of earlier generations. Each is four SFTP round trips.
  const keydir::Manifests manifests =
      options.replace_keyset || node.probe ? keydir::Manifests::all : keydir::Manifests::current;
  auto state = keydir::read_for_plan(remote, dir, content.number, "read", held, manifests);
  if (!state) return NodeOutcome::from_error(state.error());
  keydir::Plan plan = keydir::decide(*state, identity, decide_options);
  if (options.dry_run) return dry_run(remote, node, payload, *state, plan);
  // Every refusal before anything is written and before any hook runs.
  if (refuses(plan)) return refusal(node, *state, plan, false);
  if (plan.action == keydir::Action::unchanged && node.check.empty() && !state->pending &&
      !state->pending_unreadable) {
    return {NodeStatus::unchanged, "decide", "", state->current, {}};
  }
  std::optional<keydir::Owner> owner;
  if (resolved_owner != nullptr) {
    owner = *resolved_owner;
  } else if (plan.action != keydir::Action::unchanged) {
    auto resolved = resolve_owner(remote, node);
    if (!resolved) return NodeOutcome::from_error(resolved.error(), state->current);
    owner = *resolved;
  }

  if (held != nullptr) {
    return push_locked(remote, *held, node, payload, options, *state, plan, content, owner);
  }
  // Cleanup and rollback take the same lock: nothing else changes DEST while this push stages,
  // installs and runs its hooks. Its holder on the node also runs the digest, the switch and the
  // history append, so the push starts one shell there.
  // A HOME the lock creates for an owner must let it reach the generations.
  auto lock =
      keydir::DestLock::acquire(remote, dir, node.lock_timeout, "staging",
                                owner ? std::optional<std::uint32_t>(owner->gid) : std::nullopt);
  if (!lock) return NodeOutcome::from_error(lock.error(), state->current);
  // Under the lock the node may have changed (another push was first): decided again.
  state = keydir::read_for_plan(remote, dir, content.number, "read", &*lock, manifests);
  if (!state) return NodeOutcome::from_error(state.error());
  plan = keydir::decide(*state, identity, decide_options);
  if (refuses(plan)) return refusal(node, *state, plan, false);
  if (!owner && plan.action != keydir::Action::unchanged) {
    auto resolved = resolve_owner(remote, node);
    if (!resolved) return NodeOutcome::from_error(resolved.error(), state->current);
    owner = *resolved;
  }
  return push_locked(remote, *lock, node, payload, options, *state, plan, content, owner);
}

std::string describe_plan(const std::vector<NodeReport>& planned) {
  auto count = [&](const std::function<bool(const NodeReport&)>& counted) {
    return static_cast<std::size_t>(std::count_if(planned.begin(), planned.end(), counted));
  };
  auto of = [&](NodeStatus status) {
    return count([status](const NodeReport& n) { return n.status == status; });
  };
  const std::string conflict = would_report(NodeStatus::conflict);
  const std::size_t conflicts = count([&](const NodeReport& n) {
    return n.status == NodeStatus::would_refuse && n.detail == conflict;
  });
  std::vector<std::string> parts;
  auto add = [&](std::size_t n, std::string_view what) {
    if (n > 0) parts.push_back(fmt::format("{} {}", n, what));
  };
  // What push would do first, in the order its help promises; then the nodes not read.
  add(of(NodeStatus::would_install), "to install");
  add(of(NodeStatus::would_repair), "to repair");
  add(of(NodeStatus::would_reactivate), "to reactivate");
  add(of(NodeStatus::unchanged), "unchanged");
  add(conflicts, conflicts == 1 ? "conflict" : "conflicts");
  add(of(NodeStatus::would_refuse) - conflicts, "refused");
  for (const auto& [status, n] : tally(planned)) {
    switch (status) {
      case NodeStatus::would_install:
      case NodeStatus::would_repair:
      case NodeStatus::would_reactivate:
      case NodeStatus::unchanged:
      case NodeStatus::would_refuse:
        break;
      default:
        add(n, to_string(status));
        break;
    }
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

PendingBundle open_in_background(const bundle::CheckedBundleFile& file, bundle::OpenKey key) {
  return std::async(
             std::launch::async,
             [&file, key = std::move(key)] { return bundle::open_checked_bundle(file, key); })
      .share();
}

std::vector<NodeReport> push_fleet(std::span<const NodeConfig> nodes,
                                   std::span<const std::uint8_t> bundle_bytes,
                                   const PendingBundle& bundle, const PushOptions& options,
                                   const FleetRunOptions& run) {
  auto unopened = [] {
    return NodeOutcome{
        NodeStatus::skipped, "bundle", "the bundle could not be opened", std::nullopt, {}};
  };
  FleetRunOptions push_run = run;
  push_run.before_connect = [&](const NodeConfig&) -> std::optional<NodeOutcome> {
    const bool decrypted = bundle.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    if (decrypted && !bundle.get()) return unopened();
    return std::nullopt;
  };
  return run_on_nodes(nodes, push_run, [&](Remote& remote, const NodeConfig& node) {
    remote.off_the_clock([&] { bundle.wait(); });
    const auto& opened = bundle.get();
    if (!opened) return unopened();
    return push_node(remote, node, PushPayload{bundle_bytes, &*opened}, options);
  });
}

}  // namespace kf
