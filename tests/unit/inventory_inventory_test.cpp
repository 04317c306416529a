#include <unistd.h>

#include <cstdlib>
#include <optional>

#include <gtest/gtest.h>

#include "inventory/inventory.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

// Sets HOME for one test and puts the old value back.
class HomeGuard {
 public:
  explicit HomeGuard(const std::string& home) {
    if (const char* old = std::getenv("HOME")) old_ = old;
    ::setenv("HOME", home.c_str(), 1);
  }
  HomeGuard(const HomeGuard&) = delete;
  HomeGuard& operator=(const HomeGuard&) = delete;
  ~HomeGuard() {
    if (old_) {
      ::setenv("HOME", old_->c_str(), 1);
    } else {
      ::unsetenv("HOME");
    }
  }

 private:
  std::optional<std::string> old_;
};

Inventory parse_ok(const std::string& text) {
  auto inventory = parse_inventory(text, "inv.toml", "/base");
  EXPECT_TRUE(inventory) << inventory.error().message;
  return inventory ? *inventory : Inventory{};
}

std::string fixture(const std::string& name) {
  return std::string(KEYFLEET_TESTDATA) + "/inventory/" + name;
}

TEST(Inventory, FullExampleAppliesDefaultsAndHonorsOverrides) {
  HomeGuard home("/home/op");
  auto inventory = load_inventory(fixture("three-nodes.toml"));
  ASSERT_TRUE(inventory) << inventory.error().message;
  ASSERT_EQ(inventory->nodes.size(), 3u);
  const NodeConfig& n1 = inventory->nodes[0];
  const NodeConfig& n2 = inventory->nodes[1];
  const NodeConfig& n3 = inventory->nodes[2];

  EXPECT_EQ(n1.name, "node1");
  EXPECT_EQ(n1.host, "192.0.2.10");
  EXPECT_EQ(n1.port, 2201);
  EXPECT_EQ(n1.user, "keyfleet");
  EXPECT_EQ(n1.identity_file, "/home/op/.ssh/keyfleet_ed25519");
  EXPECT_EQ(n1.known_hosts, "/home/op/.ssh/keyfleet_known_hosts");
  EXPECT_EQ(n1.dest, "/etc/keyfleet/agent");
  EXPECT_EQ(n1.staging, "/etc/keyfleet/agent.staging");
  EXPECT_EQ(n1.connect_timeout, 10);
  EXPECT_EQ(n1.timeout, 120);
  EXPECT_EQ(n1.pre, "systemctl stop agent");
  EXPECT_EQ(n1.post, "systemctl start agent");
  EXPECT_EQ(n1.check, "systemctl is-active --quiet agent");
  EXPECT_EQ(n1.sans, (std::vector<std::string>{"node1.example.com", "agent.example.com"}));
  EXPECT_EQ(n1.line, 15u);

  EXPECT_EQ(n2.name, "node2");
  EXPECT_EQ(n2.host, "node2.example.com");
  EXPECT_EQ(n2.port, 22);
  EXPECT_EQ(n2.user, "root");
  EXPECT_EQ(n2.timeout, 300);
  EXPECT_EQ(n2.pre, "systemctl stop agent");
  EXPECT_TRUE(n2.sans.empty());
  EXPECT_EQ(n2.line, 21u);

  EXPECT_EQ(n3.host, "2001:db8::3");
  EXPECT_EQ(n3.dest, "/srv/agent/keys");
  EXPECT_EQ(n3.pre, "");
  EXPECT_EQ(n3.post, "");
  EXPECT_EQ(n3.check, "systemctl is-active --quiet agent");
  EXPECT_EQ(n3.user, "keyfleet");

  EXPECT_EQ(certificate_hosts(*inventory),
            (std::vector<std::string>{"192.0.2.10", "node1.example.com", "agent.example.com",
                                      "node2.example.com", "2001:db8::3", "node3.example.com"}));
}

TEST(Inventory, DocumentationShowsTheTestedExample) {
  std::string docs = test::read_text(test::source_dir() + "/docs/inventory.md");
  EXPECT_NE(docs.find(test::read_text(fixture("three-nodes.toml"))), std::string::npos)
      << "docs/inventory.md must contain tests/fixtures/inventory/three-nodes.toml verbatim";
}

