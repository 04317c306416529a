#include <gtest/gtest.h>

#include "inventory/selection.hpp"

namespace kf {
namespace {

// node01..node12, web1..web3, db1; groups: web (web*), db (db1), even (even-numbered nodes).
Inventory fleet() {
  std::string text = "[defaults]\ngroups = [\"nodes\"]\n";
  for (int i = 1; i <= 12; ++i) {
    text += fmt::format("[[node]]\nname = \"node{:02}\"\nhost = \"10.0.0.{}\"\n", i, i);
    if (i % 2 == 0) text += "groups = [\"nodes\", \"even\"]\n";
  }
  for (int i = 1; i <= 3; ++i) {
    text +=
        fmt::format("[[node]]\nname = \"web{}\"\nhost = \"10.0.1.{}\"\ngroups = [\"web\"]\n", i, i);
  }
  text += "[[node]]\nname = \"db1\"\nhost = \"10.0.2.1\"\ngroups = [\"db\", \"dc-east\"]\n";
  auto inventory = parse_inventory(text, "fleet.toml");
  EXPECT_TRUE(inventory) << inventory.error().message;
  return inventory ? *inventory : Inventory{};
}

std::vector<std::string> names(std::string_view limit, std::string_view exclude = "") {
  auto selection = select_nodes(fleet(), limit, exclude);
  EXPECT_TRUE(selection) << selection.error().message;
  std::vector<std::string> out;
  if (!selection) return out;
  EXPECT_EQ(selection->total, 16u);
  for (const auto& node : selection->nodes) out.push_back(node.name);
  return out;
}

std::string error_of(std::string_view limit, std::string_view exclude = "") {
  auto selection = select_nodes(fleet(), limit, exclude);
  if (selection) return "selected " + std::to_string(selection->nodes.size());
  EXPECT_EQ(selection.error().code, ExitCode::usage);
  return selection.error().message;
}

using Names = std::vector<std::string>;

TEST(Selection, NoPatternSelectsEveryNodeInInventoryOrder) {
  auto all = names("");
  ASSERT_EQ(all.size(), 16u);
  EXPECT_EQ(all.front(), "node01");
  EXPECT_EQ(all.back(), "db1");
}

TEST(Selection, NamesAreExactAndKeepInventoryOrder) {
  EXPECT_EQ(names("web2,node03"), (Names{"node03", "web2"}));
  EXPECT_EQ(names(" db1 , web1 ,"), (Names{"web1", "db1"}));  // blanks and empty items ignored
}

TEST(Selection, GlobsAreFnmatchPatterns) {
  EXPECT_EQ(names("web*"), (Names{"web1", "web2", "web3"}));
  EXPECT_EQ(names("node1?"), (Names{"node10", "node11", "node12"}));
  EXPECT_EQ(names("web[!1]"), (Names{"web2", "web3"}));
  EXPECT_EQ(names("w[a-e]b[0-2]"), (Names{"web1", "web2"}));  // not only digits: a glob class
}

TEST(Selection, RangesExpandLikePdshAndKeepZeroPadding) {
  EXPECT_EQ(names("node[01-03,08]"), (Names{"node01", "node02", "node03", "node08"}));
  EXPECT_EQ(names("web[1-2]"), (Names{"web1", "web2"}));
  EXPECT_EQ(names("web[1,3]"), (Names{"web1", "web3"}));
  // Digits alone make a range, as in pdsh: web[13] is web13, not the class {1,3}.
  EXPECT_NE(error_of("web[13]").find("'web[13]' matches no node"), std::string::npos);
  EXPECT_EQ(expand_node_ranges("node[01-10]")->size(), 10u);
  EXPECT_EQ(expand_node_ranges("node[08-10]").value(), (Names{"node08", "node09", "node10"}));
  EXPECT_EQ(expand_node_ranges("n[9-11]").value(), (Names{"n9", "n10", "n11"}));
  EXPECT_EQ(expand_node_ranges("rack[1-2]-n[1,3]").value(),
            (Names{"rack1-n1", "rack1-n3", "rack2-n1", "rack2-n3"}));
  EXPECT_EQ(expand_node_ranges("web[ab]").value(), (Names{"web[ab]"}));  // left to fnmatch
  // A range in a glob: every expansion is itself a pattern.
  EXPECT_EQ(names("node[1-1]*"), (Names{"node10", "node11", "node12"}));
}

TEST(Selection, GroupsSelectTheirMembers) {
  EXPECT_EQ(names("@web"), (Names{"web1", "web2", "web3"}));
  EXPECT_EQ(names("@even,@db"),
            (Names{"node02", "node04", "node06", "node08", "node10", "node12", "db1"}));
  EXPECT_EQ(names("@dc-*"), (Names{"db1"}));
  // [defaults] groups applies to nodes without their own list (a node's list replaces it).
  EXPECT_EQ(names("@nodes").size(), 12u);
}

TEST(Selection, ExcludeAndBangLeaveNodesOut) {
  EXPECT_EQ(names("web*", "web2"), (Names{"web1", "web3"}));
  EXPECT_EQ(names("web*,!web2"), (Names{"web1", "web3"}));
  EXPECT_EQ(names("!@nodes,!@even").size(), 4u);  // only exclusions: from every node
  EXPECT_EQ(names("", "node[01-12]"), (Names{"web1", "web2", "web3", "db1"}));
}

TEST(Selection, APatternMatchingNothingIsAUsageErrorNamingIt) {
  EXPECT_EQ(error_of("web1,wbe2"),
            "--limit 'wbe2' matches no node of fleet.toml (did you mean 'web2'?)");
  EXPECT_EQ(error_of("", "node13"),
            "--exclude 'node13' matches no node of fleet.toml (did you mean 'node03'?)");
  EXPECT_EQ(error_of("@wbe"),
            "--limit '@wbe' matches no node of fleet.toml (did you mean '@web'?)");
  EXPECT_NE(error_of("@zzzzzz").find("(groups: "), std::string::npos);
  EXPECT_NE(error_of("nope[1-3]").find("'nope[1-3]' matches no node"), std::string::npos);
  EXPECT_NE(error_of("x*").find("--limit 'x*' matches no node"), std::string::npos);
}

TEST(Selection, BadPatternsAreUsageErrors) {
  EXPECT_NE(error_of("node[3-1]").find("ends before it starts"), std::string::npos);
  EXPECT_NE(error_of("node[1-2-3]").find("not a range"), std::string::npos);
  EXPECT_NE(error_of("node[0-9999999]").find("more than"), std::string::npos);
  EXPECT_NE(error_of("@").find("empty pattern"), std::string::npos);
  EXPECT_NE(error_of("", "!web1").find("'!' means 'leave out' in --limit"), std::string::npos);
  EXPECT_EQ(error_of("web1", "web1"),
            "--limit 'web1' and --exclude 'web1' leave no node of fleet.toml to work on");
}

}  // namespace
}  // namespace kf
