// Ansible's YAML inventory (ansible/plugins/inventory/yaml.py): groups at the top, each with
// `hosts`, `vars` and `children` (groups again); hosts map to their variables.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/suggest.hpp"
#include "inventory/ansible.hpp"
#include "inventory/readers.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

namespace {

unsigned line_of(const YAML::Node& node) {
  return static_cast<unsigned>(node.Mark().line + 1);
}

std::string_view type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a string";
  }
}

Value convert(const YAML::Node& node, unsigned line) {
  Value value;
  value.line = node.Mark().is_null() ? line : line_of(node);
  value.type = type_name(node);
  value.untyped = true;
  if (node.IsScalar()) {
    value.text = node.Scalar();
  } else if (node.IsSequence()) {
    value.kind = Value::Kind::array;
    for (const YAML::Node& item : node) value.items.push_back(convert(item, value.line));
  } else {
    value.kind = Value::Kind::other;
  }
  return value;
}

class Reader {
 public:
  Reader(std::string_view origin, AnsibleInventory& inventory)
      : origin_(origin), inventory_(inventory) {}

  Result<void> group(const std::string& name, const YAML::Node& body, unsigned line,
                     const std::string& path, int depth);

 private:
  template <class... Args>
  std::unexpected<Error> fail_node(unsigned line, const std::string& path,
                                   fmt::format_string<Args...> format, Args&&... args) {
    return fail(ExitCode::usage, "{}:{}: {}: {}", origin_, line, path,
                fmt::format(format, std::forward<Args>(args)...));
  }

  Result<std::vector<AnsibleVar>> vars(const YAML::Node& map, const std::string& path);

  std::string_view origin_;
  AnsibleInventory& inventory_;
};

Result<std::vector<AnsibleVar>> Reader::vars(const YAML::Node& map, const std::string& path) {
  std::vector<AnsibleVar> out;
  if (map.IsNull()) return out;
  if (!map.IsMap()) {
    return fail_node(line_of(map), path, "expected a mapping of variables, got {}", type_name(map));
  }
  for (const auto& entry : map) {
    unsigned line = line_of(entry.first);
    out.push_back({entry.first.Scalar(), convert(entry.second, line)});
  }
  return out;
}

Result<void> Reader::group(const std::string& name, const YAML::Node& body, unsigned line,
                           const std::string& path, int depth) {
  if (depth > 64) return fail_node(line, path, "groups nested deeper than 64");
  inventory_.group(name, line);
  if (body.IsNull()) return {};
  if (!body.IsMap()) {
    return fail_node(line, path, "expected a mapping with hosts, vars or children, got {}",
                     type_name(body));
  }
  for (const auto& entry : body) {
    std::string key = entry.first.Scalar();
    unsigned key_line = line_of(entry.first);
    std::string at = fmt::format("{}.{}", path, key);
    const YAML::Node& value = entry.second;
    if (key == "vars") {
      KF_TRY_ASSIGN(auto vars, this->vars(value, at));
      auto& list = inventory_.group(name, line).vars;
      list.insert(list.end(), vars.begin(), vars.end());
    } else if (key == "hosts") {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        return fail_node(key_line, at, "expected a mapping of host names, got {}{}",
                         type_name(value), value.IsSequence() ? " (write 'host:' lines)" : "");
      }
      for (const auto& host : value) {
        std::string pattern = host.first.Scalar();
        unsigned host_line = line_of(host.first);
        auto names = expand_ansible_ranges(pattern);
        if (!names) return fail_node(host_line, at, "host {}", names.error().message);
        KF_TRY_ASSIGN(auto vars, this->vars(host.second, fmt::format("{}.{}", at, pattern)));
        for (const std::string& host_name : *names) {
          AnsibleHost& added = inventory_.add_host(name, host_name, host_line);
          added.vars.insert(added.vars.end(), vars.begin(), vars.end());
        }
      }
    } else if (key == "children") {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        return fail_node(key_line, at, "expected a mapping of groups, got {}", type_name(value));
      }
      for (const auto& child : value) {
        std::string child_name = child.first.Scalar();
        auto& children = inventory_.group(name, line).children;
        if (std::ranges::find(children, child_name) == children.end()) {
          children.push_back(child_name);
        }
        KF_CHECK(group(child_name, child.second, line_of(child.first),
                       fmt::format("{}.{}", at, child_name), depth + 1));
      }
    } else {
      static constexpr std::string_view kKeys[] = {"hosts", "vars", "children"};
      std::string hint;
      if (auto match = closest_match(key, kKeys))
        hint = fmt::format(" (did you mean '{}'?)", *match);
      return fail_node(key_line, path,
                       "unknown key '{}'{}: a group has only 'hosts', 'vars' and 'children'", key,
                       hint);
    }
  }
  return {};
}

}  // namespace

Result<std::vector<Draft>> read_ansible_yaml(std::string_view text, std::string_view origin,
                                             const fs::path& base_dir) {
  AnsibleInventory inventory;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap()) {
      return fail(ExitCode::usage,
                  "{}: expected a YAML mapping of groups (all:, webservers:, ...), got {}", origin,
                  type_name(root));
    }
    Reader reader(origin, inventory);
    for (const auto& entry : root) {
      std::string name = entry.first.Scalar();
      KF_CHECK(reader.group(name, entry.second, line_of(entry.first), name, 0));
    }
  } catch (const YAML::Exception& e) {
    return fail(ExitCode::usage, "{}:{}: invalid YAML: {}", origin, e.mark.line + 1, e.msg);
  }
  return inventory.drafts(origin, base_dir);
}

}  // namespace kf::inventory
