// An inventory that names its node by an ~/.ssh/config Host alias, against a real sshd on
// loopback: the alias's HostName, Port and User reach the node, and nothing in the ssh_config
// loosens host key checking.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/bundle.hpp"
#include "keydir/local_install.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fleet_fixture.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;

class SshConfigFleetTest : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    fleet_ = std::make_unique<Fleet>(1);
    keys_ = std::make_unique<test::TempDir>();
    fs::path dir = keys_->path() / "gen1";
    test::write_keyset(dir, 1);
    bundle::BundleOptions options;
    options.work_factor = test::kTestWorkFactor;
    auto made = bundle::make_bundle(dir, test::kPassphrase, options);
    ASSERT_TRUE(made) << made.error().message;
    auto opened = bundle::open_bundle(made->bytes, test::kPassphrase);
    ASSERT_TRUE(opened) << opened.error().message;
    auto installed = keydir::install_bundle(*opened, fleet_->node(1).dest, {});
    ASSERT_TRUE(installed) << installed.error().message;
    started_ = true;
  }
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
  }
  static void TearDownTestSuite() {
    fleet_.reset();
    keys_.reset();
    started_ = false;
  }
  void TearDown() override {
    if (fleet_) fleet_->restore_known_hosts();
  }

  // The fleet's node 1 under the alias "kf-node1", which only the ssh_config resolves.
  fs::path alias_inventory() const {
    const NodeConfig& node = fleet_->node(1);
    fs::path path = fleet_->dir() / "alias.toml";
    test::write_text(path, fmt::format("[defaults]\n"
                                       "identity_file = \"{}\"\n"
                                       "known_hosts = \"{}\"\n"
                                       "connect_timeout = 5\n"
                                       "timeout = 60\n"
                                       "[[node]]\n"
                                       "name = \"node1\"\n"
                                       "host = \"kf-node1\"\n"
                                       "dest = \"{}\"\n"
                                       "staging = \"{}\"\n",
                                       fleet_->client_key().string(),
                                       fleet_->known_hosts().string(), node.dest, node.staging));
    return path;
  }

  // $HOME/.ssh/config for keyfleet's run; the fleet commands read it by default.
  void ssh_config(const std::string& extra) const {
    const NodeConfig& node = fleet_->node(1);
    fs::create_directories(home_.path() / ".ssh");
    test::write_text(home_.path() / ".ssh/config",
                     fmt::format("Host kf-node*\n"
                                 "  HostName 127.0.0.1\n"
                                 "  Port {}\n"
                                 "  User {}\n"
                                 "{}",
                                 node.port, node.user, extra),
                     0600);
  }

  test::RunResult verify() const {
    test::RunOptions options;
    options.env["HOME"] = home_.path().string();
    return test::keyfleet({"verify", "--inventory", alias_inventory().string(), "--json"}, options);
  }

  static nlohmann::json node_report(const test::RunResult& r) {
    auto document = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(document.is_discarded()) << r.out << r.err;
    return document.is_discarded() ? nlohmann::json{} : document["nodes"][0];
  }

  static std::unique_ptr<Fleet> fleet_;
  static std::unique_ptr<test::TempDir> keys_;
  test::TempDir home_;
};

std::unique_ptr<Fleet> SshConfigFleetTest::fleet_;
std::unique_ptr<test::TempDir> SshConfigFleetTest::keys_;

TEST_F(SshConfigFleetTest, AHostAliasReachesItsNodeThroughHostNamePortAndUser) {
  ssh_config("");
  auto r = verify();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto node = node_report(r);
  EXPECT_EQ(node["status"], "ok") << node.dump();
  EXPECT_EQ(node["host"], "127.0.0.1");
}

TEST_F(SshConfigFleetTest, WithoutTheSshConfigTheAliasReachesNothing) {
  auto r = verify();  // HOME has no .ssh/config
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(node_report(r)["status"], "ok") << r.out;
}

// The lead's exit-code change will make a host key failure exit 3; until then it is 1.
TEST_F(SshConfigFleetTest, SshConfigCannotTurnOffHostKeyChecking) {
  ssh_config(
      "  StrictHostKeyChecking no\n"
      "  UserKnownHostsFile /dev/null\n"
      "  GlobalKnownHostsFile /dev/null\n"
      "  CheckHostIP no\n");
  fleet_->corrupt_known_host(1);
  auto r = verify();
  EXPECT_THAT(r.exit_code, ::testing::AnyOf(1, 3)) << r.out << r.err;
  EXPECT_EQ(node_report(r)["status"], "hostkey") << r.out;
}

}  // namespace
}  // namespace kf
