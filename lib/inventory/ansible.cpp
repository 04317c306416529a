#include "inventory/ansible.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <set>

#include "core/suggest.hpp"
#include "inventory/inventory_schema.hpp"
#include "inventory/readers.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

namespace {

// Ansible's connection variables that say what keyfleet's keys say; other ansible_* variables
// (become, python, ssh args...) mean nothing here and are ignored.
constexpr std::pair<std::string_view, std::string_view> kAnsibleKeys[] = {
    {"ansible_host", "host"},
    {"ansible_ssh_host", "host"},
    {"ansible_port", "port"},
    {"ansible_ssh_port", "port"},
    {"ansible_user", "user"},
    {"ansible_ssh_user", "user"},
    {"ansible_ssh_private_key_file", "identity_file"},
    {"ansible_private_key_file", "identity_file"},
};
constexpr std::string_view kPrefix = "keyfleet_";

std::unexpected<Error> fail_unknown_var(const AnsibleVar& var, const Where& where) {
  std::vector<std::string> names;
  for (auto key : field_names(false)) names.push_back(fmt::format("{}{}", kPrefix, key));
  std::vector<std::string_view> views(names.begin(), names.end());
  std::string hint;
  if (auto match = closest_match(var.name, views)) {
    hint = fmt::format(" (did you mean '{}'?)", *match);
  } else {
    hint = fmt::format(" (keyfleet's variables: {})", fmt::join(names, ", "));
  }
  return fail_at(where.origin, var.value.line, "unknown variable '{}' in {}{}", var.name,
                 where.section, hint);
}

// Applies one variable if it is keyfleet's business; `in_group`: node-only keys are refused.
Result<void> apply_var(const AnsibleVar& var, const Where& where, bool in_group, Draft& draft) {
  std::string_view key;
  for (auto [ansible, ours] : kAnsibleKeys) {
    if (var.name == ansible) key = ours;
  }
  if (key.empty() && var.name.starts_with(kPrefix)) {
    key = std::string_view(var.name).substr(kPrefix.size());
    if (!find_field(key)) return fail_unknown_var(var, where);
  }
  if (key.empty()) return {};
  const Field* field = find_field(key);
  if (field->node_only && in_group && var.name.starts_with(kPrefix)) {
    return fail_at(where.origin, var.value.line,
                   "'{}' is not allowed in {}: it belongs to one host; set it as a host variable",
                   var.name, where.section);
  }
  return apply_field(*field, var.value, where, draft, var.name);
}

std::string group_section(std::string_view name) {
  return fmt::format("the vars of group '{}'", name);
}

Result<void> expand_one(std::string_view pattern, std::vector<std::string>& out);

}  // namespace

AnsibleGroup& AnsibleInventory::group(const std::string& name, unsigned line) {
  auto [it, fresh] = groups_.try_emplace(name);
  if (fresh || it->second.line == 0) it->second.line = line;
  return it->second;
}

AnsibleHost& AnsibleInventory::add_host(const std::string& group_name, const std::string& host,
                                        unsigned line) {
  group(group_name, line);
  auto [it, fresh] = host_index_.try_emplace(host, hosts_.size());
  if (fresh) hosts_.push_back(AnsibleHost{host, line, {}, {}});
  AnsibleHost& entry = hosts_[it->second];
  if (std::ranges::find(entry.groups, group_name) == entry.groups.end()) {
    entry.groups.push_back(group_name);
  }
  return entry;
}

