// Nodes behind a jump host (inventory `jump`): a real bastion sshd that may forward only to the
// nodes' ports and logs every authentication and channel at DEBUG1.
#include <gtest/gtest.h>

#include <regex>

#include "integration/push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::Fleet;
using test::nodes_of;

std::size_t count_matches(const std::string& text, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<std::size_t>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

std::map<int, std::string> behind(const Fleet& fleet, int port) {
  std::map<int, std::string> extra;
  for (int k = 1; k <= fleet.size(); ++k) {
    extra[k] = "jump = \"" + fleet.node(k).user + "@127.0.0.1:" + std::to_string(port) + "\"";
  }
  return extra;
}

TEST(Jump, EveryNodeThroughOneBastionLoginWithAChannelEach) {
  Fleet fleet(3);
  Bundles bundles(fleet, 1);
  const int port = fleet.start_bastion();
  fs::path inventory = fleet.inventory_with("jump.toml", behind(fleet, port));
  auto pushed = bundles.push(1, inventory);
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto nodes = nodes_of(pushed);
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(nodes["node" + std::to_string(k)]["status"], "ok") << pushed.out;
    EXPECT_EQ(fs::read_symlink(fs::path(fleet.node(k).dest) / "current").string(),
              "generations/000001");
  }
  const std::string log = test::read_text(fleet.bastion_log());
  EXPECT_EQ(count_matches(log, "Accepted publickey for"), 1u) << log;
  for (int k = 1; k <= 3; ++k) {
    const std::string target = "target 127.0.0.1 port " + std::to_string(fleet.node(k).port);
    EXPECT_EQ(count_matches(log, "direct-tcpip.*" + target + "|" + target), 1u)
        << "node" << k << "\n"
        << log;
  }
}

TEST(Jump, AWrongBastionKeyFailsEveryNodeBehindItAndSendsNothing) {
  Fleet fleet(2);
  Bundles bundles(fleet, 1);
  const int port = fleet.start_bastion();
  fs::path inventory = fleet.inventory_with("jump.toml", behind(fleet, port));
  // The bastion's line now holds another key (an impostor's, as node 1's corruption makes one).
  std::string hosts = test::read_text(fleet.known_hosts());
  const std::string prefix = "[127.0.0.1]:" + std::to_string(port) + " ";
  auto at = hosts.find(prefix);
  ASSERT_NE(at, std::string::npos);
  auto end = hosts.find('\n', at);
  const std::string node1_line_prefix = "[127.0.0.1]:" + std::to_string(fleet.node(1).port) + " ";
  auto node1 = hosts.find(node1_line_prefix);
  ASSERT_NE(node1, std::string::npos);
  std::string node1_key = hosts.substr(node1 + node1_line_prefix.size(),
                                       hosts.find('\n', node1) - node1 - node1_line_prefix.size());
  hosts.replace(at, end - at, prefix + node1_key);
  test::write_text(fleet.known_hosts(), hosts, 0644);

  auto before = test::node_trees(fleet);
  auto pushed = bundles.push(1, inventory);
  EXPECT_EQ(pushed.exit_code, 3) << pushed.out << pushed.err;
  auto nodes = nodes_of(pushed);
  for (std::string name : {"node1", "node2"}) {
    EXPECT_EQ(nodes[name]["status"], "hostkey") << pushed.out;
    EXPECT_NE(nodes[name]["error"].get<std::string>().find("jump host 127.0.0.1"),
              std::string::npos)
        << nodes[name];
  }
  EXPECT_EQ(test::node_trees(fleet), before);
  const std::string log = test::read_text(fleet.bastion_log());
  EXPECT_EQ(count_matches(log, "Accepted publickey for"), 0u) << log;
}

}  // namespace
}  // namespace kf
