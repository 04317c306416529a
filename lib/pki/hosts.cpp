#include "pki/hosts.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "core/hostname.hpp"

namespace kf {
namespace {

// What makes two spellings the same subjectAltName entry.
std::string san_key(const std::string& host, HostKind kind) {
  if (kind == HostKind::dns) {
    std::string lower = host;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return "dns:" + lower;
  }
  unsigned char address[16] = {};
  int family = kind == HostKind::ipv4 ? AF_INET : AF_INET6;
  inet_pton(family, host.c_str(), address);
  return std::string(kind == HostKind::ipv4 ? "ip:" : "ip6:") +
         std::string(reinterpret_cast<const char*>(address), kind == HostKind::ipv4 ? 4 : 16);
}

}  // namespace

Result<std::vector<std::string>> normalize_hosts(std::span<const std::string> hosts) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& host : hosts) {
    KF_TRY_ASSIGN(HostKind kind, classify_host(host));
    if (seen.insert(san_key(host, kind)).second) out.push_back(host);
  }
  return out;
}

}  // namespace kf
