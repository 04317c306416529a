// `keyfleet cleanup` run while `keyfleet push` is staging on the same node: cleanup must leave
// the copy being written alone (both take DEST/.lock on the node), and the push completes.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "fleet/remote.hpp"
#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::current_of;
using test::Fleet;
using test::nodes_of;

TEST(CleanupLock, CleanupWaitsOutAPushInProgressAndNeverWipesItsCopy) {
  Fleet fleet(2);
  Bundles bundles(fleet, 1);
  const std::uint64_t bundle_size = fs::file_size(bundles.bundle(1));
  // Node 1's upload takes about kDestLockWaitSeconds + 6 s: it outlasts cleanup's wait for the
  // lock by seconds.
  const std::uint64_t rate = bundle_size / (kDestLockWaitSeconds + 6);
  ASSERT_GT(rate, 0u);
  fleet.throttle_uploads(1, std::to_string(rate));

  test::RunResult pushed;
  std::thread push([&] { pushed = bundles.push(1, fleet.inventory()); });
  bool staging = false;
  for (int i = 0; i < 600 && !staging; ++i) {  // at most 30 s
    staging = !test::staged_files(fleet.node(1)).empty();
    if (!staging) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  test::RunResult cleaned;
  if (staging) {
    cleaned = test::keyfleet({"cleanup", "--inventory", fleet.inventory().string(), "--json"});
  }
  push.join();
  ASSERT_TRUE(staging) << "node1's staged copy never appeared: " << pushed.out << pushed.err;

  EXPECT_EQ(cleaned.exit_code, 1) << cleaned.out << cleaned.err;
  auto swept = nodes_of(cleaned);
  EXPECT_EQ(swept["node1"]["status"], "failed") << cleaned.out;
  EXPECT_EQ(swept["node1"]["step"], "lock") << cleaned.out;
  EXPECT_NE(swept["node1"]["error"].get<std::string>().find(".lock is held"), std::string::npos)
      << swept["node1"];
  EXPECT_EQ(swept["node2"]["status"], "ok") << cleaned.out;

  // The copy cleanup found half written was left alone: its digest checked and it installed.
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000001");
  auto staged = test::staged_files(fleet.node(1));
  ASSERT_EQ(staged.size(), 1u);
  EXPECT_EQ(fs::file_size(staged.front()), bundle_size);

  auto again = test::keyfleet({"cleanup", "--inventory", fleet.inventory().string()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(test::staged_files(fleet.node(1)).empty());
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000001");
}

}  // namespace
}  // namespace kf
