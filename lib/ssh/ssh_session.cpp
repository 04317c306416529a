#include "ssh/ssh_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/escape.hpp"
#include "keydir/become.hpp"
#include "ssh/channel.hpp"
#include "ssh/known_hosts.hpp"
#include "ssh/tcp.hpp"

namespace kf {
namespace {

using KeyPtr = Handle<ssh_key_struct, ssh_key_free>;
using CharPtr = Handle<char, ssh_string_free_char>;

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

// The first line of a command, shortened, for error messages.
std::string describe_command(std::string_view command) {
  std::string_view line = command.substr(0, command.find('\n'));
  if (line.size() > 60) return fmt::format("`{}...`", line.substr(0, 57));
  if (line.size() < command.size()) return fmt::format("`{}...`", line);
  return fmt::format("`{}`", line);
}

}  // namespace

std::string ssh_error_text(ssh_session session) {
  return escape_untrusted(ssh_get_error(session), 300);
}

void HostKeyNotes::add(std::string_view file, const std::vector<std::string>& notes) {
  // Each note starts "FILE:LINE: " (FILE escaped as known_hosts.cpp escapes it); the same line
  // comes up in every node's lookup, in words that may name the node.
  const std::string prefix = escape_untrusted(file) + ":";
  std::lock_guard lock(mutex_);
  for (const std::string& note : notes) {
    std::string where = note;
    if (note.starts_with(prefix)) {
      std::size_t end = prefix.size();
      while (end < note.size() && std::isdigit(static_cast<unsigned char>(note[end])) != 0) ++end;
      where = note.substr(0, end);
    }
    if (seen_.insert(std::move(where)).second) pending_.push_back(note);
  }
}

std::vector<std::string> HostKeyNotes::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(pending_, {});
}

HostKeyNotes& command_host_key_notes() {
  static HostKeyNotes notes;
  return notes;
}

SshSession::SshSession(const NodeConfig& node, Deadline deadline)
    : core_(std::make_shared<SshConnection>()) {
  core_->name = node.name;
  core_->host = node.host;
  core_->port = node.port;
  // What the caller gave this node, for messages (a command may cut node.timeout short).
  core_->timeout_seconds = static_cast<int>(seconds_left(deadline));
  core_->deadline = deadline;
}

// Everything lives in core_ but which view this is: nothing else to move, nothing to forget.
SshSession& SshSession::operator=(SshSession&& other) noexcept {
  if (this != &other) {
    if (!as_login_) close();
    core_ = std::move(other.core_);
    as_login_ = other.as_login_;
    login_ = std::move(other.login_);
  }
  return *this;
}

Remote& SshSession::login() {
  if (!becomes()) return *this;
  if (!login_) login_.reset(new SshSession(core_));
  return *login_;
}

void SshSession::close() {
  if (core_) core_->close();
}

void SshConnection::close() {
  for (SshChannel* channel : channels) channel->detach();
  if (session) {
    // Closing the SFTP channel waits for the peer: never longer than a moment, and not at all for
    // a peer already given up on.
    if (timed_out() && watchdog) watchdog->cut();
    long goodbye = 2;
    ssh_options_set(session.get(), SSH_OPTIONS_TIMEOUT, &goodbye);
    become_sftp.reset();
    sftp.reset();
    out_of_step.clear();
    session.reset();
  }
  watchdog.reset();
}

void SshSession::set_deadline(Deadline deadline) {
  core_->deadline = deadline;
  if (core_->watchdog) core_->watchdog->set_deadline(deadline);
  core_->refresh_timeout();
}

