#pragma once

#include <algorithm>
#include <chrono>

namespace kf {

// A point on the monotonic clock by which a node's work must be done. Every blocking call on a
// node's behalf is bounded by one, so that a stalled peer costs its timeout and no more.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline after(std::chrono::milliseconds duration) {
    return Deadline(Clock::now() + duration);
  }
  static Deadline after_seconds(int seconds) {
    return after(std::chrono::seconds(std::max(seconds, 0)));
  }
  explicit Deadline(Clock::time_point at) : at_(at) {}

  [[nodiscard]] Clock::time_point at() const { return at_; }
  [[nodiscard]] bool expired() const { return Clock::now() >= at_; }
  [[nodiscard]] std::chrono::milliseconds remaining() const {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - Clock::now());
    return std::max(left, std::chrono::milliseconds(0));
  }
  // The earlier of the two: a connect timeout inside a whole-node deadline.
  [[nodiscard]] Deadline earliest(Deadline other) const {
    return Deadline(std::min(at_, other.at_));
  }

 private:
  Clock::time_point at_;
};

}  // namespace kf
