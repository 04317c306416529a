#include <gtest/gtest.h>

#include "cli/inventory_hosts.hpp"
#include "support/test_support.hpp"

namespace kf::cli {
namespace {

using Hosts = std::vector<std::string>;

TEST(InventoryHosts, InventoryHostsFollowTheGivenOnes) {
  auto out = add_inventory_hosts({"given"},
                                 std::string(KEYFLEET_TESTDATA) + "/inventory/three-nodes.toml");
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, (Hosts{"given", "192.0.2.10", "node1.example.com", "agent.example.com",
                         "node2.example.com", "2001:db8::3", "node3.example.com"}));
  auto none = add_inventory_hosts({"given"}, "");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, Hosts{"given"});
}

TEST(InventoryHosts, InventoryErrorsNameTheFileAndLine) {
  test::TempDir dir;
  test::write_text(dir / "fleet.toml", "[[node]]\nname = \"a\"\nhost = \"a\"\ncolour = \"red\"\n");
  auto out = add_inventory_hosts({}, dir / "fleet.toml");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ExitCode::usage);
  EXPECT_NE(out.error().message.find("fleet.toml:4"), std::string::npos) << out.error().message;
  EXPECT_NE(out.error().message.find("colour"), std::string::npos);
  auto missing = add_inventory_hosts({}, dir / "missing.toml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing.toml"), std::string::npos);
}

}  // namespace
}  // namespace kf::cli
