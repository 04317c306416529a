#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace kf {

// "2026-11-23T09:15:00Z": RFC 3339, UTC, whole seconds.
std::string rfc3339_utc(std::time_t t);
Result<std::time_t> parse_rfc3339_utc(std::string_view text);

}  // namespace kf
