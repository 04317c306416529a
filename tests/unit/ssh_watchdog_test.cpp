#include "ssh/watchdog.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>

namespace kf {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2] = {-1, -1};
};

TEST(FleetWatchdog, ShutsTheSocketDownAtTheDeadlineUnblockingAReader) {
  SocketPair pair;
  SocketWatchdog watchdog(pair.fds[0], Deadline::after(100ms));
  char byte = 0;
  // Blocks until the watchdog shuts the socket down: then read sees end-of-file.
  EXPECT_EQ(::read(pair.fds[0], &byte, 1), 0);
  EXPECT_TRUE(watchdog.fired());
}

TEST(FleetWatchdog, DoesNothingWhenDestroyedBeforeTheDeadline) {
  SocketPair pair;
  { SocketWatchdog watchdog(pair.fds[0], Deadline::after(1h)); }
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  char byte = 0;
  EXPECT_EQ(::read(pair.fds[0], &byte, 1), 1);
}

TEST(FleetWatchdog, NewDeadlineReplacesTheOld) {
  SocketPair pair;
  SocketWatchdog watchdog(pair.fds[0], Deadline::after(1h));
  watchdog.set_deadline(Deadline::after(50ms));
  char byte = 0;
  EXPECT_EQ(::read(pair.fds[0], &byte, 1), 0);
  EXPECT_TRUE(watchdog.fired());
}

TEST(FleetWatchdog, WorksOnItsOwnDescriptor) {
  SocketPair pair;
  SocketWatchdog watchdog(pair.fds[0], Deadline::after(1h));
  // The caller's descriptor may close (as libssh does on errors); the watchdog's copy stays valid.
  int copy = ::dup(pair.fds[0]);
  ::close(pair.fds[0]);
  pair.fds[0] = copy;
  watchdog.cut();
  char byte = 0;
  EXPECT_EQ(::read(copy, &byte, 1), 0);
  EXPECT_FALSE(watchdog.fired());
}

}  // namespace
}  // namespace kf
