#include "ssh/tcp.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace kf {
namespace {

struct AddrinfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

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
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* raw = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw); rc != 0) {
    return node_fail(NodeStatus::unreachable, "connect", "{}: cannot resolve {}: {}", node, host,
                     rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, AddrinfoDeleter> addresses(raw);

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