NodeResult<SshSession> SshSession::connect(const NodeConfig& node, Deadline deadline,
                                           std::shared_ptr<Tunnel> via) {
  init_libssh();
  if (!node.jump.empty() && !via) {
    // Never connect directly to a node the inventory says is behind a bastion.
    return node_fail(NodeStatus::failed, "connect",
                     "{}: the node is behind jump host {}, and no route through it was given",
                     node.name, node.jump.front().alias);
  }
  SshSession session(node, deadline);
  session.core_->via = std::move(via);
  Deadline connect_deadline =
      deadline.earliest(Deadline::after_seconds(std::max(node.connect_timeout, 1)));
  KF_CHECK(session.handshake(node, connect_deadline));
  KF_CHECK(session.check_host_key(node));
  // From here on the whole per-node deadline bounds every call.
  session.core_->watchdog->set_deadline(deadline);
  if (session.core_->watchdog->fired()) {
    return node_fail(
        NodeStatus::timeout, "connect",
        "{}: the SSH handshake with {} port {} took longer than connect_timeout ({} s)", node.name,
        node.host, node.port, node.connect_timeout);
  }
  session.core_->refresh_timeout();
  KF_CHECK(session.authenticate(node));
  if (!node.become.empty()) {
    // Once per connection, before anything touches DEST: a password asked for fails here, clearly.
    session.core_->become = node.become;
    KF_CHECK(keydir::check_become(session.login(), node.become));
  }
  return session;
}

NodeResult<void> SshSession::handshake(const NodeConfig& node, Deadline connect_deadline) {
  Tunnel* tunnel = core_->via.get();
  auto connected = tunnel != nullptr
                       ? tunnel->open(core_->name, core_->host, core_->port, connect_deadline)
                       : tcp_connect(core_->name, core_->host, core_->port, connect_deadline);
  if (!connected) {
    NodeError error = std::move(connected.error());
    // A Host alias of an ssh_config keyfleet did not read looks like a name that does not resolve.
    if (error.message.find(": cannot resolve ") != std::string::npos) {
      if (std::string hint = unresolved_host_hint(node); !hint.empty())
        error.message += "; " + hint;
    }
    return std::unexpected(std::move(error));
  }
  Fd fd = std::move(*connected);
  core_->session.reset(ssh_new());
  if (!core_->session)
    return node_fail(NodeStatus::failed, "connect", "{}: ssh_new failed", core_->name);
  ssh_session s = core_->session.get();

  bool process_config = false;  // the inventory says everything; ~/.ssh/config may not weaken it
  unsigned int port = static_cast<unsigned int>(core_->port);
  int verbosity = SSH_LOG_NOLOG;
  int strict = 1;
  int nodelay = 1;
  long timeout = seconds_left(connect_deadline);
  bool ok = ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_HOST, core_->host.c_str()) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_PORT, &port) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_USER, node.user.c_str()) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, node.known_hosts.c_str()) == SSH_OK &&
            // Only the inventory's known_hosts counts, not /etc/ssh/ssh_known_hosts.
            ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &strict) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) == SSH_OK;
  if (!ok) {
    return node_fail(NodeStatus::failed, "connect", "{}: cannot set up libssh for {}@{}: {}",
                     core_->name, node.user, core_->host, ssh_error_text(s));
  }
  core_->watchdog = std::make_unique<SocketWatchdog>(fd.get(), connect_deadline);
  socket_t raw_fd = fd.get();
  if (ssh_options_set(s, SSH_OPTIONS_FD, &raw_fd) != SSH_OK) {
    return node_fail(NodeStatus::failed, "connect", "{}: cannot hand the socket to libssh: {}",
                     core_->name, ssh_error_text(s));
  }
  fd.release();  // libssh's now: it closes it on errors, or in ssh_free
  if (ssh_connect(s) != SSH_OK) {
    if (connect_deadline.expired() || core_->watchdog->fired()) {
      return node_fail(NodeStatus::timeout, "connect",
                       "{}: no SSH handshake from {} port {} within connect_timeout ({} s)",
                       core_->name, core_->host, core_->port, node.connect_timeout);
    }
    return node_fail(NodeStatus::failed, "connect", "{}: SSH handshake with {} port {} failed: {}",
                     core_->name, core_->host, core_->port, ssh_error_text(s));
  }
  return {};
}