TEST(Inventory, BuiltInDefaultsWithoutDefaultsTable) {
  HomeGuard home("/home/op");
  auto inventory = parse_ok("[[node]]\nname = \"a\"\nhost = \"a.example.com\"\n");
  ASSERT_EQ(inventory.nodes.size(), 1u);
  const NodeConfig& node = inventory.nodes[0];
  EXPECT_EQ(node.port, 22);
  EXPECT_EQ(node.user, "root");
  EXPECT_EQ(node.identity_file, "");
  EXPECT_EQ(node.known_hosts, "/home/op/.ssh/known_hosts");
  EXPECT_EQ(node.dest, "/etc/keyfleet/agent");
  EXPECT_EQ(node.staging, "/etc/keyfleet/agent.staging");
  EXPECT_EQ(node.connect_timeout, 10);
  EXPECT_EQ(node.timeout, 120);
  EXPECT_EQ(node.lock_timeout, 10);
  EXPECT_EQ(node.pre + node.post + node.check, "");
  EXPECT_TRUE(node.groups.empty());
  EXPECT_TRUE(node.jump.empty());
  EXPECT_EQ(node.alias, "a.example.com");
  EXPECT_FALSE(node.is_set("port"));
  EXPECT_TRUE(node.is_set("host"));
}

TEST(Inventory, DefaultStagingIsASiblingOfEachEntrysDest) {
  auto inventory = parse_ok(
      "[defaults]\ndest = \"/srv/agent/\"\n"
      "[[node]]\nname = \"a\"\nhost = \"h\"\n"
      "[[node]]\nname = \"b\"\nhost = \"h\"\ndest = \"/srv/other\"\n"
      "[[node]]\nname = \"c\"\nhost = \"h\"\ndest = \"/srv/third\"\nstaging = \"/var/tmp/kf\"\n");
  ASSERT_EQ(inventory.nodes.size(), 3u);
  EXPECT_EQ(inventory.nodes[0].staging, "/srv/agent.staging");
  EXPECT_EQ(inventory.nodes[1].staging, "/srv/other.staging");
  EXPECT_EQ(inventory.nodes[2].staging, "/var/tmp/kf");
}

TEST(Inventory, GroupsJumpAndLockTimeout) {
  auto inventory = parse_ok(
      "[defaults]\ngroups = [\"all-agents\"]\njump = \"ops@192.0.2.1:2222, 192.0.2.2\"\n"
      "lock_timeout = 60\n"
      "[[node]]\nname = \"a\"\nhost = \"a\"\n"
      "[[node]]\nname = \"b\"\nhost = \"b\"\ngroups = [\"web\", \"dc1\", \"web\"]\n"
      "jump = \"none\"\nlock_timeout = 1\n"
      "[[node]]\nname = \"c\"\nhost = \"c\"\njump = \"ssh://[2001:db8::1]:22\"\n");
  ASSERT_EQ(inventory.nodes.size(), 3u);
  const NodeConfig& a = inventory.nodes[0];
  EXPECT_EQ(a.groups, (std::vector<std::string>{"all-agents"}));
  EXPECT_EQ(a.lock_timeout, 60);
  ASSERT_EQ(a.jump.size(), 2u);
  EXPECT_EQ(a.jump[0].user, "ops");
  EXPECT_EQ(a.jump[0].host, "192.0.2.1");
  EXPECT_EQ(a.jump[0].port, 2222);
  EXPECT_EQ(a.jump[1].host, "192.0.2.2");
  EXPECT_EQ(a.jump[1].port, 22);
  const NodeConfig& b = inventory.nodes[1];
  EXPECT_EQ(b.groups, (std::vector<std::string>{"web", "dc1"}));
  EXPECT_TRUE(b.jump.empty());
  EXPECT_EQ(b.lock_timeout, 1);
  ASSERT_EQ(inventory.nodes[2].jump.size(), 1u);
  EXPECT_EQ(inventory.nodes[2].jump[0].host, "2001:db8::1");
}

TEST(Inventory, InvalidUtf8IsAUsageErrorNamingFileAndLine) {
  struct Case {
    std::string origin;
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"inv.toml", "[[node]]\nname = \"a\"\nhost = \"a\"\npost = \"\xff\"\n",
       "inv.toml:4: invalid UTF-8 (byte 0xff)"},
      {"inv.toml", "# caf\xc3\n[[node]]\n", "inv.toml:1: invalid UTF-8 (byte 0xc3)"},
      {"inv.toml", "# overlong \xc0\xaf\n", "inv.toml:1: invalid UTF-8 (byte 0xc0)"},
      {"inv.toml", "\n# surrogate \xed\xa0\x80\n", "inv.toml:2: invalid UTF-8 (byte 0xed)"},
      {"hosts.ini", "[web]\nweb1\nweb2 keyfleet_post=\xe2\x82\n", "hosts.ini:3: invalid UTF-8"},
      {"hosts.yml",
       "all:\n  hosts:\n    w\xf5"
       "b1:\n",
       "hosts.yml:3: invalid UTF-8 (byte 0xf5)"},
  };
  for (const auto& c : cases) {
    auto inventory = parse_inventory(c.text, c.origin);
    ASSERT_FALSE(inventory) << c.expected;
    EXPECT_EQ(inventory.error().code, ExitCode::usage);
    EXPECT_EQ(inventory.error().message.find(c.expected), 0u) << inventory.error().message;
  }
  EXPECT_TRUE(parse_inventory(
      "# caf\xc3\xa9 \xf0\x9f\x94\x91\n[[node]]\nname = \"a\"\nhost = \"a\"\n", "inv.toml"));
}

