#include <gtest/gtest.h>

#include "inventory/ansible.hpp"
#include "inventory/inventory.hpp"
#include "inventory/selection.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

Inventory parse_ok(const std::string& text, const std::string& origin) {
  auto inventory = parse_inventory(text, origin, "/base");
  EXPECT_TRUE(inventory) << inventory.error().message;
  return inventory ? *inventory : Inventory{};
}

std::string error_of(const std::string& text, const std::string& origin) {
  auto inventory = parse_inventory(text, origin, "/base");
  if (inventory) return "accepted";
  EXPECT_EQ(inventory.error().code, ExitCode::usage);
  return inventory.error().message;
}

const NodeConfig& by_name(const Inventory& inventory, const std::string& name) {
  for (const auto& node : inventory.nodes) {
    if (node.name == name) return node;
  }
  throw std::runtime_error("no node " + name);
}

LoadOptions no_ssh_config() {
  LoadOptions options;
  options.ssh_config = "none";
  return options;
}

std::string fixture(const std::string& name) {
  return std::string(KEYFLEET_TESTDATA) + "/inventory/" + name;
}

using Names = std::vector<std::string>;

TEST(AnsibleInventory, IniGroupsChildrenAndVariablePrecedence) {
  auto inventory = load_inventory(fixture("ansible.ini"), no_ssh_config());
  ASSERT_TRUE(inventory) << inventory.error().message;
  EXPECT_EQ(inventory->format, InventoryFormat::ansible_ini);
  ASSERT_EQ(inventory->nodes.size(), 4u);
  const NodeConfig& web1 = inventory->nodes[0];
  EXPECT_EQ(web1.name, "web01.example.com");
  EXPECT_EQ(web1.host, "web01.example.com");
  EXPECT_EQ(web1.user, "deploy");                      // all:vars
  EXPECT_EQ(web1.port, 2200);                          // web:vars
  EXPECT_EQ(web1.dest, "/srv/agent");                  // web (child) over dc_east
  EXPECT_EQ(web1.timeout, 300);                        // dc_east (parent)
  EXPECT_EQ(web1.groups, (Names{"dc_east", "web"}));   // transitively, outer first
  EXPECT_EQ(web1.sans, (Names{"agent.example.com"}));  // a host variable
  EXPECT_EQ(web1.post, "systemctl restart agent");     // quotes dropped
  EXPECT_EQ(web1.origins.at("dest"), fixture("ansible.ini") + ":13");
  const NodeConfig& web3 = inventory->nodes[2];
  EXPECT_EQ(web3.host, "192.0.2.13");  // ansible_host
  EXPECT_EQ(web3.port, 2203);          // the host's own variable wins over its group's
  const NodeConfig& db1 = inventory->nodes[3];
  EXPECT_EQ(db1.dest, "/etc/keyfleet/east");
  EXPECT_EQ(db1.lock_timeout, 30);
  EXPECT_EQ(db1.groups, (Names{"dc_east", "db"}));
  EXPECT_EQ(db1.known_hosts, fixture("fleet_known_hosts"));  // relative to the inventory
}

TEST(AnsibleInventory, IniHostsWithoutGroupsPortsAndRangesWithSteps) {
  auto inventory = parse_ok(
      "bare.example.com\n"
      "10.0.0.1:2222 keyfleet_dest='/srv/a b'\n"
      "; a comment\n"
      "[odd]\n"
      "n[1:5:2]\n"
      "db-[a:c]  # letters\n"
      "[odd:vars]\n"
      "keyfleet_groups = extra, more\n",
      "hosts");
  Names names;
  for (const auto& node : inventory.nodes) names.push_back(node.name);
  EXPECT_EQ(names,
            (Names{"bare.example.com", "10.0.0.1", "n1", "n3", "n5", "db-a", "db-b", "db-c"}));
  EXPECT_EQ(inventory.format, InventoryFormat::ansible_ini);  // no extension: by content
  EXPECT_EQ(by_name(inventory, "10.0.0.1").port, 2222);
  EXPECT_EQ(by_name(inventory, "10.0.0.1").dest, "/srv/a b");
  EXPECT_EQ(by_name(inventory, "10.0.0.1").groups, (Names{"ungrouped"}));
  EXPECT_EQ(by_name(inventory, "n3").groups, (Names{"odd", "extra", "more"}));
  EXPECT_EQ(expand_node_ranges("web[01:03]")->size(), 1u);  // Ansible's syntax is not pdsh's
  EXPECT_EQ(inventory::expand_ansible_ranges("web[08:10]").value(),
            (Names{"web08", "web09", "web10"}));
}

