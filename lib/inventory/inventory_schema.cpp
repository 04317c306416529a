#include "inventory/inventory_schema.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/hostname.hpp"
#include "core/suggest.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

std::unexpected<Error> fail_key(const Where& where, const Value& value, std::string_view key,
                                std::string_view why) {
  return fail_at(where.origin, value.line, "'{}' in {}: {}", key, where.section, why);
}

Result<void> check_plain(std::string_view text, bool multiline) {
  for (unsigned char c : text) {
    bool allowed = multiline && (c == '\n' || c == '\t');
    if ((c < 0x20 || c == 0x7f) && !allowed) {
      return fail(ExitCode::usage, "control character 0x{:02x} is not allowed", unsigned{c});
    }
  }
  return {};
}

namespace {

// Control characters have no business in names, paths or user names, and would let a value
// rewrite the operator's terminal when echoed; hooks are shell scripts and may span lines.
// A view of value.text.
Result<std::string_view> string_of(const Value& value, std::string_view key, const Where& where,
                                   bool multiline = false) {
  if (value.kind != Value::Kind::string) {
    return fail_key(where, value, key, fmt::format("expected a string, got {}", value.type));
  }
  if (auto plain = check_plain(value.text, multiline); !plain) {
    return fail_key(where, value, key, plain.error().message);
  }
  return value.text;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
}

Result<int> int_of(const Value& value, std::string_view key, const Where& where, int low, int high,
                   std::string_view unit) {
  std::int64_t number = value.integer;
  if (value.kind == Value::Kind::string && value.untyped && all_digits(value.text)) {
    auto [end, ec] =
        std::from_chars(value.text.data(), value.text.data() + value.text.size(), number);
    if (ec != std::errc{}) number = std::int64_t{1} << 62;  // reported as out of range below
  } else if (value.kind != Value::Kind::integer) {
    std::string why = fmt::format("expected an integer, got {}", value.type);
    if (value.kind == Value::Kind::string && all_digits(value.text)) {
      why += fmt::format(" (write {} = {} without quotes)", key, value.text);
    }
    return fail_key(where, value, key, why);
  }
  if (number < low || number > high) {
    return fail_key(where, value, key,
                    fmt::format("{} is out of range ({}-{}{})", number, low, high, unit));
  }
  return static_cast<int>(number);
}

// A list from an untyped format: "a, b", "a b" or a Python/YAML flow list "['a', 'b']".
std::vector<Value> split_untyped_list(const Value& value) {
  std::string_view text = value.text;
  if (text.starts_with('[') && text.ends_with(']')) text = text.substr(1, text.size() - 2);
  std::vector<Value> items;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) items.push_back(string_value(word, value.line, true));
    word.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\t') {
      flush();
    } else if (c != '\'' && c != '"') {
      word += c;
    }
  }
  flush();
  return items;
}

// `what` ("host names", "group names") is for the type error.
Result<std::vector<Value>> items_of(const Value& value, std::string_view key, const Where& where,
                                    std::string_view what) {
  if (value.kind == Value::Kind::array) return value.items;
  if (value.kind == Value::Kind::string && value.untyped) return split_untyped_list(value);
  std::string why = fmt::format("expected an array of {}, got {}", what, value.type);
  if (value.kind == Value::Kind::string) {
    why += fmt::format(" (write {} = [\"{}\"])", key, value.text);
  }
  return fail_key(where, value, key, why);
}

Result<void> apply_user(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view user, string_of(value, key, where));
  if (user.empty()) return fail_key(where, value, key, "must not be empty");
  if (user.contains(' ')) {
    return fail_key(where, value, key, fmt::format("'{}' contains a space", user));
  }
  node.user = user;
  return {};
}

// A user or group on the node, by name or number, as chown(1) takes it.
template <std::string NodeConfig::*member>
Result<void> apply_account(const Value& value, std::string_view key, const Where& where,
                           NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view name, string_of(value, key, where));
  const bool valid = !name.empty() && name.size() <= 32 && name.front() != '-' &&
                     std::ranges::all_of(name, [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                     });
  if (!valid) {
    return fail_key(where, value, key,
                    fmt::format("'{}' is not a user or group name or number: use 1-32 letters, "
                                "digits, '.', '_' or '-', not starting with '-'",
                                name));
  }
  node.*member = name;
  return {};
}

