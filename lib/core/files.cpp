#include "core/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/rand.h>
#include <boost/filesystem/operations.hpp>

namespace kf {

Result<Fd> create_exclusive(const fs::path& path, mode_t mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0600));
  if (!fd) {
    if (errno == EEXIST)
      return fail_errno(ExitCode::refused, fmt::format("cannot create {}", path.string()));
    return fail_errno(fmt::format("cannot create {}", path.string()));
  }
  if (::fchmod(fd.get(), mode) != 0)
    return fail_errno(fmt::format("cannot chmod {}", path.string()));
  return fd;
}

Result<void> write_all(int fd, std::span<const std::uint8_t> data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("cannot write {}", path.string()));
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> fsync_fd(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) return fail_errno(fmt::format("cannot fsync {}", path.string()));
  return {};
}

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("cannot open directory {}", dir.string()));
  return fsync_fd(fd.get(), dir);
}

Result<void> write_new_file(const fs::path& path, std::span<const std::uint8_t> data, mode_t mode) {
  KF_TRY_ASSIGN(Fd fd, create_exclusive(path, mode));
  KF_CHECK(write_all(fd.get(), data, path));
  KF_CHECK(fsync_fd(fd.get(), path));
  if (::close(fd.release()) != 0) return fail_errno(fmt::format("cannot close {}", path.string()));
  return {};
}

Result<void> write_file_atomic(const fs::path& path, std::span<const std::uint8_t> data,
                               mode_t mode, bool sync_dir) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  fs::path tmp = dir / fmt::format(".{}.tmp-{}", path.filename().string(), random_hex(6));
  if (auto r = write_new_file(tmp, data, mode); !r) {
    ::unlink(tmp.c_str());
    return r;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(fmt::format("cannot rename {} to {}", tmp.string(), path.string()), err);
  }
  if (sync_dir) return fsync_dir(dir);
  return {};
}

namespace {

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it is refused below
// as not a regular file instead, and regular files ignore the flag.
template <class Bytes>
Result<Bytes> read_into(const fs::path& path, std::size_t max_size, bool owner_only = false) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("cannot open {}", path.string()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(fmt::format("cannot stat {}", path.string()));
  if (!S_ISREG(st.st_mode)) return fail(ExitCode::usage, "{}: not a regular file", path.string());
  if (owner_only && (st.st_mode & 077) != 0) {
    return fail(ExitCode::usage, "{}: mode {:04o} lets group or others read it; run chmod 600 {}",
                path.string(), st.st_mode & 07777, path.string());
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    return fail(ExitCode::integrity, "{}: {} bytes is more than the limit of {}", path.string(),
                st.st_size, max_size);
  }
  Bytes out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(fmt::format("cannot read {}", path.string()));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace

Result<std::vector<std::uint8_t>> read_file(const fs::path& path, std::size_t max_size) {
  return read_into<std::vector<std::uint8_t>>(path, max_size);
}

Result<SecretBytes> read_secret_file(const fs::path& path, std::size_t max_size) {
  return read_into<SecretBytes>(path, max_size);
}

Result<SecretBytes> read_private_file(const fs::path& path, std::size_t max_size) {
  return read_into<SecretBytes>(path, max_size, true);
}

Result<void> make_dir(const fs::path& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) return {};
  if (errno != EEXIST) return fail_errno(fmt::format("cannot create directory {}", path.string()));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(ExitCode::refused, "{} exists and is not a directory", path.string());
  }
  return {};
}

Result<void> wipe_file(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("cannot open {} to wipe it", path.string()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(fmt::format("cannot stat {}", path.string()));
  if (!S_ISREG(st.st_mode)) return fail(ExitCode::refused, "{}: not a regular file", path.string());
  std::vector<std::uint8_t> zeros(std::size_t{64} * 1024, 0);
  auto left = static_cast<std::uint64_t>(st.st_size);
  while (left > 0) {
    std::size_t n = left < zeros.size() ? static_cast<std::size_t>(left) : zeros.size();
    KF_CHECK(write_all(fd.get(), std::span(zeros).first(n), path));
    left -= n;
  }
  KF_CHECK(fsync_fd(fd.get(), path));
  if (::unlink(path.c_str()) != 0)
    return fail_errno(fmt::format("cannot remove {}", path.string()));
  return {};
}

Result<void> remove_tree(const fs::path& path) {
  boost::system::error_code ec;
  fs::remove_all(path, ec);  // boost removes symlinks themselves, never their targets
  if (ec) return fail(ExitCode::failure, "cannot remove {}: {}", path.string(), ec.message());
  return {};
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string random_hex(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) std::abort();  // no entropy: unsafe
  return to_hex(bytes);
}

ScopedUmask::ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
ScopedUmask::~ScopedUmask() {
  ::umask(old_);
}

}  // namespace kf