NodeResult<void> SshSession::check_host_key(const NodeConfig& node) {
  ssh_session s = core_->session.get();
  ssh_key raw_key = nullptr;
  if (ssh_get_server_publickey(s, &raw_key) != SSH_OK) {
    return node_fail(NodeStatus::hostkey, "hostkey", "{}: the node presented no host key: {}",
                     core_->name, ssh_error_text(s));
  }
  KeyPtr key(raw_key);
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0) {
    CharPtr text(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len));
    ssh_clean_pubkey_hash(&hash);
    if (text) core_->fingerprint = text.get();
  }
  std::string presented =
      fmt::format("{} {}", ssh_key_type_to_char(ssh_key_type(key.get())), core_->fingerprint);
  const std::string host = known_hosts::lookup_name(core_->host, core_->port);
  const std::string& file = node.known_hosts;

  // keyfleet's own reader, not libssh's: libssh 0.10 does not see @revoked markers at all.
  char* exported = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &exported) != SSH_OK) {
    return node_fail(NodeStatus::hostkey, "hostkey", "{}: cannot read the host key {}", core_->name,
                     presented);
  }
  CharPtr base64(exported);
  auto presented_key =
      known_hosts::parse_host_key(ssh_key_type_to_char(ssh_key_type(key.get())), base64.get());
  if (!presented_key) {
    return node_fail(NodeStatus::hostkey, "hostkey", "{}: {}", core_->name,
                     presented_key.error().message);
  }
  auto found = known_hosts::check_file(file, core_->host, core_->port, *presented_key);
  if (!found) {
    return node_fail(NodeStatus::hostkey, "hostkey", "{}: {} (the node presented {})", core_->name,
                     found.error().message, presented);
  }
  // Said once per run whatever the verdict; a failing node's error repeats them as its reasons.
  command_host_key_notes().add(file, found->notes);
  std::string notes;
  for (const auto& note : found->notes) notes += "; " + note;
  switch (found->verdict) {
    case known_hosts::Verdict::ok:
      return {};
    case known_hosts::Verdict::revoked:
      return node_fail(NodeStatus::hostkey, "hostkey",
                       "{}: the host key of {} ({}) is revoked in {}:{}: it is never accepted{}",
                       core_->name, host, presented, file, found->line, notes);
    case known_hosts::Verdict::changed:
      return node_fail(NodeStatus::hostkey, "hostkey",
                       "{}: host key of {} does not match {}:{} (the node presented {}): if the "
                       "node's key was changed on purpose, replace its entry; otherwise the "
                       "connection may be intercepted{}",
                       core_->name, host, file, found->line, presented, notes);
    case known_hosts::Verdict::other_type:
      return node_fail(NodeStatus::hostkey, "hostkey",
                       "{}: {}:{} lists a {} key for {}, not the one the node presented ({}){}",
                       core_->name, file, found->line, found->line_key_type, host, presented,
                       notes);
    case known_hosts::Verdict::unknown:
      break;
  }
  return node_fail(NodeStatus::hostkey, "hostkey",
                   "{}: {} is not in {} (the node presented {}): add its key after checking "
                   "that fingerprint on the node{}",
                   core_->name, host, file, presented, notes);
}

