#include "ssh/ssh_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "keydir/node_scripts.hpp"
#include "ssh/tcp.hpp"

namespace kf {
namespace {

struct KeyDeleter {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

using ChannelPtr = SshChannelPtr;

struct CharDeleter {
  void operator()(char* text) const { ssh_string_free_char(text); }
};

// Output beyond this is a runaway command, not a digest listing.
constexpr std::size_t kMaxExecOutput = 64 << 20;

void init_libssh() {
  // libssh initializes itself when loaded; this makes it explicit and happens once.
  static const int rc = ssh_init();
  (void)rc;
}

long seconds_left(Deadline deadline) {
  auto ms = deadline.remaining().count();
  return std::max<long>(1, static_cast<long>((ms + 999) / 1000));
}

// "[127.0.0.1]:2201", as known_hosts names a host on a port other than 22.
std::string known_hosts_name(const std::string& host, int port) {
  return port == 22 ? host : fmt::format("[{}]:{}", host, port);
}

// The first line of a command, shortened, for error messages.
std::string describe_command(std::string_view command) {
  std::string_view line = command.substr(0, command.find('\n'));
  if (line.size() > 60) return fmt::format("`{}...`", line.substr(0, 57));
  if (line.size() < command.size()) return fmt::format("`{}...`", line);
  return fmt::format("`{}`", line);
}

}  // namespace

void SshSessionDeleter::operator()(ssh_session session) const {
  ssh_free(session);
}

void SftpSessionDeleter::operator()(sftp_session sftp) const {
  sftp_free(sftp);
}

SshSession::SshSession(const NodeConfig& node, Deadline deadline)
    : name_(node.name),
      host_(node.host),
      port_(node.port),
      // What the caller gave this node, for messages (a command may cut node.timeout short).
      timeout_seconds_(static_cast<int>(seconds_left(deadline))),
      deadline_(deadline) {}

SshSession& SshSession::operator=(SshSession&& other) noexcept {
  if (this != &other) {
    close();
    name_ = std::move(other.name_);
    host_ = std::move(other.host_);
    port_ = other.port_;
    timeout_seconds_ = other.timeout_seconds_;
    deadline_ = other.deadline_;
    fingerprint_ = std::move(other.fingerprint_);
    watchdog_ = std::move(other.watchdog_);
    session_ = std::move(other.session_);
    sftp_ = std::move(other.sftp_);
    held_lock_ = std::move(other.held_lock_);
    Remote::operator=(std::move(other));  // last: the members above read `other`
  }
  return *this;
}

void SshSession::close() {
  unlock_dest();
  if (session_) {
    // Closing the SFTP channel waits for the peer: never longer than a moment, and not at all for
    // a peer already given up on.
    if (timed_out() && watchdog_) watchdog_->cut();
    long goodbye = 2;
    ssh_options_set(session_.get(), SSH_OPTIONS_TIMEOUT, &goodbye);
    sftp_.reset();
    session_.reset();
  }
  watchdog_.reset();
}

NodeResult<SshSession> SshSession::connect(const NodeConfig& node, Deadline deadline) {
  init_libssh();
  SshSession session(node, deadline);
  Deadline connect_deadline =
      deadline.earliest(Deadline::after_seconds(std::max(node.connect_timeout, 1)));
  KF_CHECK(session.handshake(node, connect_deadline));
  KF_CHECK(session.check_host_key(node));
  // From here on the whole per-node deadline bounds every call.
  session.watchdog_->set_deadline(deadline);
  if (session.watchdog_->fired()) {
    return node_fail(
        NodeStatus::timeout, "connect",
        "{}: the SSH handshake with {} port {} took longer than connect_timeout ({} s)", node.name,
        node.host, node.port, node.connect_timeout);
  }
  session.refresh_timeout();
  KF_CHECK(session.authenticate(node));
  return session;
}

NodeResult<void> SshSession::handshake(const NodeConfig& node, Deadline connect_deadline) {
  Fd fd = KF_TRY(tcp_connect(name_, host_, port_, connect_deadline));
  session_.reset(ssh_new());
  if (!session_) return node_fail(NodeStatus::failed, "connect", "{}: ssh_new failed", name_);
  ssh_session s = session_.get();

  bool process_config = false;  // the inventory says everything; ~/.ssh/config may not weaken it
  unsigned int port = static_cast<unsigned int>(port_);
  int verbosity = SSH_LOG_NOLOG;
  int strict = 1;
  int nodelay = 1;
  long timeout = seconds_left(connect_deadline);
  bool ok = ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_HOST, host_.c_str()) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_PORT, &port) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_USER, node.user.c_str()) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, node.known_hosts.c_str()) == SSH_OK &&
            // Only the inventory's known_hosts counts, not /etc/ssh/ssh_known_hosts.
            ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &strict) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) == SSH_OK;
  if (!ok) {
    return node_fail(NodeStatus::failed, "connect", "{}: cannot set up libssh for {}@{}: {}", name_,
                     node.user, host_, ssh_get_error(s));
  }
  watchdog_ = std::make_unique<SocketWatchdog>(fd.get(), connect_deadline);
  socket_t raw_fd = fd.get();
  if (ssh_options_set(s, SSH_OPTIONS_FD, &raw_fd) != SSH_OK) {
    return node_fail(NodeStatus::failed, "connect", "{}: cannot hand the socket to libssh: {}",
                     name_, ssh_get_error(s));
  }
  fd.release();  // libssh's now: it closes it on errors, or in ssh_free
  if (ssh_connect(s) != SSH_OK) {
    if (connect_deadline.expired() || watchdog_->fired()) {
      return node_fail(NodeStatus::timeout, "connect",
                       "{}: no SSH handshake from {} port {} within connect_timeout ({} s)", name_,
                       host_, port_, node.connect_timeout);
    }
    return node_fail(NodeStatus::failed, "connect", "{}: SSH handshake with {} port {} failed: {}",
                     name_, host_, port_, ssh_get_error(s));
  }
  return {};
}

