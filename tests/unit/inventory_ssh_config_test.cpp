#include <sys/stat.h>

#include <cstdlib>
#include <optional>

#include <gtest/gtest.h>

#include "inventory/inventory.hpp"
#include "inventory/ssh_config.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

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

// A home directory with ~/.ssh, an ssh_config in it and an inventory next to it.
class SshConfigTest : public ::testing::Test {
 protected:
  SshConfigTest() : home_(dir_.path().string()) {
    boost::filesystem::create_directories(dir_ / ".ssh");
  }

  boost::filesystem::path config(const std::string& text, const std::string& name = "config") {
    auto path = dir_ / ".ssh" / name;
    test::write_text(path, text, 0600);
    return path;
  }

  // Parses `inventory` (TOML) with the ssh_config at `file` (or the default when unset).
  Result<Inventory> parse(const std::string& inventory,
                          std::optional<boost::filesystem::path> file = std::nullopt) {
    LoadOptions options;
    options.ssh_config = std::move(file);
    options.warn = [this](std::string_view message) { warnings_.emplace_back(message); };
    return parse_inventory(inventory, "inv.toml", dir_.path(), options);
  }

  NodeConfig node(const std::string& inventory, const boost::filesystem::path& file) {
    auto parsed = parse(inventory, file);
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed && !parsed->nodes.empty() ? parsed->nodes.front() : NodeConfig{};
  }

  std::string error(const std::string& inventory, const boost::filesystem::path& file) {
    auto parsed = parse(inventory, file);
    if (parsed) return "accepted";
    EXPECT_EQ(parsed.error().code, ExitCode::usage);
    return parsed.error().message;
  }

  static std::string one(const std::string& host, const std::string& extra = "") {
    return "[[node]]\nname = \"n\"\nhost = \"" + host + "\"\n" + extra;
  }

  TempDir dir_;
  HomeGuard home_;
  std::vector<std::string> warnings_;
};