NodeResult<void> SshSession::authenticate(const NodeConfig& node) {
  ssh_session s = core_->session.get();
  std::string credential;
  int rc = SSH_AUTH_ERROR;
  if (!node.identity_file.empty()) {
    credential = fmt::format("key {}", node.identity_file);
    if (::access(node.identity_file.c_str(), R_OK) != 0) {
      return node_fail(NodeStatus::auth, "auth", "{}: cannot read identity_file {}: {}",
                       core_->name, node.identity_file, std::strerror(errno));
    }
    ssh_key raw_key = nullptr;
    if (ssh_pki_import_privkey_file(node.identity_file.c_str(), nullptr, nullptr, nullptr,
                                    &raw_key) != SSH_OK) {
      return node_fail(NodeStatus::auth, "auth",
                       "{}: cannot load identity_file {}: not an unencrypted private key (for a "
                       "key with a passphrase, load it into ssh-agent and leave identity_file out)",
                       core_->name, node.identity_file);
    }
    KeyPtr key(raw_key);
    rc = ssh_userauth_publickey(s, nullptr, key.get());
  } else {
    credential = "the keys in ssh-agent";
    if (std::getenv("SSH_AUTH_SOCK") == nullptr) {
      return node_fail(NodeStatus::auth, "auth",
                       "{}: no identity_file in the inventory and no ssh-agent (SSH_AUTH_SOCK is "
                       "not set)",
                       core_->name);
    }
    rc = ssh_userauth_agent(s, nullptr);
  }
  switch (rc) {
    case SSH_AUTH_SUCCESS:
      return {};
    case SSH_AUTH_DENIED:
      return node_fail(NodeStatus::auth, "auth", "{}: {}@{} refused {}", core_->name, node.user,
                       core_->host, credential);
    case SSH_AUTH_PARTIAL:
      return node_fail(NodeStatus::auth, "auth",
                       "{}: {}@{} accepted {} but demands another authentication method",
                       core_->name, node.user, core_->host, credential);
    default:
      return std::unexpected(
          core_->failure("auth", fmt::format("authenticating with {}", credential)));
  }
}

void SshConnection::refresh_timeout() {
  if (!session) return;
  long timeout = seconds_left(deadline);
  ssh_options_set(session.get(), SSH_OPTIONS_TIMEOUT, &timeout);
}

void SshSession::off_the_clock(const std::function<void()>& wait) {
  const auto left = core_->deadline.remaining();
  // Far enough to never fire during a wait; the real deadline is set again right after.
  if (core_->watchdog) core_->watchdog->set_deadline(Deadline::after(std::chrono::hours(24 * 365)));
  wait();
  core_->deadline = Deadline::after(left);
  if (core_->watchdog) core_->watchdog->set_deadline(core_->deadline);
  core_->refresh_timeout();
}

void SshConnection::set_out_of_step(sftp_session stale, std::string what) {
  for (SftpSessionPtr* slot : {&sftp, &become_sftp}) {
    if (slot->get() == stale) out_of_step.push_back(std::move(*slot));
  }
  out_of_step_why = std::move(what);
}

bool SshConnection::is_out_of_step(sftp_session stale) const {
  return std::ranges::any_of(out_of_step,
                             [&](const SftpSessionPtr& held) { return held.get() == stale; });
}

bool SshConnection::timed_out() const {
  return deadline.expired() || (watchdog && watchdog->fired());
}

NodeError SshConnection::failure(std::string step, std::string_view what) const {
  if (timed_out()) {
    return NodeError{
        NodeStatus::timeout, std::move(step),
        fmt::format("{}: {}: the node's timeout ({} s) ran out", name, what, timeout_seconds)};
  }
  if (!session) {
    return NodeError{NodeStatus::failed, std::move(step),
                     fmt::format("{}: {}: not connected", name, what)};
  }
  // After a disconnect libssh's words can be a stale errno: lead with what is known.
  return NodeError{NodeStatus::failed, std::move(step),
                   fmt::format("{}: {}: {}{}", name, what,
                               ssh_is_connected(session.get()) ? "" : "connection lost: ",
                               ssh_error_text(session.get()))};
}

