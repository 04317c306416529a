#include "keydir/local_install.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <boost/filesystem/operations.hpp>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "keydir/crash_point.hpp"
#include "keydir/history.hpp"
#include "keydir/local_remote.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/plan.hpp"

namespace kf::keydir {
namespace {

std::optional<std::uint32_t> parse_id(const std::string& text) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(std::stoul(text));
}

Result<void> check_parent(const fs::path& path) {
  struct stat st {};
  fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(ExitCode::usage, "cannot create {}: its parent directory does not exist",
                path.string());
  }
  return {};
}

// What the local filesystem says about keyfleet's directory (DEST, or DEST.generations) before
// any key directory code runs: a missing parent is the operator's typo (usage), a symlinked one a
// refusal.
Result<void> check_home(const fs::path& home, DestLayout layout) {
  struct stat st {};
  if (::lstat(home.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      // HOME/.lock would be created through it, outside it: give the real directory instead.
      return fail(ExitCode::refused, "{} is a symlink: {}", home.string(),
                  layout == DestLayout::link
                      ? "keyfleet keeps its generations only in a real directory"
                      : "give the directory it points at as --dest");
    }
    if (!S_ISDIR(st.st_mode)) {
      return fail(ExitCode::refused, "{} exists and is not a directory", home.string());
    }
    return {};
  }
  if (errno != ENOENT) return fail_errno(fmt::format("cannot stat {}", home.string()));
  return check_parent(home);
}

}  // namespace

Result<Owner> parse_owner(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size() ||
      spec.find(':', colon + 1) != std::string_view::npos) {
    return fail(ExitCode::usage, "--owner '{}': expected USER:GROUP, e.g. --owner agent:agent",
                spec);
  }
  std::string user(spec.substr(0, colon));
  std::string group(spec.substr(colon + 1));
  std::vector<char> buf(1 << 16);
  Owner owner;
  if (auto id = parse_id(user)) {
    owner.uid = *id;
  } else {
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return fail(ExitCode::usage, "--owner {}: no user '{}' on this machine", spec, user);
    }
    owner.uid = found->pw_uid;
  }
  if (auto id = parse_id(group)) {
    owner.gid = *id;
  } else {
    struct group gr {};
    struct group* found = nullptr;
    if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return fail(ExitCode::usage, "--owner {}: no group '{}' on this machine", spec, group);
    }
    owner.gid = found->gr_gid;
  }
  return owner;
}

Result<InstallReport> install_bundle(const bundle::OpenedBundle& bundle, const fs::path& dest,
                                     const LocalInstallOptions& options) {
  if (options.keep < kMinKeep) {
    return fail(ExitCode::usage, "--keep {}: must be at least {} (current and the one before it)",
                options.keep, kMinKeep);
  }
  ScopedUmask umask(077);
  const KeyDir dir(lexically_normal(fs::absolute(dest).string()), options.layout,
                   options.runtime_files);
  KF_CHECK(check_home(dir.home(), options.layout));
  LocalRemote remote("unpack");
  const GenerationContent content = GenerationContent::of(bundle);
  InstallOptions install_options;
  install_options.owner = options.owner;
  install_options.lock_wait = 0;

  InstallReport report;
  report.dest = dest;
  report.generation = content.number;
  KF_CHECK(as_result(ensure_layout(remote, dir, install_options, "install")));
  // Never a wait: two installs must not interleave, and an operator wants to know at once.
  KF_TRY_ASSIGN(DestLock lock, as_result(DestLock::acquire(remote, dir, 0, "lock")));
  crash_point("locked");
  KF_TRY_ASSIGN(NodeState state, as_result(read_for_plan(remote, dir, content.number, "read")));
  KF_TRY_ASSIGN(auto removed, as_result(remove_leftovers(remote, dir, state, "install")));
  report.leftovers_removed = removed.size();
  if (!removed.empty()) state.leftovers.clear();
  crash_point("leftovers-removed");
  report.previous = state.current;
  // The same decision push makes on a node (keydir/plan.hpp).
  const Plan plan = decide(state, BundleIdentity::of(bundle.manifest, content),
                           {options.allow_downgrade, options.replace_keyset, options.adopt});
  report.detail = plan.reason;
  report.link = dir.current();
  report.link_target = dir.link_target(content.number);
  switch (plan.action) {
    case Action::conflict:
      return fail(ExitCode::refused,
                  "{}: {}: nothing changed (--replace-keyset installs this key set and removes "
                  "the other one's generations)",
                  dest.string(), plan.reason);
    case Action::downgrade:
      return fail(ExitCode::refused,
                  "{}: {}: refusing a downgrade (pass --allow-downgrade if you mean it)",
                  dest.string(), plan.reason);
    case Action::unmanaged:
      return fail(ExitCode::refused,
                  "{}: nothing changed: --adopt moves it to {}/{}<time> first, kept, and installs "
                  "there",
                  escape_untrusted(plan.reason, 400), dir.home(), kAdoptedPrefix);
    case Action::unchanged:
      report.action = "unchanged";
      report.files.emplace_back(kManifestName);
      for (const auto& f : bundle.files) report.files.push_back(f.name);
      return report;
    default:
      break;
  }
  KF_TRY_ASSIGN(auto installed, as_result(apply_plan(remote, &lock, dir, state, plan, content,
                                                     install_options, "install")));
  report.action = plan.action == Action::repair       ? "repaired"
                  : plan.action == Action::reactivate ? "reactivated"
                                                      : "installed";
  report.reused = installed.reused;
  report.adopted = installed.adopted;
  HistoryEntry entry{plan.action == Action::repair       ? "repair"
                     : plan.action == Action::reactivate ? "reactivate"
                                                         : "install",
                     content.number,
                     state.current,
                     bundle.manifest.keyset,
                     {},
                     "unpack"};
  if (auto noted = append_history(remote, dir, entry); !noted) {
    report.warnings.push_back(noted.error().message);
  }
  for (auto& warning : installed.warnings) report.warnings.push_back(std::move(warning));
  if (!plan.foreign_generations.empty()) {
    KF_TRY_ASSIGN(NodeState now, as_result(read_node_state(remote, dir, {false}, "install")));
    KF_TRY_ASSIGN(
        report.removed_foreign,
        as_result(remove_generations(remote, dir, now, plan.foreign_generations, "install")));
  }

  if (auto after = read_node_state(remote, dir, {false}, "prune"); after) {
    if (auto pruned = prune_generations(remote, dir, *after, options.keep, false, "prune")) {
      report.pruned = std::move(*pruned);
    } else {
      report.warnings.push_back(pruned.error().message);
    }
  } else {
    report.warnings.push_back(after.error().message);
  }
  crash_point("done");
  report.files.emplace_back(kManifestName);
  for (const auto& f : bundle.files) report.files.push_back(f.name);
  return report;
}

}  // namespace kf::keydir
