#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keydir/node_status.hpp"

namespace kf {

struct ExecResult {
  int exit_status = -1;  // -1: the node sent none (the command died by a signal)
  std::string out;
  std::string err;
  [[nodiscard]] bool ok() const { return exit_status == 0; }
};

enum class FileType { regular, directory, symlink, other };

struct RemoteStat {
  FileType type = FileType::other;
  std::uint32_t mode = 0;  // permission bits only (07777)
  std::uint64_t size = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t mtime = 0;
};

struct DirEntry {
  std::string name;  // never "." or ".."
  RemoteStat stat;   // of the entry itself (a symlink is a symlink)
};

struct SpaceInfo {
  std::uint64_t available = 0;  // bytes an unprivileged writer may still use
  std::uint64_t total = 0;
  bool read_only = false;
};

// The operations push, verify, cleanup and rollback need on one node, over one connection. The
// real one is SshSession; tests of the per-node logic may use an in-memory one, as ninja tests its
// build logic against a fake DiskInterface.
//
// Paths are the node's absolute paths. Every call is bounded by the node's deadline; errors carry
// the node's name, the path and the status to report (timeout when the deadline ran out).
class Remote {
 public:
  Remote() = default;
  Remote(const Remote&) = delete;
  Remote& operator=(const Remote&) = delete;
  virtual ~Remote() = default;

  [[nodiscard]] virtual const std::string& node_name() const = 0;

  // Runs `command` with the user's login shell on the node (`$SHELL -c command`), feeding it
  // `stdin_data` and then end-of-file. A non-zero exit status is a result, not an error.
  virtual NodeResult<ExecResult> exec(std::string_view command,
                                      std::span<const std::uint8_t> stdin_data = {}) = 0;

  // A new directory with exactly `mode`; an existing path is an error.
  virtual NodeResult<void> mkdir(const std::string& path, mode_t mode) = 0;
  // A new file (O_CREAT|O_EXCL: never through an existing name or symlink) with exactly `mode`,
  // holding `data`, fsynced on the node before this returns.
  virtual NodeResult<void> upload(const std::string& path, std::span<const std::uint8_t> data,
                                  mode_t mode) = 0;
  // A whole regular file, refusing one larger than `max_size`.
  virtual NodeResult<std::vector<std::uint8_t>> read_file(const std::string& path,
                                                          std::size_t max_size) = 0;
  // nullopt when nothing is at `path`.
  virtual NodeResult<std::optional<RemoteStat>> stat(const std::string& path) = 0;
  virtual NodeResult<std::optional<RemoteStat>> lstat(const std::string& path) = 0;
  virtual NodeResult<std::string> readlink(const std::string& path) = 0;
  virtual NodeResult<void> symlink(const std::string& target, const std::string& link_path) = 0;
  // Fails when `to` exists: SFTP v3 (OpenSSH) and libssh 0.10 cannot replace. To switch a link
  // atomically, exec `mv -T` on the node (see shell_quote).
  virtual NodeResult<void> rename(const std::string& from, const std::string& to) = 0;
  virtual NodeResult<void> unlink(const std::string& path) = 0;
  virtual NodeResult<void> rmdir(const std::string& path) = 0;
  virtual NodeResult<std::vector<DirEntry>> list_dir(const std::string& path) = 0;
  virtual NodeResult<SpaceInfo> space(const std::string& path) = 0;
  // Makes a directory's entries durable (after creating, renaming or removing files in it).
  virtual NodeResult<void> fsync_dir(const std::string& path) = 0;

  // Takes the key directory's lock, `flock DEST/.lock` (the one the switch script takes), and
  // holds it until unlock_dest() or the end of the connection, so that push's staging and
  // cleanup never work on a node at the same time. DEST is created (0700) when missing; a node
  // without flock(1), or where DEST cannot be created (then no push can install there either),
  // goes unlocked. A lock held elsewhere fails at `step` after a short wait. The base class has
  // no other client to exclude (an in-memory node) and takes nothing.
  virtual NodeResult<void> lock_dest(const std::string& dest, const std::string& step);
  // Releases what lock_dest took, and returns once the node has let go of it.
  virtual void unlock_dest() {}
  // Runs `request` (scripts::lock_script's fields: {"sha256", PATH} or {"switch", ...}) in the
  // process holding `dest`'s lock, so no new shell starts; stderr comes merged into `out`, and
  // into `err` as well when it fails. Without that lock held, and in the base class, it runs
  // `fallback` -- the same work as a command of its own, which takes the lock itself if needed.
  virtual NodeResult<ExecResult> run_locked(const std::string& dest,
                                            std::span<const std::string> request,
                                            std::string_view fallback);

 protected:
  Remote(Remote&&) = default;
  Remote& operator=(Remote&&) = default;
};

// Holds a Remote's DEST lock for a scope.
class DestLock {
 public:
  explicit DestLock(Remote& remote) : remote_(remote) {}
  DestLock(const DestLock&) = delete;
  DestLock& operator=(const DestLock&) = delete;
  ~DestLock() { remote_.unlock_dest(); }

 private:
  Remote& remote_;
};

// How long lock_dest waits for another keyfleet command to let go of DEST/.lock.
inline constexpr int kDestLockWaitSeconds = 10;

// The command lock_dest runs on the node (scripts::lock_script): prints "locked" (or
// "unlocked", see lock_dest) on stdout, then serves run_locked's requests and keeps the lock
// until its stdin ends; exits 75 when the lock stays held.
std::string dest_lock_command(const std::string& dest, int wait_seconds);

// `text` as one word for a POSIX shell: single-quoted, with embedded quotes as '\''.
std::string shell_quote(std::string_view text);

}  // namespace kf