NodeResult<void> SshSession::check_host_key(const NodeConfig& node) {
  ssh_session s = session_.get();
  ssh_key raw_key = nullptr;
  if (ssh_get_server_publickey(s, &raw_key) != SSH_OK) {
    return node_fail(NodeStatus::hostkey, "hostkey", "{}: the node presented no host key: {}",
                     name_, ssh_get_error(s));
  }
  KeyPtr key(raw_key);
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0) {
    std::unique_ptr<char, CharDeleter> text(
        ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len));
    ssh_clean_pubkey_hash(&hash);
    if (text) fingerprint_ = text.get();
  }
  std::string presented =
      fmt::format("{} {}", ssh_key_type_to_char(ssh_key_type(key.get())), fingerprint_);
  std::string host = known_hosts_name(host_, port_);
  const std::string& file = node.known_hosts;

  ssh_known_hosts_e state = ssh_session_is_known_server(s);
  // libssh says "unknown" for a file it cannot open: say what is wrong with the file instead.
  if (state != SSH_KNOWN_HOSTS_OK && ::access(file.c_str(), R_OK) != 0) {
    return node_fail(NodeStatus::hostkey, "hostkey",
                     "{}: cannot read known_hosts file {}: {} (the node presented {})", name_, file,
                     errno == ENOENT ? "it does not exist" : std::strerror(errno), presented);
  }
  switch (state) {
    case SSH_KNOWN_HOSTS_OK:
      return {};
    case SSH_KNOWN_HOSTS_CHANGED:
      return node_fail(NodeStatus::hostkey, "hostkey",
                       "{}: host key of {} does not match {} (the node presented {}): if the "
                       "node's key was changed on purpose, replace its entry; otherwise the "
                       "connection may be intercepted",
                       name_, host, file, presented);
    case SSH_KNOWN_HOSTS_OTHER:
      return node_fail(NodeStatus::hostkey, "hostkey",
                       "{}: {} lists a key of another type for {} than the one the node "
                       "presented ({})",
                       name_, file, host, presented);
    case SSH_KNOWN_HOSTS_UNKNOWN:
      return node_fail(NodeStatus::hostkey, "hostkey",
                       "{}: {} is not in {} (the node presented {}): add its key after checking "
                       "that fingerprint on the node",
                       name_, host, file, presented);
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_ERROR:
      break;
  }
  return node_fail(NodeStatus::hostkey, "hostkey", "{}: cannot check the host key of {} in {}: {}",
                   name_, host, file, ssh_get_error(s));
}

