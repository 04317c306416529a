#include "keydir/install.hpp"

#include <algorithm>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "keydir/crash_point.hpp"
#include "keydir/plan.hpp"
#include "keydir/switch.hpp"
#include "pki/keyset_path.hpp"

namespace kf::keydir {
namespace {

constexpr mode_t kManifestMode = 0644;

NodeResult<void> make_dir(Remote& remote, const std::string& path, const InstallOptions& options) {
  KF_TRY_ASSIGN(auto st, remote.lstat(path));
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
      !generation.irregular.empty() || generation.files.size() != files.size() ||
      generation.directories != directories) {
    return false;
  }
  for (const auto& want : files) {
    auto it = std::find_if(generation.files.begin(), generation.files.end(),
                           [&](const InstalledFile& f) { return f.name == want.name; });
    if (it == generation.files.end() || it->size != want.data.size() || it->mode != want.mode ||
        it->sha256 != sha256_hex(want.data)) {
      return false;
    }
  }
  return true;
}

NodeResult<void> ensure_layout(Remote& remote, const KeyDir& dir, const InstallOptions& options,
                               const std::string& step) {
  auto made = make_dir(remote, dir.dest(), options);
  if (made) made = make_dir(remote, dir.generations(), options);
  if (!made) return std::unexpected(at_step(made.error(), step));
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
    auto put = [&](const std::string& file, std::span<const std::uint8_t> data,
                   mode_t mode) -> NodeResult<void> {
      const std::string file_path = join_path(path, file);
      KF_CHECK(remote.upload(file_path, data, mode));
      if (options.owner) KF_CHECK(remote.chown(file_path, options.owner->uid, options.owner->gid));
      return {};
    };
    KF_CHECK(put(std::string(kManifestName), content.manifest_bytes, kManifestMode));
    crash_point("file-written");
    for (const auto& d : content.directories) {
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
    for (const auto& file : content.files) {
      KF_CHECK(check_name(remote, file.name));
      KF_CHECK(put(file.name, file.data, file.mode));
    }
    for (const auto& d : content.directories) KF_CHECK(remote.fsync_dir(join_path(path, d.name)));
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
  // A file or directory where the link belongs cannot be renamed over: moved aside first, put
  // back if the switch does not happen, removed once it has.
  std::optional<std::string> displaced;
  if (state.current_kind == CurrentKind::not_symlink) {
    KF_TRY_ASSIGN(displaced, move_aside(remote, dir, dir.current(), step));
    request.expected.reset();
  }
  auto switched_from_displaced = [&]() -> NodeResult<InstallResult> {
    if (displaced) {
      if (auto removed = remove_tree(remote, *displaced); !removed) {
        result.warnings.push_back(removed.error().message);
      }
    }
    return result;
  };
  auto keep_displaced = [&](NodeError error) -> NodeResult<InstallResult> {
    if (displaced && !remote.lstat(dir.current()).value_or(std::nullopt)) {
      (void)remote.rename(*displaced, dir.current());
    }
    return std::unexpected(std::move(error));
  };
  const GenerationState* existing = state.generation(content.number);

  if (plan.action == Action::reactivate || (existing != nullptr && !plan.replace_existing)) {
    // generations/G must hold exactly B: then only `current` moves.
    GenerationState* target = state.generation(content.number);
    if (target == nullptr) {
      return keep_displaced(NodeError{
          NodeStatus::failed, step,
          fmt::format("{}: {} is gone", remote.node_name(), dir.generation(content.number))});
    }
    if (!target->files_read) {
      if (auto read = read_files(remote, *target); !read) {
        return keep_displaced(at_step(read.error(), step));
      }
    }
    if (!content.matches(*target)) {
      return keep_displaced(NodeError{
          NodeStatus::refused, step,
          fmt::format("{}: {} already exists and differs from this bundle: keyfleet never "
                      "overwrites an installed generation",
                      remote.node_name(), target->path)});
    }
    if (auto switched = switch_current(remote, lock, dir, request, options.lock_wait, step);
        !switched) {
      return keep_displaced(switched.error());
    }
    result.reused = true;
    return switched_from_displaced();
  }

  auto temp = write_temp_generation(remote, dir, content, options, step);
  if (!temp) return keep_displaced(temp.error());
  request.temp = *temp;
  auto drop_temp = [&] { (void)remove_tree(remote, dir.generation_entry(request.temp)); };
  if (existing != nullptr && plan.replace_current) {
    // `current` names generations/G: first point it at the complete copy under its temporary
    // name, then G can move aside.
    SwitchRequest to_copy{"", request.temp, request.expected};
    if (auto switched = switch_current(remote, lock, dir, to_copy, options.lock_wait, step);
        !switched) {
      drop_temp();
      return std::unexpected(switched.error());
    }
    const std::string copy = request.temp;
    request.expected = KeyDir::link_target_of(copy);
    KF_TRY_ASSIGN(std::string old, move_aside(remote, dir, existing->path, step));
    // From here on `current` is the temporary copy: a failure leaves it there, complete, and
    // the next push finds a `current` that is no generation directory and repairs it.
    KF_TRY_ASSIGN(request.temp, write_temp_generation(remote, dir, content, options, step));
    if (auto switched = switch_current(remote, lock, dir, request, options.lock_wait, step);
        !switched) {
      drop_temp();
      return std::unexpected(switched.error());
    }
    (void)remove_tree(remote, old);
    if (auto removed = remove_tree(remote, dir.generation_entry(copy)); !removed) {
      result.warnings.push_back(removed.error().message);
    }
  } else {
    std::optional<std::string> old;
    if (existing != nullptr) {
      auto moved = move_aside(remote, dir, existing->path, step);
      if (!moved) {
        drop_temp();
        return keep_displaced(moved.error());
      }
      old = *moved;
    }
    if (auto switched = switch_current(remote, lock, dir, request, options.lock_wait, step);
        !switched) {
      drop_temp();
      // Put the replaced generation back where it was: the node ends as it was found.
      if (old) (void)remote.rename(*old, existing->path);
      return keep_displaced(switched.error());
    }
    if (old) {
      if (auto removed = remove_tree(remote, *old); !removed) {
        result.warnings.push_back(removed.error().message);
      }
    }
  }
  return switched_from_displaced();
}

}  // namespace kf::keydir
