// The inventory's `probe` key: TOML and Ansible, the node's host by default.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inventory/inventory.hpp"

namespace kf {
namespace {

using ::testing::HasSubstr;

Result<Inventory> parse(const std::string& text, const std::string& origin = "inv.toml") {
  return parse_inventory(text, origin, "/base");
}

TEST(InventoryProbe, HostPortAndTheNodesOwnHost) {
  auto inventory = parse(
      "[defaults]\nprobe = \":8443\"\n"
      "[[node]]\nname = \"a\"\nhost = \"a.example.com\"\n"
      "[[node]]\nname = \"b\"\nhost = \"192.0.2.7\"\nprobe = \"agent.example.com:443\"\n"
      "[[node]]\nname = \"c\"\nhost = \"c.example.com\"\nprobe = \"[2001:db8::3]:9000\"\n");
  ASSERT_TRUE(inventory) << inventory.error().message;
  ASSERT_EQ(inventory->nodes.size(), 3u);
  ASSERT_TRUE(inventory->nodes[0].probe);
  EXPECT_EQ(inventory->nodes[0].probe->host, "a.example.com");
  EXPECT_EQ(inventory->nodes[0].probe->port, 8443);
  EXPECT_EQ(inventory->nodes[1].probe->host, "agent.example.com");
  EXPECT_EQ(inventory->nodes[1].probe->port, 443);
  EXPECT_EQ(inventory->nodes[2].probe->host, "2001:db8::3");
  EXPECT_EQ(inventory->nodes[2].probe->port, 9000);
  EXPECT_EQ(inventory->nodes[1].origins.at("probe"), "inv.toml:9");

  auto none = parse("[[node]]\nname = \"a\"\nhost = \"a.example.com\"\n");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->nodes[0].probe);
}

TEST(InventoryProbe, AnsibleVariable) {
  auto inventory = parse("web1 ansible_host=192.0.2.1 keyfleet_probe=:8443\n", "hosts.ini");
  ASSERT_TRUE(inventory) << inventory.error().message;
  ASSERT_TRUE(inventory->nodes[0].probe);
  EXPECT_EQ(inventory->nodes[0].probe->host, "192.0.2.1");
  EXPECT_EQ(inventory->nodes[0].probe->port, 8443);
}

TEST(InventoryProbe, BadValuesNameTheKeyAndLine) {
  for (const char* bad : {"\"8443\"", "\"host:\"", "\"host:70000\"", "\"host:80x\"",
                          "\"2001:db8::1:443\"", "\"[::1]443\"", "\"bad host:443\"", "443"}) {
    auto inventory = parse(
        std::string("[[node]]\nname = \"a\"\nhost = \"a.example.com\"\nprobe = ") + bad + "\n");
    ASSERT_FALSE(inventory) << bad;
    EXPECT_EQ(inventory.error().code, ExitCode::usage);
    EXPECT_THAT(inventory.error().message, HasSubstr("inv.toml:4: 'probe'")) << bad;
  }
}

}  // namespace
}  // namespace kf
