#include "fleet/scheduler.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kf {
namespace {

using ::testing::HasSubstr;

std::vector<NodeConfig> make_nodes(int n) {
  std::vector<NodeConfig> nodes;
  for (int i = 1; i <= n; ++i) {
    NodeConfig node;
    node.name = "node" + std::to_string(i);
    node.host = "10.0.0." + std::to_string(i);
    nodes.push_back(node);
  }
  return nodes;
}

int number(const NodeConfig& node) {
  return std::stoi(node.name.substr(4));
}

ScheduleOptions options(std::size_t parallel) {
  ScheduleOptions o;
  o.parallel = parallel;
  o.interrupted = [] { return false; };
  return o;
}

// Records which nodes ran, in start order, and the most that ran at once.
class Recorder {
 public:
  void begin(int node) {
    std::lock_guard lock(mutex_);
    started_.push_back(node);
    max_running_ = std::max(max_running_, ++running_);
  }
  void end() {
    std::lock_guard lock(mutex_);
    --running_;
  }
  std::vector<int> started() {
    std::lock_guard lock(mutex_);
    return started_;
  }
  int max_running() {
    std::lock_guard lock(mutex_);
    return max_running_;
  }

 private:
  std::mutex mutex_;
  std::vector<int> started_;
  int running_ = 0;
  int max_running_ = 0;
};

TEST(FleetScheduler, ReportsEveryNodeInInventoryOrder) {
  auto nodes = make_nodes(20);
  auto reports = run_fleet(nodes, options(4), [](const NodeConfig& node) {
    // Later nodes finish first.
    std::this_thread::sleep_for(std::chrono::milliseconds(40 - 2 * number(node)));
    return NodeOutcome{NodeStatus::ok, "done", {}, static_cast<std::uint64_t>(number(node))};
  });
  ASSERT_EQ(reports.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(reports[i].name, "node" + std::to_string(i + 1));
    EXPECT_EQ(reports[i].host, "10.0.0." + std::to_string(i + 1));
    EXPECT_EQ(reports[i].status, NodeStatus::ok);
    EXPECT_EQ(reports[i].step, "done");
    EXPECT_EQ(reports[i].generation, static_cast<std::uint64_t>(i + 1));
    EXPECT_GT(reports[i].seconds, 0.0);
  }
}

TEST(FleetScheduler, NeverRunsMoreThanParallelAndReachesIt) {
  auto nodes = make_nodes(12);
  Recorder recorder;
  // The first three nodes wait for each other: with fewer than three workers this would time out.
  std::mutex mutex;
  std::condition_variable all_three;
  int arrived = 0;
  bool met = false;
  auto reports = run_fleet(nodes, options(3), [&](const NodeConfig& node) {
    recorder.begin(number(node));
    if (number(node) <= 3) {
      std::unique_lock lock(mutex);
      ++arrived;
      all_three.notify_all();
      met = all_three.wait_for(lock, std::chrono::seconds(20), [&] { return arrived == 3; });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    recorder.end();
    return NodeOutcome{};
  });
  EXPECT_TRUE(met);
  EXPECT_EQ(recorder.max_running(), 3);
  EXPECT_EQ(recorder.started().size(), 12u);
  for (const auto& r : reports) EXPECT_EQ(r.status, NodeStatus::ok);
}

TEST(FleetScheduler, RollingStopsAtTheFirstFailure) {
  auto nodes = make_nodes(6);
  Recorder recorder;
  ScheduleOptions o = options(32);
  o.rolling = true;
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    recorder.begin(number(node));
    recorder.end();
    if (number(node) == 3)
      return NodeOutcome{NodeStatus::failed, "check", "node3: check failed", {}};
    return NodeOutcome{};
  });
  EXPECT_EQ(recorder.started(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(recorder.max_running(), 1);
  EXPECT_EQ(reports[0].status, NodeStatus::ok);
  EXPECT_EQ(reports[2].status, NodeStatus::failed);
  EXPECT_EQ(reports[2].step, "check");
  for (int i = 3; i < 6; ++i) {
    EXPECT_EQ(reports[i].status, NodeStatus::skipped);
    EXPECT_THAT(reports[i].error, HasSubstr("1 node failed"));
    EXPECT_THAT(reports[i].error, HasSubstr("--max-failures 0"));
  }
}

TEST(FleetScheduler, RollingBatchesWaitForEachOther) {
  auto nodes = make_nodes(7);
  std::mutex mutex;
  std::vector<std::pair<int, int>> events;  // (node, +1 start / -1 end)
  ScheduleOptions o = options(32);
  o.rolling = true;
  o.batch = 3;
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    {
      std::lock_guard lock(mutex);
      events.emplace_back(number(node), 1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * (number(node) % 3)));
    std::lock_guard lock(mutex);
    events.emplace_back(number(node), -1);
    return NodeOutcome{};
  });
  // No node of batch k+1 starts before every node of batch k has ended.
  auto batch_of = [](int node) { return (node - 1) / 3; };
  std::vector<int> ended_in_batch(3, 0);
  for (auto [node, kind] : events) {
    int batch = batch_of(node);
    if (kind == 1 && batch > 0) {
      EXPECT_EQ(ended_in_batch[batch - 1], 3) << "node" << node << " started early";
    }
    if (kind == -1) ++ended_in_batch[batch];
  }
  for (const auto& r : reports) EXPECT_EQ(r.status, NodeStatus::ok);
}