TEST(Inventory, DefaultsAfterNodesStillApplyAndInlineTablesWork) {
  auto inventory = parse_ok(
      "node = [{ name = \"a\", host = \"10.0.0.1\" }, { name = \"b\", host = \"10.0.0.2\", "
      "port = 2222 }]\n"
      "[defaults]\nport = 2200\nuser = \"ops\"\n");
  ASSERT_EQ(inventory.nodes.size(), 2u);
  EXPECT_EQ(inventory.nodes[0].port, 2200);
  EXPECT_EQ(inventory.nodes[1].port, 2222);
  EXPECT_EQ(inventory.nodes[1].user, "ops");
}

TEST(Inventory, TildeExpandsAgainstHomeAndRelativePathsAgainstTheInventory) {
  HomeGuard home("/srv/home/ops/");
  EXPECT_EQ(expand_tilde("~"), "/srv/home/ops");
  EXPECT_EQ(expand_tilde("~/.ssh/id"), "/srv/home/ops/.ssh/id");
  EXPECT_EQ(expand_tilde("~bob/x"), "~bob/x");
  EXPECT_EQ(expand_tilde("/x/~/y"), "/x/~/y");
  EXPECT_EQ(expand_tilde("rel/~"), "rel/~");

  auto inventory = parse_ok(
      "[defaults]\nidentity_file = \"~/.ssh/id_ed25519\"\nknown_hosts = \"fleet_known_hosts\"\n"
      "[[node]]\nname = \"a\"\nhost = \"a\"\n"
      "[[node]]\nname = \"b\"\nhost = \"b\"\nidentity_file = \"\"\nknown_hosts = \"~\"\n");
  ASSERT_EQ(inventory.nodes.size(), 2u);
  EXPECT_EQ(inventory.nodes[0].identity_file, "/srv/home/ops/.ssh/id_ed25519");
  EXPECT_EQ(inventory.nodes[0].known_hosts, "/base/fleet_known_hosts");
  EXPECT_EQ(inventory.nodes[1].identity_file, "");  // back to ssh-agent
  EXPECT_EQ(inventory.nodes[1].known_hosts, "/srv/home/ops");
}

TEST(Inventory, TildeWithHomeAtTheRoot) {
  HomeGuard home("/");
  EXPECT_EQ(expand_tilde("~/.ssh"), "/.ssh");
  EXPECT_EQ(expand_tilde("~"), "/");
}

TEST(Inventory, RemotePathsAreNormalized) {
  auto inventory = parse_ok(
      "[[node]]\nname = \"a\"\nhost = \"a\"\ndest = \"/etc//keyfleet/agent/\"\n"
      "staging = \"/var/tmp/\"\n");
  ASSERT_EQ(inventory.nodes.size(), 1u);
  EXPECT_EQ(inventory.nodes[0].dest, "/etc/keyfleet/agent");
  EXPECT_EQ(inventory.nodes[0].staging, "/var/tmp");
}

TEST(Inventory, MultiLineHooksAreKept) {
  auto inventory = parse_ok(
      "[[node]]\nname = \"a\"\nhost = \"a\"\npre = \"\"\"\nsystemctl stop agent\n\tsync\n\"\"\"\n");
  ASSERT_EQ(inventory.nodes.size(), 1u);
  EXPECT_EQ(inventory.nodes[0].pre, "systemctl stop agent\n\tsync\n");
}

TEST(Inventory, CertificateHostsDropRepeats) {
  auto inventory = parse_ok(
      "[[node]]\nname = \"a\"\nhost = \"A.example.com\"\nsans = [\"a.example.com\", \"x\"]\n"
      "[[node]]\nname = \"b\"\nhost = \"x\"\nport = 2\nsans = [\"10.0.0.1\"]\n");
  EXPECT_EQ(certificate_hosts(inventory),
            (std::vector<std::string>{"A.example.com", "x", "10.0.0.1"}));
}

