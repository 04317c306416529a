#include "keydir/remote.hpp"

namespace kf {

NodeResult<void> Remote::replace(const std::string& from, const std::string& to) {
  return node_fail(NodeStatus::failed, "io", "{}: cannot rename {} over {}: not supported here",
                   node_name(), from, to);
}

std::string shell_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string parent_path(std::string_view path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

namespace {

NodeResult<void> remove_directory(Remote& remote, const std::string& path, int max_depth);

// An entry the listing showed as no directory: unlinked at once, without a look first (unlink
// never follows a symlink). Only when that fails is it looked at: gone meanwhile is no error, a
// directory put there meanwhile is removed as one.
NodeResult<void> remove_listed(Remote& remote, const std::string& path, int max_depth) {
  auto unlinked = remote.unlink(path);
  if (unlinked) return {};
  KF_TRY_ASSIGN(auto st, remote.lstat(path));
  if (!st) return {};
  if (st->type == FileType::directory) return remove_directory(remote, path, max_depth);
  return unlinked;
}

NodeResult<void> remove_directory(Remote& remote, const std::string& path, int max_depth) {
  if (max_depth <= 0) {
    return node_fail(NodeStatus::failed, "remove", "{}: cannot remove {}: nested too deeply",
                     remote.node_name(), path);
  }
  KF_TRY_ASSIGN(auto entries, remote.list_dir(path));
  for (const auto& entry : entries) {
    const std::string child = join_path(path, entry.name);
    if (entry.stat.type == FileType::directory) {
      KF_CHECK(remove_tree(remote, child, max_depth - 1));
    } else {
      KF_CHECK(remove_listed(remote, child, max_depth - 1));
    }
  }
  return remote.rmdir(path);
}

}  // namespace

NodeResult<void> remove_tree(Remote& remote, const std::string& path, int max_depth) {
  KF_TRY_ASSIGN(auto st, remote.lstat(path));
  if (!st) return {};
  if (st->type != FileType::directory) return remote.unlink(path);
  return remove_directory(remote, path, max_depth);
}

}  // namespace kf
