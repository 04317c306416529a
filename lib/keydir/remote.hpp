#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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

// What lstat_list found: nothing (nullopt), something else, or a directory and its entries.
struct Listing {
  std::optional<RemoteStat> stat;  // lstat's
  std::vector<DirEntry> entries;   // only when `stat` is a directory
};

// What lstat_link found: nothing, something else, or a symlink, its text and what it leads to.
struct LinkInfo {
  std::optional<RemoteStat> stat;    // lstat's
  std::string text;                  // only when `stat` is a symlink
  std::optional<RemoteStat> target;  // stat's, likewise; nullopt: it dangles
};

// What survey() found: a Listing for each path it listed, a LinkInfo for each link it read.
struct Survey {
  std::vector<Listing> lists;
  std::vector<LinkInfo> links;
};

// One file for upload_all.
struct NewFile {
  std::string path;
  std::span<const std::uint8_t> data;
  mode_t mode = 0600;
};

struct SpaceInfo {
  std::uint64_t available = 0;  // bytes an unprivileged writer may still use
  std::uint64_t total = 0;
  bool read_only = false;
};

// A command running on the node with its standard input still open: the lock holder, which keeps
// DEST/.lock while it serves requests. Bytes only; what they mean is the caller's business.
// Every read is bounded by the node's deadline.
class Channel {
 public:
  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  virtual ~Channel() = default;

  // Sends `data` to the command's standard input.
  virtual NodeResult<void> write(std::string_view data) = 0;
  // The command's standard output up to and including the first `marker`; what follows it is kept
  // for the next call. When the output ends first, what was left (without the marker).
  virtual NodeResult<std::string> read_until(std::string_view marker) = 0;
  // Closes standard input, reads the rest and waits for the command to end: its exit status, the
  // standard output not read yet and its standard error.
  virtual NodeResult<ExecResult> finish() = 0;
};