NodeResult<bool> SshConnection::write_all(ssh_channel channel, std::string_view data,
                                          std::string_view what) {
  while (!data.empty()) {
    auto chunk = static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), 1 << 16));
    refresh_timeout();
    int n = ssh_channel_write(channel, data.data(), chunk);
    if (timed_out()) return std::unexpected(failure("exec", what));
    if (n <= 0) {
      if (!ssh_is_connected(session.get())) return std::unexpected(failure("exec", what));
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

NodeResult<bool> SshConnection::read_some(ssh_channel channel, std::string& out, std::string& err,
                                          std::string_view what) {
  if (timed_out()) return std::unexpected(failure("exec", what));
  char buffer[1 << 15];
  auto slice = std::min<long long>(deadline.remaining().count(), 1000);
  int n = ssh_channel_read_timeout(channel, buffer, sizeof buffer, 0, static_cast<int>(slice));
  if (n == SSH_ERROR) return std::unexpected(failure("exec", what));
  if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
  int m = 0;
  while ((m = ssh_channel_read_nonblocking(channel, buffer, sizeof buffer, 1)) > 0) {
    err.append(buffer, static_cast<std::size_t>(m));
  }
  if (m == SSH_ERROR) return std::unexpected(failure("exec", what));
  if (out.size() + err.size() > kMaxExecOutput) {
    return node_fail(NodeStatus::failed, "exec", "{}: {}: more than {} MiB of output", name, what,
                     kMaxExecOutput >> 20);
  }
  return !(n == 0 && ssh_channel_is_eof(channel));
}

NodeResult<SshChannelPtr> SshSession::start_command(std::string_view command,
                                                    std::string_view what) {
  if (!core_->session) {
    return node_fail(NodeStatus::failed, "exec", "{}: {}: not connected", core_->name, what);
  }
  core_->refresh_timeout();
  SshChannelPtr channel(ssh_channel_new(core_->session.get()));
  if (!channel) return std::unexpected(core_->failure("exec", what));
  if (ssh_channel_open_session(channel.get()) != SSH_OK) {
    return std::unexpected(core_->failure("exec", what));
  }
  // The one place `become` applies to commands: the lock holder, the node scripts, the hooks.
  const std::string command_line =
      becomes() ? keydir::become_command(core_->become, command) : std::string(command);
  if (ssh_channel_request_exec(channel.get(), command_line.c_str()) != SSH_OK) {
    return std::unexpected(core_->failure("exec", what));
  }
  return channel;
}

NodeResult<ExecResult> SshSession::exec(std::string_view command,
                                        std::span<const std::uint8_t> stdin_data) {
  const std::string what = fmt::format("running {}", describe_command(command));
  KF_TRY_ASSIGN(SshChannelPtr channel, start_command(command, what));
  // A command may exit without reading all its input: its exit status says what happened.
  KF_TRY_ASSIGN(bool all_sent,
                core_->write_all(
                    channel.get(),
                    {reinterpret_cast<const char*>(stdin_data.data()), stdin_data.size()}, what));
  if (all_sent && ssh_channel_send_eof(channel.get()) != SSH_OK &&
      !ssh_is_connected(core_->session.get())) {
    return std::unexpected(core_->failure("exec", what));
  }
  ExecResult result;
  for (;;) {
    KF_TRY_ASSIGN(bool more, core_->read_some(channel.get(), result.out, result.err, what));
    if (!more) break;
  }
  core_->refresh_timeout();
  // -1 when the command died by a signal: sshd then sends exit-signal instead.
  result.exit_status = ssh_channel_get_exit_status(channel.get());
  if (result.exit_status < 0 && core_->timed_out()) {
    return std::unexpected(core_->failure("exec", what));
  }
  ssh_channel_close(channel.get());
  return result;
}

NodeResult<std::unique_ptr<Channel>> SshSession::open_channel(std::string_view command) {
  const std::string what = fmt::format("running {}", describe_command(command));
  KF_TRY_ASSIGN(SshChannelPtr channel, start_command(command, what));
  return std::make_unique<SshChannel>(core_, std::move(channel), what);
}

}  // namespace kf
