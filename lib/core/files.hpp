#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/secret.hpp"

namespace kf {

namespace fs = boost::filesystem;

// Creates `path` with O_CREAT|O_EXCL|O_NOFOLLOW and exactly `mode` (fchmod, so umask cannot widen
// or narrow it). Fails if anything, even a dangling symlink, is already there.
Result<Fd> create_exclusive(const fs::path& path, mode_t mode);

Result<void> write_all(int fd, std::span<const std::uint8_t> data, const fs::path& path);
Result<void> fsync_fd(int fd, const fs::path& path);
Result<void> fsync_dir(const fs::path& dir);

// create_exclusive + write + fsync: for files in a fresh private directory.
Result<void> write_new_file(const fs::path& path, std::span<const std::uint8_t> data, mode_t mode);

// Writes under a temporary name in the same directory, fsyncs, renames over `path`, and fsyncs the
// directory unless `sync_dir` is false (callers writing many files sync once at the end).
Result<void> write_file_atomic(const fs::path& path, std::span<const std::uint8_t> data,
                               mode_t mode, bool sync_dir = true);

// Reads a whole regular file (never through a symlink), refusing files above `max_size`.
Result<std::vector<std::uint8_t>> read_file(const fs::path& path, std::size_t max_size);
Result<SecretBytes> read_secret_file(const fs::path& path, std::size_t max_size);
// read_secret_file for a file that must be private: a regular file whose mode gives group and
// others nothing, else ExitCode::usage naming it. Checked on the open descriptor before a byte
// is read; a FIFO or device is refused at once, never waited on.
Result<SecretBytes> read_private_file(const fs::path& path, std::size_t max_size);

// mkdir with `mode`; an existing directory (not a symlink) is accepted and left as it is.
Result<void> make_dir(const fs::path& path, mode_t mode = 0700);

// Overwrites a regular file with zeros, fsyncs and unlinks it: for copies of bundles.
Result<void> wipe_file(const fs::path& path);

// Removes a directory tree without following symlinks; a missing path is not an error.
Result<void> remove_tree(const fs::path& path);

// `n` random bytes as lowercase hex, for temporary names.
std::string random_hex(std::size_t n);

// Lowercase hex of bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Sets the umask for this scope (077 for anything that writes secrets).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask);
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;
  ~ScopedUmask();

 private:
  mode_t old_;
};

}  // namespace kf
