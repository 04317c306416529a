// Jump chains, as OpenSSH's ProxyJump writes them (readconf.c parse_jump, misc.c
// parse_user_host_port and parse_ssh_uri).
#include <charconv>

#include "inventory/inventory_schema.hpp"

namespace kf::inventory {
namespace {

Result<int> port_of(std::string_view text, std::string_view hop) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port < 1 || port > 65535) {
    return fail(ExitCode::usage, "'{}': the port must be a number from 1 to 65535", hop);
  }
  return port;
}

// [user@]host[:port], [user@][v6-address]:port, or ssh://[user@]host[:port].
Result<JumpHost> parse_hop(std::string_view hop) {
  std::string_view rest = hop;
  if (rest.starts_with("ssh://")) {
    rest.remove_prefix(6);
    if (rest.ends_with('/')) rest.remove_suffix(1);
  }
  JumpHost jump;
  jump.port = 0;  // not given: the ssh_config's Port, else 22
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    jump.user = std::string(rest.substr(0, at));
    rest = rest.substr(at + 1);
    if (jump.user.empty()) return fail(ExitCode::usage, "'{}': empty user name before '@'", hop);
  }
  std::string_view host = rest;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return fail(ExitCode::usage, "'{}': '[' without a closing ']'", hop);
    }
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return fail(ExitCode::usage, "'{}': junk after ']'", hop);
      KF_TRY_ASSIGN(jump.port, port_of(after.substr(1), hop));
    }
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos &&
                                          rest.find(':', colon + 1) == std::string_view::npos) {
    host = rest.substr(0, colon);
    KF_TRY_ASSIGN(jump.port, port_of(rest.substr(colon + 1), hop));
  }
  if (!plausible_host(host)) {
    return fail(ExitCode::usage, "'{}': '{}' is not a host name, address or ssh_config alias", hop,
                host);
  }
  if (jump.user.find_first_of(" \t'`\";&<>|(){}") != std::string::npos) {
    return fail(ExitCode::usage, "'{}': invalid user name '{}'", hop, jump.user);
  }
  jump.alias = std::string(host);
  jump.host = jump.alias;
  return jump;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

Result<std::vector<JumpHost>> parse_jump(std::string_view text) {
  text = trim(text);
  std::vector<JumpHost> hops;
  if (text.size() == 4 && (text[0] | 0x20) == 'n' && (text[1] | 0x20) == 'o' &&
      (text[2] | 0x20) == 'n' && (text[3] | 0x20) == 'e') {
    return hops;
  }
  if (text.empty()) return fail(ExitCode::usage, "empty: write \"none\" for no jump host");
  while (true) {
    auto comma = text.find(',');
    KF_TRY_ASSIGN(auto hop, parse_hop(trim(text.substr(0, comma))));
    hops.push_back(std::move(hop));
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return hops;
}

}  // namespace kf::inventory
