#pragma once

#include <string>

#include "core/deadline.hpp"
#include "core/fd.hpp"
#include "keydir/node_status.hpp"

namespace kf {

// A non-blocking TCP connection to host:port with TCP_NODELAY, made by the given deadline. Each
// address the name resolves to is tried in turn. Any failure is `unreachable` (step "connect") with
// the reason: refused, no route, unknown host, or no answer in time. `node` names the node in
// messages.
NodeResult<Fd> tcp_connect(const std::string& node, const std::string& host, int port,
                           Deadline deadline);

}  // namespace kf
