#include "fleet/watchdog.hpp"

#include <sys/socket.h>

namespace kf {

SocketWatchdog::SocketWatchdog(int fd, Deadline deadline)
    : fd_(fd), deadline_(deadline), thread_([this] { watch(); }) {}

SocketWatchdog::~SocketWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void SocketWatchdog::watch() {
  std::unique_lock lock(mutex_);
  if (wake_.wait_until(lock, deadline_.at(), [this] { return stopping_; })) return;
  fired_ = true;
  ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace kf
