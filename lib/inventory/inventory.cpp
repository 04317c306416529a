#include "inventory/inventory.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <tuple>

#include <boost/filesystem/operations.hpp>

#include "core/fd.hpp"
#include "core/suggest.hpp"
#include "inventory/inventory_schema.hpp"

namespace kf {

namespace fs = boost::filesystem;

namespace {

using inventory::fail_at;
using inventory::line_of;
using inventory::Value;
using inventory::Where;

// Far beyond any real fleet (a node takes a few hundred bytes), small enough to hold in memory.
constexpr std::size_t kMaxInventorySize = std::size_t{16} << 20;

// A node as far as it is built, with the line that last set each key (for checks across keys).
struct Draft {
  NodeConfig config;
  std::map<std::string, unsigned, std::less<>> lines;
};

// toml11 says "[error] toml::parse_key: an invalid key appeared.\n --> file\n ..."; keep its
// sentence and the excerpt with the caret, drop the parser's internal function name.
std::string describe_toml_error(std::string text) {
  if (text.starts_with("[error] ")) text.erase(0, 8);
  std::size_t colon = text.find(": ");
  if (text.starts_with("toml::") && colon < text.find('\n')) text.erase(0, colon + 2);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Result<Value> parse_toml(std::string_view text, std::string_view origin) {
  std::istringstream in{std::string(text)};
  try {
    return toml::parse<toml::discard_comments, std::map, std::vector>(in, std::string(origin));
  } catch (const toml::exception& e) {
    return fail_at(origin, e.location().line(), "invalid TOML: {}", describe_toml_error(e.what()));
  } catch (const std::runtime_error& e) {
    return fail(ExitCode::usage, "{}: invalid TOML: {}", origin, e.what());
  }
}

Result<void> apply_table(const Value& table, const Where& where, bool in_defaults, Draft& draft) {
  for (const auto& [key, value] : inventory::by_line(table)) {
    const inventory::Field* field = inventory::find_field(*key);
    if (!field || (field->node_only && in_defaults)) {
      return inventory::fail_unknown_key(where, *value, *key, in_defaults);
    }
    KF_CHECK(field->apply(*value, *key, where, draft.config));
    draft.lines[*key] = line_of(*value);
  }
  return {};
}

std::unexpected<Error> fail_top_level(std::string_view origin, std::string_view key,
                                      const Value& value) {
  if (inventory::find_field(key)) {
    return fail_at(origin, line_of(value),
                   "'{}' is not allowed at the top level: set it in [defaults] or in a [[node]]",
                   key);
  }
  static constexpr std::string_view kTopLevel[] = {"defaults", "node"};
  std::string hint;
  if (auto match = closest_match(key, kTopLevel))
    hint = fmt::format(" (did you mean '{}'?)", *match);
  return fail_at(origin, line_of(value),
                 "unknown key '{}' at the top level{}: only [defaults] and [[node]] are allowed",
                 key, hint);
}

std::string lowercase(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return text;
}

// Two entries for one key directory would race each other during a push.
using Target = std::tuple<std::string, int, std::string>;
struct Seen {
  std::string name;
  unsigned line;
};

Result<void> check_node(const Draft& draft, std::string_view origin,
                        std::map<Target, Seen>& targets) {
  const NodeConfig& node = draft.config;
  auto set_at = [&](std::string_view key) {
    auto it = draft.lines.find(key);
    return it == draft.lines.end() ? 0u : it->second;
  };
  auto where_set = [&](std::string_view key) {
    unsigned line = set_at(key);
    return line ? fmt::format("line {}", line) : std::string("the default");
  };
  if (node.connect_timeout > node.timeout) {
    unsigned line = std::max({set_at("connect_timeout"), set_at("timeout"), node.line});
    return fail_at(origin, line,
                   "node '{}': 'connect_timeout' ({}, {}) is greater than 'timeout' ({}, {}); "
                   "the connection is part of the whole per-node deadline",
                   node.name, node.connect_timeout, where_set("connect_timeout"), node.timeout,
                   where_set("timeout"));
  }
  Target target{lowercase(node.host), node.port, node.dest};
  if (auto [it, fresh] = targets.try_emplace(target, Seen{node.name, set_at("host")}); !fresh) {
    return fail_at(origin, set_at("host"),
                   "node '{}' has the same host, port and dest as node '{}' (line {}): both "
                   "would install into one key directory",
                   node.name, it->second.name, it->second.line);
  }
  return {};
}

Result<std::string> read_inventory_file(const fs::path& path) {
  auto what = fmt::format("cannot read inventory {}", path.string());
  // Not O_NOFOLLOW: inventories are often symlinks into configuration management; pipes such as
  // <(generate-inventory) work too.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(ExitCode::usage, what);
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(ExitCode::usage, what);
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxInventorySize) {
      return fail(ExitCode::usage, "{}: larger than the limit of {} bytes", what,
                  kMaxInventorySize);
    }
  }
  return text;
}

std::string home_directory() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found &&
      found->pw_dir && *found->pw_dir) {
    return found->pw_dir;
  }
  return {};
}

}  // namespace