Result<std::vector<Draft>> AnsibleInventory::drafts(std::string_view origin,
                                                    const fs::path& base_dir) const {
  // Every variable is checked, also in groups without hosts: a typo must not wait for a host.
  for (const auto& [name, group] : groups_) {
    Draft scratch;
    Where where{origin, group_section(name), base_dir};
    for (const AnsibleVar& var : group.vars) KF_CHECK(apply_var(var, where, true, scratch));
  }

  // Parents, and the depth of each group below "all" (a group no other group lists is a child
  // of "all"); the longest path counts, as in Ansible.
  std::map<std::string, std::vector<std::string>, std::less<>> parents;
  for (const auto& [name, group] : groups_) {
    for (const std::string& child : group.children) {
      if (child == "all") {
        return fail_at(origin, group.line, "group '{}' lists 'all' as a child", name);
      }
      parents[child].push_back(name);
    }
  }
  for (const auto& [name, group] : groups_) {
    if (name != "all" && !parents.contains(name)) parents[name].push_back("all");
  }
  std::map<std::string, int, std::less<>> depth{{"all", 0}};
  std::set<std::string, std::less<>> visiting;
  std::function<Result<int>(const std::string&)> depth_of =
      [&](const std::string& name) -> Result<int> {
    if (auto it = depth.find(name); it != depth.end()) return it->second;
    if (!visiting.insert(name).second) {
      return fail_at(origin, groups_.at(name).line,
                     "group '{}' is its own ancestor through 'children'", name);
    }
    int deepest = 0;
    for (const std::string& parent : parents[name]) {
      KF_TRY_ASSIGN(int d, depth_of(parent));
      deepest = std::max(deepest, d + 1);
    }
    visiting.erase(name);
    depth[name] = deepest;
    return deepest;
  };
  for (const auto& [name, group] : groups_) {
    if (auto d = depth_of(name); !d) return std::unexpected(d.error());
  }

  std::vector<Draft> drafts;
  for (const AnsibleHost& host : hosts_) {
    // Every group the host is in, transitively; "ungrouped" only when it is in no other.
    std::set<std::string, std::less<>> member;
    std::vector<std::string> pending(host.groups);
    while (!pending.empty()) {
      std::string name = std::move(pending.back());
      pending.pop_back();
      if (name == "all" || !member.insert(name).second) continue;
      for (const std::string& parent : parents[name]) pending.push_back(parent);
    }
    if (member.size() > 1) member.erase("ungrouped");
    std::vector<std::string> ordered(member.begin(), member.end());
    std::ranges::stable_sort(ordered, {}, [&](const std::string& name) { return depth[name]; });

    Where where{origin, fmt::format("host '{}'", host.name), base_dir};
    Draft draft;
    draft.section = where.section;
    draft.config.line = host.line;
    Value name = string_value(host.name, host.line);
    KF_CHECK(apply_field(*find_field("name"), name, where, draft, "host name"));
    for (const AnsibleVar& var : groups_.at("all").vars) {
      KF_CHECK(apply_var(var, Where{origin, group_section("all"), base_dir}, true, draft));
    }
    for (const std::string& group : ordered) {
      for (const AnsibleVar& var : groups_.at(group).vars) {
        KF_CHECK(apply_var(var, Where{origin, group_section(group), base_dir}, true, draft));
      }
    }
    for (const AnsibleVar& var : host.vars) KF_CHECK(apply_var(var, where, false, draft));
    if (!draft.config.is_set("host")) {
      KF_CHECK(apply_field(*find_field("host"), name, where, draft, "host name"));
    }
    // keyfleet_groups adds to the Ansible groups.
    for (std::string& extra : draft.config.groups) {
      if (std::ranges::find(ordered, extra) == ordered.end()) ordered.push_back(std::move(extra));
    }
    draft.config.groups = std::move(ordered);
    if (!draft.config.is_set("groups")) {
      draft.config.origins["groups"] = fmt::format("{}:{}", origin, host.line);
    }
    drafts.push_back(std::move(draft));
  }
  if (drafts.empty()) {
    return fail(ExitCode::usage, "{}: the Ansible inventory lists no hosts", origin);
  }
  return drafts;
}

namespace {

Result<std::int64_t> range_number(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 0) {
    return fail(ExitCode::usage, "'{}' is not a number", text);
  }
  return n;
}

