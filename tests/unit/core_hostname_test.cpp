#include <gtest/gtest.h>

#include "core/hostname.hpp"

namespace kf {
namespace {

TEST(Hostname, ClassifiesAddressesAndNames) {
  EXPECT_EQ(classify_host("10.0.0.3"), HostKind::ipv4);
  EXPECT_EQ(classify_host("::1"), HostKind::ipv6);
  EXPECT_EQ(classify_host("fe80::1:2"), HostKind::ipv6);
  EXPECT_EQ(classify_host("node1"), HostKind::dns);
  EXPECT_EQ(classify_host("node-1.example.com"), HostKind::dns);
  EXPECT_EQ(classify_host("1node"), HostKind::dns);
}

TEST(Hostname, RejectsInvalidNamesNamingThem) {
  for (std::string_view bad :
       {"", "bad_host!", "a..b", ".a", "a.", "-a", "a-", "10.0.0.300", "node 1", "a/b"}) {
    auto r = classify_host(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ExitCode::usage);
    if (!bad.empty()) {
      EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
  }
  EXPECT_FALSE(classify_host(std::string(64, 'a')));
  EXPECT_FALSE(classify_host(std::string_view("10.0.0.1\0junk", 13)));
}

}  // namespace
}  // namespace kf
