#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/interrupt.hpp"
#include "fleet/node_report.hpp"
#include "inventory/inventory.hpp"

namespace kf {

struct FleetProgress {
  std::size_t total = 0;
  std::size_t done = 0;    // finished, whatever the outcome
  std::size_t failed = 0;  // finished with a status other than ok/unchanged
  std::size_t running = 0;
  std::chrono::milliseconds elapsed{0};
};

struct ScheduleOptions {
  std::size_t parallel = 32;  // --parallel: nodes worked on at once, one connection each
  bool rolling = false;       // --rolling: inventory order, `batch` nodes at a time
  std::size_t batch = 1;      // --batch
  // Stop starting nodes once more than this many have failed (--max-failures). Rolling mode
  // stops at the first failure unless given; without --rolling every node runs unless given.
  std::optional<std::size_t> max_failures;
  // Called on the calling thread (never concurrently) when a node finishes and about every
  // quarter second, for the live progress line.
  std::function<void(const FleetProgress&)> on_progress;
  // Polled before each node starts; tests put a fake here.
  std::function<bool()> interrupted = kf::interrupted;
  // Polled while nodes run, after a first interrupt: a second Ctrl-C.
  std::function<bool()> interrupted_again = [] { return kf::interrupt_count() >= 2; };
  // Called on the calling thread once, when the first interrupt is noticed, with the names of the
  // nodes still running (inventory order; the scheduler waits for them) and how many will not be
  // started (they are reported `skipped`).
  std::function<void(const std::vector<std::string>& running, std::size_t not_started)>
      on_interrupt;
  // Called on the calling thread at a second interrupt, with the reports so far: the running
  // nodes `failed` at step "interrupted" (their state unknown), the nodes never started `skipped`.
  // It is meant to print them and end the process (exit 130), as the running nodes cannot be
  // waited for; should it return, the scheduler goes on waiting for them. Unset: the second
  // interrupt ends the process by its signal (core/interrupt.hpp).
  std::function<void(std::vector<NodeReport> so_far)> on_abandon;
};

// The step of a node still running at a second Ctrl-C (status failed): its state is unknown.
inline constexpr std::string_view kAbandonedStep = "interrupted";

// The work on one node; runs on a worker thread, one node per call. It should poll
// kf::interrupted() only where it can stop cleanly: the scheduler lets running nodes finish.
using NodeTask = std::function<NodeOutcome(const NodeConfig&)>;

// Runs `task` on every node with at most `parallel` at once and returns one report per node in
// inventory order. In rolling mode a batch starts only when the previous one has finished. Nodes
// never started (too many failures, or Ctrl-C) are reported `skipped`, with the reason as error.
std::vector<NodeReport> run_fleet(std::span<const NodeConfig> nodes, const ScheduleOptions& options,
                                  const NodeTask& task);

}  // namespace kf
