#include "keydir/remote.hpp"

namespace kf {

NodeResult<void> Remote::replace(const std::string& from, const std::string& to) {
  return node_fail(NodeStatus::failed, "io", "{}: cannot rename {} over {}: not supported here",
                   node_name(), from, to);
}

NodeResult<void> Remote::upload_all(std::span<const NewFile> files) {
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (auto put = upload(files[i].path, files[i].data, files[i].mode); !put) {
      for (std::size_t j = 0; j < i; ++j) (void)unlink(files[j].path);
      return put;
    }
  }
  return {};
}

NodeResult<std::vector<std::uint8_t>> Remote::upload_and_read_back(
    const std::string& path, std::span<const std::uint8_t> data, mode_t mode) {
  KF_CHECK(upload(path, data, mode));
  // Past the size sent: a copy that grew meanwhile reads back longer, and differs.
  return read_file(path, data.size() + 1);
}

NodeResult<Survey> Remote::survey(std::span<const std::string> lists,
                                  std::span<const std::string> links) {
  Survey out;
  for (const auto& path : lists) {
    KF_TRY_ASSIGN(auto listed, lstat_list(path));
    out.lists.push_back(std::move(listed));
  }
  for (const auto& path : links) {
    KF_TRY_ASSIGN(auto link, lstat_link(path));
    out.links.push_back(std::move(link));
  }
  return out;
}

NodeResult<void> Remote::fsync_dirs(std::span<const std::string> paths) {
  for (const auto& path : paths) KF_CHECK(fsync_dir(path));
  return {};
}

NodeResult<Listing> Remote::lstat_list(const std::string& path) {
  Listing out;
  KF_TRY_ASSIGN(out.stat, lstat(path));
  if (out.stat && out.stat->type == FileType::directory) {
    KF_TRY_ASSIGN(out.entries, list_dir(path));
  }
  return out;
}

NodeResult<LinkInfo> Remote::lstat_link(const std::string& path) {
  LinkInfo out;
  KF_TRY_ASSIGN(out.stat, lstat(path));
  if (out.stat && out.stat->type == FileType::symlink) {
    KF_TRY_ASSIGN(out.text, readlink(path));
    KF_TRY_ASSIGN(out.target, stat(path));
  }
  return out;
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

NodeResult<void> remove_directory(Remote& remote, const std::string& path,
                                  const std::vector<DirEntry>& entries, int max_depth);

// An entry the listing showed as no directory was unlinked at once, without a look first (unlink
// never follows a symlink). Only when that failed is it looked at: gone meanwhile is no error, a
// directory put there meanwhile is removed as one.
NodeResult<void> remove_listed(Remote& remote, const std::string& path,
                               const NodeResult<void>& unlinked, int max_depth) {
  KF_TRY_ASSIGN(auto st, remote.lstat(path));
  if (!st) return {};
  if (st->type == FileType::directory) {
    KF_TRY_ASSIGN(auto entries, remote.list_dir(path));
    return remove_directory(remote, path, entries, max_depth);
  }
  return unlinked;
}

// `entries`: the directory's listing.
NodeResult<void> remove_directory(Remote& remote, const std::string& path,
                                  const std::vector<DirEntry>& entries, int max_depth) {
  if (max_depth <= 0) {
    return node_fail(NodeStatus::failed, "remove", "{}: cannot remove {}: nested too deeply",
                     remote.node_name(), path);
  }
  // What is no directory goes at once, all of it together, and the directory with it when it
  // holds no other directory.
  std::vector<std::string> files;
  bool subdirs = false;
  for (const auto& entry : entries) {
    if (entry.stat.type != FileType::directory) files.push_back(join_path(path, entry.name));
    subdirs = subdirs || entry.stat.type == FileType::directory;
  }
  std::vector<std::string> itself;
  if (!subdirs) itself.push_back(path);
  KF_TRY_ASSIGN(auto removed, remote.remove_each(files, itself));
  bool all_gone = true;
  for (std::size_t i = 0; i < files.size(); ++i) {
    all_gone = all_gone && removed[i].has_value();
    if (!removed[i]) KF_CHECK(remove_listed(remote, files[i], removed[i], max_depth - 1));
  }
  for (const auto& entry : entries) {
    if (entry.stat.type == FileType::directory) {
      KF_CHECK(remove_tree(remote, join_path(path, entry.name), max_depth - 1));
    }
  }
  // Its rmdir went with the files. When it failed because an entry had to be looked at again,
  // the directory is emptied only now.
  if (!subdirs && (all_gone || removed.back())) return removed.back();
  return remote.rmdir(path);
}

}  // namespace

NodeResult<std::vector<NodeResult<void>>> Remote::remove_each(std::span<const std::string> files,
                                                              std::span<const std::string> dirs) {
  std::vector<NodeResult<void>> out;
  out.reserve(files.size() + dirs.size());
  for (const auto& path : files) out.push_back(unlink(path));
  for (const auto& path : dirs) out.push_back(rmdir(path));
  return out;
}

NodeResult<void> remove_tree(Remote& remote, const std::string& path, int max_depth) {
  KF_TRY_ASSIGN(auto there, remote.lstat_list(path));
  if (!there.stat) return {};
  if (there.stat->type != FileType::directory) return remote.unlink(path);
  return remove_directory(remote, path, there.entries, max_depth);
}

}  // namespace kf