// Interpolated into a shell command line on the node (BECOME sh -c '...'): words of characters no
// shell gives a meaning to, so that what runs is exactly the command and its options as written.
Result<void> apply_become(const Value& value, std::string_view key, const Where& where,
                          NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view text, string_of(value, key, where));
  std::string words;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t space = rest.find(' ');
    std::string_view word = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    if (word.empty()) continue;
    for (char c : word) {
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || std::string_view("_./:=@%+,-").contains(c);
      if (!plain) {
        const auto byte = static_cast<unsigned char>(c);
        std::string what =
            byte < 0x80 ? fmt::format("'{}'", c) : fmt::format("byte 0x{:02x}", byte);
        return fail_key(where, value, key,
                        fmt::format("'{}': {} is not allowed: write a command and its options "
                                    "(e.g. \"sudo -n\"), without quotes or other shell syntax",
                                    text, what));
      }
    }
    words += (words.empty() ? "" : " ") + std::string(word);
  }
  if (words.empty() && !text.empty()) {
    return fail_key(where, value, key,
                    "holds only spaces: write a command (e.g. \"sudo -n\"), or \"\" for none");
  }
  node.become = std::move(words);
  return {};
}

Result<void> apply_port(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(node.port, int_of(value, key, where, 1, 65535, ""));
  return {};
}

// One day: long enough for any hook, short enough that milliseconds still fit an int.
constexpr int kMaxSeconds = 86400;
constexpr int kMaxLockSeconds = 3600;

template <int NodeConfig::*member, int high = kMaxSeconds>
Result<void> apply_seconds(const Value& value, std::string_view key, const Where& where,
                           NodeConfig& node) {
  KF_TRY_ASSIGN(node.*member, int_of(value, key, where, 1, high, " seconds"));
  return {};
}

// Current and the one before it (rollback's target) always stay: never fewer than 2.
Result<void> apply_keep(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(node.keep, int_of(value, key, where, 2, 999999, " generations"));
  return {};
}

Result<void> apply_layout(const Value& value, std::string_view key, const Where& where,
                          NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view text, string_of(value, key, where));
  if (text == "generations") {
    node.layout = DestLayout::generations;
  } else if (text == "link") {
    node.layout = DestLayout::link;
  } else {
    return fail_key(where, value, key,
                    fmt::format("'{}' is not a layout: \"generations\" (DEST/current -> "
                                "DEST/generations/NNNNNN) or \"link\" (DEST -> "
                                "DEST.generations/NNNNNN)",
                                text));
  }
  return {};
}

// rsync patterns, as create-keys --exclude-path takes them.
Result<void> apply_runtime_files(const Value& value, std::string_view key, const Where& where,
                                 NodeConfig& node) {
  KF_TRY_ASSIGN(auto items, items_of(value, key, where, "patterns"));
  std::vector<PathPattern> patterns;
  for (const auto& entry : items) {
    auto which = fmt::format("entry {}: ", patterns.size() + 1);
    if (entry.kind != Value::Kind::string) {
      return fail_key(where, entry, key,
                      fmt::format("{}expected a pattern string, got {}", which, entry.type));
    }
    KF_TRY_ASSIGN(std::string_view text, string_of(entry, key, where));
    auto pattern = PathPattern::parse(text);
    if (!pattern) return fail_key(where, entry, key, which + pattern.error().message);
    patterns.push_back(std::move(*pattern));
  }
  node.runtime_files = std::move(patterns);
  return {};
}

// identity_file and known_hosts are read on this machine, so "~" means our home, and a relative
// path means next to the inventory rather than wherever the operator happens to be.
template <std::string NodeConfig::*member>
Result<void> apply_local_path(const Value& value, std::string_view key, const Where& where,
                              NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view text, string_of(value, key, where));
  if (text.empty()) {
    if constexpr (member == &NodeConfig::identity_file) {
      node.*member = "";  // ssh-agent
      return {};
    }
    return fail_key(where, value, key, "must not be empty");
  }
  if (text.starts_with('~') && text != "~" && !text.starts_with("~/")) {
    return fail_key(
        where, value, key,
        fmt::format("'{}': only '~' and '~/...' are expanded; write the full path", text));
  }
  std::string expanded = expand_tilde(text);
  if (expanded.starts_with('~')) {
    return fail_key(where, value, key,
                    "cannot expand '~': neither $HOME nor the password database names a home "
                    "directory");
  }
  fs::path path(expanded);
  if (path.is_relative() && !where.base_dir.empty()) path = where.base_dir / path;
  node.*member = path.string();
  return {};
}

template <std::string NodeConfig::*member>
Result<void> apply_remote_path(const Value& value, std::string_view key, const Where& where,
                               NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view text, string_of(value, key, where));
  auto normal = normalize_remote_path(text);
  if (!normal) return fail_key(where, value, key, normal.error().message);
  node.*member = std::move(*normal);
  return {};
}

