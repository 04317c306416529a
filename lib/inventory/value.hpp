#pragma once

// Internal to the inventory layer: one setting's value as any inventory format gives it, where it
// was written, and a node as far as the readers have built it.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "inventory/inventory.hpp"

namespace kf::inventory {

struct Value {
  enum class Kind { string, integer, array, other };
  Kind kind = Kind::string;
  std::string text;                    // Kind::string
  std::int64_t integer = 0;            // Kind::integer
  std::vector<Value> items;            // Kind::array
  std::string_view type = "a string";  // for "expected X, got Y": "a float", "a table", ...
  unsigned line = 0;
  // From a format without types (Ansible INI, YAML scalars): "22" may be read as an integer and
  // "a, b" or "['a', 'b']" as a list.
  bool untyped = false;
};

inline Value string_value(std::string text, unsigned line, bool untyped = false) {
  Value value;
  value.text = std::move(text);
  value.line = line;
  value.untyped = untyped;
  return value;
}

// Where the value being checked sits, for messages: "inventory.toml:7: 'port' in [[node]] 'a': ..."
struct Where {
  std::string_view origin;
  std::string section;  // "[defaults]", "[[node]] 'web1'", "host 'web1'", "group 'web' vars"
  boost::filesystem::path base_dir;
};

// A node as far as it is built, with the line that last set each key (for checks across keys).
struct Draft {
  NodeConfig config;
  std::string section;  // as in Where, for messages after parsing
  std::map<std::string, unsigned, std::less<>> lines;
};

// "ORIGIN:LINE: MESSAGE" as a usage error.
template <class... Args>
[[nodiscard]] std::unexpected<Error> fail_at(std::string_view origin, unsigned line,
                                             fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error{
      ExitCode::usage,
      fmt::format("{}:{}: {}", origin, line, fmt::format(format, std::forward<Args>(args)...))});
}

// "ORIGIN:LINE: 'KEY' in SECTION: WHY"
[[nodiscard]] std::unexpected<Error> fail_key(const Where& where, const Value& value,
                                              std::string_view key, std::string_view why);

}  // namespace kf::inventory
