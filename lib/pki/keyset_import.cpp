#include "pki/keyset_import.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <utility>

#include "core/escape.hpp"
#include "core/fd.hpp"
#include "core/handle.hpp"
#include "pki/keyset_path.hpp"

namespace kf {
namespace {

std::string_view type_phrase(SourceType type) {
  switch (type) {
    case SourceType::symlink:
      return "a symbolic link";
    case SourceType::device:
      return "a device";
    case SourceType::fifo:
      return "a FIFO";
    case SourceType::socket:
      return "a socket";
    default:
      return "not a regular file or directory";
  }
}

SourceType type_of(mode_t mode) {
  if (S_ISREG(mode)) return SourceType::regular;
  if (S_ISDIR(mode)) return SourceType::directory;
  if (S_ISLNK(mode)) return SourceType::symlink;
  if (S_ISCHR(mode) || S_ISBLK(mode)) return SourceType::device;
  if (S_ISFIFO(mode)) return SourceType::fifo;
  if (S_ISSOCK(mode)) return SourceType::socket;
  return SourceType::other;
}

// The top of a key directory holds the key set and what create-keys keeps beside it.
bool reserved_at_top(std::string_view path) {
  if (path.find('/') != std::string_view::npos) return false;
  return path == kManifestName || path == "archive" ||
         (path.starts_with('.') && path.find(".tmp-") != std::string_view::npos);
}

struct Walk {
  std::string origin;
  std::span<const PathPattern> exclude;
  ImportedTree tree;
  std::map<std::pair<dev_t, ino_t>, std::string> linked;  // files with more than one name
};

Result<void> fail_changed(const Walk& w, const std::string& path) {
  return fail(ExitCode::integrity,
              "{}: '{}' changed while it was read: stop what writes to it and run again", w.origin,
              escape_untrusted(path));
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

Result<void> read_regular(Walk& w, int dirfd, const char* name, const std::string& path,
                          const struct stat& listed) {
  if (static_cast<std::uint64_t>(listed.st_size) > kMaxImportFileSize) {
    return fail(ExitCode::usage, "{}: '{}' has {} bytes, more than the {} a key set file may have",
                w.origin, escape_untrusted(path), listed.st_size, kMaxImportFileSize);
  }
  if (listed.st_nlink > 1) {
    auto [it, fresh] = w.linked.try_emplace({listed.st_dev, listed.st_ino}, path);
    if (!fresh) {
      return fail(ExitCode::usage,
                  "{}: '{}' is a hard link to '{}': the same file twice is refused (exclude one "
                  "with --exclude-path)",
                  w.origin, escape_untrusted(path), escape_untrusted(it->second));
    }
  }
  Fd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("{}: cannot open '{}'", w.origin, escape_untrusted(path)));
  struct stat opened {};
  if (::fstat(fd.get(), &opened) != 0 || !same_file(opened, listed)) return fail_changed(w, path);
  SecretBytes data(static_cast<std::size_t>(listed.st_size) + 1);
  std::size_t done = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return fail_errno(fmt::format("{}: cannot read '{}'", w.origin, escape_untrusted(path)));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
    if (done == data.size()) return fail_changed(w, path);  // it grew
  }
  struct stat after {};
  if (done != static_cast<std::size_t>(listed.st_size) || ::fstat(fd.get(), &after) != 0 ||
      !same_file(after, listed)) {
    return fail_changed(w, path);
  }
  data.resize(done);
  w.tree.files.push_back({path, static_cast<mode_t>(listed.st_mode & 07777), std::move(data)});
  return {};
}

Result<void> walk_dir(Walk& w, int dirfd, const std::string& prefix) {
  // fdopendir takes over a duplicate: `dirfd` stays the caller's.
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail_errno(fmt::format("{}: cannot list '{}'", w.origin, prefix));
  Handle<DIR, closedir> dir(::fdopendir(dup));
  if (!dir) {
    ::close(dup);
    return fail_errno(fmt::format("{}: cannot list '{}'", w.origin, prefix));
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  if (errno != 0) return fail_errno(fmt::format("{}: cannot list '{}'", w.origin, prefix));
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string path = prefix.empty() ? name : fmt::format("{}/{}", prefix, name);
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return fail_changed(w, path);
      return fail_errno(fmt::format("{}: cannot stat '{}'", w.origin, escape_untrusted(path)));
    }
    SourceEntry entry{path, type_of(st.st_mode), static_cast<mode_t>(st.st_mode & 07777)};
    if (excluded(w.exclude, path, entry.type == SourceType::directory)) {
      w.tree.excluded.push_back(path);
      continue;
    }
    KF_CHECK(check_source_entry(entry, w.origin));
    if (entry.type == SourceType::regular) {
      KF_CHECK(read_regular(w, dirfd, name.c_str(), path, st));
      continue;
    }
    Fd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat opened {};
    if (!sub || ::fstat(sub.get(), &opened) != 0 || opened.st_dev != st.st_dev ||
        opened.st_ino != st.st_ino) {
      return fail_changed(w, path);
    }
    w.tree.directories.push_back({path, entry.mode});
    KF_CHECK(walk_dir(w, sub.get(), path));
  }
  return {};
}

}  // namespace

