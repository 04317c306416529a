#include "ssh/jump.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <thread>
#include <vector>

#include "ssh/ssh_session.hpp"

namespace kf {

// One hop's SSH session and the thread that owns it (libssh sessions are not thread-safe): it
// opens a direct-tcpip channel per request and pumps each between the channel and a socketpair,
// whose other end a node's (or the next hop's) session uses as its socket.
class JumpHub final : public Tunnel {
 public:
  explicit JumpHub(SshSession session, std::string alias)
      : session_(std::move(session)), alias_(std::move(alias)) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      wake_read_ = Fd(pipe_fds[0]);
      wake_write_ = Fd(pipe_fds[1]);
    }
    thread_ = std::thread([this] { run(); });
  }
  JumpHub(const JumpHub&) = delete;
  JumpHub& operator=(const JumpHub&) = delete;
  ~JumpHub() override {
    stop_ = true;
    wake();
    thread_.join();
    pumps_.clear();
    session_.close();
  }

  NodeResult<Fd> open(const std::string& node, const std::string& host, int port,
                      Deadline deadline) override {
    Request request{node, host, port, deadline, {}};
    auto reply = request.reply.get_future();
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(request));
    }
    wake();
    // The hub's thread answers every request, within the deadline or with its end.
    return reply.get();
  }

 private:
  struct Request {
    std::string node;
    std::string host;
    int port = 0;
    Deadline deadline;
    std::promise<NodeResult<Fd>> reply;
  };
  struct Pump {
    SshChannelPtr channel;
    Fd local;
    std::string to_local;
    bool local_eof = false;   // the node's side sent all it will
    bool remote_eof = false;  // the target sent all it will
  };

  void wake() {
    if (wake_write_) (void)!::write(wake_write_.get(), "x", 1);
  }

  NodeResult<Fd> open_channel(const Request& request) {
    ssh_session s = session_.core_->session.get();
    long timeout =
        std::max<long>(1, static_cast<long>(request.deadline.remaining().count() / 1000));
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    SshChannelPtr channel(ssh_channel_new(s));
    if (!channel || ssh_channel_open_forward(channel.get(), request.host.c_str(), request.port,
                                             "127.0.0.1", 0) != SSH_OK) {
      return node_fail(NodeStatus::unreachable, "connect",
                       "{}: jump host {} could not open a channel to {} port {}: {}", request.node,
                       alias_, request.host, request.port, ssh_error_text(s));
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return node_fail(NodeStatus::failed, "connect", "{}: socketpair: {}", request.node,
                       std::strerror(errno));
    }
    Fd ours(pair[0]);
    Fd theirs(pair[1]);
    ::fcntl(ours.get(), F_SETFL, ::fcntl(ours.get(), F_GETFL) | O_NONBLOCK);
    pumps_.push_back(Pump{std::move(channel), std::move(ours), {}, false, false});
    return theirs;
  }

  // Moves what is there in both directions; false once the pump is done with.
  bool service(Pump& pump) {
    char buffer[32768];
    if (!pump.local_eof) {
      ssize_t n = ::read(pump.local.get(), buffer, sizeof buffer);
      if (n > 0) {
        if (ssh_channel_write(pump.channel.get(), buffer, static_cast<std::uint32_t>(n)) < 0)
          return false;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        pump.local_eof = true;
        ssh_channel_send_eof(pump.channel.get());
      }
    }
    if (!pump.remote_eof) {
      int n = ssh_channel_read_nonblocking(pump.channel.get(), buffer, sizeof buffer, 0);
      if (n > 0) {
        pump.to_local.append(buffer, static_cast<std::size_t>(n));
      } else if (n < 0 || ssh_channel_is_eof(pump.channel.get()) != 0) {
        pump.remote_eof = true;
      }
    }
    while (!pump.to_local.empty()) {
      ssize_t n =
          ::send(pump.local.get(), pump.to_local.data(), pump.to_local.size(), MSG_NOSIGNAL);
      if (n > 0) {
        pump.to_local.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        break;
      } else {
        return false;  // the node's session is gone
      }
    }
    if (pump.remote_eof && pump.to_local.empty()) {
      ::shutdown(pump.local.get(), SHUT_WR);
      if (pump.local_eof) return false;
    }
    return true;
  }

  void run() {
    ssh_session s = session_.core_->session.get();
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({wake_read_.get(), POLLIN, 0});
      fds.push_back({ssh_get_fd(s), POLLIN, 0});
      for (const Pump& pump : pumps_) {
        short events = pump.local_eof ? 0 : POLLIN;
        if (!pump.to_local.empty()) events |= POLLOUT;
        fds.push_back({pump.local.get(), events, 0});
      }
      ::poll(fds.data(), fds.size(), 50);
      char drain[64];
      while (::read(wake_read_.get(), drain, sizeof drain) > 0) {
      }
      std::deque<Request> requests;
      {
        std::lock_guard lock(mutex_);
        requests.swap(requests_);
      }
      for (Request& request : requests) {
        if (ssh_is_connected(s) == 0) {
          request.reply.set_value(node_fail(NodeStatus::unreachable, "connect",
                                            "{}: the connection to jump host {} was lost",
                                            request.node, alias_));
          continue;
        }
        request.reply.set_value(open_channel(request));
      }
      std::erase_if(pumps_, [this](Pump& pump) { return !service(pump); });
      if (ssh_is_connected(s) == 0) pumps_.clear();  // every node behind it sees its end
    }
    std::lock_guard lock(mutex_);
    for (Request& request : requests_) {
      request.reply.set_value(node_fail(NodeStatus::failed, "connect",
                                        "{}: jump host {} is closing", request.node, alias_));
    }
  }

  SshSession session_;
  std::string alias_;
  Fd wake_read_;
  Fd wake_write_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::deque<Request> requests_;
  std::vector<Pump> pumps_;  // the thread's alone
  std::thread thread_;
};

