#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/deadline.hpp"
#include "core/fd.hpp"

namespace kf {

// Shuts a connected socket down when a deadline passes, so that whatever call is blocked on it
// returns an error. libssh 0.10 needs this: its SFTP reads retry forever when a channel read times
// out, so a peer that stops answering would hang an SFTP call for good.
//
// The watchdog holds its own dup() of the socket: libssh closes its descriptor itself on
// connection errors, and a shutdown() through that number, reused meanwhile by another thread,
// would cut someone else's connection. shutdown() acts on the socket, which both share.
class SocketWatchdog {
 public:
  // `socket` is not taken: the watchdog duplicates it.
  SocketWatchdog(int socket, Deadline deadline);
  SocketWatchdog(const SocketWatchdog&) = delete;
  SocketWatchdog& operator=(const SocketWatchdog&) = delete;
  ~SocketWatchdog();

  // True once the deadline passed and the socket was shut down.
  [[nodiscard]] bool fired() const { return fired_.load(); }
  // Moves the deadline (from the connect timeout to the whole node's, once connected).
  void set_deadline(Deadline deadline);
  // Shuts the socket down now (a goodbye to a peer already given up on must not wait).
  void cut();

 private:
  void watch();

  Fd socket_;
  Deadline deadline_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace kf
