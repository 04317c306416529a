#include "core/passphrase.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/fd.hpp"
#include "core/interrupt.hpp"

namespace kf {
namespace {

// Longer than any passphrase a person types or a generator writes; a line past it is refused
// rather than silently cut.
constexpr std::size_t kMaxPassphrase = 4096;

enum class LineEnd { newline, eof };

// Reads one line a byte at a time, so nothing after the newline is consumed from a shared fd.
Result<SecretString> read_line(int fd, std::string_view source) {
  SecretString line;
  line.reserve(kMaxPassphrase + 1);  // no reallocation, so no stray copies
  for (;;) {
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) {
      if (interrupted()) return fail(ExitCode::interrupted, "interrupted while reading {}", source);
      continue;
    }
    if (n < 0) return fail_errno(ExitCode::usage, fmt::format("cannot read {}", source));
    if (n == 0 || c == '\n') break;
    if (line.size() == kMaxPassphrase) {
      return fail(ExitCode::usage, "{}: the passphrase is longer than {} bytes", source,
                  kMaxPassphrase);
    }
    line.push_back(c);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<SecretString> require_nonempty(SecretString passphrase, std::string_view source) {
  if (passphrase.empty()) return fail(ExitCode::usage, "{}: the passphrase is empty", source);
  return passphrase;
}

Result<SecretString> from_file(const boost::filesystem::path& path) {
  std::string source = fmt::format("passphrase file {}", path.string());
  // O_NONBLOCK: a FIFO with no writer would block open(2) forever; fstat refuses it below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP)
      return fail(ExitCode::usage, "{}: is a symbolic link (name the file itself)", source);
    return fail_errno(ExitCode::usage, fmt::format("cannot open {}", source));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail_errno(ExitCode::usage, fmt::format("cannot stat {}", source));
  if (!S_ISREG(st.st_mode)) return fail(ExitCode::usage, "{}: not a regular file", source);
  if ((st.st_mode & 077) != 0) {
    return fail(ExitCode::usage, "{}: mode {:04o} lets group or others read it; run chmod 600 {}",
                source, st.st_mode & 07777, path.string());
  }
  KF_TRY_ASSIGN(SecretString line, read_line(fd.get(), source));
  return require_nonempty(std::move(line), source);
}

Result<SecretString> from_fd(int fd) {
  std::string source = fmt::format("--passphrase-fd {}", fd);
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) {
    return fail(ExitCode::usage, "{}: not an open file descriptor", source);
  }
  KF_TRY_ASSIGN(SecretString line, read_line(fd, source));
  return require_nonempty(std::move(line), source);
}

// Echo off for the life of this object; restored on every path out, including errors.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);
    quiet.c_lflag |= ICANON;
    // TCSANOW, not TCSAFLUSH: a line typed ahead of the prompt (or fed through a pty) is kept.
    active_ = ::tcsetattr(fd_, TCSANOW, &quiet) == 0;
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;
  ~NoEcho() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }
  [[nodiscard]] bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

Result<SecretString> ask(int tty, std::string_view prompt) {
  // The prompt is a courtesy: a terminal that cannot show it still takes the answer.
  [[maybe_unused]] ssize_t shown = ::write(tty, prompt.data(), prompt.size());
  Result<SecretString> answer = [&]() -> Result<SecretString> {
    NoEcho quiet(tty);
    if (!quiet.active()) return fail_errno(ExitCode::usage, "cannot turn off echo on /dev/tty");
    return read_line(tty, "the terminal");
  }();
  [[maybe_unused]] ssize_t newline = ::write(tty, "\n", 1);  // the typed one was not echoed
  return answer;
}

Result<SecretString> from_terminal(PassphrasePurpose purpose) {
  Fd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!tty) {
    return fail(ExitCode::usage,
                "no passphrase given and no terminal to ask on: use --passphrase-file FILE (a file "
                "only you can read) or --passphrase-fd N");
  }
  KF_TRY_ASSIGN(SecretString asked,
                ask(tty.get(), purpose == PassphrasePurpose::encrypt ? "New bundle passphrase: "
                                                                     : "Bundle passphrase: "));
  KF_TRY_ASSIGN(SecretString first, require_nonempty(std::move(asked), "the terminal"));
  if (purpose == PassphrasePurpose::encrypt) {
    KF_TRY_ASSIGN(SecretString again, ask(tty.get(), "Repeat the passphrase: "));
    if (again != first) return fail(ExitCode::usage, "the two passphrases differ");
  }
  return first;
}

}  // namespace

Result<SecretString> read_passphrase(const PassphraseSource& source, PassphrasePurpose purpose) {
  if (source.file && source.fd) {
    return fail(ExitCode::usage, "--passphrase-file and --passphrase-fd cannot be used together");
  }
  if (source.file) return from_file(*source.file);
  if (source.fd) return from_fd(*source.fd);
  return from_terminal(purpose);
}

}  // namespace kf
