// fleet::SessionPool: push reads its plan, asks, then works over the same connections.
#include "fleet/run.hpp"

#include <atomic>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;

std::vector<NodeConfig> three_nodes() {
  std::vector<NodeConfig> nodes(3);
  for (std::size_t i = 0; i < nodes.size(); ++i) nodes[i].name = "node" + std::to_string(i + 1);
  return nodes;
}

// The sessions a pass over the fleet worked on.
std::set<const Remote*> pass(const std::vector<NodeConfig>& nodes, const FleetRunOptions& run) {
  std::mutex mutex;
  std::set<const Remote*> seen;
  run_on_nodes(nodes, run, [&](Remote& remote, const NodeConfig&) {
    std::lock_guard lock(mutex);
    seen.insert(&remote);
    return NodeOutcome{};
  });
  return seen;
}

TEST(SessionPool, TheSecondPassWorksOverTheFirstPassesConnections) {
  const auto nodes = three_nodes();
  std::atomic<int> connects = 0;
  Connector base = [&](const NodeConfig& node) -> NodeResult<std::shared_ptr<Remote>> {
    ++connects;
    return std::make_shared<FakeRemote>(node.name);
  };
  SessionPool pool;
  FleetRunOptions run;
  run.connect = pool.connector(base);
  auto first = pass(nodes, run);
  EXPECT_EQ(first.size(), 3u);
  auto second = pass(nodes, run);
  EXPECT_EQ(second, first);
  EXPECT_EQ(connects, 3);

  int waited = 0;
  pool.off_the_clock([&] { ++waited; });
  EXPECT_EQ(waited, 1);

  pool.close();
  pass(nodes, run);
  EXPECT_EQ(connects, 6);
}

TEST(SessionPool, AConnectionThatFailedIsTriedAgain) {
  const auto nodes = three_nodes();
  std::atomic<int> connects = 0;
  std::atomic<bool> refuse = true;
  Connector base = [&](const NodeConfig& node) -> NodeResult<std::shared_ptr<Remote>> {
    ++connects;
    if (node.name == "node2" && refuse.exchange(false)) {
      return node_fail(NodeStatus::unreachable, "connect", "{}: refused", node.name);
    }
    return std::make_shared<FakeRemote>(node.name);
  };
  SessionPool pool;
  FleetRunOptions run;
  run.connect = pool.connector(base);
  auto reports = run_on_nodes(nodes, run, [](Remote&, const NodeConfig&) { return NodeOutcome{}; });
  EXPECT_EQ(reports[1].status, NodeStatus::unreachable);
  EXPECT_EQ(pass(nodes, run).size(), 3u);
  EXPECT_EQ(connects, 4);
}

}  // namespace
}  // namespace kf
