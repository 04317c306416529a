#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "core/subprocess.hpp"
#include "keydir/remote.hpp"
#include "support/test_support.hpp"

namespace kf::test {

// Another keyfleet command holding a DEST/.lock: a shell that flock(1)s it, as the node scripts
// do, and keeps it until this object goes (Subprocess kills and reaps it, which lets go).
class LockHolder {
 public:
  explicit LockHolder(const std::string& lock_path) {
    auto process = Subprocess::start(
        {"/bin/sh", "-c", "exec 9>>\"$1\" && flock -n 9 && echo held && read -r _", "holder",
         lock_path},
        Deadline::after_seconds(120));
    if (!process) throw std::runtime_error(process.error().message);
    process_.emplace(std::move(*process));
    auto line = process_->read_until("\n");
    if (!line || *line != "held\n") throw std::runtime_error("could not take " + lock_path);
  }

 private:
  std::optional<Subprocess> process_;
};

// Whether a lock file is free right now: flock -n takes it (and lets go) at once.
inline bool lock_is_free(const std::string& lock_path) {
  return shell("flock -n " + shell_quote(lock_path) + " true").exit_code == 0;
}

}  // namespace kf::test
