#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "core/interrupt.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

// Each case runs in a child: the handler changes process-wide signal dispositions.
using test::wait_status_of_child;

TEST(Interrupt, FirstSignalOnlySetsTheFlag) {
  for (int sig : {SIGINT, SIGTERM}) {
    static int current;
    current = sig;
    int status = wait_status_of_child([] {
      install_interrupt_handler();
      if (interrupted()) ::_exit(2);
      ::raise(current);
      if (!interrupted()) ::_exit(3);
      clear_interrupted();
      if (interrupted()) ::_exit(4);
    });
    ASSERT_TRUE(WIFEXITED(status)) << "signal " << sig << " ended the process";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "signal " << sig;
  }
}

TEST(Interrupt, SecondSignalEndsTheProcessAtOnceBySignal) {
  int status = wait_status_of_child([] {
    install_interrupt_handler();
    ::raise(SIGINT);
    ::raise(SIGINT);
    ::_exit(5);  // not reached
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGINT);
}

// The fleet scheduler prints the report so far at a second Ctrl-C, then exits itself.
TEST(Interrupt, WhileHandledTheSecondSignalOnlyCounts) {
  int status = wait_status_of_child([] {
    install_interrupt_handler();
    {
      SecondInterruptHandled handled;
      ::raise(SIGINT);
      ::raise(SIGINT);
      if (interrupt_count() != 2) ::_exit(2);
    }
    clear_interrupted();
    ::raise(SIGINT);
    if (interrupt_count() != 1) ::_exit(3);
    ::raise(SIGINT);  // no longer handled: ends the process
    ::_exit(4);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGINT);
}

// Should printing the report hang (stdout a full pipe), the third Ctrl-C still ends it.
TEST(Interrupt, ThirdSignalEndsTheProcessEvenWhileHandled) {
  int status = wait_status_of_child([] {
    install_interrupt_handler();
    SecondInterruptHandled handled;
    ::raise(SIGTERM);
    ::raise(SIGTERM);
    if (interrupt_count() != 2) ::_exit(2);
    ::raise(SIGTERM);
    ::_exit(3);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

// With --json set up, the second Ctrl-C of a command not in a fleet run prints its document and
// exits 130 instead of dying silently; once the command printed its own, it dies by the signal.
int g_out[2];
int g_err[2];

std::string drain(int fd) {
  std::string text;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  return text;
}

TEST(Interrupt, ASetDocumentIsWrittenAtTheSecondSignal) {
  ASSERT_EQ(::pipe(g_out), 0);
  ASSERT_EQ(::pipe(g_err), 0);
  int status = wait_status_of_child([] {
    ::dup2(g_out[1], STDOUT_FILENO);
    ::dup2(g_err[1], STDERR_FILENO);
    install_interrupt_handler();
    set_interrupt_document("{\"exit_code\": 130}\n", "stopped\n");
    ::raise(SIGINT);
    ::raise(SIGINT);
    ::_exit(5);  // not reached
  });
  ::close(g_out[1]);
  ::close(g_err[1]);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(drain(g_out[0]), "{\"exit_code\": 130}\n");
  EXPECT_EQ(drain(g_err[0]), "stopped\n");
  ::close(g_out[0]);
  ::close(g_err[0]);

  status = wait_status_of_child([] {
    install_interrupt_handler();
    set_interrupt_document("{}\n", "");
    clear_interrupt_document();
    ::raise(SIGINT);
    ::raise(SIGINT);
    ::_exit(5);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGINT);
}

TEST(Interrupt, BrokenPipesAreErrorsNotSignals) {
  int status = wait_status_of_child([] {
    install_interrupt_handler();
    int fds[2];
    if (::pipe(fds) != 0) ::_exit(2);
    ::close(fds[0]);
    char c = 'x';
    if (::write(fds[1], &c, 1) != -1 || errno != EPIPE) ::_exit(3);
  });
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace kf
