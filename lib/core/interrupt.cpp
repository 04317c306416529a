#include "core/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace kf {
namespace {

std::atomic<int> g_count{0};
std::atomic<int> g_handled{0};  // live SecondInterruptHandled
static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");

extern "C" void on_signal(int sig) {
  int count = g_count.fetch_add(1) + 1;
  if (count >= 3 || (count == 2 && g_handled.load() == 0)) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

bool interrupted() {
  return g_count.load() > 0;
}

int interrupt_count() {
  return g_count.load();
}

void clear_interrupted() {
  g_count = 0;
}

SecondInterruptHandled::SecondInterruptHandled() {
  ++g_handled;
}

SecondInterruptHandled::~SecondInterruptHandled() {
  --g_handled;
}

}  // namespace kf