TEST_F(SshConfigTest, FirstObtainedValueWinsAndOriginsNameTheLines) {
  auto file = config(
      "# keyfleet test\n"
      "Host web1\n"
      "  HostName 10.1.0.1\n"
      "  Port 2201\n"
      "Host web*\n"
      "  HostName 10.9.9.9\n"
      "  Port 9999\n"
      "  User deploy\n"
      "Host *\n"
      "  User nobody\n"
      "  ConnectTimeout 1m\n");
  NodeConfig n = node(one("web1"), file);
  EXPECT_EQ(n.host, "10.1.0.1");
  EXPECT_EQ(n.alias, "web1");
  EXPECT_EQ(n.port, 2201);
  EXPECT_EQ(n.user, "deploy");
  EXPECT_EQ(n.connect_timeout, 60);
  EXPECT_EQ(n.ssh_config, file.string());
  EXPECT_EQ(n.origins.at("host"), file.string() + ":3");
  EXPECT_EQ(n.origins.at("port"), file.string() + ":4");
  EXPECT_EQ(n.origins.at("user"), file.string() + ":8");
  EXPECT_EQ(n.origins.at("connect_timeout"), file.string() + ":11");
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(SshConfigTest, NegationVetoesAHostLineAndSeveralPatternsShareOne) {
  auto file = config(
      "Host web? !web3\n  Port 1001\n"
      "Host db1 web3\n  Port 1002\n"
      "Host *\n  Port 1003\n");
  EXPECT_EQ(node(one("web1"), file).port, 1001);
  EXPECT_EQ(node(one("web3"), file).port, 1002);
  EXPECT_EQ(node(one("db1"), file).port, 1002);
  EXPECT_EQ(node(one("web10"), file).port, 1003);  // '?' is exactly one character
  EXPECT_EQ(node(one("WEB1"), file).port, 1003);   // patterns match case-sensitively, as ssh's
}

TEST_F(SshConfigTest, KeywordsAnyCaseEqualsSignsQuotesAndComments) {
  auto file = config(
      "HOST=web1\n"
      "\tHOSTNAME = \"10.0.0.5\"\n"
      "  port=2222 # the port\n"
      "  IdentityFile \"/keys/my key\"\n"
      "  user ops\\ team\n");
  NodeConfig n = node(one("web1"), file);
  EXPECT_EQ(n.host, "10.0.0.5");
  EXPECT_EQ(n.port, 2222);
  EXPECT_EQ(n.identity_file, "/keys/my key");
  EXPECT_EQ(n.user, "ops team");
}

TEST_F(SshConfigTest, IncludeGlobsRelativeToDotSshAndFollowsTheBlockItSitsIn) {
  boost::filesystem::create_directories(dir_ / ".ssh" / "conf.d");
  test::write_text(dir_ / ".ssh/conf.d/10-web.conf", "Host web1\n  Port 3001\n");
  test::write_text(dir_ / ".ssh/conf.d/20-all.conf", "Port 3999\nUser inc\n");
  test::write_text(dir_ / ".ssh/conf.d/30-db.conf", "Host db1\n  Port 3002\n  User db\n");
  test::write_text(dir_ / ".ssh/extra.conf", "ConnectTimeout 42\n");
  auto file = config(
      "Include conf.d/*.conf\n"
      "Host never\n"
      "  Include extra.conf\n"
      "Host *\n"
      "  Include ~/.ssh/missing-*.conf\n"
      "  HostName 10.0.0.1\n");
  NodeConfig web = node(one("web1"), file);
  EXPECT_EQ(web.port, 3001);
  EXPECT_EQ(web.user, "inc");
  EXPECT_EQ(web.origins.at("user"), (dir_ / ".ssh/conf.d/20-all.conf").string() + ":2");
  // Each included file starts with the Include line's state (as OpenSSH restores it after each
  // file): 10-web.conf's "Host web1" does not reach into 20-all.conf, which comes before db1's.
  NodeConfig db = node(one("db1"), file);
  EXPECT_EQ(db.port, 3999);
  EXPECT_EQ(db.user, "inc");
  EXPECT_EQ(db.host, "10.0.0.1");  // and the included Host lines do not reach back out either
  NodeConfig other = node(one("other"), file);
  EXPECT_EQ(other.connect_timeout, 10);  // extra.conf sits under "Host never"
}

TEST_F(SshConfigTest, MatchBlocksWarnWithTheirLineAndAreNotApplied) {
  auto file = config(
      "Match host web1 exec \"true\"\n"
      "  Port 5001\n"
      "Host web1\n"
      "  Port 5002\n");
  NodeConfig n = node(one("web1"), file);
  EXPECT_EQ(n.port, 5002);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(warnings_[0], file.string() +
                              ":1: 'Match' is not supported by keyfleet: the options of this "
                              "block are not applied (use Host blocks)");
}

TEST_F(SshConfigTest, HostKeyOptionsAndEverythingElseAreIgnored) {
  auto file = config(
      "Host *\n"
      "  StrictHostKeyChecking no\n"
      "  UserKnownHostsFile /dev/null\n"
      "  GlobalKnownHostsFile /dev/null\n"
      "  CheckHostIP no\n"
      "  ProxyCommand nc %h %p\n"
      "  NoSuchKeyword whatever\n"
      "  HostName 10.0.0.7\n");
  NodeConfig n = node(one("web1", "known_hosts = \"/fleet/known_hosts\"\n"), file);
  EXPECT_EQ(n.host, "10.0.0.7");
  EXPECT_EQ(n.known_hosts, "/fleet/known_hosts");
  NodeConfig unset = node(one("web1"), file);
  EXPECT_EQ(unset.known_hosts, (dir_ / ".ssh/known_hosts").string());
  EXPECT_TRUE(unset.jump.empty());
}

TEST_F(SshConfigTest, TheInventoryWinsOverTheSshConfigButBuiltInDefaultsDoNot) {
  auto file = config(
      "Host web1\n  HostName 10.0.0.8\n  Port 2201\n  User deploy\n  IdentityFile ~/.ssh/id_web\n"
      "  ConnectTimeout 7\n");
  NodeConfig set =
      node("[defaults]\nuser = \"ops\"\n" + one("web1", "port = 22\nconnect_timeout = 3\n"), file);
  EXPECT_EQ(set.host, "10.0.0.8");
  EXPECT_EQ(set.port, 22);
  EXPECT_EQ(set.user, "ops");
  EXPECT_EQ(set.connect_timeout, 3);
  EXPECT_EQ(set.identity_file, (dir_ / ".ssh/id_web").string());
  EXPECT_EQ(set.origins.at("port"), "inv.toml:6");
  EXPECT_EQ(set.origins.at("user"), "inv.toml:2");

  NodeConfig defaults = node(one("web1"), file);
  EXPECT_EQ(defaults.port, 2201);
  EXPECT_EQ(defaults.user, "deploy");
  EXPECT_EQ(defaults.connect_timeout, 7);
}

TEST_F(SshConfigTest, TokensExpandInHostNameAndIdentityFile) {
  auto file = config(
      "Host web*\n"
      "  HostName %h.example.com\n"
      "  Port 2200\n"
      "  IdentityFile ~/.ssh/id_%r@%h:%p_%n_100%%\n");
  NodeConfig n = node(one("web1", "user = \"ops\"\n"), file);
  EXPECT_EQ(n.host, "web1.example.com");
  EXPECT_EQ(n.identity_file, (dir_ / ".ssh/id_ops@web1.example.com:2200_web1_100%").string());

  auto bad = config("Host *\n  HostName %p.example.com\n", "bad");
  EXPECT_NE(error(one("web1"), bad)
                .find(bad.string() + ":2: HostName: '%p.example.com': "
                                     "keyfleet does not expand '%p' here"),
            std::string::npos);
}

TEST_F(SshConfigTest, ProxyJumpBecomesResolvedHopsAndTheInventoryCanTurnItOff) {
  auto file = config(
      "Host bastion\n  HostName 192.0.2.1\n  Port 2022\n  User jump\n"
      "Host web*\n  ProxyJump ops@bastion,[2001:db8::9]:2200,edge\n  HostName 10.0.0.9\n");
  NodeConfig n = node(one("web1"), file);
  ASSERT_EQ(n.jump.size(), 3u);
  EXPECT_EQ(n.jump[0].alias, "bastion");
  EXPECT_EQ(n.jump[0].host, "192.0.2.1");
  EXPECT_EQ(n.jump[0].port, 2022);
  EXPECT_EQ(n.jump[0].user, "ops");  // written in the ProxyJump: wins over the hop's User
  EXPECT_EQ(n.jump[1].host, "2001:db8::9");
  EXPECT_EQ(n.jump[1].port, 2200);
  EXPECT_EQ(n.jump[2].host, "edge");
  EXPECT_EQ(n.jump[2].port, 22);
  EXPECT_FALSE(n.jump[2].user.empty());  // the local user, as ssh -J
  EXPECT_EQ(n.origins.at("jump"), file.string() + ":6");

  EXPECT_TRUE(node(one("web1", "jump = \"none\"\n"), file).jump.empty());
  NodeConfig own = node(one("web1", "jump = \"admin@bastion:22\"\n"), file);
  ASSERT_EQ(own.jump.size(), 1u);
  EXPECT_EQ(own.jump[0].host, "192.0.2.1");
  EXPECT_EQ(own.jump[0].port, 22);
  EXPECT_EQ(own.jump[0].user, "admin");
}

TEST_F(SshConfigTest, TheDefaultIsDotSshConfigWhenItExistsAndNoneTurnsItOff) {
  auto file = config("Host web1\n  HostName 10.0.0.10\n  Port 2345\n");
  auto inventory_file = dir_ / "inv.toml";
  test::write_text(inventory_file, one("web1"));
  auto by_default = load_inventory(inventory_file);
  ASSERT_TRUE(by_default) << by_default.error().message;
  EXPECT_EQ(by_default->ssh_config, file.string());
  EXPECT_EQ(by_default->nodes.at(0).port, 2345);

  LoadOptions none;
  none.ssh_config = "none";
  auto off = load_inventory(inventory_file, none);
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->ssh_config, "");
  EXPECT_EQ(off->nodes.at(0).host, "web1");
  EXPECT_EQ(off->nodes.at(0).port, 22);

  boost::filesystem::remove(file);
  auto absent = load_inventory(inventory_file);
  ASSERT_TRUE(absent) << absent.error().message;
  EXPECT_EQ(absent->ssh_config, "");
}