// Ansible's expand_hostname_range: [beg:end] or [beg:end:step], digits (zero padded when `beg`
// is) or single letters.
Result<void> expand_one(std::string_view pattern, std::vector<std::string>& out) {
  auto open = pattern.find('[');
  if (open == std::string_view::npos) {
    out.emplace_back(pattern);
    return {};
  }
  auto close = pattern.find(']', open);
  if (close == std::string_view::npos) {
    return fail(ExitCode::usage, "'{}': '[' without a closing ']'", pattern);
  }
  std::string_view head = pattern.substr(0, open);
  std::string_view tail = pattern.substr(close + 1);
  std::string_view range = pattern.substr(open + 1, close - open - 1);
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto colon = range.find(':', start);
    parts.push_back(range.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
    return fail(ExitCode::usage, "'{}': a host range is [START:END] or [START:END:STEP]", pattern);
  }
  std::int64_t step = 1;
  if (parts.size() == 3) {
    KF_TRY_ASSIGN(step, range_number(parts[2]));
    if (step < 1) return fail(ExitCode::usage, "'{}': the step must be at least 1", pattern);
  }
  std::vector<std::string> items;
  bool alpha = parts[0].size() == 1 && parts[1].size() == 1 &&
               std::isalpha(static_cast<unsigned char>(parts[0][0])) &&
               std::isalpha(static_cast<unsigned char>(parts[1][0]));
  if (alpha) {
    if (parts[0][0] > parts[1][0]) {
      return fail(ExitCode::usage, "'{}': the range ends before it starts", pattern);
    }
    const int first = static_cast<unsigned char>(parts[0][0]);
    const int last = static_cast<unsigned char>(parts[1][0]);
    for (int c = first; c <= last; c += static_cast<int>(step)) {
      items.emplace_back(1, static_cast<char>(c));
    }
  } else {
    KF_TRY_ASSIGN(std::int64_t begin, range_number(parts[0]));
    KF_TRY_ASSIGN(std::int64_t end, range_number(parts[1]));
    if (begin > end) return fail(ExitCode::usage, "'{}': the range ends before it starts", pattern);
    if ((end - begin) / step > 100000) {
      return fail(ExitCode::usage, "'{}': more than 100000 hosts in one range", pattern);
    }
    std::size_t width = parts[0].size() > 1 && parts[0][0] == '0' ? parts[0].size() : 0;
    for (std::int64_t n = begin; n <= end; n += step)
      items.push_back(fmt::format("{:0{}}", n, width));
  }
  for (const std::string& item : items) {
    KF_CHECK(expand_one(fmt::format("{}{}{}", head, item, tail), out));
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> expand_ansible_ranges(std::string_view pattern) {
  std::vector<std::string> out;
  KF_CHECK(expand_one(pattern, out));
  return out;
}

InventoryFormat detect_format(const fs::path& name, std::string_view text) {
  std::string extension = name.extension().string();
  std::ranges::transform(extension, extension.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".toml") return InventoryFormat::toml;
  if (extension == ".ini") return InventoryFormat::ansible_ini;
  if (extension == ".yml" || extension == ".yaml") return InventoryFormat::ansible_yaml;
  // By content: keyfleet's TOML has [defaults] or [[node]]; Ansible YAML starts with "---" or a
  // "group:" mapping; anything else (INI sections, a bare list of hosts) is Ansible INI.
  bool first = true;
  bool yaml = false;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.starts_with('#') || line.starts_with(';')) continue;
    if (line.starts_with("[[node]]") || line.starts_with("[defaults]") ||
        line.starts_with("node =") || line.starts_with("node=")) {
      return InventoryFormat::toml;
    }
    if (first) {
      auto colon = line.find(':');
      yaml = line == "---" ||
             (colon != std::string_view::npos && !line.starts_with('[') &&
              line.substr(0, colon).find_first_of(" =\"'") == std::string_view::npos &&
              (colon + 1 == line.size() || line[colon + 1] == ' '));
      first = false;
    }
  }
  return yaml ? InventoryFormat::ansible_yaml : InventoryFormat::ansible_ini;
}

}  // namespace kf::inventory