TEST(FleetScheduler, MaxFailuresToleratesThatMany) {
  auto nodes = make_nodes(8);
  ScheduleOptions o = options(32);
  o.rolling = true;
  o.max_failures = 2;
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    bool fails = number(node) == 2 || number(node) == 4 || number(node) == 5;
    return fails ? NodeOutcome{NodeStatus::timeout, "connect", "slow", {}} : NodeOutcome{};
  });
  // Failures at 2 and 4 are tolerated; the third (5) stops the roll.
  EXPECT_EQ(reports[3].status, NodeStatus::timeout);
  EXPECT_EQ(reports[4].status, NodeStatus::timeout);
  EXPECT_EQ(reports[5].status, NodeStatus::skipped);
  EXPECT_THAT(reports[5].error, HasSubstr("3 nodes failed (--max-failures 2)"));
  EXPECT_EQ(reports[7].status, NodeStatus::skipped);
}

TEST(FleetScheduler, WithoutRollingEveryNodeRunsDespiteFailures) {
  auto nodes = make_nodes(10);
  auto reports = run_fleet(nodes, options(2), [&](const NodeConfig& node) {
    return number(node) % 2 ? NodeOutcome{NodeStatus::unreachable, "connect", "down", {}}
                            : NodeOutcome{};
  });
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(reports[i].status, i % 2 == 0 ? NodeStatus::unreachable : NodeStatus::ok);
  }
}

TEST(FleetScheduler, UnchangedCountsAsSuccessForRolling) {
  auto nodes = make_nodes(3);
  ScheduleOptions o = options(1);
  o.rolling = true;
  auto reports = run_fleet(nodes, o, [](const NodeConfig&) {
    return NodeOutcome{NodeStatus::unchanged, "compare", {}, 5};
  });
  for (const auto& r : reports) EXPECT_EQ(r.status, NodeStatus::unchanged);
}

TEST(FleetScheduler, InterruptionStopsStartingButLetsRunningNodesFinish) {
  auto nodes = make_nodes(10);
  std::atomic<bool> interrupted{false};
  std::atomic<int> finished{0};
  ScheduleOptions o = options(2);
  o.interrupted = [&] { return interrupted.load(); };
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    if (number(node) == 3) interrupted = true;  // Ctrl-C while node 3 works
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ++finished;
    return NodeOutcome{};
  });
  int ok = 0;
  int skipped = 0;
  for (const auto& r : reports) {
    if (r.status == NodeStatus::ok) ++ok;
    if (r.status == NodeStatus::skipped) {
      ++skipped;
      EXPECT_THAT(r.error, HasSubstr("interrupted"));
    }
  }
  // Nodes 1-3 ran (and perhaps node 4, started beside node 3); every started node finished.
  EXPECT_EQ(ok, finished.load());
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 4);
  EXPECT_EQ(ok + skipped, 10);
  EXPECT_EQ(reports[2].status, NodeStatus::ok);
  EXPECT_EQ(reports[9].status, NodeStatus::skipped);
}

