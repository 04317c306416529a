#pragma once

#include <string_view>

#include "core/error.hpp"

namespace kf {

enum class HostKind { dns, ipv4, ipv6 };

// Classifies a node name: an IPv4 or IPv6 literal, or an RFC 1123 host name (labels of letters,
// digits and inner hyphens, 1-63 characters each, 253 in all; a trailing dot is not accepted).
// Anything else is a usage error that names it.
Result<HostKind> classify_host(std::string_view host);

}  // namespace kf
