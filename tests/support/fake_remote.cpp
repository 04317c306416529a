#include "support/fake_remote.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"

namespace kf::test {
namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool is_below(const std::string& path, const std::string& dir) {
  std::string prefix = dir == "/" ? "/" : dir + "/";
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

FakeRemote::FakeRemote(std::string name) : name_(std::move(name)) {
  entries["/"] = Entry{FileType::directory, 0755, {}, {}};
}

void FakeRemote::fail_next(std::string op, std::string path, NodeError error) {
  failures_.push_back(Failure{std::move(op), std::move(path), std::move(error)});
}

void FakeRemote::add_dir(const std::string& path, mode_t mode) {
  if (path != "/" && !exists(parent_of(path))) add_dir(parent_of(path));
  entries[path] = Entry{FileType::directory, mode, {}, {}};
}

void FakeRemote::add_file(const std::string& path, std::string_view text, mode_t mode) {
  if (!exists(parent_of(path))) add_dir(parent_of(path));
  entries[path] = Entry{FileType::regular, mode, {text.begin(), text.end()}, {}};
}

std::string FakeRemote::text(const std::string& path) const {
  auto it = entries.find(path);
  return it == entries.end() ? std::string()
                             : std::string(it->second.data.begin(), it->second.data.end());
}

std::optional<NodeError> FakeRemote::enter(std::string_view op, const std::string& path) {
  log.push_back(fmt::format("{} {}", op, path));
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    bool path_matches = it->path.empty() || (op == "exec" ? path.find(it->path) != std::string::npos
                                                          : it->path == path);
    if (it->op == op && path_matches) {
      NodeError injected = std::move(it->error);
      failures_.erase(it);
      return injected;
    }
  }
  return std::nullopt;
}

NodeError FakeRemote::error(std::string_view what, const std::string& path,
                            std::string_view why) const {
  return NodeError{NodeStatus::failed, "sftp",
                   fmt::format("{}: cannot {} {}: {}", name_, what, path, why)};
}

NodeResult<void> FakeRemote::need_parent_dir(std::string_view what, const std::string& path) const {
  auto it = entries.find(parent_of(path));
  if (it == entries.end()) return std::unexpected(error(what, path, "no such file or directory"));
  if (it->second.type != FileType::directory)
    return std::unexpected(error(what, path, "not a directory"));
  return {};
}

std::optional<std::string> FakeRemote::follow(const std::string& path) const {
  std::string current = path;
  for (int hops = 0; hops < 8; ++hops) {
    auto it = entries.find(current);
    if (it == entries.end()) return std::nullopt;
    if (it->second.type != FileType::symlink) return current;
    const std::string& target = it->second.target;
    current = target.starts_with('/') ? target : parent_of(current) + "/" + target;
  }
  return std::nullopt;
}

RemoteStat FakeRemote::stat_of(const Entry& entry) {
  RemoteStat st;
  st.type = entry.type;
  st.mode = entry.mode & 07777;
  st.size = entry.type == FileType::symlink ? entry.target.size() : entry.data.size();
  return st;
}

NodeResult<ExecResult> FakeRemote::exec(std::string_view command,
                                        std::span<const std::uint8_t> stdin_data) {
  if (auto e = enter("exec", std::string(command))) return std::unexpected(*e);
  if (!on_exec) {
    return std::unexpected(NodeError{NodeStatus::failed, "exec",
                                     fmt::format("{}: no exec handler for `{}`", name_, command)});
  }
  return on_exec(command, stdin_data);
}

NodeResult<void> FakeRemote::mkdir(const std::string& path, mode_t mode) {
  if (auto e = enter("mkdir", path)) return std::unexpected(*e);
  KF_CHECK(need_parent_dir("create directory", path));
  if (exists(path)) return std::unexpected(error("create directory", path, "it already exists"));
  entries[path] = Entry{FileType::directory, mode, {}, {}};
  return {};
}

NodeResult<void> FakeRemote::upload(const std::string& path, std::span<const std::uint8_t> data,
                                    mode_t mode) {
  if (auto e = enter("upload", path)) return std::unexpected(*e);
  KF_CHECK(need_parent_dir("create", path));
  if (exists(path)) return std::unexpected(error("create", path, "it already exists"));
  if (data.size() > space_info.available) {
    return std::unexpected(error("write", path, "failed (the node's filesystem is full)"));
  }
  entries[path] = Entry{FileType::regular, mode, {data.begin(), data.end()}, {}};
  space_info.available -= data.size();
  return {};
}

NodeResult<std::vector<std::uint8_t>> FakeRemote::read_file(const std::string& path,
                                                            std::size_t max_size) {
  if (auto e = enter("read_file", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) return std::unexpected(error("read", path, "no such file"));
  if (it->second.type != FileType::regular) {
    return std::unexpected(error("read", path, "not a regular file"));
  }
  if (it->second.data.size() > max_size) {
    return std::unexpected(error("read", path, fmt::format("larger than {} bytes", max_size)));
  }
  return it->second.data;
}

NodeResult<std::optional<RemoteStat>> FakeRemote::stat(const std::string& path) {
  if (auto e = enter("stat", path)) return std::unexpected(*e);
  auto resolved = follow(path);
  if (!resolved) return std::nullopt;
  return stat_of(entries.at(*resolved));
}

NodeResult<std::optional<RemoteStat>> FakeRemote::lstat(const std::string& path) {
  if (auto e = enter("lstat", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) return std::nullopt;
  return stat_of(it->second);
}

NodeResult<std::string> FakeRemote::readlink(const std::string& path) {
  if (auto e = enter("readlink", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end())
    return std::unexpected(error("read the symlink", path, "no such file or directory"));
  if (it->second.type != FileType::symlink) {
    return std::unexpected(error("read the symlink", path, "invalid argument"));
  }
  return it->second.target;
}

NodeResult<void> FakeRemote::symlink(const std::string& target, const std::string& link_path) {
  if (auto e = enter("symlink", link_path)) return std::unexpected(*e);
  std::string what = fmt::format("create a symlink to {} at", target);
  KF_CHECK(need_parent_dir(what, link_path));
  if (exists(link_path)) return std::unexpected(error(what, link_path, "it already exists"));
  entries[link_path] = Entry{FileType::symlink, 0777, {}, target};
  return {};
}

NodeResult<void> FakeRemote::rename(const std::string& from, const std::string& to) {
  if (auto e = enter("rename", from)) return std::unexpected(*e);
  std::string what = fmt::format("rename {} to", from);
  if (!exists(from)) return std::unexpected(error(what, to, "no such file or directory"));
  KF_CHECK(need_parent_dir(what, to));
  if (exists(to))
    return std::unexpected(error(what, to, "it already exists (SFTP does not replace)"));
  if (is_below(to, from)) return std::unexpected(error(what, to, "invalid argument"));
  std::map<std::string, Entry> moved;
  for (auto it = entries.begin(); it != entries.end();) {
    if (it->first == from || is_below(it->first, from)) {
      moved[to + it->first.substr(from.size())] = std::move(it->second);
      it = entries.erase(it);
    } else {
      ++it;
    }
  }
  entries.merge(moved);
  return {};
}

NodeResult<void> FakeRemote::unlink(const std::string& path) {
  if (auto e = enter("unlink", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end())
    return std::unexpected(error("remove", path, "no such file or directory"));
  if (it->second.type == FileType::directory) {
    return std::unexpected(error("remove", path, "permission denied"));
  }
  if (it->second.type == FileType::regular) space_info.available += it->second.data.size();
  entries.erase(it);
  return {};
}

NodeResult<void> FakeRemote::rmdir(const std::string& path) {
  if (auto e = enter("rmdir", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) {
    return std::unexpected(error("remove directory", path, "no such file or directory"));
  }
  if (it->second.type != FileType::directory) {
    return std::unexpected(error("remove directory", path, "not a directory"));
  }
  bool empty = std::none_of(entries.begin(), entries.end(),
                            [&](const auto& e) { return is_below(e.first, path); });
  if (!empty) return std::unexpected(error("remove directory", path, "it is not empty"));
  entries.erase(it);
  return {};
}

NodeResult<std::vector<DirEntry>> FakeRemote::list_dir(const std::string& path) {
  if (auto e = enter("list_dir", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end() || it->second.type != FileType::directory) {
    return std::unexpected(error("list", path, "no such file or directory"));
  }
  std::vector<DirEntry> out;
  for (const auto& [name, entry] : entries) {
    if (is_below(name, path) && parent_of(name) == path) {
      out.push_back(DirEntry{name.substr(name.rfind('/') + 1), stat_of(entry)});
    }
  }
  return out;  // std::map order: sorted by name, as SshSession::list_dir sorts
}

NodeResult<SpaceInfo> FakeRemote::space(const std::string& path) {
  if (auto e = enter("space", path)) return std::unexpected(*e);
  return space_info;
}

NodeResult<void> FakeRemote::fsync_dir(const std::string& path) {
  if (auto e = enter("fsync_dir", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end() || it->second.type != FileType::directory) {
    return std::unexpected(error("fsync", path, "no such directory"));
  }
  return {};
}

}  // namespace kf::test
