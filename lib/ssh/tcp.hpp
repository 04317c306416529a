#pragma once

#include <string>

#include "core/deadline.hpp"
#include "core/fd.hpp"
#include "keydir/node_status.hpp"

namespace kf {

// A non-blocking TCP connection to host:port with TCP_NODELAY, made by the given deadline (the
// node's connect_timeout). Name resolution is bounded by the same deadline: an address literal
// never reaches the resolver, and a name still unresolved at the deadline fails with "name
// resolution did not finish within connect_timeout (N s)". Each address the name resolves to is
// tried in turn. Any failure is `unreachable` (step "connect") with the reason: refused, no
// route, unknown host, or no answer in time. `node` names the node in messages.
NodeResult<Fd> tcp_connect(const std::string& node, const std::string& host, int port,
                           Deadline deadline);

}  // namespace kf
