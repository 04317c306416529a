#include "ssh/tcp.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/handle.hpp"

namespace kf {
namespace {

using AddrinfoPtr = Handle<addrinfo, freeaddrinfo>;

// getaddrinfo's answer, or its error in words.
struct Resolved {
  AddrinfoPtr addresses;
  int rc = 0;
  int saved_errno = 0;

  [[nodiscard]] std::string error() const {
    return rc == EAI_SYSTEM ? std::strerror(saved_errno) : gai_strerror(rc);
  }
};

Resolved resolve_now(const std::string& host, const std::string& service, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | flags;
  addrinfo* raw = nullptr;
  Resolved resolved;
  resolved.rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  resolved.saved_errno = errno;
  resolved.addresses.reset(raw);
  return resolved;
}

// A lookup run by a thread of its own, so that the caller can stop waiting at its deadline
// (getaddrinfo has no timeout, and a dead resolver costs resolv.conf's timeout x attempts). The
// thread and the caller share this state; the last of the two to let go frees it, answer and
// all: a caller that gave up leaves nothing dangling, and the thread nothing behind.
struct BackgroundLookup {
  std::string host;
  std::string service;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  Resolved resolved;
};

// Blocks every signal while a thread is created, so that it inherits a mask with all of them: a
// Ctrl-C must reach the threads that poll for it, not one stuck in the resolver.
class BlockAllSignals {
 public:
  BlockAllSignals() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old_);
  }
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;
  ~BlockAllSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_{};
};

// Resolves `host` by the deadline. An address literal never reaches the resolver; a name still
// being looked up at the deadline fails the node, and its thread finishes on its own.
NodeResult<AddrinfoPtr> resolve(const std::string& node, const std::string& host, int port,
                                Deadline deadline) {
  std::string service = std::to_string(port);
  Resolved literal = resolve_now(host, service, AI_NUMERICHOST);
  if (literal.rc == 0) return std::move(literal.addresses);
  if (literal.rc != EAI_NONAME) {
    return node_fail(NodeStatus::unreachable, "connect", "{}: cannot resolve {}: {}", node, host,
                     literal.error());
  }

  // The deadline is the node's connect_timeout from now (or less): name it in whole seconds.
  auto seconds = std::chrono::ceil<std::chrono::seconds>(deadline.remaining()).count();
  auto lookup = std::make_shared<BackgroundLookup>();
  lookup->host = host;
  lookup->service = service;
  try {
    BlockAllSignals quiet;
    std::thread([lookup] {
      Resolved resolved = resolve_now(lookup->host, lookup->service, AI_ADDRCONFIG);
      std::lock_guard lock(lookup->mutex);
      lookup->resolved = std::move(resolved);
      lookup->done = true;
      lookup->finished.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return node_fail(NodeStatus::unreachable, "connect",
                     "{}: cannot resolve {}: cannot start a resolver thread: {}", node, host,
                     e.what());
  }
  std::unique_lock lock(lookup->mutex);
  if (!lookup->finished.wait_until(lock, deadline.at(), [&] { return lookup->done; })) {
    return node_fail(NodeStatus::unreachable, "connect",
                     "{}: cannot resolve {}: name resolution did not finish within "
                     "connect_timeout ({} s)",
                     node, host, std::max<long>(seconds, 1));
  }
  if (lookup->resolved.rc != 0) {
    return node_fail(NodeStatus::unreachable, "connect", "{}: cannot resolve {}: {}", node, host,
                     lookup->resolved.error());
  }
  return std::move(lookup->resolved.addresses);
}

// Waits for a non-blocking connect; returns 0 or the errno it failed with (ETIMEDOUT past the
// deadline).
int finish_connect(int fd, Deadline deadline) {
  for (;;) {
    pollfd pfd{fd, POLLOUT, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(deadline.remaining().count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return errno;
    if (rc == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

}  // namespace

NodeResult<Fd> tcp_connect(const std::string& node, const std::string& host, int port,
                           Deadline deadline) {
  KF_TRY_ASSIGN(AddrinfoPtr addresses, resolve(node, host, port, deadline));

  int last_error = 0;
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    if (deadline.expired()) {
      last_error = ETIMEDOUT;
      break;
    }
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      last_error = errno;
      continue;
    }
    // Many small request/response packets: without this, Nagle adds tens of ms per SFTP call.
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int err = 0;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno == EINPROGRESS ? finish_connect(fd.get(), deadline) : errno;
    }
    if (err == 0) return fd;
    last_error = err;
  }
  if (last_error == ETIMEDOUT) {
    return node_fail(NodeStatus::unreachable, "connect",
                     "{}: cannot connect to {} port {}: no answer within the connect timeout", node,
                     host, port);
  }
  return node_fail(NodeStatus::unreachable, "connect", "{}: cannot connect to {} port {}: {}", node,
                   host, port, std::strerror(last_error));
}

}  // namespace kf