TEST(FleetScheduler, InterruptionNoticedWhileWaitingForABatch) {
  auto nodes = make_nodes(4);
  std::atomic<bool> interrupted{false};
  ScheduleOptions o = options(4);
  o.rolling = true;
  o.batch = 2;
  o.interrupted = [&] { return interrupted.load(); };
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    if (number(node) == 2) {
      interrupted = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return NodeOutcome{};
  });
  EXPECT_EQ(reports[0].status, NodeStatus::ok);
  EXPECT_EQ(reports[1].status, NodeStatus::ok);
  EXPECT_EQ(reports[2].status, NodeStatus::skipped);
  EXPECT_EQ(reports[3].status, NodeStatus::skipped);
}

// Waits (bounded: a broken scheduler fails the test instead of hanging it) until `flag` is set.
bool wait_for(const std::atomic<bool>& flag) {
  for (int i = 0; i < 500 && !flag; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return flag;
}

TEST(FleetScheduler, FirstInterruptNamesTheRunningNodesOnce) {
  auto nodes = make_nodes(6);
  std::atomic<bool> interrupted{false};
  std::atomic<bool> noticed{false};
  std::atomic<int> notices{0};
  std::vector<std::string> running;
  std::size_t not_started = 0;
  ScheduleOptions o = options(2);
  o.interrupted = [&] { return interrupted.load(); };
  o.on_interrupt = [&](const std::vector<std::string>& names, std::size_t later) {
    running = names;
    not_started = later;
    ++notices;
    noticed = true;
  };
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    if (number(node) == 2) interrupted = true;
    EXPECT_TRUE(wait_for(noticed));  // both wait: the notice names them both
    return NodeOutcome{};
  });
  EXPECT_EQ(notices, 1);
  EXPECT_EQ(running, (std::vector<std::string>{"node1", "node2"}));
  EXPECT_EQ(not_started, 4u);
  EXPECT_EQ(reports[0].status, NodeStatus::ok);
  EXPECT_EQ(reports[1].status, NodeStatus::ok);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(reports[i].status, NodeStatus::skipped);
}

// At the second Ctrl-C the report so far goes to on_abandon (which would print it and exit):
// finished nodes as they ended, running ones failed with their state unknown, the rest skipped.
TEST(FleetScheduler, SecondInterruptHandsOverTheReportSoFar) {
  auto nodes = make_nodes(3);
  std::atomic<bool> interrupted{false};
  std::atomic<bool> again{false};
  std::atomic<bool> abandoned{false};
  std::vector<NodeReport> so_far;
  ScheduleOptions o = options(1);
  o.interrupted = [&] { return interrupted.load(); };
  o.interrupted_again = [&] { return again.load(); };
  o.on_interrupt = [&](const std::vector<std::string>& running, std::size_t) {
    EXPECT_EQ(running, (std::vector<std::string>{"node2"}));
    again = true;
  };
  o.on_abandon = [&](std::vector<NodeReport> reports) {
    EXPECT_FALSE(abandoned.load());  // once
    so_far = std::move(reports);
    abandoned = true;
  };
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    if (number(node) == 2) {
      interrupted = true;
      EXPECT_TRUE(wait_for(abandoned));
    }
    return NodeOutcome{NodeStatus::ok, "install", {}, 4};
  });
  ASSERT_EQ(so_far.size(), 3u);
  EXPECT_EQ(so_far[0].status, NodeStatus::ok);
  EXPECT_EQ(so_far[0].generation, 4u);
  EXPECT_EQ(so_far[1].name, "node2");
  EXPECT_EQ(so_far[1].status, NodeStatus::failed);
  EXPECT_EQ(so_far[1].step, "interrupted");
  EXPECT_THAT(so_far[1].error, HasSubstr("state is unknown"));
  EXPECT_EQ(so_far[2].status, NodeStatus::skipped);
  EXPECT_THAT(so_far[2].error, HasSubstr("interrupted"));
  // on_abandon returned (a test): the scheduler waited for node 2 after all.
  EXPECT_EQ(reports[1].status, NodeStatus::ok);
  EXPECT_EQ(reports[2].status, NodeStatus::skipped);
}