TEST(Inventory, LoadResolvesRelativePathsNextToTheFileAndFollowsSymlinks) {
  TempDir dir;
  test::write_text(dir / "real.toml",
                   "[[node]]\nname = \"a\"\nhost = \"a\"\nknown_hosts = \"kh\"\n");
  ASSERT_EQ(::symlink("real.toml", (dir / "inv.toml").c_str()), 0);
  auto inventory = load_inventory(dir / "inv.toml");
  ASSERT_TRUE(inventory) << inventory.error().message;
  EXPECT_EQ(inventory->origin, (dir / "inv.toml").string());
  EXPECT_EQ(inventory->nodes.at(0).known_hosts, (dir / "kh").string());
}

TEST(Inventory, LoadMissingOrUnreadableFileIsAUsageErrorNamingThePath) {
  TempDir dir;
  auto missing = load_inventory(dir / "nope.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ExitCode::usage);
  EXPECT_EQ(missing.error().message,
            fmt::format("cannot read inventory {}: No such file or directory",
                        (dir / "nope.toml").string()));

  auto directory = load_inventory(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ExitCode::usage);
  EXPECT_NE(directory.error().message.find(dir.path().string()), std::string::npos);
}

TEST(Inventory, LoadReportsErrorsWithTheFileName) {
  TempDir dir;
  test::write_text(dir / "inv.toml", "[[node]]\nname = \"a\"\nhost = \"a\"\nprot = 2\n");
  auto inventory = load_inventory(dir / "inv.toml");
  ASSERT_FALSE(inventory);
  EXPECT_EQ(inventory.error().code, ExitCode::usage);
  EXPECT_EQ(inventory.error().message,
            (dir / "inv.toml").string() +
                ":4: unknown key 'prot' in [[node]] 'a' (did you mean 'port'?)");
}

struct BadInventory {
  const char* what;
  std::string text;
  std::vector<std::string> expected;  // substrings of the message
};

const std::string kNode = "[[node]]\nname = \"a\"\nhost = \"a.example.com\"\n";  // lines 1-3

// Every rejected input: exit code 2, and a message naming the line and the key.
const BadInventory kBadInventories[] = {
    {"unknown node key",
     kNode + "prot = 2201\n",
     {"inv.toml:4: unknown key 'prot' in [[node]] 'a' (did you mean 'port'?)"}},
    {"unknown defaults key",
     "[defaults]\n\nfrobnicate = 1\n" + kNode,
     {"inv.toml:3: unknown key 'frobnicate' in [defaults] (allowed: user, port,",
      "groups, jump, probe)"}},
    {"sub-table in a node",
     kNode + "[node.extra]\nx = 1\n",
     {"inv.toml:4: unknown key 'extra' in [[node]] 'a'"}},
    {"sans in defaults",
     "[defaults]\nsans = [\"x\"]\n" + kNode,
     {"inv.toml:2: 'sans' is not allowed in [defaults]"}},
    {"host in defaults",
     "[defaults]\nhost = \"x\"\n" + kNode,
     {"inv.toml:2: 'host' is not allowed in [defaults]"}},
    {"name in defaults",
     "[defaults]\nname = \"x\"\n" + kNode,
     {"inv.toml:2: 'name' is not allowed in [defaults]"}},
    {"unknown top-level table",
     "[nodes]\nname = \"a\"\n",
     {"inv.toml:1: unknown key 'nodes' at the top level (did you mean 'node'?)"}},
    {"node key at the top level",
     "port = 22\n" + kNode,
     {"inv.toml:1: 'port' is not allowed at the top level"}},
    {"[node] instead of [[node]]",
     "[node]\nname = \"a\"\n",
     {"inv.toml:1: 'node' must be an array of tables", "not [node]"}},
    {"[[defaults]]",
     "[[defaults]]\nport = 1\n" + kNode,
     {"inv.toml:1: 'defaults' must be a table", "not [[defaults]]"}},
    {"node entry not a table", "node = [1]\n", {"inv.toml:1: [[node]] #1: expected a table"}},
    {"quoted port",
     kNode + "port = \"22\"\n",
     {"inv.toml:4: 'port' in [[node]] 'a': expected an integer, got a string",
      "write port = 22 without quotes"}},
    {"float port",
     "[defaults]\nport = 22.0\n" + kNode,
     {"inv.toml:2: 'port' in [defaults]: expected an integer, got a float"}},
    {"port zero", kNode + "port = 0\n", {"inv.toml:4: 'port'", "0 is out of range (1-65535)"}},
    {"port too big", kNode + "port = 65536\n", {"inv.toml:4: 'port'", "65536 is out of range"}},
    {"huge port", kNode + "port = 99999999999999999999\n", {"inv.toml:4: 'port'", "out of range"}},
    {"sans not an array",
     kNode + "sans = \"x\"\n",
     {"inv.toml:4: 'sans' in [[node]] 'a': expected an array of host names, got a string"}},
    {"sans entry of the wrong type",
     kNode + "sans = [\n  \"ok.example.com\",\n  3,\n]\n",
     {"inv.toml:6: 'sans' in [[node]] 'a': entry 2: expected a host name string, got an integer"}},
    {"invalid san",
     kNode + "sans = [\"bad..name\"]\n",
     {"inv.toml:4: 'sans' in [[node]] 'a': entry 1: invalid host 'bad..name'"}},
    {"invalid host",
     "[[node]]\nname = \"a\"\nhost = \"10.0.0.300\"\n",
     {"inv.toml:3: 'host' in [[node]] 'a': invalid host '10.0.0.300'"}},
    {"host with a NUL",
     "[[node]]\nname = \"a\"\nhost = \"10.0.0.1\\u0000x\"\n",
     {"inv.toml:3: 'host'", "control character 0x00"}},
    {"host of the wrong type",
     "[[node]]\nname = \"a\"\nhost = 5\n",
     {"inv.toml:3: 'host' in [[node]] 'a': expected a host name string, got an integer"}},
    {"missing host",
     "[[node]]\nname = \"a\"\nport = 22\n",
     {"inv.toml:1: [[node]] 'a' has no 'host' (required"}},
    {"missing name",
     kNode + "\n[[node]]\nhost = \"b\"\n",
     {"inv.toml:5: [[node]] #2 has no 'name' (required"}},
    {"invalid name",
     "[[node]]\nname = \"-a b\"\nhost = \"a\"\n",
     {"inv.toml:2: 'name' in [[node]] #1: '-a b' is not a valid node name"}},
    {"duplicate name",
     kNode + "[[node]]\nname = \"a\"\nhost = \"b\"\n",
     {"inv.toml:5: duplicate node name 'a': already used at line 2"}},
    {"same host, port and dest",
     kNode + "[[node]]\nname = \"b\"\nhost = \"A.EXAMPLE.com\"\n",
     {"inv.toml:6: node 'b' has the same host, port and dest as node 'a' (line 3)"}},
    {"connect_timeout above timeout",
     "[defaults]\nconnect_timeout = 30\n" + kNode + "timeout = 20\n",
     {"inv.toml:6: node 'a': 'connect_timeout' (30, line 2) is greater than 'timeout' (20, line "
      "6)"}},
    {"zero timeout",
     "[defaults]\ntimeout = 0\n" + kNode,
     {"inv.toml:2: 'timeout' in [defaults]: 0 is out of range (1-86400 seconds)"}},
    {"negative connect_timeout",
     kNode + "connect_timeout = -5\n",
     {"inv.toml:4: 'connect_timeout'", "-5 is out of range"}},
    {"relative dest",
     kNode + "dest = \"keys\"\n",
     {"inv.toml:4: 'dest' in [[node]] 'a': 'keys' is not an absolute path on the node"}},
    {"tilde in dest",
     "[defaults]\ndest = \"~/agent\"\n" + kNode,
     {"inv.toml:2: 'dest' in [defaults]: '~/agent': '~' is not expanded in paths on the node"}},
    {"dot-dot in staging",
     kNode + "staging = \"/var/../tmp\"\n",
     {"inv.toml:4: 'staging'", "'.' and '..' are not allowed"}},
    {"dot in dest", kNode + "dest = \"/etc/./agent\"\n", {"inv.toml:4: 'dest'", "'.' and '..'"}},
    {"root as dest", kNode + "dest = \"//\"\n", {"inv.toml:4: 'dest'", "root directory"}},
    {"tilde-user identity",
     kNode + "identity_file = \"~bob/id\"\n",
     {"inv.toml:4: 'identity_file'", "only '~' and '~/...' are expanded"}},
    {"empty known_hosts",
     kNode + "known_hosts = \"\"\n",
     {"inv.toml:4: 'known_hosts'", "must not be empty"}},
    {"empty user", kNode + "user = \"\"\n", {"inv.toml:4: 'user'", "must not be empty"}},
    {"user with a space", kNode + "user = \"a b\"\n", {"inv.toml:4: 'user'", "contains a space"}},
    {"user with a tab", kNode + "user = \"a\\tb\"\n", {"inv.toml:4: 'user'", "0x09"}},
    {"hook of the wrong type",
     kNode + "check = true\n",
     {"inv.toml:4: 'check' in [[node]] 'a': expected a string, got a boolean"}},
    {"hook with an escape", kNode + "post = \"x\\u001b[2J\"\n", {"inv.toml:4: 'post'", "0x1b"}},
    {"unterminated string",
     kNode + "user = \"root\n",
     {"inv.toml:4: invalid TOML: ", "not a valid string", "4 | user = \"root"}},
    {"key set twice",
     kNode + "port = 1\nport = 2\n",
     {"inv.toml:5: invalid TOML: ", "\"port\"", "already exists"}},
    {"no nodes", "[defaults]\nport = 22\n", {"inv.toml: no [[node]]"}},
    {"staging equal to dest",
     kNode + "dest = \"/srv/k\"\nstaging = \"/srv/k/\"\n",
     {"inv.toml:5: node 'a': 'staging' (/srv/k, line 5) is the same directory as 'dest' "
      "(/srv/k, line 4)"}},
    {"staging inside dest",
     "[defaults]\nstaging = \"/etc/keyfleet/agent//tmp\"\n" + kNode,
     {"inv.toml:3: node 'a': 'staging' (/etc/keyfleet/agent/tmp, line 2) is inside 'dest' "
      "(/etc/keyfleet/agent, the default)"}},
    {"staging containing dest",
     kNode + "staging = \"/etc/keyfleet\"\n",
     {"inv.toml:4: node 'a': 'staging' (/etc/keyfleet, line 4) contains 'dest'"}},
    {"staging around another entry's dest",
     kNode + "[[node]]\nname = \"b\"\nhost = \"a.example.com\"\ndest = \"/srv/b\"\n"
             "staging = \"/etc/keyfleet/agent/x\"\n",
     {"node 'b': 'staging' (/etc/keyfleet/agent/x) overlaps the 'dest' (/etc/keyfleet/agent) of "
      "node 'a' on the same host"}},
    {"one staging shared by two entries on one host",
     "[defaults]\nstaging = \"/var/tmp/keyfleet\"\n" + kNode +
         "[[node]]\nname = \"b\"\nhost = \"a.example.com\"\ndest = \"/srv/b\"\n",
     {"inv.toml:9: node 'b': 'staging' (/var/tmp/keyfleet) overlaps the 'staging' "
      "(/var/tmp/keyfleet) of node 'a' on the same host: one's cleanup would wipe the other's "
      "staged copies mid-push"}},
    {"lock_timeout too large",
     kNode + "lock_timeout = 3601\n",
     {"inv.toml:4: 'lock_timeout'", "3601 is out of range (1-3600 seconds)"}},
    {"bad group name",
     kNode + "groups = [\"web\", \"no space\"]\n",
     {"inv.toml:4: 'groups' in [[node]] 'a': entry 2: 'no space' is not a valid group name"}},
    {"groups not a list",
     kNode + "groups = \"web\"\n",
     {"inv.toml:4: 'groups'", "expected an array of group names, got a string"}},
    {"bad jump port",
     kNode + "jump = \"bastion:0\"\n",
     {"inv.toml:4: 'jump' in [[node]] 'a': 'bastion:0': the port must be a number from 1 to "
      "65535"}},
    {"empty jump", kNode + "jump = \"\"\n", {"inv.toml:4: 'jump'", "write \"none\""}},
    {"jump host that is no host",
     "[defaults]\njump = \"bad..host\"\n" + kNode,
     {"inv.toml:2: node 'a': jump host 'bad..host': invalid host 'bad..host'", "(line 2)"}},
    {"host with shell characters",
     "[[node]]\nname = \"a\"\nhost = \"a;b\"\n",
     {"inv.toml:3: 'host' in [[node]] 'a': invalid host 'a;b': not a host name, address or "
      "ssh_config alias"}},
    {"empty node array", "node = []\n", {"inv.toml:1: 'node' is empty"}},
};

TEST(InventoryErrors, EveryBadInputIsAUsageErrorNamingLineAndKey) {
  for (const auto& bad : kBadInventories) {
    SCOPED_TRACE(bad.what);
    auto inventory = parse_inventory(bad.text, "inv.toml");
    if (inventory) {
      ADD_FAILURE() << "accepted:\n" << bad.text;
      continue;
    }
    EXPECT_EQ(inventory.error().code, ExitCode::usage);
    for (const auto& part : bad.expected) {
      EXPECT_NE(inventory.error().message.find(part), std::string::npos)
          << "expected \"" << part << "\" in:\n"
          << inventory.error().message;
    }
  }
}

TEST(InventoryErrors, EmptyTextIsAnEmptyInventory) {
  auto inventory = parse_inventory("", "inv.toml");
  ASSERT_FALSE(inventory);
  EXPECT_EQ(inventory.error().code, ExitCode::usage);
  EXPECT_EQ(inventory.error().message, "inv.toml: no [[node]]: the inventory lists no nodes");
}

}  // namespace
}  // namespace kf

