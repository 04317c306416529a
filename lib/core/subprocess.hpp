#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/deadline.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"

namespace kf {

// A child process with pipes on its standard input, output and error, in a process group of its
// own: the local twin of an SSH exec channel (keydir's LocalRemote). Every wait is bounded by a
// deadline; at the deadline, and when the object goes without finish(), the whole group is killed
// and reaped, so no child outlives it unnoticed.
class Subprocess {
 public:
  struct Exit {
    int status = -1;  // the exit status; -1 when a signal ended it
    std::string out;  // standard output not read by read_until
    std::string err;
  };

  // Starts `argv` (argv[0] an absolute path) with the environment of this process.
  static Result<Subprocess> start(const std::vector<std::string>& argv, Deadline deadline);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  // Writes all of `data` to the child's standard input. A child that stopped reading is an error.
  Result<void> write(std::string_view data);
  // Standard output up to and including the first `marker`; at its end, what is left.
  Result<std::string> read_until(std::string_view marker);
  // Closes standard input, reads both outputs to their end and reaps the child.
  Result<Exit> finish();

  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, Fd in, Fd out, Fd err, Deadline deadline);
  // Reads whatever is ready on stdout and stderr, waiting at most until the deadline (or until
  // `writable`, when given, has room); false at the end of both.
  Result<bool> pump(int writable = -1);
  void kill_and_reap();

  pid_t pid_ = -1;
  Fd in_;
  Fd out_;
  Fd err_;
  Deadline deadline_;
  std::string out_buffer_;
  std::string err_buffer_;
};

}  // namespace kf
