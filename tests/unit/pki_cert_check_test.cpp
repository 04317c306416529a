// Certificates of ca.crt and of a served chain: parsing every one, days left, the server check.
#include "pki/cert_check.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pki/cert.hpp"
#include "pki/key.hpp"

namespace kf {
namespace {

using ::testing::HasSubstr;

constexpr std::time_t kNow = 1'800'000'000;

struct Issued {
  ossl::PkeyPtr ca_key;
  ossl::X509Ptr ca;
  ossl::X509Ptr agent;
};

Issued issue(std::vector<std::string> hosts, int days = 30) {
  Issued out;
  out.ca_key = std::move(*generate_key(KeyType::ec_p256));
  out.ca = std::move(*make_ca_cert(*out.ca_key, {"CA", "", kNow, 3650}));
  auto agent_key = generate_key(KeyType::ec_p256);
  out.agent = std::move(*make_agent_cert(**agent_key, {std::move(hosts), "agent", "", kNow, days},
                                         *out.ca, *out.ca_key));
  return out;
}

std::vector<std::uint8_t> bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

TEST(ParseCertsPem, EveryCertificateInOrder) {
  Issued a = issue({"a.example.com"});
  Issued b = issue({"b.example.com"});
  auto both = parse_certs_pem(bytes(*cert_pem(*a.ca) + *cert_pem(*b.ca)), "ca.crt");
  ASSERT_TRUE(both) << both.error().message;
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ(fingerprint(*(*both)[0]), fingerprint(*a.ca));
  EXPECT_EQ(fingerprint(*(*both)[1]), fingerprint(*b.ca));
  EXPECT_EQ(subject_line(*a.ca), "CN=CA");

  auto empty = parse_certs_pem(bytes("nothing here\n"), "x/ca.crt");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "x/ca.crt: no PEM certificate");
  std::string cut = *cert_pem(*a.ca);
  auto damaged = parse_certs_pem(bytes(cut + cut.substr(0, cut.size() / 2)), "ca.crt");
  ASSERT_FALSE(damaged);
  EXPECT_THAT(damaged.error().message, HasSubstr("a damaged certificate after 1 good one"));
}

TEST(DaysBetween, RoundsDown) {
  EXPECT_EQ(days_between(kNow, kNow + 86400 * 3), 3);
  EXPECT_EQ(days_between(kNow, kNow + 86400 * 3 - 1), 2);
  EXPECT_EQ(days_between(kNow, kNow + 10), 0);
  EXPECT_EQ(days_between(kNow, kNow - 1), -1);
  EXPECT_EQ(days_between(kNow, kNow - 86400), -1);
  EXPECT_EQ(days_between(kNow, kNow - 86401), -2);
}

TEST(CheckServerCertificate, ChainNameAndTime) {
  Issued issued = issue({"node1.example.com", "192.0.2.5"});
  std::vector<ossl::X509Ptr> anchors;
  X509_up_ref(issued.ca.get());
  anchors.emplace_back(issued.ca.get());
  auto check = [&](std::string_view host, std::time_t now = kNow + 60) {
    return check_server_certificate(*issued.agent, {}, anchors, host, now);
  };
  EXPECT_TRUE(check("node1.example.com"));
  EXPECT_TRUE(check("192.0.2.5"));
  auto other = check("node2.example.com");
  ASSERT_FALSE(other);
  EXPECT_THAT(other.error().message, HasSubstr("does not name node2.example.com"));
  EXPECT_FALSE(check("192.0.2.6"));
  auto expired = check("node1.example.com", kNow + 31 * 86400);
  ASSERT_FALSE(expired);
  EXPECT_THAT(expired.error().message, HasSubstr("certificate has expired"));

  Issued stranger = issue({"node1.example.com"});
  auto untrusted =
      check_server_certificate(*stranger.agent, {}, anchors, "node1.example.com", kNow);
  ASSERT_FALSE(untrusted);
  EXPECT_THAT(untrusted.error().message, HasSubstr("does not verify against ca.crt"));
}

}  // namespace
}  // namespace kf