namespace kf {
namespace {

TEST(InventoryKeep, DefaultsTo5AndIsSetPerNodeOrInDefaults) {
  auto inventory = parse_inventory(
      "[defaults]\nkeep = 10\n[[node]]\nname = \"a\"\nhost = \"a\"\n"
      "[[node]]\nname = \"b\"\nhost = \"b\"\nkeep = 3\n",
      "inv.toml", "/base");
  ASSERT_TRUE(inventory) << inventory.error().message;
  EXPECT_EQ(inventory->nodes[0].keep, 10);
  EXPECT_EQ(inventory->nodes[1].keep, 3);
  auto plain = parse_inventory("[[node]]\nname = \"a\"\nhost = \"a\"\n", "inv.toml", "/base");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->nodes[0].keep, 5);
  auto low =
      parse_inventory("[[node]]\nname = \"a\"\nhost = \"a\"\nkeep = 1\n", "inv.toml", "/base");
  ASSERT_FALSE(low);
  EXPECT_EQ(low.error().code, ExitCode::usage);
  EXPECT_NE(low.error().message.find("inv.toml:4"), std::string::npos) << low.error().message;
  EXPECT_NE(low.error().message.find("keep"), std::string::npos) << low.error().message;
}

}  // namespace
}  // namespace kf

