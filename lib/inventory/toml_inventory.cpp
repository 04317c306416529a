// keyfleet's own inventory format: [defaults] and [[node]] tables in TOML.
#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

#include <toml.hpp>

#include "core/suggest.hpp"
#include "inventory/inventory_schema.hpp"
#include "inventory/readers.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

namespace {

// std::map rather than toml11's default unordered_map: iteration order must not depend on hashing.
using Toml = toml::basic_value<toml::discard_comments, std::map, std::vector>;

unsigned line_of(const Toml& value) {
  return value.location().line();
}

// A table's entries ordered by line, so the first error reported is the first in the file.
std::vector<std::pair<const std::string*, const Toml*>> by_line(const Toml& table) {
  std::vector<std::pair<const std::string*, const Toml*>> entries;
  for (const auto& [key, value] : table.as_table()) entries.emplace_back(&key, &value);
  std::ranges::stable_sort(entries, {}, [](const auto& entry) {
    auto location = entry.second->location();
    return std::tuple(location.line(), location.column());
  });
  return entries;
}

std::string_view type_name(const Toml& value) {
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

Value convert(const Toml& toml) {
  Value value;
  value.line = line_of(toml);
  value.type = type_name(toml);
  if (toml.is_string()) {
    value.text = toml.as_string().str;
  } else if (toml.is_integer()) {
    value.kind = Value::Kind::integer;
    value.integer = toml.as_integer();
  } else if (toml.is_array()) {
    value.kind = Value::Kind::array;
    for (const Toml& item : toml.as_array()) value.items.push_back(convert(item));
  } else {
    value.kind = Value::Kind::other;
  }
  return value;
}

// toml11 says "[error] toml::parse_key: an invalid key appeared.\n --> file\n ..."; keep its
// sentence and the excerpt with the caret, drop the parser's internal function name.
std::string describe_toml_error(std::string text) {
  if (text.starts_with("[error] ")) text.erase(0, 8);
  std::size_t colon = text.find(": ");
  if (text.starts_with("toml::") && colon < text.find('\n')) text.erase(0, colon + 2);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Result<Toml> parse_toml(std::string_view text, std::string_view origin) {
  std::istringstream in{std::string(text)};
  try {
    return toml::parse<toml::discard_comments, std::map, std::vector>(in, std::string(origin));
  } catch (const toml::exception& e) {
    return fail_at(origin, e.location().line(), "invalid TOML: {}", describe_toml_error(e.what()));
  } catch (const std::exception& e) {
    return fail(ExitCode::usage, "{}: invalid TOML: {}", origin, e.what());
  }
}

Result<void> apply_table(const Toml& table, const Where& where, bool in_defaults, Draft& draft) {
  for (const auto& [key, toml] : by_line(table)) {
    Value value = convert(*toml);
    const Field* field = find_field(*key);
    if (!field || (field->node_only && in_defaults)) {
      return fail_unknown_key(where, value, *key, in_defaults);
    }
    KF_CHECK(apply_field(*field, value, where, draft));
  }
  return {};
}

std::unexpected<Error> fail_top_level(std::string_view origin, std::string_view key,
                                      const Toml& value) {
  if (find_field(key)) {
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

}  // namespace

Result<std::vector<Draft>> read_toml(std::string_view text, std::string_view origin,
                                     const fs::path& base_dir) {
  KF_TRY_ASSIGN(Toml root, parse_toml(text, origin));

  Draft defaults;
  const Toml* nodes = nullptr;
  // [defaults] may come after the nodes in the file; it applies to all of them either way.
  for (const auto& [key, value] : by_line(root)) {
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

  std::vector<Draft> drafts;
  std::size_t ordinal = 0;
  for (const Toml& table : nodes->as_array()) {
    ++ordinal;
    unsigned line = line_of(table);
    if (!table.is_table()) {
      return fail_at(origin, line, "[[node]] #{}: expected a table, got {}", ordinal,
                     type_name(table));
    }
    Where where{origin, fmt::format("[[node]] #{}", ordinal), base_dir};
    auto name_entry = table.as_table().find("name");
    if (name_entry == table.as_table().end()) {
      return fail_at(origin, line, "[[node]] #{} has no 'name' (required, unique per node)",
                     ordinal);
    }
    KF_TRY_ASSIGN(std::string name, node_name(convert(name_entry->second), where));
    where.section = fmt::format("[[node]] '{}'", name);

    Draft draft = defaults;
    draft.config.line = line;
    draft.section = where.section;
    KF_CHECK(apply_table(table, where, false, draft));
    if (draft.config.host.empty()) {
      return fail_at(
          origin, line,
          "[[node]] '{}' has no 'host' (required: the DNS name or address to connect to)", name);
    }
    drafts.push_back(std::move(draft));
  }
  return drafts;
}

}  // namespace kf::inventory
