// What every inventory format shares once its nodes are read: the ssh_config, the defaults that
// depend on other keys, and the checks across keys and across nodes.
#include <algorithm>
#include <map>
#include <tuple>

#include <boost/filesystem/operations.hpp>

#include "core/hostname.hpp"
#include "inventory/inventory_schema.hpp"
#include "inventory/readers.hpp"
#include "inventory/ssh_config.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

namespace {

std::string lowercase(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return text;
}

unsigned line_of(const Draft& draft, std::string_view key) {
  auto it = draft.lines.find(key);
  return it == draft.lines.end() ? 0u : it->second;
}

// "line 7" (this file), "/home/op/.ssh/config:3" (the ssh_config) or "the default".
std::string where_set(const Draft& draft, std::string_view key) {
  if (unsigned line = line_of(draft, key)) return fmt::format("line {}", line);
  if (auto it = draft.config.origins.find(key); it != draft.config.origins.end()) {
    return it->second;
  }
  return "the default";
}

// The line a message about several keys points at: the latest of them in this file.
unsigned latest_line(const Draft& draft, std::initializer_list<std::string_view> keys) {
  unsigned line = draft.config.line;
  for (auto key : keys) line = std::max(line, line_of(draft, key));
  return line;
}

std::string absolute(const std::string& path) {
  fs::path p(path);
  if (p.is_relative()) {
    boost::system::error_code ec;
    fs::path cwd = fs::current_path(ec);
    if (!ec) p = cwd / p;
  }
  return p.string();
}

Result<std::string> identity_from(const SshSetting& setting, const SshTokens& tokens) {
  auto expanded = ssh_expand_tokens(setting.value, tokens, "hprndu");
  if (!expanded) {
    return fail(ExitCode::usage, "{}: IdentityFile: {}", setting.origin, expanded.error().message);
  }
  std::string path = expand_tilde(*expanded);
  if (auto plain = check_plain(path, false); !plain) {
    return fail(ExitCode::usage, "{}: IdentityFile: {}", setting.origin, plain.error().message);
  }
  return absolute(path);
}

Result<std::string> hostname_from(const SshSetting& setting, std::string_view alias) {
  SshTokens tokens;
  tokens.host = alias;
  auto expanded = ssh_expand_tokens(setting.value, tokens, "h");
  if (!expanded) {
    return fail(ExitCode::usage, "{}: HostName: {}", setting.origin, expanded.error().message);
  }
  if (auto kind = classify_host(*expanded); !kind) {
    return fail(ExitCode::usage, "{}: HostName for '{}': {}", setting.origin, alias,
                kind.error().message);
  }
  return std::move(*expanded);
}

Result<void> resolve_hop(JumpHost& hop, const SshConfig* config) {
  SshHost found = config ? config->lookup(hop.alias) : SshHost{};
  if (found.hostname) {
    KF_TRY_ASSIGN(hop.host, hostname_from(*found.hostname, hop.alias));
  } else if (auto kind = classify_host(hop.host); !kind) {
    return fail(ExitCode::usage, "jump host '{}': {}", hop.alias, kind.error().message);
  }
  if (hop.port == 0 && found.port) hop.port = std::stoi(found.port->value);
  if (hop.port == 0) hop.port = 22;
  if (hop.user.empty() && found.user) hop.user = found.user->value;
  if (hop.user.empty()) hop.user = local_user_name();
  if (found.identity_file) {
    SshTokens tokens{hop.host,  std::to_string(hop.port), hop.user,
                     hop.alias, expand_tilde("~"),        local_user_name()};
    KF_TRY_ASSIGN(hop.identity_file, identity_from(*found.identity_file, tokens));
  }
  return {};
}

// The inventory's own keys win; the ssh_config fills what it left to keyfleet's defaults.
Result<void> apply_ssh_config(Draft& draft, const SshConfig& config) {
  NodeConfig& node = draft.config;
  node.ssh_config = config.path();
  SshHost found = config.lookup(node.alias);
  if (found.hostname) {
    KF_TRY_ASSIGN(node.host, hostname_from(*found.hostname, node.alias));
    node.origins["host"] = found.hostname->origin;
  }
  auto take = [&](const std::optional<SshSetting>& setting, std::string_view key) {
    if (!setting || node.is_set(key)) return false;
    node.origins[std::string(key)] = setting->origin;
    return true;
  };
  if (take(found.port, "port")) node.port = std::stoi(found.port->value);
  if (take(found.user, "user")) node.user = found.user->value;
  if (found.connect_timeout && found.connect_timeout->value != "none" &&
      take(found.connect_timeout, "connect_timeout")) {
    long long seconds = std::stoll(found.connect_timeout->value);
    if (seconds < 1 || seconds > 86400) {
      return fail(ExitCode::usage,
                  "{}: ConnectTimeout for node '{}': {} is out of range (1-86400 seconds)",
                  found.connect_timeout->origin, node.name, seconds);
    }
    node.connect_timeout = static_cast<int>(seconds);
  }
  if (take(found.proxy_jump, "jump")) {
    KF_TRY_ASSIGN(node.jump, parse_jump(found.proxy_jump->value));
  }
  if (take(found.identity_file, "identity_file")) {
    SshTokens tokens{node.host,  std::to_string(node.port), node.user,
                     node.alias, expand_tilde("~"),         local_user_name()};
    KF_TRY_ASSIGN(node.identity_file, identity_from(*found.identity_file, tokens));
  }
  return {};
}

bool looks_numeric(std::string_view host) {
  return std::ranges::all_of(host, [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == ':' || (c >= 'a' && c <= 'f');
  });
}

Result<void> check_host(const Draft& draft, std::string_view origin) {
  const NodeConfig& node = draft.config;
  auto kind = classify_host(node.host);
  if (kind) return {};
  std::string hint;
  if (!looks_numeric(node.host)) hint = "; " + unresolved_host_hint(node);
  return fail_at(origin, line_of(draft, "host"), "'host' in {}: {}{}", draft.section,
                 kind.error().message, hint);
}

// A staging directory inside the key directory would be pruned or installed over, and a key
// directory inside the staging directory would be wiped by cleanup.
bool inside_or_equal(std::string_view path, std::string_view dir) {
  return path == dir ||
         (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

// The directories an install writes: DEST, and with layout "link" DEST.generations beside it,
// where the generations and everything else keyfleet keeps live (keydir/layout.hpp).
std::vector<std::pair<std::string, std::string>> install_dirs(const NodeConfig& node) {
  std::vector<std::pair<std::string, std::string>> dirs{{"'dest'", node.dest}};
  if (node.layout == DestLayout::link) {
    dirs.emplace_back("the generations of 'dest'", node.dest + ".generations");
  }
  return dirs;
}

Result<void> check_staging(const Draft& draft, std::string_view origin) {
  const NodeConfig& node = draft.config;
  for (const auto& [what, dir] : install_dirs(node)) {
    std::string_view relation;
    if (node.staging == dir) {
      relation = "is the same directory as";
    } else if (inside_or_equal(node.staging, dir)) {
      relation = "is inside";
    } else if (inside_or_equal(dir, node.staging)) {
      relation = "contains";
    } else {
      continue;
    }
    return fail_at(origin, latest_line(draft, {"staging", "dest", "layout"}),
                   "node '{}': 'staging' ({}, {}) {} {} ({}, {}): cleanup wipes what push "
                   "staged there and an install replaces the key directory; give them separate "
                   "directories (by default staging is DEST.staging)",
                   node.name, node.staging, where_set(draft, "staging"), relation, what, dir,
                   where_set(draft, "dest"));
  }
  return {};
}

Result<void> check_timeouts(const Draft& draft, std::string_view origin) {
  const NodeConfig& node = draft.config;
  if (node.connect_timeout <= node.timeout) return {};
  return fail_at(origin, latest_line(draft, {"connect_timeout", "timeout"}),
                 "node '{}': 'connect_timeout' ({}, {}) is greater than 'timeout' ({}, {}); "
                 "the connection is part of the whole per-node deadline",
                 node.name, node.connect_timeout, where_set(draft, "connect_timeout"), node.timeout,
                 where_set(draft, "timeout"));
}

// Entries on one host (and port) must not share a key directory or a staging directory, nor use
// one's staging directory as (or around) another's key directory.
Result<void> check_same_host(const std::vector<Draft>& drafts, std::string_view origin) {
  std::map<std::pair<std::string, int>, std::vector<const Draft*>> by_host;
  for (const Draft& draft : drafts) {
    by_host[{lowercase(draft.config.host), draft.config.port}].push_back(&draft);
  }
  for (const auto& [target, entries] : by_host) {
    for (std::size_t j = 1; j < entries.size(); ++j) {
      const Draft& later = *entries[j];
      for (std::size_t i = 0; i < j; ++i) {
        const Draft& earlier = *entries[i];
        if (later.config.dest == earlier.config.dest) {
          return fail_at(origin, latest_line(later, {"host"}),
                         "node '{}' has the same host, port and dest as node '{}' (line {}): "
                         "both would install into one key directory",
                         later.config.name, earlier.config.name, latest_line(earlier, {"host"}));
        }
        for (auto [a, b] : {std::pair{&later, &earlier}, std::pair{&earlier, &later}}) {
          for (const auto& [what, dir] : install_dirs(b->config)) {
            if (inside_or_equal(a->config.staging, dir) ||
                inside_or_equal(dir, a->config.staging)) {
              return fail_at(origin, latest_line(later, {"staging", "dest"}),
                             "node '{}': 'staging' ({}) overlaps {} ({}) of node '{}' on the "
                             "same host: cleanup would wipe it",
                             a->config.name, a->config.staging,
                             what == "'dest'" ? std::string("the 'dest'") : what, dir,
                             b->config.name);
            }
          }
        }
        if (inside_or_equal(later.config.staging, earlier.config.staging) ||
            inside_or_equal(earlier.config.staging, later.config.staging)) {
          return fail_at(origin, latest_line(later, {"staging", "dest", "host"}),
                         "node '{}': 'staging' ({}) overlaps the 'staging' ({}) of node '{}' on "
                         "the same host: one's cleanup would wipe the other's staged copies "
                         "mid-push; give each its own (by default staging is DEST.staging)",
                         later.config.name, later.config.staging, earlier.config.staging,
                         earlier.config.name);
        }
      }
    }
  }
  return {};
}

}  // namespace

Result<std::vector<NodeConfig>> finish_nodes(std::vector<Draft> drafts, std::string_view origin,
                                             const SshConfig* config) {
  std::map<std::string, unsigned, std::less<>> names;  // -> line
  for (Draft& draft : drafts) {
    NodeConfig& node = draft.config;
    unsigned name_line = std::max(line_of(draft, "name"), node.line);
    if (auto [it, fresh] = names.try_emplace(node.name, name_line); !fresh) {
      return fail_at(origin, name_line, "duplicate node name '{}': already used at line {}",
                     node.name, it->second);
    }
    if (node.alias.empty()) node.alias = node.host;
    if (!node.is_set("known_hosts")) node.known_hosts = expand_tilde(node.known_hosts);
    if (config) KF_CHECK(apply_ssh_config(draft, *config));
    KF_CHECK(check_host(draft, origin));
    if (node.probe && node.probe->host.empty()) node.probe->host = node.host;
    for (JumpHost& hop : node.jump) {
      auto resolved = resolve_hop(hop, config);
      if (!resolved) {
        unsigned line = line_of(draft, "jump");
        return fail_at(origin, line ? line : node.line, "node '{}': {} ({})", node.name,
                       resolved.error().message, where_set(draft, "jump"));
      }
    }
    if (!node.is_set("staging")) {
      // With `become`, DEST is root's: the staged bundle stays in the SSH user's own home.
      node.staging = (node.become.empty() ? "" : "~/.cache/keyfleet") + node.dest + ".staging";
    }
    KF_CHECK(check_staging(draft, origin));
    KF_CHECK(check_timeouts(draft, origin));
  }
  KF_CHECK(check_same_host(drafts, origin));
  std::vector<NodeConfig> nodes;
  nodes.reserve(drafts.size());
  for (Draft& draft : drafts) nodes.push_back(std::move(draft.config));
  return nodes;
}

}  // namespace kf::inventory

namespace kf {

std::string unresolved_host_hint(const NodeConfig& node) {
  if (node.ssh_config.empty()) {
    return fmt::format(
        "no ssh_config was read: if '{}' is a Host alias, name its file with --ssh-config FILE "
        "(~/.ssh/config is read only when it exists)",
        node.alias);
  }
  if (node.host != node.alias) {
    auto it = node.origins.find("host");
    return fmt::format("'{}' is the HostName that {} gives for '{}'", node.host,
                       it == node.origins.end() ? node.ssh_config : it->second, node.alias);
  }
  return fmt::format("no Host block with a HostName in {} matches '{}'", node.ssh_config,
                     node.alias);
}

}  // namespace kf
