#include "core/hostname.hpp"

#include <arpa/inet.h>

#include <string>

namespace kf {

Result<HostKind> classify_host(std::string_view host) {
  // inet_pton stops at a NUL: "10.0.0.1\0junk" must not pass as an address.
  if (host.find('\0') != std::string_view::npos) {
    return fail(ExitCode::usage, "invalid host: it contains a NUL byte");
  }
  std::string s(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return HostKind::ipv4;
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return HostKind::ipv6;
  auto bad = [&](std::string_view why) {
    return fail(ExitCode::usage, "invalid host '{}': {}", host, why);
  };
  if (host.empty()) return bad("empty name");
  if (host.size() > 253) return bad("longer than 253 characters");
  std::size_t start = 0;
  bool all_numeric = true;
  while (start <= host.size()) {
    std::size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    std::string_view label = host.substr(start, dot - start);
    if (label.empty()) return bad("empty label (two dots, or a leading or trailing dot)");
    if (label.size() > 63) return bad("a label is longer than 63 characters");
    if (label.front() == '-' || label.back() == '-') return bad("a label starts or ends with '-'");
    for (char c : label) {
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      bool digit = c >= '0' && c <= '9';
      if (!alpha && !digit && c != '-') {
        return bad(fmt::format("character '{}' is not allowed in a host name", c));
      }
      if (!digit) all_numeric = false;
    }
    start = dot + 1;
  }
  // "10.0.0.300" is neither a valid address nor a name anyone means.
  if (all_numeric) return bad("looks like an IP address but is not a valid one");
  return HostKind::dns;
}

}  // namespace kf
