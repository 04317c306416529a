#include "core/time.hpp"

#include <gtest/gtest.h>

namespace kf {
namespace {

TEST(Time, FormatsAndParsesRfc3339Utc) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339_utc(1795435200), "2026-11-23T12:00:00Z");
  auto parsed = parse_rfc3339_utc("2026-11-23T12:00:00Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, 1795435200);
  EXPECT_EQ(parse_rfc3339_utc(rfc3339_utc(1234567890)).value(), 1234567890);
}

TEST(Time, RejectsAnythingButTheOneShape) {
  for (const char* bad : {"", "2026-11-23", "2026-11-23T12:00:00", "2026-11-23T12:00:00+00:00",
                          "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-32T00:00:00Z",
                          "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01 00:00:00Z",
                          "2026-1-01T00:00:000Z", "+026-01-01T00:00:00Z", "2026-01-01T00:00:0xZ"}) {
    auto parsed = parse_rfc3339_utc(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code, ExitCode::usage) << bad;
    EXPECT_NE(parsed.error().message.find(bad), std::string::npos) << parsed.error().message;
  }
}

}  // namespace
}  // namespace kf
