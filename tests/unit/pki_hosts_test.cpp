#include <gtest/gtest.h>

#include "pki/hosts.hpp"

namespace kf {
namespace {

using Hosts = std::vector<std::string>;

TEST(Hosts, KeepsOrderAndFirstSpellingAndDropsRepeats) {
  Hosts in{"node1", "10.0.0.3", "NODE1", "node2.example.com", "::1", "0:0::1", "10.0.0.3", "node2"};
  auto out = normalize_hosts(in);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, (Hosts{"node1", "10.0.0.3", "node2.example.com", "::1", "node2"}));
}

TEST(Hosts, AnAddressAndANameThatLookAlikeAreDifferentEntries) {
  // "::a" is an address; "a" a name: both stay.
  auto out = normalize_hosts(Hosts{"a", "::a"});
  ASSERT_TRUE(out);
  EXPECT_EQ(out->size(), 2u);
}

TEST(Hosts, ABadHostIsAUsageErrorThatNamesIt) {
  auto out = normalize_hosts(Hosts{"node1", "bad_host!", "node2"});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ExitCode::usage);
  EXPECT_NE(out.error().message.find("'bad_host!'"), std::string::npos) << out.error().message;
  for (const char* bad : {"", "node1.", "10.0.0.300", "-node", "fe80::1%eth0"}) {
    auto r = normalize_hosts(Hosts{bad});
    EXPECT_FALSE(r) << bad;
  }
}

TEST(Hosts, EmptyInputGivesNoHosts) {
  auto out = normalize_hosts(Hosts{});
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->empty());
}

}  // namespace
}  // namespace kf