// A real Ctrl-C reaches the calling thread, not a worker: a worker's poll() is not cut short, its
// node finishes, and the nodes not yet started are skipped.
TEST(FleetScheduler, CtrlCSparesTheWorkersSystemCalls) {
  install_interrupt_handler();
  clear_interrupted();
  auto nodes = make_nodes(5);
  std::atomic<bool> blocked_in_worker{false};
  std::atomic<int> poll_result{-2};
  ScheduleOptions o = options(1);
  o.interrupted = [] { return kf::interrupted(); };
  auto reports = run_fleet(nodes, o, [&](const NodeConfig& node) {
    if (number(node) == 1) {
      sigset_t mask;
      pthread_sigmask(SIG_BLOCK, nullptr, &mask);
      blocked_in_worker = sigismember(&mask, SIGINT) == 1;
      ::kill(::getpid(), SIGINT);
      poll_result = ::poll(nullptr, 0, 200);
    }
    return NodeOutcome{};
  });
  bool was_interrupted = kf::interrupted();
  clear_interrupted();
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  EXPECT_TRUE(blocked_in_worker);
  EXPECT_EQ(poll_result, 0);  // the full wait, no EINTR
  EXPECT_TRUE(was_interrupted);
  EXPECT_EQ(reports[0].status, NodeStatus::ok);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(reports[i].status, NodeStatus::skipped);
}

TEST(FleetScheduler, AnExceptionFailsOnlyItsNode) {
  auto nodes = make_nodes(3);
  auto reports = run_fleet(nodes, options(3), [](const NodeConfig& node) -> NodeOutcome {
    if (number(node) == 2) throw std::runtime_error("boom");
    return NodeOutcome{};
  });
  EXPECT_EQ(reports[0].status, NodeStatus::ok);
  EXPECT_EQ(reports[1].status, NodeStatus::failed);
  EXPECT_EQ(reports[1].step, "internal");
  EXPECT_THAT(reports[1].error, HasSubstr("boom"));
  EXPECT_EQ(reports[2].status, NodeStatus::ok);
}

TEST(FleetScheduler, ProgressComesFromTheCallingThreadAndEndsComplete) {
  auto nodes = make_nodes(9);
  auto caller = std::this_thread::get_id();
  std::vector<FleetProgress> seen;
  bool other_thread = false;
  ScheduleOptions o = options(3);
  o.on_progress = [&](const FleetProgress& p) {
    if (std::this_thread::get_id() != caller) other_thread = true;
    seen.push_back(p);
  };
  run_fleet(nodes, o, [](const NodeConfig& node) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return number(node) == 5 ? NodeOutcome{NodeStatus::failed, "x", "y", {}} : NodeOutcome{};
  });
  EXPECT_FALSE(other_thread);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().total, 9u);
  EXPECT_EQ(seen.back().done, 9u);
  EXPECT_EQ(seen.back().failed, 1u);
  EXPECT_EQ(seen.back().running, 0u);
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i].done, seen[i - 1].done);
}

TEST(FleetScheduler, NoNodesNoWork) {
  bool called = false;
  auto reports = run_fleet({}, options(4), [&](const NodeConfig&) {
    called = true;
    return NodeOutcome{};
  });
  EXPECT_TRUE(reports.empty());
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace kf
