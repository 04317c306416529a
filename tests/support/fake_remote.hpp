#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keydir/remote.hpp"

namespace kf::test {

// An in-memory node for unit tests of per-node logic (push, verify, cleanup, rollback steps),
// the way ninja tests its build logic against a fake DiskInterface. Files, directories and
// symlinks live in `entries` by absolute path ("/" always exists); it keeps SFTP's rules: create
// is exclusive, rename never replaces, rmdir wants an empty directory. Symlinks are followed only
// as the last component (stat, read_file).
//
// keyfleet's own node commands are served as typed requests, with the scripts' rules: the lock
// holder (keydir::lock_command: "locked UID", then `sha256`, `switch`, `append` and `wipe`
// requests, logged as "request sha256 PATH" / "request switch ENTRY" / "request append PATH" /
// "request wipe PATH", the last two then run as the history append and dd below would run; a HOME
// it must create is made as the script makes it), `id -u` (and
// `id -u && pwd -P`, with `login_home`) and the history append (keydir::append_history,
// "keyfleet-history PATH": stdin appended). Every other command (hooks, dd, ...) goes to `on_exec`.
// Every call is logged, and any call can be made to fail once with fail_next() (op "request" for
// the lock holder's requests, "lock" for taking it). The real scripts are tested through
// keydir::LocalRemote instead.
class FakeRemote final : public Remote {
 public:
  struct Entry {
    FileType type = FileType::regular;
    mode_t mode = 0600;
    std::vector<std::uint8_t> data;  // regular files
    std::string target;              // symlinks
  };
  using ExecHandler =
      std::function<NodeResult<ExecResult>(std::string_view, std::span<const std::uint8_t>)>;

  explicit FakeRemote(std::string name = "fake");

  std::map<std::string, Entry> entries;
  // path -> uid and gid set by chown (-1 leaves one as it was, as lchown does); they move with
  // rename. An entry missing here belongs to `login_uid` (stat reports it so).
  std::map<std::string, std::uint32_t> owners;
  std::map<std::string, std::uint32_t> groups;
  // The SSH user's uid: what the lock holder's greeting and `id -u` say.
  std::uint32_t login_uid = 0;
  // Where the SSH user's sessions start (its home): what `id -u && pwd -P` says; empty: that
  // command goes to `on_exec`.
  std::string login_home;
  // What login() returns: another node standing for the SSH user's own view of this one when
  // `become` runs the rest as root (its files are its own); this node itself when null.
  Remote* login_view = nullptr;
  ExecHandler on_exec;
  // Called as each call starts (after logging it, before it looks at anything): a test changes the
  // node here behind the caller's back, as another local user would between two calls.
  std::function<void(std::string_view op, const std::string& path)> on_call;
  SpaceInfo space_info{1ULL << 30, 1ULL << 31, false};
  std::vector<std::string> log;  // "mkdir /a", "upload /a/b", "exec cmd", ...
  // DEST/.lock is held by another keyfleet command: taking it fails as the lock script does.
  bool lock_held_elsewhere = false;
  // Runs once, just before DEST/.lock is taken: what another keyfleet command did on the node
  // while this one waited for the lock.
  std::function<void(FakeRemote&)> before_lock;
  // The SFTP server offers posix-rename@openssh.com: the switch is made with replace() instead
  // of the lock holder's `switch` request.
  bool posix_rename = false;

  // The next call of `op` ("mkdir", "upload", "exec", ...) on `path` (any path when empty; for
  // exec, a command containing `path`) fails with `error`.
  void fail_next(std::string op, std::string path, NodeError error);
  // From now on every call fails with `error`, as over a connection the watchdog shut down at the
  // node's deadline; called from on_call, the call being made fails too.
  void cut_connection(NodeError error) { cut_ = std::move(error); }

  // Test set-up and inspection.
  void add_dir(const std::string& path, mode_t mode = 0755);
  void add_file(const std::string& path, std::string_view text, mode_t mode = 0644);
  [[nodiscard]] bool exists(const std::string& path) const { return entries.contains(path); }
  [[nodiscard]] std::string text(const std::string& path) const;

  [[nodiscard]] const std::string& node_name() const override { return name_; }
  Remote& login() override { return login_view != nullptr ? *login_view : *this; }
  NodeResult<ExecResult> exec(std::string_view command,
                              std::span<const std::uint8_t> stdin_data = {}) override;
  NodeResult<void> mkdir(const std::string& path, mode_t mode) override;
  NodeResult<void> upload(const std::string& path, std::span<const std::uint8_t> data,
                          mode_t mode) override;
  NodeResult<std::vector<std::uint8_t>> read_file(const std::string& path,
                                                  std::size_t max_size) override;
  NodeResult<std::optional<RemoteStat>> stat(const std::string& path) override;
  NodeResult<std::optional<RemoteStat>> lstat(const std::string& path) override;
  NodeResult<std::string> readlink(const std::string& path) override;
  NodeResult<void> symlink(const std::string& target, const std::string& link_path) override;
  NodeResult<void> rename(const std::string& from, const std::string& to) override;
  NodeResult<bool> can_replace() override { return posix_rename; }
  NodeResult<void> replace(const std::string& from, const std::string& to) override;
  NodeResult<void> unlink(const std::string& path) override;
  NodeResult<void> rmdir(const std::string& path) override;
  NodeResult<std::unique_ptr<Channel>> open_channel(std::string_view command) override;
  NodeResult<void> chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) override;
  NodeResult<void> chmod(const std::string& path, mode_t mode) override;
  NodeResult<std::vector<DirEntry>> list_dir(const std::string& path) override;

  // The layout words of keydir::lock_command: HOME, GENERATIONS and the link's path.
  struct Layout {
    std::string home;
    std::string generations;
    std::string link;
  };

  // A lock-holder request, as the node script serves it.
  NodeResult<ExecResult> serve(const Layout& layout, const std::vector<std::string>& fields);
  NodeResult<SpaceInfo> space(const std::string& path) override;
  NodeResult<void> fsync_dir(const std::string& path) override;

 private:
  struct Failure {
    std::string op;
    std::string path;
    NodeError error;
  };

  // Logs the call and returns an injected failure, if one matches.
  std::optional<NodeError> enter(std::string_view op, const std::string& path);
  NodeError error(std::string_view what, const std::string& path, std::string_view why) const;
  NodeResult<void> need_parent_dir(std::string_view what, const std::string& path) const;
  // The path a symlink in last position leads to (nullopt: dangling or a loop).
  std::optional<std::string> follow(const std::string& path) const;
  [[nodiscard]] RemoteStat stat_of(const std::string& path, const Entry& entry) const;
  // a = TMP ENTRY EXPECTED LINK ASIDE
  NodeResult<ExecResult> fake_switch(const Layout& layout, const std::vector<std::string>& a);

  std::string name_;
  std::vector<Failure> failures_;
  std::optional<NodeError> cut_;
};

// What a channel's read_until gives from `buffer`: up to and including `marker`, taken out of it,
// or all of it when the marker never comes.
std::string take_through(std::string& buffer, std::string_view marker);

// The hook a FakeRemote log line runs ("exec KEYFLEET_STEP=... ( HOOK ) </dev/null ..."), or
// nullopt for any other line.
std::optional<std::string> hook_in(const std::string& log_line);

}  // namespace kf::test