TEST(AnsibleInventory, YamlGivesTheSameNodesAsIni) {
  LoadOptions none = no_ssh_config();
  auto ini = load_inventory(fixture("ansible.ini"), none);
  auto yaml = load_inventory(fixture("ansible.yml"), none);
  ASSERT_TRUE(ini) << ini.error().message;
  ASSERT_TRUE(yaml) << yaml.error().message;
  EXPECT_EQ(yaml->format, InventoryFormat::ansible_yaml);
  ASSERT_EQ(yaml->nodes.size(), ini->nodes.size());
  for (std::size_t i = 0; i < ini->nodes.size(); ++i) {
    const NodeConfig& a = ini->nodes[i];
    const NodeConfig& b = yaml->nodes[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.host, b.host);
    EXPECT_EQ(a.port, b.port) << a.name;
    EXPECT_EQ(a.dest, b.dest) << a.name;
    EXPECT_EQ(a.groups, b.groups) << a.name;
    EXPECT_EQ(a.sans, b.sans) << a.name;
  }
  EXPECT_EQ(yaml->nodes[0].origins.at("dest"), fixture("ansible.yml") + ":16");
}

TEST(AnsibleInventory, GroupSelectionUsesAnsibleGroups) {
  auto inventory = load_inventory(fixture("ansible.yml"), no_ssh_config());
  ASSERT_TRUE(inventory) << inventory.error().message;
  auto selection = select_nodes(*inventory, "@dc_east,!@db", "web02*");
  ASSERT_TRUE(selection) << selection.error().message;
  ASSERT_EQ(selection->nodes.size(), 2u);
  EXPECT_EQ(selection->nodes[1].name, "web03.example.com");
}

TEST(AnsibleInventory, ErrorsNameFileLineAndVariable) {
  EXPECT_EQ(error_of("[web]\nweb1 keyfleet_prot=22\n", "hosts.ini"),
            "hosts.ini:2: unknown variable 'keyfleet_prot' in host 'web1' (did you mean "
            "'keyfleet_port'?)");
  EXPECT_EQ(error_of("[web]\nweb1\n[web:vars]\nkeyfleet_dst=/x\n", "hosts.ini"),
            "hosts.ini:4: unknown variable 'keyfleet_dst' in the vars of group 'web' (did you "
            "mean 'keyfleet_dest'?)");
  EXPECT_EQ(error_of("[empty:vars]\nkeyfleet_nope_at_all=1\n[web]\nweb1\n", "hosts.ini")
                .find("hosts.ini:2: unknown variable 'keyfleet_nope_at_all' in the vars of group "
                      "'empty' (keyfleet's variables: keyfleet_user, "),
            0u);
  EXPECT_EQ(error_of("[web:vars]\nkeyfleet_sans=x\n[web]\nweb1\n", "hosts.ini"),
            "hosts.ini:2: 'keyfleet_sans' is not allowed in the vars of group 'web': it belongs "
            "to one host; set it as a host variable");
  EXPECT_EQ(error_of("[web]\nweb1 ansible_port=http\n", "hosts.ini"),
            "hosts.ini:2: 'ansible_port' in host 'web1': expected an integer, got a string");
  EXPECT_EQ(error_of("[web]\nweb1 keyfleet_lock_timeout=7200\n", "hosts.ini"),
            "hosts.ini:2: 'keyfleet_lock_timeout' in host 'web1': 7200 is out of range "
            "(1-3600 seconds)");
  EXPECT_NE(error_of("[web]\nweb[3:1]\n", "hosts.ini")
                .find("hosts.ini:2: host 'web[3:1]': "
                      "the range ends before it starts"),
            std::string::npos);
  EXPECT_NE(error_of("[web]\nweb1 junk\n", "hosts.ini")
                .find("hosts.ini:2: 'junk' after host "
                      "'web1': expected key=value"),
            std::string::npos);
  EXPECT_NE(error_of("[web:oops]\n", "hosts.ini").find("hosts.ini:1: invalid section"),
            std::string::npos);
  EXPECT_NE(error_of("[a:children]\nb\n[b:children]\na\n[a]\nh1\n", "hosts.ini")
                .find("is its own ancestor"),
            std::string::npos);
  EXPECT_EQ(error_of("[web]\nbad!name\n", "hosts.ini"),
            "hosts.ini:2: 'name' in host 'bad!name': 'bad!name' is not a valid node name: "
            "use 1-253 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");

  EXPECT_EQ(error_of("all:\n  hosts:\n    web1:\n      keyfleet_prot: 22\n", "hosts.yml"),
            "hosts.yml:4: unknown variable 'keyfleet_prot' in host 'web1' (did you mean "
            "'keyfleet_port'?)");
  EXPECT_EQ(error_of("all:\n  host:\n    web1:\n", "hosts.yml"),
            "hosts.yml:2: all: unknown key 'host' (did you mean 'hosts'?): a group has only "
            "'hosts', 'vars' and 'children'");
  EXPECT_EQ(error_of("all:\n  hosts:\n    - web1\n", "hosts.yml"),
            "hosts.yml:2: all.hosts: expected a mapping of host names, got a list (write 'host:' "
            "lines)");
  EXPECT_EQ(error_of("all:\n  hosts:\n    web1:\n      keyfleet_sans: {a: 1}\n", "hosts.yml"),
            "hosts.yml:4: 'keyfleet_sans' in host 'web1': expected an array of host names, got a "
            "mapping");
  EXPECT_EQ(error_of("all:\n  hosts: [\n", "hosts.yml").find("hosts.yml:"), 0u);
  EXPECT_NE(error_of("all:\n  hosts: [\n", "hosts.yml").find(": invalid YAML: "),
            std::string::npos);
  EXPECT_EQ(error_of("all:\n  vars:\n    x: 1\n", "hosts.yml"),
            "hosts.yml: the Ansible inventory lists no hosts");
}