namespace kf {
namespace {

TEST(InventoryLayout, GenerationsByDefaultLinkWhenSaidWithRuntimeFiles) {
  auto inventory = parse_inventory(
      "[defaults]\nlayout = \"link\"\nruntime_files = [\"random_seed\", \"S.gpg-agent*\"]\n"
      "[[node]]\nname = \"a\"\nhost = \"a\"\ndest = \"/var/lib/keytrustee/.keytrustee\"\n"
      "[[node]]\nname = \"b\"\nhost = \"b\"\nlayout = \"generations\"\nruntime_files = []\n",
      "inv.toml", "/base");
  ASSERT_TRUE(inventory) << inventory.error().message;
  const NodeConfig& a = inventory->nodes[0];
  EXPECT_EQ(a.layout, DestLayout::link);
  ASSERT_EQ(a.runtime_files.size(), 2u);
  EXPECT_EQ(a.runtime_files[1].text(), "S.gpg-agent*");
  EXPECT_EQ(a.staging, "/var/lib/keytrustee/.keytrustee.staging");
  EXPECT_EQ(a.origins.at("layout"), "inv.toml:2");
  EXPECT_EQ(inventory->nodes[1].layout, DestLayout::generations);
  EXPECT_TRUE(inventory->nodes[1].runtime_files.empty());
  auto plain = parse_inventory("[[node]]\nname = \"a\"\nhost = \"a\"\n", "inv.toml", "/base");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->nodes[0].layout, DestLayout::generations);

