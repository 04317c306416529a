#pragma once

#include <ctime>
#include <span>
#include <string_view>

#include "core/error.hpp"
#include "pki/ossl.hpp"

namespace kf {

// Whether a TLS server's certificate is what a client holding `anchors` (the installed ca.crt)
// would accept at `now`: `leaf`, with the `intermediates` the server sent after it, chains to one
// of `anchors` for TLS server use, and its subjectAltName names `host` (a DNS name, wildcards as
// RFC 6125 allows, or an IP literal). The error says which check failed and why, in OpenSSL's
// words ("certificate has expired", "unable to get local issuer certificate").
Result<void> check_server_certificate(X509& leaf, std::span<X509* const> intermediates,
                                      std::span<const ossl::X509Ptr> anchors, std::string_view host,
                                      std::time_t now);

}  // namespace kf
