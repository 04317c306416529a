#include "core/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <thread>

namespace kf {

Result<FileLock> FileLock::try_acquire(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(fmt::format("cannot open lock file {}", path.string()));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(ExitCode::refused, "{} is locked: another keyfleet is working on this directory",
                  path.string());
    }
    return fail_errno(fmt::format("cannot lock {}", path.string()));
  }
  return FileLock(std::move(fd));
}

Result<FileLock> FileLock::acquire(const fs::path& path, std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto lock = try_acquire(path);
    if (lock || lock.error().code != ExitCode::refused ||
        std::chrono::steady_clock::now() >= until) {
      return lock;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace kf
