#include "ssh/watchdog.hpp"

#include <fcntl.h>
#include <sys/socket.h>

namespace kf {

SocketWatchdog::SocketWatchdog(int socket, Deadline deadline)
    : socket_(::fcntl(socket, F_DUPFD_CLOEXEC, 0)),
      deadline_(deadline),
      thread_([this] { watch(); }) {}

SocketWatchdog::~SocketWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void SocketWatchdog::cut() {
  if (socket_) ::shutdown(socket_.get(), SHUT_RDWR);
}

void SocketWatchdog::set_deadline(Deadline deadline) {
  {
    std::lock_guard lock(mutex_);
    deadline_ = deadline;
  }
  wake_.notify_all();
}

void SocketWatchdog::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (deadline_.expired()) {
      fired_ = true;
      cut();
      return;
    }
    wake_.wait_until(lock, deadline_.at());
  }
}

}  // namespace kf
