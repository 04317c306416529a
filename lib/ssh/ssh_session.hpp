#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/deadline.hpp"
#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"
#include "ssh/connection.hpp"
#include "ssh/jump.hpp"

namespace kf {

struct SftpAnswer;

// One authenticated SSH connection to one node (libssh 0.10), used for everything a command does
// there: exec channels, and one SFTP channel opened on first use and kept. It carries bytes and
// files; what they mean (the key directory, its lock) is keydir's.
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
//
// With the node's `become`, connect() runs it once (keydir::check_become: step `become`), then
// every command runs through it and file I/O goes to an sftp-server started through it;
// login() is the same connection as the SSH user, with the sftp subsystem.
//
// Moving it moves one pointer: channels opened on it (keydir's DestLock) keep working.
class SshSession final : public Remote {
 public:
  // `via`: a tunnel through the node's jump hosts (ssh/jump.hpp); required when it has any.
  static NodeResult<SshSession> connect(const NodeConfig& node, Deadline deadline,
                                        std::shared_ptr<Tunnel> via = nullptr);

  SshSession(SshSession&&) noexcept = default;
  SshSession& operator=(SshSession&& other) noexcept;
  ~SshSession() override {
    if (!as_login_) close();
  }

  // Says goodbye and closes the connection (at most ~2 s on a stalled peer); idempotent.
  void close();

  [[nodiscard]] const std::string& node_name() const override { return core_->name; }
  Remote& login() override;
  // "SHA256:..." of the host key the node presented (and known_hosts matched).
  [[nodiscard]] const std::string& host_key_fingerprint() const { return core_->fingerprint; }
  [[nodiscard]] Deadline deadline() const { return core_->deadline; }
  // Moves the deadline that bounds every later call.
  void set_deadline(Deadline deadline);
  // Runs `wait` -- local work this node waits for, such as push's decryption -- off the node's
  // clock: the time left before the deadline is the same after it as before.
  void off_the_clock(const std::function<void()>& wait) override;

  NodeResult<ExecResult> exec(std::string_view command,
                              std::span<const std::uint8_t> stdin_data = {}) override;
  NodeResult<std::unique_ptr<Channel>> open_channel(std::string_view command) override;
  NodeResult<void> mkdir(const std::string& path, mode_t mode) override;
  NodeResult<void> upload(const std::string& path, std::span<const std::uint8_t> data,
                          mode_t mode) override;
  NodeResult<void> upload_all(std::span<const NewFile> files) override;
  NodeResult<std::vector<std::uint8_t>> upload_and_read_back(const std::string& path,
                                                             std::span<const std::uint8_t> data,
                                                             mode_t mode) override;
  NodeResult<std::vector<std::uint8_t>> read_file(const std::string& path,
                                                  std::size_t max_size) override;
  NodeResult<std::optional<RemoteStat>> stat(const std::string& path) override;
  NodeResult<std::optional<RemoteStat>> lstat(const std::string& path) override;
  NodeResult<std::string> readlink(const std::string& path) override;
  NodeResult<void> symlink(const std::string& target, const std::string& link_path) override;
  NodeResult<void> rename(const std::string& from, const std::string& to) override;
  NodeResult<bool> can_replace() override;
  NodeResult<void> replace(const std::string& from, const std::string& to) override;
  NodeResult<void> unlink(const std::string& path) override;
  NodeResult<void> rmdir(const std::string& path) override;
  NodeResult<std::vector<NodeResult<void>>> remove_each(std::span<const std::string> files,
                                                        std::span<const std::string> dirs) override;
  NodeResult<void> chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) override;
  NodeResult<void> chmod(const std::string& path, mode_t mode) override;
  NodeResult<std::vector<DirEntry>> list_dir(const std::string& path) override;
  NodeResult<Listing> lstat_list(const std::string& path) override;
  NodeResult<LinkInfo> lstat_link(const std::string& path) override;
  NodeResult<Survey> survey(std::span<const std::string> lists,
                            std::span<const std::string> links) override;
  NodeResult<SpaceInfo> space(const std::string& path) override;
  NodeResult<void> fsync_dir(const std::string& path) override;
  NodeResult<void> fsync_dirs(std::span<const std::string> paths) override;

