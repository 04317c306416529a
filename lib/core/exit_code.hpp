#pragma once

namespace kf {

// The process exit codes, documented in README.md and `keyfleet help`. Scripts depend on them:
// never renumber.
enum class ExitCode : int {
  ok = 0,
  failure = 1,    // finished, but some nodes failed or differ (or a local operation failed)
  usage = 2,      // bad arguments, options or configuration
  integrity = 3,  // tampered/truncated bundle, wrong passphrase, unsafe entry, host key mismatch
  refused = 4,    // refused for safety: would overwrite, downgrade, lock held, no confirmation
  interrupted = 130,
};

constexpr int to_int(ExitCode code) {
  return static_cast<int>(code);
}

}  // namespace kf
