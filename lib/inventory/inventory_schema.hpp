#pragma once

// Internal to the inventory parser: the keys of [defaults] and [[node]], and how each is checked
// and stored. Only inventory.cpp includes this.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>
#include <toml.hpp>

#include "core/error.hpp"
#include "inventory/inventory.hpp"

namespace kf::inventory {

// std::map rather than toml11's default unordered_map: iteration order must not depend on hashing.
using Value = toml::basic_value<toml::discard_comments, std::map, std::vector>;

// Where the value being checked sits, for messages: "inventory.toml:7: 'port' in [[node]] 'a': ..."
struct Where {
  std::string_view origin;
  std::string section;  // "[defaults]", "[[node]] 'web1'" or "[[node]] #3"
  boost::filesystem::path base_dir;
};

struct Field {
  std::string_view key;
  bool node_only;
  Result<void> (*apply)(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node);
};

const Field* find_field(std::string_view key);

unsigned line_of(const Value& value);

// A table's entries ordered by line, so the first error reported is the first in the file.
std::vector<std::pair<const std::string*, const Value*>> by_line(const Value& table);

// "a string", "an integer", ... for "expected X, got Y".
std::string_view type_name(const Value& value);

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

// The "unknown key" message with a "did you mean" or the list of allowed keys.
[[nodiscard]] std::unexpected<Error> fail_unknown_key(const Where& where, const Value& value,
                                                      std::string_view key, bool in_defaults);

Result<std::string> node_name(const Value& value, const Where& where);

}  // namespace kf::inventory