std::string expand_tilde(std::string_view path) {
  if (path != "~" && !path.starts_with("~/")) return std::string(path);
  std::string home = home_directory();
  if (home.empty()) return std::string(path);
  while (home.size() > 1 && home.ends_with('/')) home.pop_back();
  std::string_view rest = path.substr(1);  // "" or "/..."
  if (home == "/" && !rest.empty()) return std::string(rest);
  return home + std::string(rest);
}

Result<Inventory> parse_inventory(std::string_view text, std::string_view origin,
                                  const fs::path& base_dir) {
  Value root = KF_TRY(parse_toml(text, origin));

  Draft defaults;
  defaults.config.known_hosts = expand_tilde(defaults.config.known_hosts);
  const Value* nodes = nullptr;
  // [defaults] may come after the nodes in the file; it applies to all of them either way.
  for (const auto& [key, value] : inventory::by_line(root)) {
    if (*key == "defaults") {
      if (!value->is_table()) {
        return fail_at(origin, line_of(*value), "'defaults' must be a table: write [defaults]{}",
                       value->is_array() ? ", not [[defaults]]" : "");
      }
      KF_CHECK(apply_table(*value, Where{origin, "[defaults]", base_dir}, true, defaults));
    } else if (*key == "node") {
      if (!value->is_array()) {
        return fail_at(origin, line_of(*value),
                       "'node' must be an array of tables: write each node as [[node]]{}",
                       value->is_table() ? ", not [node]" : "");
      }
      nodes = value;
    } else {
      return fail_top_level(origin, *key, *value);
    }
  }
  if (!nodes) return fail(ExitCode::usage, "{}: no [[node]]: the inventory lists no nodes", origin);
  if (nodes->as_array().empty()) {
    return fail_at(origin, line_of(*nodes), "'node' is empty: the inventory lists no nodes");
  }

  Inventory inventory{std::string(origin), {}};
  std::map<std::string, unsigned, std::less<>> names;  // -> line
  std::map<Target, Seen> targets;
  std::size_t ordinal = 0;
  for (const Value& table : nodes->as_array()) {
    ++ordinal;
    unsigned line = line_of(table);
    if (!table.is_table()) {
      return fail_at(origin, line, "[[node]] #{}: expected a table, got {}", ordinal,
                     inventory::type_name(table));
    }
    Where where{origin, fmt::format("[[node]] #{}", ordinal), base_dir};
    auto name_entry = table.as_table().find("name");
    if (name_entry == table.as_table().end()) {
      return fail_at(origin, line, "[[node]] #{} has no 'name' (required, unique per node)",
                     ordinal);
    }
    std::string name = KF_TRY(inventory::node_name(name_entry->second, where));
    unsigned name_line = line_of(name_entry->second);
    if (auto [it, fresh] = names.try_emplace(name, name_line); !fresh) {
      return fail_at(origin, name_line, "duplicate node name '{}': already used at line {}", name,
                     it->second);
    }
    where.section = fmt::format("[[node]] '{}'", name);

    Draft draft = defaults;
    draft.config.line = line;
    KF_CHECK(apply_table(table, where, false, draft));
    if (draft.config.host.empty()) {
      return fail_at(
          origin, line,
          "[[node]] '{}' has no 'host' (required: the DNS name or address to connect to)", name);
    }
    KF_CHECK(check_node(draft, origin, targets));
    inventory.nodes.push_back(std::move(draft.config));
  }
  return inventory;
}

Result<Inventory> load_inventory(const fs::path& path) {
  std::string text = KF_TRY(read_inventory_file(path));
  fs::path base = path.parent_path();
  if (base.is_relative()) {
    boost::system::error_code ec;
    fs::path cwd = fs::current_path(ec);
    if (!ec) base = base.empty() ? cwd : cwd / base;
  }
  return parse_inventory(text, path.string(), base);
}

std::vector<std::string> certificate_hosts(const Inventory& inventory) {
  std::vector<std::string> hosts;
  std::set<std::string> seen;
  auto add = [&](const std::string& host) {
    if (seen.insert(lowercase(host)).second) hosts.push_back(host);
  };
  for (const NodeConfig& node : inventory.nodes) {
    add(node.host);
    std::ranges::for_each(node.sans, add);
  }
  return hosts;
}

}  // namespace kf
