// `keyfleet cleanup` run while `keyfleet push` is staging on the same node: cleanup must leave
// the copy being written alone (both take DEST/.lock on the node), and the push completes. The
// inventory's lock_timeout is 1 s, so no test waits out the default 10 s.
#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

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
  const fs::path inventory =
      fleet.inventory_with("lock1.toml", {{1, "lock_timeout = 1"}, {2, "lock_timeout = 1"}});
  const std::uint64_t bundle_size = fs::file_size(bundles.bundle(1));
  // Node 1 takes in the bundle at half its size per second; with the SFTP requests around it, the
  // upload takes about 3.5 s, outlasting cleanup's 1 s wait for the lock by seconds.
  const std::uint64_t rate = bundle_size / 2;
  ASSERT_GT(rate, 0u);
  fleet.throttle_uploads(1, std::to_string(rate));

  test::RunResult pushed;
  std::thread push([&] { pushed = bundles.push(1, inventory); });
  bool staging = false;
  for (int i = 0; i < 600 && !staging; ++i) {  // at most 30 s
    staging = !test::staged_files(fleet.node(1)).empty();
    if (!staging) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  test::RunResult cleaned;
  if (staging) {
    cleaned = test::keyfleet({"cleanup", "--inventory", inventory.string(), "--json"});
  }
  push.join();
  ASSERT_TRUE(staging) << "node1's staged copy never appeared: " << pushed.out << pushed.err;

  EXPECT_EQ(cleaned.exit_code, 4) << cleaned.out << cleaned.err;
  auto swept = nodes_of(cleaned);
  EXPECT_EQ(swept["node1"]["status"], "refused") << cleaned.out;
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

// Another holder of a node's DEST/.lock (here a local process, the node being local): cleanup
// prunes nothing and push does not switch `current`, each naming the lock; once it is gone
// both go through. Cleanup's prune and push's switch share the lock, so a prune can never act on
// a `current` read before a switch.
TEST(CleanupLock, AHeldDestLockStopsPruneAndSwitch) {
  Fleet fleet(1);
  Bundles bundles(fleet, 3);
  const fs::path inventory = fleet.inventory_with("lock1.toml", {{1, "lock_timeout = 1"}});
  ASSERT_EQ(bundles.push(1, inventory).exit_code, 0);
  ASSERT_EQ(bundles.push(2, inventory).exit_code, 0);
  fs::path lock = fs::path(fleet.node(1).dest) / ".lock";
  fs::path generations = fs::path(fleet.node(1).dest) / "generations";
  // The subshell becomes `sleep`, which keeps fd 9 and so the lock. It waits for the lock rather
  // than trying once, and says when it holds it with a file: probing with `flock -n` would take
  // the lock for a moment, and a holder that started in that moment would give up.
  fs::path held = fleet.dir() / "holder-has-the-lock";
  auto holder = test::shell("(exec 9>>'" + lock.string() + "' && flock -w 30 9 && : >'" +
                            held.string() + "' && exec sleep 120) >/dev/null 2>&1 & echo $!");
  const int pid = std::stoi(holder.out);
  // Killed once only: a second kill after it is reaped could hit a process that reused its pid.
  struct Holder {
    int pid;
    void kill() {
      if (pid > 0) ::kill(pid, SIGKILL);
      pid = 0;
    }
    ~Holder() { kill(); }
  } holder_process{pid};
  for (int i = 0; i < 600 && !fs::exists(held); ++i) {  // at most 30 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(held)) << "the holder never took " << lock;

  auto cleaned = test::keyfleet(
      {"cleanup", "--inventory", inventory.string(), "--purge-old", "--yes", "--json"});
  auto pushed = bundles.push(3, inventory);
  holder_process.kill();
  EXPECT_EQ(cleaned.exit_code, 4) << cleaned.out << cleaned.err;
  EXPECT_EQ(nodes_of(cleaned)["node1"]["step"], "lock") << cleaned.out;
  EXPECT_TRUE(fs::exists(generations / "000001"));
  EXPECT_EQ(pushed.exit_code, 4) << pushed.out << pushed.err;
  auto node = nodes_of(pushed)["node1"];
  EXPECT_EQ(node["status"], "refused") << node;
  EXPECT_EQ(node["step"], "staging") << node;  // push takes the lock before staging
  EXPECT_NE(node["error"].get<std::string>().find(".lock is held"), std::string::npos) << node;
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000002");
  EXPECT_FALSE(fs::exists(generations / "000003"));

  // The holder is gone: the lock is free again.
  for (int i = 0; i < 100 && test::shell("flock -n '" + lock.string() + "' true").exit_code != 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(test::keyfleet({"cleanup", "--inventory", inventory.string(), "--purge-old", "--yes"})
                .exit_code,
            0);
  EXPECT_FALSE(fs::exists(generations / "000001"));
  EXPECT_EQ(bundles.push(3, inventory).exit_code, 0);
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000003");
}

}  // namespace
}  // namespace kf
