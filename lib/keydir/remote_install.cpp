#include "keydir/remote_install.hpp"

#include <algorithm>

#include "core/files.hpp"
#include "keydir/layout.hpp"
#include "keydir/node_scripts.hpp"

namespace kf::keydir {

namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

std::string join(const std::string& dir, std::string_view name) {
  if (!dir.empty() && dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

NodeResult<std::optional<std::uint64_t>> read_current(Remote& remote, const std::string& dest,
                                                      const std::string& step) {
  std::string link = join(dest, layout::current_link);
  auto st = remote.lstat(link);
  if (!st) return std::unexpected(at_step(st.error(), step));
  if (!*st) return std::nullopt;
  if ((*st)->type != FileType::symlink) {
    return node_fail(NodeStatus::failed, step, "{}: {} is not a symlink; refusing to replace it",
                     remote.node_name(), link);
  }
  auto target = remote.readlink(link);
  if (!target) return std::unexpected(at_step(target.error(), step));
  std::string_view prefix = layout::generations_dir;
  std::string_view t = *target;
  std::optional<std::uint64_t> generation;
  if (t.size() == prefix.size() + 7 && t.starts_with(prefix) && t[prefix.size()] == '/') {
    generation = parse_generation_name(t.substr(prefix.size() + 1));
  }
  if (!generation) {
    return node_fail(NodeStatus::failed, step,
                     "{}: {} points at '{}', not at generations/NNNNNN; refusing to replace it",
                     remote.node_name(), link, *target);
  }
  return generation;
}

NodeResult<std::vector<std::uint64_t>> list_generations(Remote& remote, const std::string& dest,
                                                        const std::string& step) {
  std::string dir = join(dest, layout::generations_dir);
  auto st = remote.lstat(dir);
  if (!st) return std::unexpected(at_step(st.error(), step));
  if (!*st) return std::vector<std::uint64_t>{};
  auto entries = remote.list_dir(dir);
  if (!entries) return std::unexpected(at_step(entries.error(), step));
  std::vector<std::uint64_t> generations;
  for (const auto& entry : *entries) {
    if (entry.stat.type != FileType::directory) continue;
    if (auto g = parse_generation_name(entry.name)) generations.push_back(*g);
  }
  std::sort(generations.begin(), generations.end());
  return generations;
}

NodeResult<void> ensure_dir(Remote& remote, const std::string& path, mode_t mode,
                            const std::string& step) {
  auto st = remote.lstat(path);
  if (!st) return std::unexpected(at_step(st.error(), step));
  if (*st) {
    if ((*st)->type == FileType::directory) return {};
    return node_fail(NodeStatus::failed, step, "{}: {} exists and is not a directory",
                     remote.node_name(), path);
  }
  if (auto made = remote.mkdir(path, mode); !made)
    return std::unexpected(at_step(made.error(), step));
  return {};
}

std::string switch_command(const std::string& dest, const std::string& temp_name,
                           std::uint64_t generation, std::optional<std::uint64_t> expected_current,
                           const std::string& link_temp) {
  std::string expect = expected_current ? layout::current_target(*expected_current) : "";
  return "sh -c " + shell_quote(scripts::switch_script()) + " keyfleet-switch " +
         shell_quote(dest) + " " + shell_quote(temp_name) + " " +
         shell_quote(generation_name(generation)) + " " + shell_quote(expect) + " " +
         shell_quote(link_temp);
}

namespace {

NodeResult<void> run_switch(Remote& remote, const std::string& dest, const std::string& temp_name,
                            std::uint64_t generation, std::optional<std::uint64_t> expected,
                            const std::string& step) {
  std::string link_temp =
      std::string(layout::current_link) + std::string(layout::temp_prefix) + random_hex(8);
  // The new link is made over SFTP, which costs no process on the node; the script only
  // renames it over `current` (SFTP cannot replace a path).
  const std::string link_path = join(dest, link_temp);
  if (auto made = remote.symlink(layout::current_target(generation), link_path); !made) {
    return std::unexpected(at_step(made.error(), step));
  }
  std::string expect = expected ? layout::current_target(*expected) : "";
  const std::string request[] = {"switch", temp_name, generation_name(generation), expect,
                                 link_temp};
  auto result = remote.run_locked(dest, request,
                                  switch_command(dest, temp_name, generation, expected, link_temp));
  if (!result || !result->ok()) {
    // The script removes it when it refuses, but not when it never ran (lock still held, lost
    // connection): no stray current.tmp-* stays in DEST. Best effort: it may be gone already.
    (void)remote.unlink(link_path);
  }
  if (!result) return std::unexpected(at_step(result.error(), step));
  if (!result->ok()) {
    std::string why = trimmed(result->err);
    return node_fail(NodeStatus::failed, step, "{}: switching {}/current to generation {}: {}",
                     remote.node_name(), dest, generation,
                     why.empty() ? fmt::format("exit status {}", result->exit_status) : why);
  }
  return {};
}

NodeResult<void> write_generation(Remote& remote, const std::string& temp_dir,
                                  std::span<const RemoteFile> files) {
  const std::string step = "install";
  if (auto made = remote.mkdir(temp_dir, 0700); !made) {
    return std::unexpected(at_step(made.error(), step));
  }
  for (const auto& file : files) {
    if (auto up = remote.upload(join(temp_dir, file.name), file.data, file.mode); !up) {
      return std::unexpected(at_step(up.error(), step));
    }
  }
  if (auto synced = remote.fsync_dir(temp_dir); !synced) {
    return std::unexpected(at_step(synced.error(), step));
  }
  return {};
}

}  // namespace

NodeResult<void> install_generation(Remote& remote, const std::string& dest,
                                    std::uint64_t generation,
                                    std::optional<std::uint64_t> expected_current,
                                    std::span<const RemoteFile> files) {
  const std::string step = "install";
  KF_CHECK(ensure_dir(remote, dest, 0700, step));
  std::string generations = join(dest, layout::generations_dir);
  KF_CHECK(ensure_dir(remote, generations, 0700, step));
  std::string temp_name = std::string(layout::temp_prefix) + random_hex(8);
  std::string temp_dir = join(generations, temp_name);

  auto done = write_generation(remote, temp_dir, files);
  if (done) done = run_switch(remote, dest, temp_name, generation, expected_current, step);
  if (!done) {
    // Best effort: a leftover .tmp- directory never becomes current, and the next install's
    // neighbour (unpack) or cleanup removes it.
    (void)remote.exec("rm -rf -- " + shell_quote(temp_dir));
    return done;
  }
  return {};
}

NodeResult<void> switch_current(Remote& remote, const std::string& dest, std::uint64_t generation,
                                std::optional<std::uint64_t> expected_current,
                                const std::string& step) {
  return run_switch(remote, dest, "", generation, expected_current, step);
}

}  // namespace kf::keydir
