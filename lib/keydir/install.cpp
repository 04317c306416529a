#include "keydir/install.hpp"

#include <algorithm>
#include <ctime>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "keydir/crash_point.hpp"
#include "keydir/plan.hpp"
#include "keydir/switch.hpp"
#include "pki/keyset_path.hpp"

namespace kf::keydir {
namespace {

constexpr mode_t kManifestMode = 0644;

// `st`: what lstat found at `path` a moment ago.
NodeResult<void> make_dir(Remote& remote, const std::string& path, const InstallOptions& options,
                          const std::optional<RemoteStat>& st) {
  if (st) {
    if (st->type == FileType::directory) return {};
    // A symlink too: what keyfleet writes stays inside the key directory.
    return node_fail(NodeStatus::refused, "install", "{}: {} exists and is not a directory",
                     remote.node_name(), path);
  }
  KF_TRY_ASSIGN(auto parent, remote.stat(parent_path(path)));
  if (!parent) {
    return node_fail(NodeStatus::failed, "install",
                     "{}: cannot create {}: its parent directory does not exist",
                     remote.node_name(), path);
  }
  KF_CHECK(remote.mkdir(path, options.owner ? 0710 : 0700));
  if (options.owner)
    KF_CHECK(remote.chown(path, static_cast<std::uint32_t>(-1), options.owner->gid));
  return remote.fsync_dir(parent_path(path));
}

// The bundle's reader checked every name already; the side that writes checks again.
NodeResult<void> check_name(Remote& remote, const std::string& name) {
  if (std::string problem = relative_path_problem(name); !problem.empty()) {
    return node_fail(NodeStatus::failed, "install", "{}: refusing to write '{}': {}",
                     remote.node_name(), escape_untrusted(name), problem);
  }
  return {};
}

}  // namespace

GenerationContent GenerationContent::of(const bundle::OpenedBundle& bundle) {
  GenerationContent content;
  content.number = bundle.manifest.generation;
  content.manifest_bytes = bundle.manifest_bytes;
  content.manifest_sha256 = sha256_hex(bundle.manifest_bytes);
  content.directories = bundle.manifest.directories;
  for (const auto& file : bundle.files) content.files.push_back({file.name, file.mode, file.data});
  return content;
}

bool GenerationContent::matches(const GenerationState& generation) const {
  if (!generation.files_read || generation.manifest_sha256 != manifest_sha256 ||
      !generation.irregular.empty()) {
    return false;
  }
  // What the generation ignores (runtime files) was never written nor read.
  std::vector<ManifestDirectory> want_dirs;
  for (const auto& d : directories) {
    if (!generation.ignores(d.name, true)) want_dirs.push_back(d);
  }
  std::size_t want_files = 0;
  for (const auto& want : files) {
    if (generation.ignores(want.name, false)) continue;
    ++want_files;
    auto it = std::find_if(generation.files.begin(), generation.files.end(),
                           [&](const InstalledFile& f) { return f.name == want.name; });
    if (it == generation.files.end() || it->size != want.data.size() || it->mode != want.mode ||
        it->sha256 != sha256_hex(want.data)) {
      return false;
    }
  }
  return generation.files.size() == want_files && generation.directories == want_dirs;
}

NodeResult<void> ensure_layout(Remote& remote, const KeyDir& dir, const InstallOptions& options,
                               const std::string& step) {
  // Both looked at in one round trip; made in order when missing.
  std::vector<std::string> paths{dir.home()};
  if (dir.generations() != dir.home()) paths.push_back(dir.generations());
  auto found = remote.survey({}, paths);
  if (!found) return std::unexpected(at_step(found.error(), step));
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (auto made = make_dir(remote, paths[i], options, found->links[i].stat); !made) {
      return std::unexpected(at_step(made.error(), step));
    }
  }
  return {};
}

NodeResult<std::string> write_temp_generation(Remote& remote, const KeyDir& dir,
                                              const GenerationContent& content,
                                              const InstallOptions& options,
                                              const std::string& step) {
  std::string name = std::string(kTempPrefix) + random_hex(8);
  const std::string path = dir.generation_entry(name);
  auto write = [&]() -> NodeResult<void> {
    KF_CHECK(remote.mkdir(path, 0700));
    crash_point("temp-created");
    for (const auto& d : content.directories) {
      if (dir.is_runtime(d.name, true)) continue;
      KF_CHECK(check_name(remote, d.name));
      const std::string dir_path = join_path(path, d.name);
      KF_CHECK(remote.mkdir(dir_path, d.mode));
      KF_TRY_ASSIGN(auto made, remote.lstat(dir_path));
      if (!made || made->type != FileType::directory) {
        return node_fail(NodeStatus::failed, "install",
                         "{}: {} is not the directory keyfleet just created", remote.node_name(),
                         escape_untrusted(dir_path));
      }
      if (options.owner) KF_CHECK(remote.chown(dir_path, options.owner->uid, options.owner->gid));
    }
    // The manifest first, then every file, together: over SSH two round trips for all of them,
    // not two each.
    std::vector<NewFile> files{
        NewFile{join_path(path, kManifestName), content.manifest_bytes, kManifestMode}};
    for (const auto& file : content.files) {
      if (dir.is_runtime(file.name, false)) continue;
      KF_CHECK(check_name(remote, file.name));
      files.push_back(NewFile{join_path(path, file.name), file.data, file.mode});
    }
    KF_CHECK(remote.upload_all(files));
    crash_point("file-written");
    if (options.owner) {
      for (const auto& file : files) {
        KF_CHECK(remote.chown(file.path, options.owner->uid, options.owner->gid));
      }
    }
    for (const auto& d : content.directories) {
      if (!dir.is_runtime(d.name, true)) KF_CHECK(remote.fsync_dir(join_path(path, d.name)));
    }
    if (options.owner) KF_CHECK(remote.chown(path, options.owner->uid, options.owner->gid));
    return remote.fsync_dir(path);
  };
  if (auto written = write(); !written) {
    (void)remove_tree(remote, path);  // best effort: a leftover is removed by the next run
    return std::unexpected(at_step(written.error(), step));
  }
  crash_point("files-synced");
  return name;
}

