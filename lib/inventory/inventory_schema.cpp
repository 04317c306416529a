#include "inventory/inventory_schema.hpp"

#include <algorithm>
#include <array>
#include <tuple>

#include "core/hostname.hpp"
#include "core/suggest.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

unsigned line_of(const Value& value) {
  return value.location().line();
}

std::vector<std::pair<const std::string*, const Value*>> by_line(const Value& table) {
  std::vector<std::pair<const std::string*, const Value*>> entries;
  for (const auto& [key, value] : table.as_table()) entries.emplace_back(&key, &value);
  std::ranges::stable_sort(entries, {}, [](const auto& entry) {
    auto location = entry.second->location();
    return std::tuple(location.line(), location.column());
  });
  return entries;
}

std::string_view type_name(const Value& value) {
  switch (value.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date or time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      break;
  }
  return "nothing";
}

std::unexpected<Error> fail_key(const Where& where, const Value& value, std::string_view key,
                                std::string_view why) {
  return fail_at(where.origin, line_of(value), "'{}' in {}: {}", key, where.section, why);
}

namespace {

// Control characters have no business in names, paths or user names, and would let a value
// rewrite the operator's terminal when echoed; hooks are shell scripts and may span lines.
Result<std::string> string_of(const Value& value, std::string_view key, const Where& where,
                              bool multiline = false) {
  if (!value.is_string()) {
    return fail_key(where, value, key, fmt::format("expected a string, got {}", type_name(value)));
  }
  const std::string& text = value.as_string().str;
  for (unsigned char c : text) {
    bool allowed = multiline && (c == '\n' || c == '\t');
    if ((c < 0x20 || c == 0x7f) && !allowed) {
      return fail_key(where, value, key,
                      fmt::format("control character 0x{:02x} is not allowed", unsigned{c}));
    }
  }
  return text;
}

Result<int> int_of(const Value& value, std::string_view key, const Where& where, int low, int high,
                   std::string_view unit) {
  if (!value.is_integer()) {
    std::string why = fmt::format("expected an integer, got {}", type_name(value));
    if (value.is_string()) {
      const std::string& text = value.as_string().str;
      if (!text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; })) {
        why += fmt::format(" (write {} = {} without quotes)", key, text);
      }
    }
    return fail_key(where, value, key, why);
  }
  auto number = value.as_integer();
  if (number < low || number > high) {
    return fail_key(where, value, key,
                    fmt::format("{} is out of range ({}-{}{})", number, low, high, unit));
  }
  return static_cast<int>(number);
}

Result<void> apply_user(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  auto user = KF_TRY(string_of(value, key, where));
  if (user.empty()) return fail_key(where, value, key, "must not be empty");
  if (user.find(' ') != std::string::npos) {
    return fail_key(where, value, key, fmt::format("'{}' contains a space", user));
  }
  node.user = std::move(user);
  return {};
}

Result<void> apply_port(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  node.port = KF_TRY(int_of(value, key, where, 1, 65535, ""));
  return {};
}

// One day: long enough for any hook, short enough that milliseconds still fit an int.
constexpr int kMaxSeconds = 86400;

template <int NodeConfig::*member>
Result<void> apply_seconds(const Value& value, std::string_view key, const Where& where,
                           NodeConfig& node) {
  node.*member = KF_TRY(int_of(value, key, where, 1, kMaxSeconds, " seconds"));
  return {};
}

// identity_file and known_hosts are read on this machine, so "~" means our home, and a relative
// path means next to the inventory rather than wherever the operator happens to be.
template <std::string NodeConfig::*member>
Result<void> apply_local_path(const Value& value, std::string_view key, const Where& where,
                              NodeConfig& node) {
  auto text = KF_TRY(string_of(value, key, where));
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

// dest and staging are paths on the node: nothing here can know the remote user's home, and
// "." or ".." would hide where keys really go. Stored as "/a/b" (no repeated or trailing '/').
template <std::string NodeConfig::*member>
Result<void> apply_remote_path(const Value& value, std::string_view key, const Where& where,
                               NodeConfig& node) {
  auto text = KF_TRY(string_of(value, key, where));
  if (text.starts_with('~')) {
    return fail_key(where, value, key,
                    fmt::format("'{}': '~' is not expanded in paths on the node; write the "
                                "absolute path (e.g. /home/USER/...)",
                                text));
  }
  if (!text.starts_with('/')) {
    return fail_key(where, value, key,
                    fmt::format("'{}' is not an absolute path on the node", text));
  }
  std::string normal;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (part.empty()) continue;
    if (part == "." || part == "..") {
      return fail_key(where, value, key,
                      fmt::format("'{}': '.' and '..' are not allowed in paths on the node", text));
    }
    normal += '/';
    normal += part;
  }
  if (normal.empty()) return fail_key(where, value, key, "must not be the root directory '/'");
  node.*member = std::move(normal);
  return {};
}

