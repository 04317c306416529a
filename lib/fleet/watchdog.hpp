#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fleet/deadline.hpp"

namespace kf {

// Shuts a connected socket down (without closing it) when a deadline passes, so that whatever
// call is blocked on it returns an error. libssh 0.10 needs this: its SFTP reads retry forever when
// a channel read times out, so a peer that stops answering would hang an SFTP call for good.
// Destroy the watchdog before closing the socket: it must never touch a reused descriptor.
class SocketWatchdog {
 public:
  SocketWatchdog(int fd, Deadline deadline);
  SocketWatchdog(const SocketWatchdog&) = delete;
  SocketWatchdog& operator=(const SocketWatchdog&) = delete;
  ~SocketWatchdog();

  // True once the deadline passed and the socket was shut down.
  [[nodiscard]] bool fired() const { return fired_.load(); }

 private:
  void watch();

  int fd_;
  Deadline deadline_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace kf
