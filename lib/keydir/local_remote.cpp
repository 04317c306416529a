#include "keydir/local_remote.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/files.hpp"
#include "core/handle.hpp"
#include "core/subprocess.hpp"

namespace kf::keydir {
namespace {

RemoteStat to_remote_stat(const struct stat& st) {
  RemoteStat out;
  if (S_ISREG(st.st_mode)) {
    out.type = FileType::regular;
  } else if (S_ISDIR(st.st_mode)) {
    out.type = FileType::directory;
  } else if (S_ISLNK(st.st_mode)) {
    out.type = FileType::symlink;
  }
  out.mode = st.st_mode & 07777;
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.uid = st.st_uid;
  out.gid = st.st_gid;
  out.mtime = static_cast<std::uint64_t>(st.st_mtime);
  return out;
}

NodeError local_error(const std::string& name, std::string step, const Error& error) {
  return NodeError{NodeStatus::failed, std::move(step), fmt::format("{}: {}", name, error.message)};
}

class LocalChannel final : public Channel {
 public:
  LocalChannel(std::string name, Subprocess process, Deadline deadline)
      : name_(std::move(name)), process_(std::move(process)), deadline_(deadline) {}

  NodeResult<void> write(std::string_view data) override {
    auto written = process_.write(data);
    if (!written) return failed(written.error());
    return {};
  }
  NodeResult<std::string> read_until(std::string_view marker) override {
    auto read = process_.read_until(marker);
    if (!read) return failed(read.error());
    return std::move(*read);
  }
  NodeResult<ExecResult> finish() override {
    auto exit = process_.finish();
    if (!exit) return failed(exit.error());
    return ExecResult{exit->status, std::move(exit->out), std::move(exit->err)};
  }

 private:
  // Past the deadline the status is `timeout`, as a Remote's errors say.
  [[nodiscard]] std::unexpected<NodeError> failed(const Error& error) const {
    NodeError out = local_error(name_, "exec", error);
    if (deadline_.expired()) out.status = NodeStatus::timeout;
    return std::unexpected(std::move(out));
  }

  std::string name_;
  Subprocess process_;
  Deadline deadline_;
};

}  // namespace

LocalRemote::LocalRemote(std::string name, Deadline deadline)
    : name_(std::move(name)), deadline_(deadline) {}

std::unexpected<NodeError> LocalRemote::fail_io(std::string_view what, const std::string& path,
                                                int err) const {
  return node_fail(NodeStatus::failed, "io", "{}: cannot {} {}: {}", name_, what, path,
                   std::strerror(err));
}

NodeResult<ExecResult> LocalRemote::exec(std::string_view command,
                                         std::span<const std::uint8_t> stdin_data) {
  KF_TRY_ASSIGN(auto channel, open_channel(command));
  std::string_view input(reinterpret_cast<const char*>(stdin_data.data()), stdin_data.size());
  // A command may exit without reading all its input: its exit status says what happened.
  (void)channel->write(input);
  return channel->finish();
}

NodeResult<std::unique_ptr<Channel>> LocalRemote::open_channel(std::string_view command) {
  auto process = Subprocess::start({"/bin/sh", "-c", std::string(command)}, deadline_);
  if (!process) return std::unexpected(local_error(name_, "exec", process.error()));
  return std::make_unique<LocalChannel>(name_, std::move(*process), deadline_);
}

NodeResult<void> LocalRemote::mkdir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) return fail_io("create directory", path, errno);
  // mkdir(2) applies the umask: set exactly `mode`, as create_exclusive does for files.
  if (::chmod(path.c_str(), mode) != 0) return fail_io("set the mode of", path, errno);
  return {};
}