template <std::string NodeConfig::*member>
Result<void> apply_hook(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  node.*member = KF_TRY(string_of(value, key, where, true));
  return {};
}

Result<void> apply_name(const Value& value, std::string_view, const Where& where,
                        NodeConfig& node) {
  node.name = KF_TRY(node_name(value, where));
  return {};
}

// `entry` ("entry 2: ") says which element of sans is meant.
Result<std::string> host_of(const Value& value, std::string_view key, const Where& where,
                            std::string_view entry = "") {
  if (!value.is_string()) {
    return fail_key(where, value, key,
                    fmt::format("{}expected a host name string, got {}", entry, type_name(value)));
  }
  // Rejects NUL first: classify_host sees a C string, so "10.0.0.1\0junk" would pass as an address.
  auto host = KF_TRY(string_of(value, key, where));
  if (auto kind = classify_host(host); !kind) {
    return fail_key(where, value, key, fmt::format("{}{}", entry, kind.error().message));
  }
  return host;
}

Result<void> apply_host(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  node.host = KF_TRY(host_of(value, key, where));
  return {};
}

Result<void> apply_sans(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node) {
  if (!value.is_array()) {
    std::string why = fmt::format("expected an array of host names, got {}", type_name(value));
    if (value.is_string()) why += fmt::format(" (write sans = [\"{}\"])", value.as_string().str);
    return fail_key(where, value, key, why);
  }
  std::vector<std::string> sans;
  for (const auto& entry : value.as_array()) {
    auto which = fmt::format("entry {}: ", sans.size() + 1);
    sans.push_back(KF_TRY(host_of(entry, key, where, which)));
  }
  node.sans = std::move(sans);
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
    Field{"lock_timeout", false, apply_seconds<&NodeConfig::lock_timeout>},
    Field{"pre", false, apply_hook<&NodeConfig::pre>},
    Field{"post", false, apply_hook<&NodeConfig::post>},
    Field{"check", false, apply_hook<&NodeConfig::check>},
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

// Names show up in terminals, JSON, log lines and file names: keep them plain.
Result<std::string> node_name(const Value& value, const Where& where) {
  auto name = KF_TRY(string_of(value, "name", where));
  bool valid = !name.empty() && name.size() <= 253;
  for (std::size_t i = 0; valid && i < name.size(); ++i) valid = valid_name_char(name[i], i == 0);
  if (!valid) {
    return fail_key(where, value, "name",
                    fmt::format("'{}' is not a valid node name: use 1-253 letters, digits, '.', "
                                "'_', ':' or '-', starting with a letter or digit",
                                name));
  }
  return name;
}

std::unexpected<Error> fail_unknown_key(const Where& where, const Value& value,
                                        std::string_view key, bool in_defaults) {
  if (const Field* field = find_field(key); field && field->node_only && in_defaults) {
    return fail_at(where.origin, line_of(value),
                   "'{}' is not allowed in [defaults]: it belongs to one node; set it in each "
                   "[[node]]",
                   key);
  }
  std::vector<std::string_view> allowed;
  for (const Field& field : kFields) {
    if (!in_defaults || !field.node_only) allowed.push_back(field.key);
  }
  std::string hint;
  if (auto match = closest_match(key, allowed)) {
    hint = fmt::format(" (did you mean '{}'?)", *match);
  } else {
    hint = fmt::format(" (allowed: {})", fmt::join(allowed, ", "));
  }
  return fail_at(where.origin, line_of(value), "unknown key '{}' in {}{}", key, where.section,
                 hint);
}

}  // namespace kf::inventory