TEST_F(SshConfigTest, AnSshConfigOthersMayWriteIsRefusedAsOpenSshRefusesIt) {
  auto file = config("Host web1\n  Port 2345\n");
  ::chmod(file.c_str(), 0666);
  auto loaded = parse(one("web1"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("bad owner or permissions"), std::string::npos)
      << loaded.error().message;
}

TEST_F(SshConfigTest, AnAliasThatResolvesNowhereHintsAtSshConfig) {
  LoadOptions none;
  none.ssh_config = "none";
  auto refused = parse_inventory(one("prod_db"), "inv.toml", dir_.path(), none);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("inv.toml:3: 'host' in [[node]] 'n': invalid host "
                                         "'prod_db'"),
            std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("no ssh_config was read: if 'prod_db' is a Host alias, "
                                         "name its file with --ssh-config FILE"),
            std::string::npos)
      << refused.error().message;

  auto file = config("Host web*\n  HostName 10.0.0.1\n");
  NodeConfig plain = node(one("db1"), file);
  EXPECT_EQ(unresolved_host_hint(plain),
            "no Host block with a HostName in " + file.string() + " matches 'db1'");
  NodeConfig aliased = node(one("web1"), file);
  EXPECT_EQ(unresolved_host_hint(aliased),
            "'10.0.0.1' is the HostName that " + file.string() + ":2 gives for 'web1'");
}

