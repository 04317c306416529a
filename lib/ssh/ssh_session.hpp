#pragma once

#include <functional>
#include <memory>
#include <string>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "core/deadline.hpp"
#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"
#include "ssh/watchdog.hpp"

namespace kf {

// ssh_free only: libssh 0.10.6 leaves a socket given with SSH_OPTIONS_FD open after
// ssh_disconnect (and closes it itself on connection errors), but ssh_free closes what it holds.
struct SshSessionDeleter {
  void operator()(ssh_session session) const;
};
struct SftpSessionDeleter {
  void operator()(sftp_session sftp) const;
};
struct SshChannelDeleter {
  void operator()(ssh_channel channel) const { ssh_channel_free(channel); }
};
using SshChannelPtr = std::unique_ptr<ssh_channel_struct, SshChannelDeleter>;
using SshSessionPtr = std::unique_ptr<ssh_session_struct, SshSessionDeleter>;
using SftpSessionPtr = std::unique_ptr<sftp_session_struct, SftpSessionDeleter>;

// One authenticated SSH connection to one node (libssh 0.10), used for everything a command does
// there: exec channels, and one SFTP channel opened on first use and kept.
//
// connect() resolves and connects (connect_timeout, status `unreachable`), completes the SSH
// handshake (connect_timeout, else `timeout`), checks the host key against the node's known_hosts
// file and nothing else (anything but a known, matching key is `hostkey`, before any credential is
// offered; known_hosts is never written), then authenticates with identity_file or ssh-agent
// (`auth`). ~/.ssh/config and /etc/ssh/ssh_config are not read: the inventory says everything.
//
// Every later call is bounded by `deadline` (the node's whole `timeout`): libssh's own timeout is
// kept at the time left, and a watchdog shuts the socket down when it runs out, so that even a peer
// that stops answering mid-call costs no more than the deadline. Errors past it are `timeout`.
class SshSession final : public Remote {
 public:
  static NodeResult<SshSession> connect(const NodeConfig& node, Deadline deadline);

  SshSession(SshSession&& other) noexcept = default;
  SshSession& operator=(SshSession&& other) noexcept;
  ~SshSession() override { close(); }

  // Says goodbye and closes the connection (at most ~2 s on a stalled peer); idempotent.
  void close();

  [[nodiscard]] const std::string& node_name() const override { return name_; }
  // "SHA256:..." of the host key the node presented (and known_hosts matched).
  [[nodiscard]] const std::string& host_key_fingerprint() const { return fingerprint_; }
  [[nodiscard]] Deadline deadline() const { return deadline_; }
  // Runs `wait` -- local work this node waits for, such as push's decryption -- off the node's
  // clock: the time left before the deadline is the same after it as before.
  void off_the_clock(const std::function<void()>& wait);

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
  NodeResult<void> unlink(const std::string& path) override;
  NodeResult<void> rmdir(const std::string& path) override;
  NodeResult<std::vector<DirEntry>> list_dir(const std::string& path) override;
  NodeResult<SpaceInfo> space(const std::string& path) override;
  NodeResult<void> fsync_dir(const std::string& path) override;
  // An exec channel running dest_lock_command, kept open while the lock is held.
  NodeResult<void> lock_dest(const std::string& dest, const std::string& step) override;
  void unlock_dest() override;
  // Sends `request` over the lock's channel when `dest`'s lock is held, else runs `fallback`.
  NodeResult<ExecResult> run_locked(const std::string& dest, std::span<const std::string> request,
                                    std::string_view fallback) override;

 private:
  SshSession(const NodeConfig& node, Deadline deadline);

  NodeResult<void> handshake(const NodeConfig& node, Deadline connect_deadline);
  NodeResult<void> check_host_key(const NodeConfig& node);
  NodeResult<void> authenticate(const NodeConfig& node);
  NodeResult<void> exec_io(ssh_channel channel, std::span<const std::uint8_t> stdin_data,
                           ExecResult& result, std::string_view what);
  NodeResult<sftp_session> sftp();
  NodeResult<void> fix_mode(const std::string& path, mode_t mode, std::string_view what);
  NodeResult<void> remote_sync(const std::string& path, std::string_view what);

  // Keeps libssh's own timeout at the time left before the deadline.
  void refresh_timeout();
  [[nodiscard]] bool timed_out() const;
  // An error from libssh during `what`: `timeout` past the deadline, else `failed` with
  // ssh_get_error's words.
  [[nodiscard]] NodeError ssh_failure(std::string step, std::string_view what) const;
  // The same for an SFTP request, with the SFTP status code in words.
  [[nodiscard]] NodeError sftp_failure(std::string_view what, const std::string& path) const;

  std::string name_;
  std::string host_;
  int port_ = 22;
  int timeout_seconds_ = 0;
  Deadline deadline_;
  std::string fingerprint_;
  // Declared before the session so that it outlives it: it bounds the goodbye too.
  std::unique_ptr<SocketWatchdog> watchdog_;
  SshSessionPtr session_;
  SftpSessionPtr sftp_;
  // After session_: a channel must be freed before its session.
  SshChannelPtr held_lock_;
  std::string held_lock_dest_;
};

}  // namespace kf
