// The pattern matcher behind known_hosts; the file-level rules, cross-checked with OpenSSH, are in
// ssh_known_hosts_test.cpp.
#include <gtest/gtest.h>

#include "ssh/host_patterns.hpp"

namespace kf::host_patterns {
namespace {

TEST(HostPatterns, StarAndQuestionMarkAsOpenSshMatchesThem) {
  EXPECT_TRUE(match_pattern("", ""));
  EXPECT_TRUE(match_pattern("", "*"));
  EXPECT_FALSE(match_pattern("", "?"));
  EXPECT_TRUE(match_pattern("node1", "node1"));
  EXPECT_FALSE(match_pattern("node1", "node"));
  EXPECT_FALSE(match_pattern("node", "node1"));
  EXPECT_TRUE(match_pattern("node1", "n*1"));
  EXPECT_TRUE(match_pattern("node1", "*"));
  EXPECT_TRUE(match_pattern("node1", "**node**"));
  EXPECT_TRUE(match_pattern("node1", "node?"));
  EXPECT_FALSE(match_pattern("node12", "node?"));
  EXPECT_TRUE(match_pattern("a.b.example.com", "*.example.com"));
  EXPECT_FALSE(match_pattern("example.com", "*.example.com"));
  EXPECT_TRUE(match_pattern("abcabd", "*abd"));  // needs a backtrack
  EXPECT_TRUE(match_pattern("[10.0.0.7]:2222", "[10.0.0.*]:2222"));
  EXPECT_FALSE(match_pattern("Node1", "node1"));  // match_list lowercases, this does not
}

TEST(HostPatterns, ManyStarsCostPolynomialTime) {
  // Exponential backtracking would not finish this in the test's lifetime.
  std::string name(200, 'a');
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "a*";
  EXPECT_FALSE(match_pattern(name, pattern + "b"));
  EXPECT_TRUE(match_pattern(name, pattern));
}

TEST(HostPatterns, ListsWithNegation) {
  EXPECT_EQ(match_list("node1", "node2,node1"), Match::yes);
  EXPECT_EQ(match_list("node1", "NODE1"), Match::yes);
  EXPECT_EQ(match_list("node1", "node2"), Match::no);
  EXPECT_EQ(match_list("node1", "*,!node1"), Match::negated);
  EXPECT_EQ(match_list("node1", "!node1,*"), Match::negated);
  EXPECT_EQ(match_list("node1", "!node2"), Match::no);
  EXPECT_EQ(match_list("node1", ""), Match::no);
  EXPECT_EQ(match_list("node1", "node1," + std::string(1023, '*')), Match::no);
  EXPECT_EQ(match_list("node1", "node1," + std::string(1022, '*')), Match::yes);
}

}  // namespace
}  // namespace kf::host_patterns