 private:
  friend class JumpHub;  // owns a hop's session and its channels on one thread
  SshSession(const NodeConfig& node, Deadline deadline);
  // login()'s view: the same connection without `become`; it never closes it.
  explicit SshSession(std::shared_ptr<SshConnection> core)
      : core_(std::move(core)), as_login_(true) {}

  NodeResult<void> handshake(const NodeConfig& node, Deadline connect_deadline);
  NodeResult<void> check_host_key(const NodeConfig& node);
  NodeResult<void> authenticate(const NodeConfig& node);
  NodeResult<SshChannelPtr> start_command(std::string_view command, std::string_view what);
  NodeResult<sftp_session> sftp();
  NodeResult<SftpSessionPtr> start_become_sftp();
  // Whether this view runs things through `become`, and the SFTP session it uses.
  [[nodiscard]] bool becomes() const { return !as_login_ && !core_->become.empty(); }
  [[nodiscard]] SftpSessionPtr& sftp_slot() const {
    return becomes() ? core_->become_sftp : core_->sftp;
  }
  NodeResult<void> fix_mode(const std::string& path, mode_t mode, std::string_view what);
  // upload_all, and with `read_back` each file's content read back before it is closed.
  NodeResult<std::vector<std::vector<std::uint8_t>>> write_files(std::span<const NewFile> files,
                                                                 bool read_back);
  NodeResult<void> remote_sync(const std::string& path, std::string_view what);

  // The same for an SFTP request, with the SFTP status code in words.
  [[nodiscard]] NodeError sftp_failure(std::string_view what, const std::string& path) const;
  // The same for a status SftpBatch read (`code`: SSH_FX_*).
  [[nodiscard]] NodeError status_failure(std::uint32_t code, std::string_view what,
                                         const std::string& path) const;
  NodeResult<std::vector<DirEntry>> read_listing(const std::string& path,
                                                 const std::string& handle);
  // A listing from its two readdir answers; nullopt when they did not reach its end.
  NodeResult<std::optional<std::vector<DirEntry>>> entries_of(const std::string& path,
                                                              const SftpAnswer& first,
                                                              const SftpAnswer& second) const;
  [[nodiscard]] NodeResult<std::optional<RemoteStat>> stat_answer(const SftpAnswer& answer,
                                                                  std::string_view what,
                                                                  const std::string& path) const;
  // list_dir and read_file one request at a time, for what one batch did not cover.
  NodeResult<std::vector<DirEntry>> list_dir_slowly(const std::string& path);
  NodeResult<std::vector<std::uint8_t>> read_file_slowly(const std::string& path,
                                                         const RemoteStat& listed,
                                                         std::size_t max_size);

  std::shared_ptr<SshConnection> core_;
  bool as_login_ = false;
  std::unique_ptr<SshSession> login_;  // login()'s view, made on first use
};

// What the host-key checks of the command this process runs want the operator to know
// (known_hosts::Lookup::notes: a @cert-authority line, a marker keyfleet does not implement, a
// line it cannot read), each once: a known_hosts line that every node's lookup comes across is one
// warning per run, not one per node, and it is given when the node passes too -- a typo such as
// `@revoke` beside a plain line otherwise goes unnoticed. SshSession::connect adds them (jump
// hosts included); the cli prints them on stderr. Thread-safe: nodes connect in parallel.
class HostKeyNotes {
 public:
  // Keeps each of `notes` about known_hosts file `file` whose FILE:LINE was not noted before.
  void add(std::string_view file, const std::vector<std::string>& notes);
  // The notes kept since the last call, in the order they came.
  [[nodiscard]] std::vector<std::string> take();

 private:
  std::mutex mutex_;
  std::set<std::string> seen_;  // FILE:LINE (or FILE, for a note about the whole file)
  std::vector<std::string> pending_;
};

// The host-key notes of the command this process runs.
HostKeyNotes& command_host_key_notes();

}  // namespace kf
