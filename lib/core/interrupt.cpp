#include "core/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace kf {
namespace {

std::atomic<int> g_count{0};
std::atomic<int> g_handled{0};  // live SecondInterruptHandled
static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");

// Written only while g_document_ready is false; the handler reads them only after taking it.
std::string g_document;
std::string g_error;
std::atomic<bool> g_document_ready{false};
static_assert(std::atomic<bool>::is_always_lock_free, "used from a signal handler");

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

extern "C" void on_signal(int sig) {
  int count = g_count.fetch_add(1) + 1;
  if (count >= 3 || (count == 2 && g_handled.load() == 0)) {
    if (g_document_ready.exchange(false)) {
      write_all(STDERR_FILENO, g_error);
      write_all(STDOUT_FILENO, g_document);
      ::_exit(130);
    }
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

void set_interrupt_document(std::string document, std::string error) {
  g_document_ready = false;
  g_document = std::move(document);
  g_error = std::move(error);
  g_document_ready = true;
}

void clear_interrupt_document() {
  g_document_ready = false;
}

SecondInterruptHandled::SecondInterruptHandled() {
  ++g_handled;
}

SecondInterruptHandled::~SecondInterruptHandled() {
  --g_handled;
}

}  // namespace kf