template <std::string NodeConfig::*member>
Result<void> apply_hook(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(node.*member, string_of(value, key, where, true));
  return {};
}

Result<void> apply_name(const Value& value, std::string_view, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(node.name, node_name(value, where));
  return {};
}

// The host may still be an ssh_config alias here; it must be a DNS name or an address once the
// ssh_config is read (checked when the node is finished).
Result<void> apply_host(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  if (value.kind != Value::Kind::string) {
    return fail_key(where, value, key,
                    fmt::format("expected a host name string, got {}", value.type));
  }
  KF_TRY_ASSIGN(std::string_view host, string_of(value, key, where));
  if (!plausible_host(host)) {
    return fail_key(where, value, key,
                    host.empty() ? std::string("must not be empty")
                                 : fmt::format("invalid host '{}': not a host name, address or "
                                               "ssh_config alias",
                                               host));
  }
  node.host = host;
  node.alias = host;
  return {};
}

Result<void> apply_sans(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(auto items, items_of(value, key, where, "host names"));
  std::vector<std::string> sans;
  for (const auto& entry : items) {
    auto which = fmt::format("entry {}: ", sans.size() + 1);
    if (entry.kind != Value::Kind::string) {
      return fail_key(where, entry, key,
                      fmt::format("{}expected a host name string, got {}", which, entry.type));
    }
    KF_TRY_ASSIGN(std::string_view host, string_of(entry, key, where));
    if (auto kind = classify_host(host); !kind) {
      return fail_key(where, entry, key, which + kind.error().message);
    }
    sans.emplace_back(host);
  }
  node.sans = std::move(sans);
  return {};
}

Result<void> apply_groups(const Value& value, std::string_view key, const Where& where,
                          NodeConfig& node) {
  KF_TRY_ASSIGN(auto items, items_of(value, key, where, "group names"));
  std::vector<std::string> groups;
  for (const auto& entry : items) {
    if (entry.kind != Value::Kind::string || !valid_name(entry.text)) {
      std::string shown = entry.kind == Value::Kind::string ? "'" + entry.text + "'" : "";
      return fail_key(
          where, entry, key,
          fmt::format("entry {}: {} is not a valid group name: use 1-253 letters, "
                      "digits, '.', '_', ':' or '-', starting with a letter or digit",
                      groups.size() + 1, shown.empty() ? std::string(entry.type) : shown));
    }
    if (std::ranges::find(groups, entry.text) == groups.end()) groups.push_back(entry.text);
  }
  node.groups = std::move(groups);
  return {};
}

Result<void> apply_jump(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view text, string_of(value, key, where));
  auto hops = parse_jump(text);
  if (!hops) return fail_key(where, value, key, hops.error().message);
  node.jump = std::move(*hops);
  return {};
}