  // Ansible's keyfleet_* variables say the same; a list may be written as INI does.
  auto ini = parse_inventory(
      "[kms]\nkms1 keyfleet_layout=link keyfleet_runtime_files='random_seed,trustdb.gpg'\n",
      "hosts.ini", "/base");
  ASSERT_TRUE(ini) << ini.error().message;
  EXPECT_EQ(ini->nodes[0].layout, DestLayout::link);
  ASSERT_EQ(ini->nodes[0].runtime_files.size(), 2u);
  EXPECT_EQ(ini->nodes[0].runtime_files[1].text(), "trustdb.gpg");
}

TEST(InventoryLayout, BadValuesAndAStagingInsideTheGenerationsAreRefused) {
  const std::string node = "[[node]]\nname = \"a\"\nhost = \"a\"\ndest = \"/srv/kt\"\n";
  struct Bad {
    std::string text;
    std::string expected;
  };
  const std::vector<Bad> bad = {
      {node + "layout = \"symlink\"\n",
       "inv.toml:5: 'layout' in [[node]] 'a': 'symlink' is not a layout: \"generations\""},
      {node + "layout = 1\n", "inv.toml:5: 'layout' in [[node]] 'a': expected a string"},
      {node + "runtime_files = \"random_seed\"\n",
       "inv.toml:5: 'runtime_files' in [[node]] 'a': expected an array of patterns"},
      {node + "runtime_files = [\"ok\", \"[x\"]\n",
       "inv.toml:5: 'runtime_files' in [[node]] 'a': entry 2: pattern '[x': '[' without ']'"},
      {node + "runtime_files = [\"\"]\n", "inv.toml:5: 'runtime_files' in [[node]] 'a': entry 1"},
      {node + "layout = \"link\"\nstaging = \"/srv/kt.generations/tmp\"\n",
       "inv.toml:6: node 'a': 'staging' (/srv/kt.generations/tmp, line 6) is inside the "
       "generations of 'dest' (/srv/kt.generations"},
      {node + "layout = \"link\"\n[[node]]\nname = \"b\"\nhost = \"a\"\ndest = \"/srv/b\"\n"
              "staging = \"/srv/kt.generations\"\n",
       "node 'b': 'staging' (/srv/kt.generations) overlaps the generations of 'dest' "
       "(/srv/kt.generations) of node 'a' on the same host"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.text);
    auto inventory = parse_inventory(b.text, "inv.toml", "/base");
    ASSERT_FALSE(inventory);
    EXPECT_EQ(inventory.error().code, ExitCode::usage);
    EXPECT_NE(inventory.error().message.find(b.expected), std::string::npos)
        << inventory.error().message;
  }
}

TEST(InventoryBecome, WordsAreKeptAndTheDefaultStagingMovesToTheSshUsersHome) {
  auto inventory = parse_inventory(
      "[defaults]\nbecome = \"  sudo   -n \"\ndest = \"/etc/kf/agent\"\n"
      "[[node]]\nname = \"a\"\nhost = \"a\"\n"
      "[[node]]\nname = \"b\"\nhost = \"b\"\nstaging = \"/var/tmp/kf\"\n"
      "[[node]]\nname = \"c\"\nhost = \"c\"\nbecome = \"\"\n"
      "[[node]]\nname = \"d\"\nhost = \"d\"\nbecome = \"sudo -n -u agent --preserve-env=LANG\"\n",
      "inv.toml", "/base");
  ASSERT_TRUE(inventory) << inventory.error().message;
  const auto& nodes = inventory->nodes;
  EXPECT_EQ(nodes[0].become, "sudo -n");
  EXPECT_EQ(nodes[0].staging, "~/.cache/keyfleet/etc/kf/agent.staging");
  EXPECT_EQ(nodes[0].origins.at("become"), "inv.toml:2");
  EXPECT_EQ(nodes[1].become, "sudo -n");
  EXPECT_EQ(nodes[1].staging, "/var/tmp/kf");
  // An empty string turns [defaults]' become off for a node that logs in as root.
  EXPECT_EQ(nodes[2].become, "");
  EXPECT_EQ(nodes[2].staging, "/etc/kf/agent.staging");
  EXPECT_EQ(nodes[3].become, "sudo -n -u agent --preserve-env=LANG");
  auto plain = parse_inventory("[[node]]\nname = \"a\"\nhost = \"a\"\n", "inv.toml", "/base");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->nodes[0].become, "");
}

