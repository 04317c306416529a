#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace kf {

// Validates every host (RFC 1123 name or IP literal; a bad one is a usage error naming it) and
// drops repeats, keeping the first spelling and the order given. Repeats are expected, not
// mistakes: an inventory's node names and their sans overlap, and --host/--hosts combine with it.
// DNS names compare case-insensitively and addresses by value ("::1" and "0::1" are one SAN).
Result<std::vector<std::string>> normalize_hosts(std::span<const std::string> hosts);

}  // namespace kf
