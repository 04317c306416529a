#include "core/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

extern char** environ;

namespace kf {
namespace {

// Output beyond this is a runaway command.
constexpr std::size_t kMaxOutput = std::size_t{64} << 20;

Result<std::pair<Fd, Fd>> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("cannot create a pipe");
  return std::pair{Fd(fds[0]), Fd(fds[1])};
}

// A write to a pipe whose reader is gone raises SIGPIPE, which would end this process: block it
// on this thread for the write, and swallow the one it raised.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set;
  sigset_t old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t n = ::write(fd, data, size);
  int saved = errno;
  if (n < 0 && saved == EPIPE) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

int poll_timeout(const Deadline& deadline) {
  return static_cast<int>(std::min<long long>(deadline.remaining().count(), 1000));
}

}  // namespace

Result<Subprocess> Subprocess::start(const std::vector<std::string>& argv, Deadline deadline) {
  if (argv.empty()) return fail(ExitCode::failure, "no command to start");
  KF_TRY_ASSIGN(auto in, make_pipe());
  KF_TRY_ASSIGN(auto out, make_pipe());
  KF_TRY_ASSIGN(auto err, make_pipe());

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.first.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.second.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.second.get(), STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own group, so that a timeout ends everything it started; default signal handling and
  // mask, whatever this process blocks or ignores.
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) return fail_errno(fmt::format("cannot start {}", argv[0]), rc);
  for (Fd* fd : {&in.second, &out.first, &err.first}) ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  return Subprocess(pid, std::move(in.second), std::move(out.first), std::move(err.first),
                    deadline);
}

Subprocess::Subprocess(pid_t pid, Fd in, Fd out, Fd err, Deadline deadline)
    : pid_(pid),
      in_(std::move(in)),
      out_(std::move(out)),
      err_(std::move(err)),
      deadline_(deadline) {}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      in_(std::move(other.in_)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)),
      deadline_(other.deadline_),
      out_buffer_(std::move(other.out_buffer_)),
      err_buffer_(std::move(other.err_buffer_)) {}

Subprocess::~Subprocess() {
  kill_and_reap();
}

void Subprocess::kill_and_reap() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Result<void> Subprocess::write(std::string_view data) {
  while (!data.empty()) {
    if (!in_) return fail(ExitCode::failure, "writing to process {}: its input is closed", pid_);
    ssize_t n = write_no_sigpipe(in_.get(), data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EPIPE) {
      return fail(ExitCode::failure, "writing to process {}: it stopped reading", pid_);
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return fail_errno(fmt::format("writing to process {}", pid_));
    }
    if (deadline_.expired()) {
      return fail(ExitCode::failure, "writing to process {}: the deadline ran out", pid_);
    }
    // Read its output while waiting for room: a child that writes as it reads (cat) blocks on
    // a full output pipe and stops reading, and both sides would wait for the deadline.
    KF_CHECK(pump(in_.get()));
  }
  return {};
}

Result<bool> Subprocess::pump(int writable) {
  pollfd fds[3] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}, {writable, POLLOUT, 0}};
  if (!out_ && !err_ && writable < 0) return false;
  if (deadline_.expired()) {
    kill_and_reap();
    return fail(ExitCode::failure, "the command ran past its deadline and was killed");
  }
  int ready = ::poll(fds, 3, poll_timeout(deadline_));
  if (ready < 0 && errno != EINTR) return fail_errno("waiting for a process");
  Fd* owners[2] = {&out_, &err_};
  std::string* buffers[2] = {&out_buffer_, &err_buffer_};
  for (int i = 0; i < 2; ++i) {
    if (!*owners[i] || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char chunk[16384];
    ssize_t n = ::read(owners[i]->get(), chunk, sizeof chunk);
    if (n > 0) {
      buffers[i]->append(chunk, static_cast<std::size_t>(n));
      if (buffers[i]->size() > kMaxOutput) {
        kill_and_reap();
        return fail(ExitCode::failure, "the command printed more than {} MiB", kMaxOutput >> 20);
      }
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      owners[i]->reset();
    }
  }
  return true;
}

Result<std::string> Subprocess::read_until(std::string_view marker) {
  for (;;) {
    if (auto at = out_buffer_.find(marker); at != std::string::npos) {
      std::string line = out_buffer_.substr(0, at + marker.size());
      out_buffer_.erase(0, at + marker.size());
      return line;
    }
    if (!out_) return std::exchange(out_buffer_, {});
    KF_CHECK(pump());
  }
}

Result<Subprocess::Exit> Subprocess::finish() {
  // Already reaped (by a kill at the deadline or the output cap): waitpid(-1) below would reap
  // some other child of this process and take its exit status.
  if (pid_ <= 0) return fail(ExitCode::failure, "the command has already ended");
  in_.reset();
  for (;;) {
    KF_TRY_ASSIGN(bool more, pump());
    if (!more) break;
  }
  Exit exit;
  exit.out = std::exchange(out_buffer_, {});
  exit.err = std::exchange(err_buffer_, {});
  int status = 0;
  // Both pipes are at their end; the child is exiting. Bound the wait anyway.
  for (;;) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (done < 0 && errno != EINTR) return fail_errno("waiting for a process");
    if (deadline_.expired()) {
      kill_and_reap();
      return fail(ExitCode::failure, "the command ran past its deadline and was killed");
    }
    ::usleep(1000);
  }
  pid_ = -1;
  exit.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return exit;
}

}  // namespace kf