NodeResult<void> LocalRemote::upload(const std::string& path, std::span<const std::uint8_t> data,
                                     mode_t mode) {
  auto created = create_exclusive(path, mode);
  // Not ours: whatever is at `path` (a file, a symlink) stays as it is.
  if (!created) return std::unexpected(local_error(name_, "io", created.error()));
  auto written = [&]() -> Result<void> {
    Fd fd = std::move(*created);
    KF_CHECK(write_all(fd.get(), data, path));
    KF_CHECK(fsync_fd(fd.get(), path));
    if (::close(fd.release()) != 0) return fail_errno(fmt::format("cannot close {}", path));
    return {};
  }();
  if (!written) {
    (void)::unlink(path.c_str());  // the file this call created, half written
    return std::unexpected(local_error(name_, "io", written.error()));
  }
  return {};
}

NodeResult<std::vector<std::uint8_t>> LocalRemote::read_file(const std::string& path,
                                                             std::size_t max_size) {
  auto bytes = kf::read_file(path, max_size);
  if (!bytes) return std::unexpected(local_error(name_, "io", bytes.error()));
  return std::move(*bytes);
}

NodeResult<std::optional<RemoteStat>> LocalRemote::stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return to_remote_stat(st);
  if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
  return fail_io("stat", path, errno);
}

NodeResult<std::optional<RemoteStat>> LocalRemote::lstat(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return to_remote_stat(st);
  if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
  return fail_io("lstat", path, errno);
}

NodeResult<std::string> LocalRemote::readlink(const std::string& path) {
  std::vector<char> buffer(4096);
  ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size());
  if (n < 0) return fail_io("read the symlink", path, errno);
  if (static_cast<std::size_t>(n) == buffer.size()) {
    return node_fail(NodeStatus::failed, "io", "{}: cannot read the symlink {}: too long", name_,
                     path);
  }
  return std::string(buffer.data(), static_cast<std::size_t>(n));
}

NodeResult<void> LocalRemote::symlink(const std::string& target, const std::string& link_path) {
  if (::symlink(target.c_str(), link_path.c_str()) != 0) {
    return fail_io(fmt::format("create a symlink to {} at", target), link_path, errno);
  }
  return {};
}

NodeResult<void> LocalRemote::rename(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    return fail_io(fmt::format("rename {} to", from), to, errno);
  }
  return {};
}

NodeResult<void> LocalRemote::replace(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail_io(fmt::format("rename {} over", from), to, errno);
  }
  return {};
}

NodeResult<void> LocalRemote::unlink(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return fail_io("remove", path, errno);
  return {};
}

NodeResult<void> LocalRemote::rmdir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return fail_io("remove directory", path, errno);
  return {};
}

NodeResult<void> LocalRemote::chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) {
  if (::lchown(path.c_str(), uid, gid) != 0) return fail_io("change the owner of", path, errno);
  return {};
}

NodeResult<void> LocalRemote::chmod(const std::string& path, mode_t mode) {
  if (::fchmodat(AT_FDCWD, path.c_str(), mode, 0) != 0) {
    return fail_io("set the mode of", path, errno);
  }
  return {};
}

NodeResult<std::vector<DirEntry>> LocalRemote::list_dir(const std::string& path) {
  Handle<DIR, closedir> dir(::opendir(path.c_str()));
  if (!dir) return fail_io("list", path, errno);
  std::vector<DirEntry> entries;
  errno = 0;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone meanwhile
      return fail_io("stat", join_path(path, name), errno);
    }
    entries.push_back(DirEntry{std::string(name), to_remote_stat(st)});
    errno = 0;
  }
  if (errno != 0) return fail_io("list", path, errno);
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

NodeResult<SpaceInfo> LocalRemote::space(const std::string& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return fail_io("check free space on", path, errno);
  return SpaceInfo{info.f_bavail * info.f_frsize, info.f_blocks * info.f_frsize,
                   (info.f_flag & ST_RDONLY) != 0};
}

NodeResult<void> LocalRemote::fsync_dir(const std::string& path) {
  auto synced = kf::fsync_dir(path);
  if (!synced) return std::unexpected(local_error(name_, "io", synced.error()));
  return {};
}

}  // namespace kf::keydir