// The operations keyfleet needs on one node's filesystem, over one connection. The real ones are
// SshSession (ssh/) and LocalRemote (this machine, for `unpack` and tests); unit tests of per-node
// logic may use an in-memory one, as ninja tests its build logic against a fake DiskInterface.
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

  // The same node as the SSH user itself, for what stays theirs when the inventory's `become`
  // runs everything else as root (keydir/become.hpp): the staged bundle and its directory.
  // Without `become`, this object.
  virtual Remote& login() { return *this; }

  // Runs `command` with the login shell (`$SHELL -c command`; through `become` when set), feeding
  // it `stdin_data`, then end-of-file. A non-zero exit status is a result, not an error.
  virtual NodeResult<ExecResult> exec(std::string_view command,
                                      std::span<const std::uint8_t> stdin_data = {}) = 0;
  // Starts `command` the same way and leaves its standard input open (see Channel).
  virtual NodeResult<std::unique_ptr<Channel>> open_channel(std::string_view command) = 0;

  // A new directory with exactly `mode`; an existing path is an error.
  virtual NodeResult<void> mkdir(const std::string& path, mode_t mode) = 0;
  // A new file (O_CREAT|O_EXCL: never through an existing name or symlink) with exactly `mode`,
  // holding `data`, fsynced on the node before this returns.
  virtual NodeResult<void> upload(const std::string& path, std::span<const std::uint8_t> data,
                                  mode_t mode) = 0;
  // upload() for each of `files`; over SSH, all of them in two round trips. On failure none of
  // them is left behind.
  virtual NodeResult<void> upload_all(std::span<const NewFile> files);
  // upload(), then what the node's new file holds, read back: a check of a copy that needs no
  // process on the node. Over SSH it is read through the same open file, before it is closed,
  // in upload()'s round trips.
  virtual NodeResult<std::vector<std::uint8_t>> upload_and_read_back(
      const std::string& path, std::span<const std::uint8_t> data, mode_t mode);
  // A whole regular file, refusing one larger than `max_size`.
  virtual NodeResult<std::vector<std::uint8_t>> read_file(const std::string& path,
                                                          std::size_t max_size) = 0;
  // nullopt when nothing is at `path`.
  virtual NodeResult<std::optional<RemoteStat>> stat(const std::string& path) = 0;
  virtual NodeResult<std::optional<RemoteStat>> lstat(const std::string& path) = 0;
  virtual NodeResult<std::string> readlink(const std::string& path) = 0;
  virtual NodeResult<void> symlink(const std::string& target, const std::string& link_path) = 0;
  // Fails when `to` exists: SFTP v3's rename never replaces.
  virtual NodeResult<void> rename(const std::string& from, const std::string& to) = 0;
  // Whether replace() works on this node (SFTP: the server offers posix-rename@openssh.com, as
  // OpenSSH's has since 4.8). Without it, the link is switched by the lock holder's `mv -T`.
  virtual NodeResult<bool> can_replace() { return false; }
  // One rename(2) of `from` over `to`, replacing what is there: how the link (DEST/current) moves
  // to the next generation without a moment in which it is missing.
  virtual NodeResult<void> replace(const std::string& from, const std::string& to);
  virtual NodeResult<void> unlink(const std::string& path) = 0;
  virtual NodeResult<void> rmdir(const std::string& path) = 0;
  // unlink() of each of `files`, then rmdir() of each of `dirs`: each one's result, in that order
  // (the outer error: the connection's); over SSH, in one round trip.
  virtual NodeResult<std::vector<NodeResult<void>>> remove_each(std::span<const std::string> files,
                                                                std::span<const std::string> dirs);
  // Never follows a symlink at `path` (lchown).
  virtual NodeResult<void> chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) = 0;
  virtual NodeResult<void> chmod(const std::string& path, mode_t mode) = 0;
  virtual NodeResult<std::vector<DirEntry>> list_dir(const std::string& path) = 0;
  // lstat, then list_dir when it is a directory (never through a symlink); over SSH, one round
  // trip fewer.
  virtual NodeResult<Listing> lstat_list(const std::string& path);
  // lstat, then readlink and stat when it is a symlink; over SSH, in one round trip.
  virtual NodeResult<LinkInfo> lstat_link(const std::string& path);
  // lstat_list of each of `lists` and lstat_link of each of `links`, in order; over SSH, all in
  // one round trip, and one more for the directories' entries.
  virtual NodeResult<Survey> survey(std::span<const std::string> lists,
                                    std::span<const std::string> links);
  virtual NodeResult<SpaceInfo> space(const std::string& path) = 0;
  // Makes a directory's entries durable (after creating, renaming or removing files in it).
  virtual NodeResult<void> fsync_dir(const std::string& path) = 0;
  // fsync_dir for each of `paths`, in order; over SSH, in two round trips.
  virtual NodeResult<void> fsync_dirs(std::span<const std::string> paths);

  // Runs `wait` -- local work this node waits for, such as push's decryption -- off the node's
  // clock: the time left before its deadline is the same after it as before.
  virtual void off_the_clock(const std::function<void()>& wait) { wait(); }

 protected:
  Remote(Remote&&) = default;
  Remote& operator=(Remote&&) = default;
};

// `text` as one word for a POSIX shell: single-quoted, with embedded quotes as '\''.
std::string shell_quote(std::string_view text);

// "DIR/NAME", with one slash between them.
std::string join_path(std::string_view dir, std::string_view name);

// The directory part of an absolute path: "/a/b" -> "/a", "/a" -> "/".
std::string parent_path(std::string_view path);

// Removes `path` and, for a directory, everything below it, without following symlinks (a symlink
// is removed, never what it points at), at most `max_depth` directories deep. Nothing at `path`
// is not an error.
NodeResult<void> remove_tree(Remote& remote, const std::string& path, int max_depth = 16);

}  // namespace kf
