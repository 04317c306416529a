#pragma once

// Internal to the inventory layer: an Ansible inventory (INI or YAML) as its groups, hosts and
// variables, and how it becomes keyfleet's nodes.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "inventory/value.hpp"

namespace kf::inventory {

struct AnsibleVar {
  std::string name;
  Value value;  // value.line: where it was set
};

struct AnsibleGroup {
  unsigned line = 0;
  std::vector<std::string> children;
  std::vector<AnsibleVar> vars;  // in file order: a later one wins
};

struct AnsibleHost {
  std::string name;  // inventory_hostname
  unsigned line = 0;
  std::vector<std::string> groups;  // the groups that list it directly
  std::vector<AnsibleVar> vars;
};

class AnsibleInventory {
 public:
  // Creates the group on first use ("all" and "ungrouped" always exist).
  AnsibleGroup& group(const std::string& name, unsigned line);
  // Adds `host` to `group` (created if needed), merging with an earlier mention of the host.
  AnsibleHost& add_host(const std::string& group, const std::string& host, unsigned line);

  // Every host as a node: the variables of "all", then of its groups from the outermost to the
  // innermost (equals by name), then its own; keyfleet_* variables give keyfleet's keys and a few
  // ansible_* ones their equivalents.
  Result<std::vector<Draft>> drafts(std::string_view origin,
                                    const boost::filesystem::path& base_dir) const;

 private:
  std::map<std::string, AnsibleGroup, std::less<>> groups_{{"all", {}}, {"ungrouped", {}}};
  std::vector<AnsibleHost> hosts_;  // in order of first mention
  std::map<std::string, std::size_t, std::less<>> host_index_;
};

// Ansible's host ranges: "web[01:03]" -> web01 web02 web03, "db-[a:c]", "[1:9:2]" (a step);
// several ranges in one name multiply. An invalid range is a usage error (the reason alone).
Result<std::vector<std::string>> expand_ansible_ranges(std::string_view pattern);

}  // namespace kf::inventory