TEST_F(SshConfigTest, BadLinesAreUsageErrorsNamingFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"Host *\n  Port none-such-service\n", ":2: port: bad port 'none-such-service'"},
      {"Host *\n  Port\n", ":2: port: no argument"},
      {"Host *\n  HostName \"unterminated\n", ":2: hostname: invalid quotes"},
      {"Host *\n  User a b\n", ":2: user: extra arguments at end of line"},
      {"Host *\n  ProxyJump user@@\n", ":2: proxyjump: "},
      {"Host *\n  ConnectTimeout 5x\n", ":2: connecttimeout: invalid time value '5x'"},
      {"Host *\n  HostName bad..name\n", ":2: HostName for 'web1': invalid host 'bad..name'"},
      {"Host *\n  User ok\xff\n", ":2: invalid UTF-8"},
  };
  for (const auto& c : cases) {
    auto file = config(c.text, "case");
    EXPECT_NE(error(one("web1"), file).find(file.string() + c.expected), std::string::npos)
        << c.text << "\n"
        << error(one("web1"), file);
  }
  auto missing = error(one("web1"), dir_ / "nope");
  EXPECT_EQ(missing,
            "cannot read ssh_config " + (dir_ / "nope").string() + ": No such file or directory");
}

TEST(SshPatterns, MatchAndConvtimeFollowOpenSsh) {
  using inventory::ssh_convtime;
  using inventory::ssh_pattern_match;
  EXPECT_TRUE(ssh_pattern_match("web1.example.com", "web*"));
  EXPECT_TRUE(ssh_pattern_match("web1", "w?b1"));
  EXPECT_TRUE(ssh_pattern_match("", "*"));
  EXPECT_FALSE(ssh_pattern_match("web1", "web"));
  EXPECT_TRUE(ssh_pattern_match("a-b-c", "*-*-*"));
  EXPECT_FALSE(ssh_pattern_match("ab", "a*c"));
  EXPECT_EQ(ssh_convtime("90"), 90);
  EXPECT_EQ(ssh_convtime("1h30m"), 5400);
  EXPECT_EQ(ssh_convtime("2W"), 14 * 86400);
  EXPECT_EQ(ssh_convtime("1.5"), 1);
  EXPECT_EQ(ssh_convtime("1.5m"), std::nullopt);
  EXPECT_EQ(ssh_convtime("5s5s"), std::nullopt);
  EXPECT_EQ(ssh_convtime(""), std::nullopt);
}

}  // namespace
}  // namespace kf
