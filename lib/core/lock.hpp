#pragma once

#include <chrono>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"

namespace kf {

// An exclusive flock(2) on a lock file, held until destruction. A lock another process holds is a
// refusal (exit 4), not a wait: two installs must never interleave, and an operator wants to know.
class FileLock {
 public:
  static Result<FileLock> try_acquire(const fs::path& path);
  // Waits up to `wait` for the lock: for writers that only need turns (the audit log), not
  // exclusive ownership of a directory. Still held after `wait`: refused, as try_acquire.
  static Result<FileLock> acquire(const fs::path& path, std::chrono::milliseconds wait);

 private:
  explicit FileLock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace kf