// It is put in front of a command on the node, unquoted: nothing a shell would act on.
TEST(InventoryBecome, ShellSyntaxAndControlCharactersAreRefusedWithFileAndLine) {
  const std::string node = "[[node]]\nname = \"a\"\nhost = \"a\"\n";
  struct Case {
    std::string value;  // as written in the TOML string
    std::string says;
  };
  for (const auto& [value, says] : {
           Case{"sudo -n; rm -rf /", "';' is not allowed"},
           Case{"sudo -n && true", "'&' is not allowed"},
           Case{"sudo $X", "'$' is not allowed"},
           Case{"sudo `id`", "'`' is not allowed"},
           Case{"sudo 'x'", "''' is not allowed"},
           Case{"sudo \\\"x\\\"", "'\"' is not allowed"},
           Case{"sudo > /tmp/x", "'>' is not allowed"},
           Case{"sudo *", "'*' is not allowed"},
           Case{"sudo ~root", "'~' is not allowed"},
           Case{"sudo\\t-n", "control character 0x09"},
           Case{"sudo\\n-n", "control character 0x0a"},
           Case{"sudo é", "byte 0xc3 is not allowed"},
           Case{"   ", "holds only spaces"},
       }) {
    SCOPED_TRACE(value);
    auto inventory = parse_inventory(node + "become = \"" + value + "\"\n", "inv.toml", "/base");
    ASSERT_FALSE(inventory);
    EXPECT_EQ(inventory.error().code, ExitCode::usage);
    EXPECT_NE(inventory.error().message.find("inv.toml:4: 'become' in [[node]] 'a': "),
              std::string::npos)
        << inventory.error().message;
    EXPECT_NE(inventory.error().message.find(says), std::string::npos) << inventory.error().message;
  }
  auto number = parse_inventory(node + "become = 1\n", "inv.toml", "/base");
  ASSERT_FALSE(number);
  EXPECT_NE(number.error().message.find("expected a string"), std::string::npos);
}

}  // namespace
}  // namespace kf