NodeResult<void> SshSession::authenticate(const NodeConfig& node) {
  ssh_session s = session_.get();
  std::string credential;
  int rc = SSH_AUTH_ERROR;
  if (!node.identity_file.empty()) {
    credential = fmt::format("key {}", node.identity_file);
    if (::access(node.identity_file.c_str(), R_OK) != 0) {
      return node_fail(NodeStatus::auth, "auth", "{}: cannot read identity_file {}: {}", name_,
                       node.identity_file, std::strerror(errno));
    }
    ssh_key raw_key = nullptr;
    if (ssh_pki_import_privkey_file(node.identity_file.c_str(), nullptr, nullptr, nullptr,
                                    &raw_key) != SSH_OK) {
      return node_fail(NodeStatus::auth, "auth",
                       "{}: cannot load identity_file {}: not an unencrypted private key (for a "
                       "key with a passphrase, load it into ssh-agent and leave identity_file out)",
                       name_, node.identity_file);
    }
    KeyPtr key(raw_key);
    rc = ssh_userauth_publickey(s, nullptr, key.get());
  } else {
    credential = "the keys in ssh-agent";
    if (std::getenv("SSH_AUTH_SOCK") == nullptr) {
      return node_fail(NodeStatus::auth, "auth",
                       "{}: no identity_file in the inventory and no ssh-agent (SSH_AUTH_SOCK is "
                       "not set)",
                       name_);
    }
    rc = ssh_userauth_agent(s, nullptr);
  }
  switch (rc) {
    case SSH_AUTH_SUCCESS:
      return {};
    case SSH_AUTH_DENIED:
      return node_fail(NodeStatus::auth, "auth", "{}: {}@{} refused {}", name_, node.user, host_,
                       credential);
    case SSH_AUTH_PARTIAL:
      return node_fail(NodeStatus::auth, "auth",
                       "{}: {}@{} accepted {} but demands another authentication method", name_,
                       node.user, host_, credential);
    default:
      return std::unexpected(
          ssh_failure("auth", fmt::format("authenticating with {}", credential)));
  }
}

void SshSession::refresh_timeout() {
  if (!session_) return;
  long timeout = seconds_left(deadline_);
  ssh_options_set(session_.get(), SSH_OPTIONS_TIMEOUT, &timeout);
}

void SshSession::off_the_clock(const std::function<void()>& wait) {
  const auto left = deadline_.remaining();
  // Far enough to never fire during a wait; the real deadline is set again right after.
  if (watchdog_) watchdog_->set_deadline(Deadline::after(std::chrono::hours(24 * 365)));
  wait();
  deadline_ = Deadline::after(left);
  if (watchdog_) watchdog_->set_deadline(deadline_);
  refresh_timeout();
}

bool SshSession::timed_out() const {
  return deadline_.expired() || (watchdog_ && watchdog_->fired());
}

NodeError SshSession::ssh_failure(std::string step, std::string_view what) const {
  if (timed_out()) {
    return NodeError{
        NodeStatus::timeout, std::move(step),
        fmt::format("{}: {}: the node's timeout ({} s) ran out", name_, what, timeout_seconds_)};
  }
  if (!session_) {
    return NodeError{NodeStatus::failed, std::move(step),
                     fmt::format("{}: {}: not connected", name_, what)};
  }
  // After a disconnect libssh's words can be a stale errno: lead with what is known.
  return NodeError{NodeStatus::failed, std::move(step),
                   fmt::format("{}: {}: {}{}", name_, what,
                               ssh_is_connected(session_.get()) ? "" : "connection lost: ",
                               ssh_get_error(session_.get()))};
}

NodeResult<ExecResult> SshSession::exec(std::string_view command,
                                        std::span<const std::uint8_t> stdin_data) {
  std::string what = fmt::format("running {}", describe_command(command));
  if (!session_) return node_fail(NodeStatus::failed, "exec", "{}: {}: not connected", name_, what);
  refresh_timeout();
  ChannelPtr channel(ssh_channel_new(session_.get()));
  if (!channel) return std::unexpected(ssh_failure("exec", what));
  if (ssh_channel_open_session(channel.get()) != SSH_OK) {
    return std::unexpected(ssh_failure("exec", what));
  }
  std::string command_line(command);
  if (ssh_channel_request_exec(channel.get(), command_line.c_str()) != SSH_OK) {
    return std::unexpected(ssh_failure("exec", what));
  }
  ExecResult result;
  KF_CHECK(exec_io(channel.get(), stdin_data, result, what));
  refresh_timeout();
  // -1 when the command died by a signal: sshd then sends exit-signal instead.
  result.exit_status = ssh_channel_get_exit_status(channel.get());
  if (result.exit_status < 0 && timed_out()) return std::unexpected(ssh_failure("exec", what));
  ssh_channel_close(channel.get());
  return result;
}