// "HOST:PORT", "[ADDRESS]:PORT" or ":PORT" (the node's own host, filled in once it is resolved).
Result<void> apply_probe(const Value& value, std::string_view key, const Where& where,
                         NodeConfig& node) {
  KF_TRY_ASSIGN(std::string_view text, string_of(value, key, where));
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    std::size_t close = text.find("]:");
    if (close == std::string_view::npos) {
      return fail_key(where, value, key, fmt::format("'{}' is not [ADDRESS]:PORT", text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.substr(0, colon).contains(':')) {
      return fail_key(where, value, key,
                      fmt::format("'{}' is not HOST:PORT (or :PORT for the node's host; an IPv6 "
                                  "address in brackets)",
                                  text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (!host.empty()) {
    if (auto kind = classify_host(host); !kind) {
      return fail_key(where, value, key, kind.error().message);
    }
  }
  int number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number < 1 ||
      number > 65535) {
    return fail_key(where, value, key,
                    fmt::format("'{}': the port must be a number from 1 to 65535", text));
  }
  node.probe = ProbeEndpoint{std::string(host), number};
  return {};
}

constexpr std::array kFields{
    Field{"user", false, apply_user},
    Field{"port", false, apply_port},
    Field{"identity_file", false, apply_local_path<&NodeConfig::identity_file>},
    Field{"known_hosts", false, apply_local_path<&NodeConfig::known_hosts>},
    Field{"dest", false, apply_remote_path<&NodeConfig::dest>},
    Field{"staging", false, apply_remote_path<&NodeConfig::staging>},
    Field{"connect_timeout", false, apply_seconds<&NodeConfig::connect_timeout>},
    Field{"timeout", false, apply_seconds<&NodeConfig::timeout>},
    Field{"lock_timeout", false, apply_seconds<&NodeConfig::lock_timeout, kMaxLockSeconds>},
    Field{"keep", false, apply_keep},
    Field{"layout", false, apply_layout},
    Field{"runtime_files", false, apply_runtime_files},
    Field{"pre", false, apply_hook<&NodeConfig::pre>},
    Field{"post", false, apply_hook<&NodeConfig::post>},
    Field{"check", false, apply_hook<&NodeConfig::check>},
    Field{"owner", false, apply_account<&NodeConfig::owner>},
    Field{"group", false, apply_account<&NodeConfig::group>},
    Field{"become", false, apply_become},
    Field{"groups", false, apply_groups},
    Field{"jump", false, apply_jump},
    Field{"probe", false, apply_probe},
    Field{"name", true, apply_name},
    Field{"host", true, apply_host},
    Field{"sans", true, apply_sans},
};

bool valid_name_char(char c, bool first) {
  bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '.' || c == '_' || c == ':' || c == '-'));
}

}  // namespace

const Field* find_field(std::string_view key) {
  auto it = std::ranges::find(kFields, key, &Field::key);
  return it == kFields.end() ? nullptr : &*it;
}

std::vector<std::string_view> field_names(bool in_defaults) {
  std::vector<std::string_view> names;
  for (const Field& field : kFields) {
    if (!in_defaults || !field.node_only) names.push_back(field.key);
  }
  return names;
}

Result<void> apply_field(const Field& field, const Value& value, const Where& where, Draft& draft,
                         std::string_view written) {
  KF_CHECK(field.apply(value, written.empty() ? field.key : written, where, draft.config));
  draft.lines[std::string(field.key)] = value.line;
  draft.config.origins[std::string(field.key)] = fmt::format("{}:{}", where.origin, value.line);
  return {};
}

// What OpenSSH refuses in a host name (ssh_valid_hostname), and what would break a known_hosts
// line or a message.
bool plausible_host(std::string_view host) {
  if (host.empty() || host.starts_with('-')) return false;
  return std::ranges::none_of(host, [](unsigned char c) {
    return c <= ' ' || c == 0x7f || std::string_view("'`\"$\\;&<>|(){},=#").contains(c);
  });
}

bool valid_name(std::string_view name) {
  bool valid = !name.empty() && name.size() <= 253;
  for (std::size_t i = 0; valid && i < name.size(); ++i) valid = valid_name_char(name[i], i == 0);
  return valid;
}

Result<std::string> node_name(const Value& value, const Where& where) {
  KF_TRY_ASSIGN(std::string_view name, string_of(value, "name", where));
  if (!valid_name(name)) {
    return fail_key(where, value, "name",
                    fmt::format("'{}' is not a valid node name: use 1-253 letters, digits, '.', "
                                "'_', ':' or '-', starting with a letter or digit",
                                name));
  }
  return std::string(name);
}

std::unexpected<Error> fail_unknown_key(const Where& where, const Value& value,
                                        std::string_view key, bool in_defaults) {
  if (const Field* field = find_field(key); field && field->node_only && in_defaults) {
    return fail_at(where.origin, value.line,
                   "'{}' is not allowed in [defaults]: it belongs to one node; set it in each "
                   "[[node]]",
                   key);
  }
  auto allowed = field_names(in_defaults);
  std::string hint;
  if (auto match = closest_match(key, allowed)) {
    hint = fmt::format(" (did you mean '{}'?)", *match);
  } else {
    hint = fmt::format(" (allowed: {})", fmt::join(allowed, ", "));
  }
  return fail_at(where.origin, value.line, "unknown key '{}' in {}{}", key, where.section, hint);
}

// dest and staging are paths on the node: nothing here can know the remote user's home, and
// "." or ".." would hide where keys really go (lexically dropping "b/.." is wrong when b is a
// symlink on the node). Stored as "/a/b" (no repeated or trailing '/').
Result<std::string> normalize_remote_path(std::string_view text) {
  if (auto plain = check_plain(text, false); !plain) return std::unexpected(plain.error());
  if (text.starts_with('~')) {
    return fail(ExitCode::usage,
                "'{}': '~' is not expanded in paths on the node; write the absolute path (e.g. "
                "/home/USER/...)",
                text);
  }
  if (!text.starts_with('/')) {
    return fail(ExitCode::usage, "'{}' is not an absolute path on the node", text);
  }
  std::string normal;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (part.empty()) continue;
    if (part == "." || part == "..") {
      return fail(ExitCode::usage, "'{}': '.' and '..' are not allowed in paths on the node", text);
    }
    normal += '/';
    normal += part;
  }
  if (normal.empty()) return fail(ExitCode::usage, "must not be the root directory '/'");
  return normal;
}

}  // namespace kf::inventory
