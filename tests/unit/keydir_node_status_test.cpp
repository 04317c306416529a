#include "keydir/node_status.hpp"

#include <gtest/gtest.h>

namespace kf {
namespace {

TEST(FleetNodeStatus, NamesRoundTrip) {
  for (auto status :
       {NodeStatus::ok, NodeStatus::unchanged, NodeStatus::mismatch, NodeStatus::missing,
        NodeStatus::stale, NodeStatus::unreachable, NodeStatus::hostkey, NodeStatus::auth,
        NodeStatus::timeout, NodeStatus::failed, NodeStatus::skipped}) {
    EXPECT_EQ(parse_node_status(to_string(status)), status) << to_string(status);
  }
  EXPECT_EQ(to_string(NodeStatus::hostkey), "hostkey");
  EXPECT_EQ(fmt::format("{}", NodeStatus::unreachable), "unreachable");
  EXPECT_FALSE(parse_node_status("OK"));
  EXPECT_FALSE(parse_node_status(""));
}

TEST(FleetNodeStatus, OnlyOkAndUnchangedSucceed) {
  EXPECT_TRUE(is_success(NodeStatus::ok));
  EXPECT_TRUE(is_success(NodeStatus::unchanged));
  EXPECT_FALSE(is_success(NodeStatus::skipped));
  EXPECT_FALSE(is_success(NodeStatus::stale));
  EXPECT_FALSE(is_success(NodeStatus::failed));
}

TEST(FleetNodeStatus, NodeFailCarriesStatusStepAndMessage) {
  NodeResult<int> r = node_fail(NodeStatus::auth, "auth", "{}: refused key {}", "node1", "/k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, NodeStatus::auth);
  EXPECT_EQ(r.error().step, "auth");
  EXPECT_EQ(r.error().message, "node1: refused key /k");
  NodeError relabeled = at_step(r.error(), "upload");
  EXPECT_EQ(relabeled.step, "upload");
  EXPECT_EQ(relabeled.status, NodeStatus::auth);
}

}  // namespace
}  // namespace kf
