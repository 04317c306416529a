#include "fleet/scheduler.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

namespace kf {
namespace {

using Clock = std::chrono::steady_clock;

class SignalBlock {
 public:
  SignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  ~SignalBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

// The state the workers and the calling thread share, all under `mutex`.
class Dispatch {
 public:
  Dispatch(std::span<const NodeConfig> nodes, const ScheduleOptions& options, const NodeTask& task)
      : nodes_(nodes),
        options_(options),
        task_(task),
        reports_(nodes.size()),
        started_(nodes.size()),
        running_nodes_(nodes.size(), false),
        batch_(std::max<std::size_t>(options.batch, 1)),
        limit_(options.rolling ? std::min(batch_, nodes.size()) : nodes.size()),
        max_failures_(options.max_failures ? options.max_failures
                      : options.rolling    ? std::optional<std::size_t>(0)
                                           : std::nullopt) {}

  std::vector<NodeReport> run() {
    start_ = Clock::now();
    std::size_t workers = std::min(std::max<std::size_t>(options_.parallel, 1), nodes_.size());
    std::vector<std::thread> threads;
    threads.reserve(workers);
    {
      // Workers (and the watchdogs they start) inherit a mask without SIGINT/SIGTERM, so Ctrl-C
      // lands on this thread: a signal delivered to a worker would fail its poll() with EINTR
      // and so its node, while running nodes are meant to finish.
      SignalBlock block;
      for (std::size_t i = 0; i < workers; ++i) threads.emplace_back([this] { work(); });
    }
    watch();
    for (auto& thread : threads) thread.join();
    mark_skipped();
    report_progress();
    return std::move(reports_);
  }

 private:
  bool interrupted() const { return options_.interrupted && options_.interrupted(); }

  // Under the lock: may the next node start? Sets the reason when the answer becomes no for good.
  bool may_start() {
    if (!stop_reason_.empty()) return false;
    if (interrupted()) {
      stop_reason_ = "not started: interrupted (Ctrl-C)";
      return false;
    }
    if (max_failures_ && failed_ > *max_failures_) {
      stop_reason_ = fmt::format("not started: {} node{} failed (--max-failures {})", failed_,
                                 failed_ == 1 ? "" : "s", *max_failures_);
      return false;
    }
    return true;
  }

  // No more nodes will be handed out: stopped, or every node handed out.
  bool closed() const { return !stop_reason_.empty() || next_ >= nodes_.size(); }

  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return closed() || next_ < limit_; });
      if (closed() || !may_start()) {
        changed_.notify_all();
        return;
      }
      std::size_t index = next_++;
      ++running_;
      running_nodes_[index] = true;
      started_[index] = Clock::now();
      lock.unlock();
      NodeReport report = run_one(nodes_[index]);
      lock.lock();
      bool failed = !is_success(report.status);
      reports_[index] = std::move(report);
      running_nodes_[index] = false;
      --running_;
      ++done_;
      if (failed) ++failed_;
      // Rolling: the next batch opens once this one has finished, so that its failures count.
      if (options_.rolling && running_ == 0 && next_ == limit_) {
        limit_ = std::min(limit_ + batch_, nodes_.size());
      }
      changed_.notify_all();
    }
  }

  NodeReport run_one(const NodeConfig& node) const {
    NodeReport report{node.name, node.host, NodeStatus::failed, {}, {}, {}, 0};
    auto begin = Clock::now();
    NodeOutcome outcome;
    // A worker thread is an edge like main(): an exception must become this node's failure,
    // not std::terminate for the whole fleet.
    try {
      outcome = task_(node);
    } catch (const std::exception& e) {
      outcome = {NodeStatus::failed,
                 "internal",
                 fmt::format("{}: internal error: {}", node.name, e.what()),
                 {}};
    }
    report.status = outcome.status;
    report.step = std::move(outcome.step);
    report.error = std::move(outcome.error);
    report.generation = outcome.generation;
    report.detail = std::move(outcome.detail);
    report.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    return report;
  }

  // The calling thread: progress reports, and Ctrl-C noticed even while every worker waits.
  void watch() {
    std::optional<SecondInterruptHandled> handled;
    if (options_.on_abandon) handled.emplace();
    std::unique_lock lock(mutex_);
    bool noticed = false;
    bool abandoned = false;
    while (!(closed() && running_ == 0)) {
      // After a first Ctrl-C, a second one is answered at once.
      changed_.wait_for(lock, std::chrono::milliseconds(noticed ? 50 : 250));
      if (!closed() && interrupted()) {
        may_start();
        changed_.notify_all();
      }
      if (!noticed && interrupted()) {
        noticed = true;
        if (running_ > 0 && options_.on_interrupt) {
          std::vector<std::string> running = running_names();
          std::size_t not_started = nodes_.size() - next_;
          lock.unlock();
          options_.on_interrupt(running, not_started);
          lock.lock();
        }
      }
      if (noticed && !abandoned && running_ > 0 && options_.on_abandon &&
          options_.interrupted_again && options_.interrupted_again()) {
        abandoned = true;
        std::vector<NodeReport> so_far = reports_so_far();
        lock.unlock();
        options_.on_abandon(std::move(so_far));
        lock.lock();
      }
      if (options_.on_progress) {
        FleetProgress progress = snapshot();
        lock.unlock();
        options_.on_progress(progress);
        lock.lock();
      }
    }
  }

  FleetProgress snapshot() const {
    return FleetProgress{
        nodes_.size(), done_, failed_, running_,
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_)};
  }

  void report_progress() {
    if (options_.on_progress) options_.on_progress(snapshot());
  }

  std::vector<std::string> running_names() const {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (running_nodes_[i]) names.push_back(nodes_[i].name);
    }
    return names;
  }

  // Under the lock: the reports as they stand, the running nodes abandoned.
  std::vector<NodeReport> reports_so_far() const {
    std::vector<NodeReport> out = reports_;
    auto now = Clock::now();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (running_nodes_[i]) {
        out[i] = NodeReport{nodes_[i].name,
                            nodes_[i].host,
                            NodeStatus::failed,
                            std::string(kAbandonedStep),
                            fmt::format("{}: abandoned while running at a second Ctrl-C: its state "
                                        "is unknown (run keyfleet verify)",
                                        nodes_[i].name),
                            {},
                            std::chrono::duration<double>(now - started_[i]).count()};
      } else if (i >= next_) {
        out[i] = skipped(i);
      }
    }
    return out;
  }

  NodeReport skipped(std::size_t i) const {
    return NodeReport{nodes_[i].name, nodes_[i].host, NodeStatus::skipped, {}, stop_reason_, {}, 0};
  }

  void mark_skipped() {
    for (std::size_t i = next_; i < nodes_.size(); ++i) reports_[i] = skipped(i);
  }

  std::span<const NodeConfig> nodes_;
  const ScheduleOptions& options_;
  const NodeTask& task_;
  std::vector<NodeReport> reports_;
  std::vector<Clock::time_point> started_;
  std::vector<bool> running_nodes_;
  const std::size_t batch_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t limit_;  // nodes [0, limit_) may be handed out now
  std::optional<std::size_t> max_failures_;
  std::size_t next_ = 0;
  std::size_t running_ = 0;
  std::size_t done_ = 0;
  std::size_t failed_ = 0;
  std::string stop_reason_;
  Clock::time_point start_;
};

}  // namespace

std::vector<NodeReport> run_fleet(std::span<const NodeConfig> nodes, const ScheduleOptions& options,
                                  const NodeTask& task) {
  if (nodes.empty()) return {};
  return Dispatch(nodes, options, task).run();
}

}  // namespace kf
