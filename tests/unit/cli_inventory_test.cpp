#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace kf {
namespace {

using test::keyfleet;
using test::TempDir;

std::string fixture(const std::string& name) {
  return std::string(KEYFLEET_TESTDATA) + "/inventory/" + name;
}

// `inventory show --json` with HOME in a fresh directory: ~ expands there and no ~/.ssh/config.
test::RunResult show(const TempDir& home, std::vector<std::string> args) {
  args.insert(args.begin(), {"inventory", "show"});
  test::RunOptions options;
  options.env["HOME"] = home.path().string();
  return keyfleet(args, options);
}

nlohmann::json json_of(const test::RunResult& r) {
  auto document = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(document.is_discarded()) << "not one JSON document:\n" << r.out;
  return document;
}

TEST(InventoryShow, IniYamlAndTomlInventoriesResolveToTheSameNodes) {
  TempDir home;
  std::vector<nlohmann::json> nodes;
  for (std::string name : {"ansible.ini", "ansible.yml", "ansible.toml"}) {
    auto r = show(home, {"--inventory", fixture(name), "--json"});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    auto document = json_of(r);
    EXPECT_EQ(document["command"], "inventory show");
    EXPECT_EQ(document["exit_code"], 0);
    EXPECT_TRUE(document["error"].is_null());
    EXPECT_EQ(document["selected"], 4);
    EXPECT_EQ(document["total"], 4);
    for (auto& node : document["nodes"]) node.erase("origins");  // lines differ, not values
    nodes.push_back(document["nodes"]);
  }
  EXPECT_EQ(nodes[0], nodes[2]) << "INI:\n" << nodes[0].dump(2) << "\nTOML:\n" << nodes[2].dump(2);
  EXPECT_EQ(nodes[1], nodes[2]) << "YAML:\n" << nodes[1].dump(2) << "\nTOML:\n" << nodes[2].dump(2);
  const auto& db = nodes[2][3];
  EXPECT_EQ(db["name"], "db1");
  EXPECT_EQ(db["identity_file"], (home.path() / ".ssh/db_key").string());
  EXPECT_EQ(db["staging"], "/etc/keyfleet/east.staging");
  EXPECT_EQ(db["lock_timeout"], 30);
  EXPECT_EQ(db["groups"], nlohmann::json({"dc_east", "db"}));
  EXPECT_EQ(db["jump"], nlohmann::json::array());
  for (const char* key : {"name", "host", "alias", "port", "user", "identity_file", "known_hosts",
                          "dest", "staging", "connect_timeout", "timeout", "lock_timeout", "pre",
                          "post", "check", "sans", "groups", "jump"}) {
    EXPECT_TRUE(db.contains(key)) << key;
  }
}

TEST(InventoryShow, TextSaysWhereEachValueCameFromAndLimitSelects) {
  TempDir home;
  auto r = show(home, {"--inventory", fixture("ansible.ini"), "--limit", "web0[1-2]*", "--exclude",
                       "web02*"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ansible-ini (4), 1 of 4 nodes; ssh_config: none"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\nweb01.example.com\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("web02"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fixture("ansible.ini") + ":13"), std::string::npos) << r.out;  // dest
  EXPECT_NE(r.out.find("default"), std::string::npos) << r.out;  // connect_timeout
}

TEST(InventoryShow, ErrorsAreStillOneJsonDocument) {
  TempDir home;
  auto r = show(home, {"--inventory", fixture("ansible.ini"), "--limit", "nosuch", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  auto document = json_of(r);
  EXPECT_EQ(document["exit_code"], 2);
  EXPECT_EQ(document["error"]["message"],
            "--limit 'nosuch' matches no node of " + fixture("ansible.ini"));
  EXPECT_EQ(document["nodes"], nlohmann::json::array());
  EXPECT_NE(r.err.find("keyfleet: error: --limit 'nosuch'"), std::string::npos);
}

TEST(InventoryShow, InvalidUtf8IsAUsageErrorWithFileAndLine) {
  TempDir home;
  test::write_text(home / "inv.toml", "[[node]]\nname = \"a\"\nhost = \"a\"\npost = \"caf\xc3\"\n");
  auto r = show(home, {"--inventory", (home / "inv.toml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "keyfleet: error: " + (home / "inv.toml").string() +
                       ":4: invalid UTF-8 (byte 0xc3): the inventory must be UTF-8\n");
}

TEST(InventoryShow, BecomeIsShownWithTheStagingItMovesToTheSshUsersHome) {
  TempDir home;
  test::write_text(home / "inv.toml",
                   "[defaults]\nuser = \"deploy\"\nbecome = \"sudo -n\"\n"
                   "[[node]]\nname = \"a\"\nhost = \"a\"\n"
                   "[[node]]\nname = \"b\"\nhost = \"b\"\nuser = \"root\"\nbecome = \"\"\n");
  auto r = show(home, {"--inventory", (home / "inv.toml").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto document = json_of(r);
  const auto& a = document["nodes"][0];
  EXPECT_EQ(a["become"], "sudo -n");
  EXPECT_EQ(a["staging"], "~/.cache/keyfleet/etc/keyfleet/agent.staging");
  EXPECT_EQ(a["origins"]["become"], (home / "inv.toml").string() + ":3");
  EXPECT_TRUE(document["nodes"][1]["become"].is_null());
  EXPECT_EQ(document["nodes"][1]["staging"], "/etc/keyfleet/agent.staging");
  EXPECT_EQ(test::json_schema_errors(r.out), "");

  r = show(home, {"--inventory", (home / "inv.toml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("  become          sudo -n "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  become          (none) "), std::string::npos) << r.out;
}

TEST(InventoryShow, NeedsItsSubcommandAndNamesUnknownOptions) {
  EXPECT_EQ(keyfleet({"inventory"}).exit_code, 2);
  auto r = keyfleet({"inventory", "show", "--inventory", fixture("ansible.ini"), "--limt", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--limt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean '--limit'?"), std::string::npos) << r.err;
  auto help = keyfleet({"inventory", "show", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--ssh-config"), std::string::npos);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
}

}  // namespace
}  // namespace kf