namespace {

// A hop reached like a node: the node's known_hosts, timeouts and credentials, the hop's own
// address, user and IdentityFile.
NodeConfig hop_config(const NodeConfig& node, const JumpHost& hop) {
  NodeConfig config = node;
  config.name = node.name;
  config.host = hop.host;
  config.alias = hop.alias;
  config.port = hop.port;
  config.user = hop.user.empty() ? node.user : hop.user;
  if (!hop.identity_file.empty()) config.identity_file = hop.identity_file;
  config.jump.clear();
  config.become.clear();  // the hop only forwards: nothing runs there
  return config;
}

std::string hop_key(const JumpHost& hop, const NodeConfig& config) {
  return fmt::format("{}@{}:{} {} {}|", config.user, hop.host, hop.port, config.identity_file,
                     config.known_hosts);
}

// The hop's error for a node behind it: the hop named, the node's name in front.
NodeError behind(const NodeError& error, const NodeConfig& node, const JumpHost& hop) {
  NodeError mine = error;
  mine.message = fmt::format("{}: {}", node.name, error.message);
  (void)hop;
  return mine;
}

}  // namespace

NodeResult<std::shared_ptr<Tunnel>> JumpHosts::route(const NodeConfig& node, Deadline deadline) {
  std::shared_ptr<Tunnel> via;
  std::string key;
  std::lock_guard lock(mutex_);
  for (const JumpHost& hop : node.jump) {
    const NodeConfig config = hop_config(node, hop);
    key += hop_key(hop, config);
    auto it = hops_.find(key);
    if (it == hops_.end()) {
      NodeConfig named = config;
      named.name = fmt::format("jump host {}", hop.alias);
      auto session = SshSession::connect(named, deadline, via);
      // The hop serves every node behind it for as long as the command runs: each node's own
      // deadline bounds its channel, not the hop's session.
      if (session) session->set_deadline(Deadline::after(std::chrono::hours(24 * 365)));
      NodeResult<std::shared_ptr<Tunnel>> hub =
          session ? NodeResult<std::shared_ptr<Tunnel>>(
                        std::make_shared<JumpHub>(std::move(*session), hop.alias))
                  : std::unexpected(session.error());
      it = hops_.emplace(key, std::move(hub)).first;
    }
    if (!it->second) return std::unexpected(behind(it->second.error(), node, hop));
    via = *it->second;
  }
  return via;
}

std::shared_ptr<JumpHosts> command_jump_hosts() {
  static const auto jumps = std::make_shared<JumpHosts>();
  return jumps;
}

}  // namespace kf
