#include "core/time.hpp"

#include <cstdio>
#include <string_view>

namespace kf {

std::string rfc3339_utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

// The decimal number in text[pos, pos+width), or -1 when any of it is not a digit.
int digits(std::string_view text, std::size_t pos, std::size_t width) {
  int value = 0;
  for (char c : text.substr(pos, width)) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

Result<std::time_t> parse_rfc3339_utc(std::string_view text) {
  // Exactly YYYY-MM-DDTHH:MM:SSZ, the only form keyfleet writes.
  constexpr std::string_view kShape = "0000-00-00T00:00:00Z";
  bool shaped = text.size() == kShape.size();
  for (std::size_t i = 0; shaped && i < kShape.size(); ++i) {
    if (kShape[i] != '0' && text[i] != kShape[i]) shaped = false;
  }
  std::tm tm{};
  if (shaped) {
    tm.tm_year = digits(text, 0, 4);
    tm.tm_mon = digits(text, 5, 2);
    tm.tm_mday = digits(text, 8, 2);
    tm.tm_hour = digits(text, 11, 2);
    tm.tm_min = digits(text, 14, 2);
    tm.tm_sec = digits(text, 17, 2);
  }
  if (!shaped || tm.tm_year < 0 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
      tm.tm_sec < 0 || tm.tm_sec > 60) {
    return fail(ExitCode::usage, "'{}' is not an RFC 3339 UTC time like 2026-01-31T12:00:00Z",
                text);
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

}  // namespace kf