Result<void> check_source_entry(const SourceEntry& entry, std::string_view origin) {
  const std::string shown = escape_untrusted(entry.path);
  if (std::string problem = relative_path_problem(entry.path); !problem.empty()) {
    return fail(ExitCode::usage, "{}: '{}': the name is refused: {}", origin, shown, problem);
  }
  if (entry.type != SourceType::regular && entry.type != SourceType::directory) {
    return fail(ExitCode::usage,
                "{}: '{}' is {}: only regular files and directories are imported (leave it out "
                "with --exclude-path)",
                origin, shown, type_phrase(entry.type));
  }
  if (reserved_at_top(entry.path)) {
    return fail(ExitCode::usage,
                "{}: '{}' is a name the key directory keeps for itself (manifest.json, archive, "
                "temporary files): leave it out with --exclude-path",
                origin, shown);
  }
  const bool directory = entry.type == SourceType::directory;
  if (directory ? !is_allowed_directory_mode(entry.mode) : !is_allowed_file_mode(entry.mode)) {
    return fail(ExitCode::usage,
                "{}: '{}' has mode {:04o}: a {} may have at most {} (and its owner {}); chmod it "
                "or leave it out with --exclude-path",
                origin, shown, entry.mode, directory ? "directory" : "file",
                directory ? "0755" : "0644", directory ? "rwx" : "read access");
  }
  return {};
}

Result<void> check_tree_limits(const ImportedTree& tree, std::string_view origin) {
  if (tree.files.size() + tree.directories.size() > kMaxImportEntries) {
    return fail(ExitCode::usage, "{}: {} files and directories, more than the {} a key set holds",
                origin, tree.files.size() + tree.directories.size(), kMaxImportEntries);
  }
  if (tree.files.empty()) {
    return fail(ExitCode::usage, "{}: no file to import{}", origin,
                tree.excluded.empty() ? "" : " (every one was excluded)");
  }
  for (const auto& f : tree.files) {
    if (f.data.size() > kMaxImportFileSize) {
      return fail(ExitCode::usage,
                  "{}: '{}' has {} bytes, more than the {} a key set file may have", origin,
                  escape_untrusted(f.path), f.data.size(), kMaxImportFileSize);
    }
  }
  return {};
}

Result<ImportedTree> read_import_dir(const boost::filesystem::path& dir,
                                     std::span<const PathPattern> exclude) {
  Walk w{fmt::format("--import {}", dir.string()), exclude, {}, {}};
  Fd top(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!top) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return fail(ExitCode::usage, "{}: a symbolic link: give the directory it points at",
                  w.origin);
    }
    return fail_errno(ExitCode::usage, fmt::format("{}: cannot open the directory", w.origin));
  }
  KF_CHECK(walk_dir(w, top.get(), ""));
  for (const auto& p : exclude) w.tree.exclude.push_back(p.text());
  // Sorted by path byte-wise, as the manifest lists them (the walk sorts within one directory,
  // where "a/b" and "a-b" compare otherwise).
  auto by_path = [](const auto& a, const auto& b) { return a.path < b.path; };
  std::sort(w.tree.files.begin(), w.tree.files.end(), by_path);
  std::sort(w.tree.directories.begin(), w.tree.directories.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  KF_CHECK(check_tree_limits(w.tree, w.origin));
  return std::move(w.tree);
}

}  // namespace kf