NodeResult<void> SshSession::exec_io(ssh_channel channel, std::span<const std::uint8_t> stdin_data,
                                     ExecResult& result, std::string_view what) {
  std::size_t sent = 0;
  bool remote_stopped_reading = false;
  while (sent < stdin_data.size()) {
    auto chunk =
        static_cast<std::uint32_t>(std::min<std::size_t>(stdin_data.size() - sent, 1 << 16));
    refresh_timeout();
    int n = ssh_channel_write(channel, stdin_data.data() + sent, chunk);
    if (timed_out()) return std::unexpected(ssh_failure("exec", what));
    if (n <= 0) {
      // A command may exit without reading all its input: its exit status says what happened.
      if (!ssh_is_connected(session_.get())) return std::unexpected(ssh_failure("exec", what));
      remote_stopped_reading = true;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  if (!remote_stopped_reading && ssh_channel_send_eof(channel) != SSH_OK &&
      !ssh_is_connected(session_.get())) {
    return std::unexpected(ssh_failure("exec", what));
  }

  // A blocking libssh read returns 0 both at end-of-file and on timeout: read in slices of at
  // most a second until end-of-file, checking the deadline in between.
  char buffer[1 << 15];
  for (;;) {
    if (timed_out()) return std::unexpected(ssh_failure("exec", what));
    auto slice = std::min<long>(deadline_.remaining().count(), 1000);
    int n = ssh_channel_read_timeout(channel, buffer, sizeof buffer, 0, static_cast<int>(slice));
    if (n == SSH_ERROR) return std::unexpected(ssh_failure("exec", what));
    if (n > 0) result.out.append(buffer, static_cast<std::size_t>(n));
    int m = 0;
    while ((m = ssh_channel_read_nonblocking(channel, buffer, sizeof buffer, 1)) > 0) {
      result.err.append(buffer, static_cast<std::size_t>(m));
    }
    if (m == SSH_ERROR) return std::unexpected(ssh_failure("exec", what));
    if (result.out.size() + result.err.size() > kMaxExecOutput) {
      return node_fail(NodeStatus::failed, "exec", "{}: {}: more than {} MiB of output", name_,
                       what, kMaxExecOutput >> 20);
    }
    if (n == 0 && ssh_channel_is_eof(channel)) return {};
  }
}

}  // namespace kf

namespace kf {

NodeResult<void> SshSession::lock_dest(const std::string& dest, const std::string& step) {
  unlock_dest();
  std::string what = fmt::format("locking {}/.lock", dest);
  if (!session_) return node_fail(NodeStatus::failed, step, "{}: {}: not connected", name_, what);
  refresh_timeout();
  ChannelPtr channel(ssh_channel_new(session_.get()));
  if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK) {
    return std::unexpected(ssh_failure(step, what));
  }
  std::string command = dest_lock_command(dest, kDestLockWaitSeconds);
  if (ssh_channel_request_exec(channel.get(), command.c_str()) != SSH_OK) {
    return std::unexpected(ssh_failure(step, what));
  }
  // The first line says whether the lock is ours; end-of-file first means it is not.
  std::string out;
  std::string err;
  char buffer[512];
  while (out.find('\n') == std::string::npos) {
    if (timed_out()) return std::unexpected(ssh_failure(step, what));
    auto slice = std::min<long>(deadline_.remaining().count(), 1000);
    int n =
        ssh_channel_read_timeout(channel.get(), buffer, sizeof buffer, 0, static_cast<int>(slice));
    if (n == SSH_ERROR) return std::unexpected(ssh_failure(step, what));
    if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
    int m = 0;
    while ((m = ssh_channel_read_nonblocking(channel.get(), buffer, sizeof buffer, 1)) > 0) {
      err.append(buffer, static_cast<std::size_t>(m));
    }
    if (n == 0 && ssh_channel_is_eof(channel.get())) break;
  }
  std::string first = out.substr(0, out.find('\n'));
  if (first == "locked" || first == "unlocked") {
    held_lock_ = std::move(channel);
    held_lock_dest_ = dest;
    return {};
  }
  int status = ssh_channel_get_exit_status(channel.get());
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  return node_fail(
      NodeStatus::failed, step, "{}: {}: {}", name_, what,
      err.empty() ? fmt::format("the lock command exited with status {}", status) : err);
}

void SshSession::unlock_dest() {
  if (!held_lock_) return;
  ssh_channel channel = held_lock_.get();
  if (session_ && ssh_is_connected(session_.get()) && !timed_out()) {
    refresh_timeout();
    // The node's serve loop exits at end-of-file, which closes the lock; its channel's end-of-file
    // says so. Waiting for it keeps a following flock on the node (the switch script's) from
    // finding the lock still held by us.
    if (ssh_channel_send_eof(channel) == SSH_OK) {
      char buffer[512];
      while (!timed_out()) {
        auto slice = std::min<long>(deadline_.remaining().count(), 1000);
        int n =
            ssh_channel_read_timeout(channel, buffer, sizeof buffer, 0, static_cast<int>(slice));
        if (n == SSH_ERROR || (n == 0 && ssh_channel_is_eof(channel))) break;
      }
    }
    ssh_channel_close(channel);
  }
  held_lock_.reset();
  held_lock_dest_.clear();
}

NodeResult<ExecResult> SshSession::run_locked(const std::string& dest,
                                              std::span<const std::string> request,
                                              std::string_view fallback) {
  bool one_line_each = std::none_of(request.begin(), request.end(), [](const std::string& field) {
    return field.find('\n') != std::string::npos;
  });
  if (!held_lock_ || dest != held_lock_dest_ || request.empty() || !one_line_each) {
    return exec(fallback);
  }
  std::string what = fmt::format("running {} under {}/.lock", request.front(), dest);
  std::string lines;
  for (const auto& field : request) lines += field + '\n';
  ssh_channel channel = held_lock_.get();
  refresh_timeout();
  if (ssh_channel_write(channel, lines.data(), static_cast<std::uint32_t>(lines.size())) !=
      static_cast<int>(lines.size())) {
    return std::unexpected(ssh_failure("exec", what));
  }
  // The answer ends with the line "keyfleet-status N"; nothing follows it until the next request.
  std::string out;
  char buffer[4096];
  for (;;) {
    if (out.ends_with('\n')) {
      std::string_view body(out.data(), out.size() - 1);
      auto newline = body.rfind('\n');
      std::size_t start = newline == std::string_view::npos ? 0 : newline + 1;
      std::string_view last = body.substr(start);
      if (last.starts_with(scripts::kStatusPrefix)) {
        std::string_view digits = last.substr(scripts::kStatusPrefix.size());
        ExecResult result;
        auto [end, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), result.exit_status);
        if (ec != std::errc() || end != digits.data() + digits.size()) {
          return node_fail(NodeStatus::failed, "exec", "{}: {}: unreadable answer '{}'", name_,
                           what, last);
        }
        result.out = out.substr(0, start);
        if (!result.ok()) result.err = result.out;
        return result;
      }
    }
    if (timed_out()) return std::unexpected(ssh_failure("exec", what));
    auto slice = std::min<long>(deadline_.remaining().count(), 1000);
    int n = ssh_channel_read_timeout(channel, buffer, sizeof buffer, 0, static_cast<int>(slice));
    if (n == SSH_ERROR) return std::unexpected(ssh_failure("exec", what));
    if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > kMaxExecOutput) {
      return node_fail(NodeStatus::failed, "exec", "{}: {}: more than {} MiB of output", name_,
                       what, kMaxExecOutput >> 20);
    }
    if (n == 0 && ssh_channel_is_eof(channel)) {
      return node_fail(NodeStatus::failed, "exec", "{}: {}: the lock holder ended{}{}", name_, what,
                       out.empty() ? "" : ": ", out);
    }
  }
}

}  // namespace kf