TEST(AnsibleInventory, FormatIsDetectedFromTheContentWithoutAnExtension) {
  EXPECT_EQ(parse_ok("---\nall:\n  hosts:\n    web1:\n", "/dev/fd/63").format,
            InventoryFormat::ansible_yaml);
  EXPECT_EQ(parse_ok("# fleet\nweb:\n  hosts:\n    web1:\n", "inventory").format,
            InventoryFormat::ansible_yaml);
  EXPECT_EQ(parse_ok("[web]\nweb1\n", "inventory").format, InventoryFormat::ansible_ini);
  EXPECT_EQ(parse_ok("web1:2222\n", "inventory").format, InventoryFormat::ansible_ini);
  EXPECT_EQ(
      parse_ok("# x\n[defaults]\nport = 1\n[[node]]\nname = \"a\"\nhost = \"a\"\n", "inventory")
          .format,
      InventoryFormat::toml);
}

}  // namespace
}  // namespace kf

namespace kf {
namespace {

// keyfleet_become maps like every keyfleet_* variable; Ansible's own become variables (which
// name a method and a password, not a command) are not read.
TEST(AnsibleInventory, KeyfleetBecomeIsReadAndAnsiblesOwnIsNot) {
  auto ini = parse_inventory(
      "[web]\nweb1\nweb2 keyfleet_become=''\n\n[web:vars]\nkeyfleet_become='sudo -n'\n"
      "ansible_become=true\nansible_become_method=su\n",
      "hosts.ini", "/base");
  ASSERT_TRUE(ini) << ini.error().message;
  EXPECT_EQ(ini->nodes[0].become, "sudo -n");
  EXPECT_EQ(ini->nodes[0].staging, "~/.cache/keyfleet/etc/keyfleet/agent.staging");
  EXPECT_EQ(ini->nodes[0].origins.at("become"), "hosts.ini:6");
  EXPECT_EQ(ini->nodes[1].become, "");
  auto yaml = parse_inventory("all:\n  vars:\n    keyfleet_become: sudo -n\n  hosts:\n    web1:\n",
                              "hosts.yml", "/base");
  ASSERT_TRUE(yaml) << yaml.error().message;
  EXPECT_EQ(yaml->nodes[0].become, "sudo -n");
  auto bad = parse_inventory("[web]\nweb1 keyfleet_become='sudo -n;id'\n", "hosts.ini", "/base");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("hosts.ini:2: 'keyfleet_become' in host 'web1': "),
            std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace kf