namespace {

NodeResult<std::string> move_aside(Remote& remote, const KeyDir& dir, const std::string& path,
                                   const std::string& step) {
  std::string doomed = dir.generation_entry(std::string(kPrunePrefix) + random_hex(8));
  if (auto moved = remote.rename(path, doomed); !moved) {
    return std::unexpected(at_step(moved.error(), step));
  }
  return doomed;
}

}  // namespace

NodeResult<InstallResult> apply_plan(Remote& remote, DestLock* lock, const KeyDir& dir,
                                     NodeState& state, const Plan& plan,
                                     const GenerationContent& content,
                                     const InstallOptions& options, const std::string& step) {
  InstallResult result;
  SwitchRequest request;
  request.entry = generation_name(content.number);
  if (state.current_kind != CurrentKind::absent) request.expected = state.current_text;
  KF_CHECK(ensure_layout(remote, dir, options, step));
  // What is at the link's path and is no link of keyfleet's cannot be renamed over: the switch
  // moves it aside first (and back if the link cannot take its place). A file or directory
  // where DEST/current belongs is removed afterwards; what --adopt takes over is kept.
  if (plan.adopt) {
    result.adopted = dir.adopted_path(static_cast<std::int64_t>(std::time(nullptr)));
    request.aside = result.adopted;
    if (state.current_type != FileType::symlink) request.expected.reset();
  } else if (state.current_kind == CurrentKind::not_symlink) {
    request.aside = dir.generation_entry(std::string(kPrunePrefix) + random_hex(8));
    request.expected.reset();
  }
  const bool remove_aside = !request.aside.empty() && !plan.adopt;
  auto switched = [&]() -> NodeResult<InstallResult> {
    if (remove_aside) {
      if (auto removed = remove_tree(remote, request.aside); !removed) {
        result.warnings.push_back(removed.error().message);
      }
    }
    return result;
  };
  const GenerationState* existing = state.generation(content.number);

  if (plan.action == Action::reactivate || (existing != nullptr && !plan.replace_existing)) {
    // generations/G must hold exactly B: then only the link moves.
    GenerationState* target = state.generation(content.number);
    if (target == nullptr) {
      return node_fail(NodeStatus::failed, step, "{}: {} is gone", remote.node_name(),
                       dir.generation(content.number));
    }
    if (!target->files_read) {
      if (auto read = read_files(remote, *target, lock); !read) {
        return std::unexpected(at_step(read.error(), step));
      }
    }
    if (!content.matches(*target)) {
      return node_fail(NodeStatus::refused, step,
                       "{}: {} already exists and differs from this bundle: keyfleet never "
                       "overwrites an installed generation",
                       remote.node_name(), target->path);
    }
    KF_CHECK(switch_current(remote, lock, dir, request, options.lock_wait, step));
    result.reused = true;
    return switched();
  }

  KF_TRY_ASSIGN(request.temp, write_temp_generation(remote, dir, content, options, step));
  auto drop_temp = [&] { (void)remove_tree(remote, dir.generation_entry(request.temp)); };
  if (existing != nullptr && plan.replace_current) {
    // The link names generations/G: first point it at the complete copy under its temporary
    // name, then G can move aside.
    SwitchRequest to_copy{"", request.temp, request.expected, request.aside};
    if (auto moved = switch_current(remote, lock, dir, to_copy, options.lock_wait, step); !moved) {
      drop_temp();
      return std::unexpected(moved.error());
    }
    const std::string copy = request.temp;
    request.expected = dir.link_target_of(copy);
    request.aside.clear();
    KF_TRY_ASSIGN(std::string old, move_aside(remote, dir, existing->path, step));
    // From here on the link names the temporary copy: a failure leaves it there, complete, and
    // the next push finds a link that is no generation directory and repairs it.
    KF_TRY_ASSIGN(request.temp, write_temp_generation(remote, dir, content, options, step));
    if (auto moved = switch_current(remote, lock, dir, request, options.lock_wait, step); !moved) {
      drop_temp();
      return std::unexpected(moved.error());
    }
    (void)remove_tree(remote, old);
    if (auto removed = remove_tree(remote, dir.generation_entry(copy)); !removed) {
      result.warnings.push_back(removed.error().message);
    }
    request.aside = to_copy.aside;
    return switched();
  }
  std::optional<std::string> old;
  if (existing != nullptr) {
    auto moved = move_aside(remote, dir, existing->path, step);
    if (!moved) {
      drop_temp();
      return std::unexpected(moved.error());
    }
    old = *moved;
  }
  if (auto moved = switch_current(remote, lock, dir, request, options.lock_wait, step); !moved) {
    drop_temp();
    // Put the replaced generation back where it was: the node ends as it was found.
    if (old) (void)remote.rename(*old, existing->path);
    return std::unexpected(moved.error());
  }
  if (old) {
    if (auto removed = remove_tree(remote, *old); !removed) {
      result.warnings.push_back(removed.error().message);
    }
  }
  return switched();
}

}  // namespace kf::keydir
