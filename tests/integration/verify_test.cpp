// `keyfleet verify` against a real 5-node sshd fleet on loopback, key directories installed with
// the same install code (and layout) push uses.
#include <fstream>
#include <memory>

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
using ::testing::HasSubstr;
using ::testing::Not;

class VerifyTest : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    fleet_ = std::make_unique<Fleet>(5);
    keys_ = std::make_unique<test::TempDir>();
    for (std::uint64_t g = 1; g <= 2; ++g) {
      fs::path dir = keys_->path() / ("gen" + std::to_string(g));
      test::write_keyset(dir, g);
      bundle::BundleOptions options;
      options.work_factor = test::kTestWorkFactor;
      auto made = bundle::make_bundle(dir, test::kPassphrase, options);
      ASSERT_TRUE(made) << made.error().message;
      fs::path file = keys_->path() / ("gen" + std::to_string(g) + ".age");
      ASSERT_TRUE(bundle::write_bundle_file(file, made->bytes));
    }
    test::write_text(keys_->path() / "pass", std::string(test::kPassphrase) + "\n", 0600);
    started_ = true;
  }
  static void TearDownTestSuite() {
    fleet_.reset();
    keys_.reset();
    started_ = false;
  }
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
    for (const auto& node : fleet_->nodes()) {
      for (fs::directory_iterator it(node.dest), end; it != end; ++it) fs::remove_all(it->path());
    }
  }
  void TearDown() override {
    if (fleet_) fleet_->restore_known_hosts();
  }

  static void install(int k, std::uint64_t generation) {
    auto opened = bundle::load_bundle(bundle_file(generation), test::kPassphrase);
    ASSERT_TRUE(opened) << opened.error().message;
    auto report = keydir::install_bundle(*opened, fleet_->node(k).dest, {});
    ASSERT_TRUE(report) << report.error().message;
  }
  static void install_all(std::uint64_t generation) {
    for (int k = 1; k <= fleet_->size(); ++k) install(k, generation);
  }
  static fs::path bundle_file(std::uint64_t g) {
    return keys_->path() / ("gen" + std::to_string(g) + ".age");
  }
  static fs::path manifest(std::uint64_t g) {
    return keys_->path() / ("gen" + std::to_string(g)) / "manifest.json";
  }
  static test::RunResult verify(std::vector<std::string> extra) {
    std::vector<std::string> args = {"verify", "--inventory", fleet_->inventory().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::keyfleet(args);
  }
  static std::map<std::string, std::string> statuses(const test::RunResult& result) {
    auto doc = nlohmann::json::parse(result.out);
    std::map<std::string, std::string> out;
    for (const auto& node : doc["nodes"]) out[node["name"]] = node["status"];
    return out;
  }
  static const Fleet& fleet() { return *fleet_; }
  static Fleet& mutable_fleet() { return *fleet_; }

 private:
  static std::unique_ptr<Fleet> fleet_;
  static std::unique_ptr<test::TempDir> keys_;
};

std::unique_ptr<Fleet> VerifyTest::fleet_;
std::unique_ptr<test::TempDir> VerifyTest::keys_;

TEST_F(VerifyTest, IdenticalInstallsPassEveryWay) {
  install_all(2);
  // The manifest create-keys wrote lists ca.key; the bundle left it out: the rule in --help.
  auto by_manifest = verify({"--manifest", manifest(2).string(), "--json"});
  EXPECT_EQ(by_manifest.exit_code, 0) << by_manifest.out << by_manifest.err;
  auto doc = nlohmann::json::parse(by_manifest.out);
  EXPECT_EQ(doc["command"], "verify");
  EXPECT_EQ(doc["generation"], 2);
  EXPECT_EQ(doc["summary"]["ok"], 5);

  auto by_bundle = verify({"--bundle", bundle_file(2).string(), "--passphrase-file",
                           (bundle_file(2).parent_path() / "pass").string(), "--json"});
  EXPECT_EQ(by_bundle.exit_code, 0) << by_bundle.out << by_bundle.err;
  EXPECT_EQ(nlohmann::json::parse(by_bundle.out)["bundle_sha256"].get<std::string>().size(), 64u);

  auto by_majority = verify({});
  EXPECT_EQ(by_majority.exit_code, 0) << by_majority.out << by_majority.err;
  EXPECT_THAT(by_majority.out, HasSubstr("ok (5): node[1-5]"));
}

// A bundle sealed to an age recipient opens for verify with --identity alone; a stranger's
// identity is exit 3 and none at all exit 2, before any node is contacted.
TEST_F(VerifyTest, ABundleSealedToARecipientOpensWithItsIdentity) {
  install_all(2);
  test::TempDir work;
  const fs::path identity = work.path() / "identity";
  const fs::path stranger = work.path() / "stranger";
  auto made = test::keyfleet({"keygen", "--out", identity.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  ASSERT_EQ(test::keyfleet({"keygen", "--out", stranger.string()}).exit_code, 0);
  const std::string recipient = made.out.substr(0, made.out.find('\n'));
  const fs::path sealed = work.path() / "gen2-x25519.age";
  auto bundled = test::keyfleet({"bundle", "--keys", manifest(2).parent_path().string(), "--out",
                                 sealed.string(), "--recipient", recipient});
  ASSERT_EQ(bundled.exit_code, 0) << bundled.err;

  auto opened = verify({"--bundle", sealed.string(), "--identity", identity.string(), "--json"});
  EXPECT_EQ(opened.exit_code, 0) << opened.out << opened.err;
  EXPECT_EQ(
      statuses(opened),
      (std::map<std::string, std::string>{
          {"node1", "ok"}, {"node2", "ok"}, {"node3", "ok"}, {"node4", "ok"}, {"node5", "ok"}}));
  auto wrong = verify({"--bundle", sealed.string(), "--identity", stranger.string()});
  EXPECT_EQ(wrong.exit_code, 3) << wrong.err;
  EXPECT_THAT(wrong.err, HasSubstr("no identity matched"));
  auto none = verify({"--bundle", sealed.string()});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_THAT(none.err, HasSubstr("--identity"));
}

TEST_F(VerifyTest, EditedFileOnOneNodeIsNamed) {
  install_all(2);
  {
    std::ofstream edit((fs::path(fleet().node(3).dest) / "current" / "agent.crt").string(),
                       std::ios::app);
    edit << "tampered";
  }
  auto result = verify({"--manifest", manifest(2).string()});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("node3"));
  EXPECT_THAT(result.out, HasSubstr("agent.crt"));
  EXPECT_THAT(result.out, HasSubstr("ok (4)"));

  auto json = verify({"--manifest", manifest(2).string(), "--json"});
  EXPECT_EQ(json.exit_code, 1);
  auto status = statuses(json);
  EXPECT_EQ(status["node3"], "mismatch");
  EXPECT_EQ(status["node1"], "ok");

  auto by_majority = verify({"--json"});
  EXPECT_EQ(by_majority.exit_code, 1);
  auto doc = nlohmann::json::parse(by_majority.out);
  EXPECT_EQ(doc["nodes"][2]["status"], "mismatch");
  EXPECT_THAT(doc["nodes"][2]["error"].get<std::string>(), HasSubstr("agent.crt"));
  EXPECT_EQ(doc["summary"]["ok"], 4);
}

TEST_F(VerifyTest, OlderGenerationIsStaleAndNoneIsMissing) {
  install_all(1);
  for (int k : {1, 2, 4}) install(k, 2);
  auto result = verify({"--manifest", manifest(2).string(), "--json"});
  EXPECT_EQ(result.exit_code, 1);
  auto status = statuses(result);
  EXPECT_EQ(status["node3"], "stale");
  EXPECT_EQ(status["node5"], "stale");
  EXPECT_EQ(status["node1"], "ok");

  auto by_majority = verify({"--json"});
  EXPECT_EQ(statuses(by_majority)["node5"], "stale");
  EXPECT_EQ(nlohmann::json::parse(by_majority.out)["generation"], 2);

  // No `current` while generations are there is damage, not a node without keys.
  fs::remove(fs::path(fleet().node(2).dest) / "current");
  EXPECT_EQ(statuses(verify({"--manifest", manifest(2).string(), "--json"}))["node2"], "damaged");
  fs::remove_all(fleet().node(2).dest);
  fs::create_directories(fleet().node(2).dest);
  EXPECT_EQ(statuses(verify({"--manifest", manifest(2).string(), "--json"}))["node2"], "missing");
}

TEST_F(VerifyTest, WrongKnownHostsEntryIsHostkey) {
  install_all(2);
  mutable_fleet().corrupt_known_host(4);
  auto result = verify({"--manifest", manifest(2).string(), "--json"});
  EXPECT_EQ(result.exit_code, 3) << result.err;  // a host key failure outranks the others
  auto status = statuses(result);
  EXPECT_EQ(status["node4"], "hostkey");
  EXPECT_EQ(status["node1"], "ok");
  EXPECT_EQ(status["node5"], "ok");
}

TEST_F(VerifyTest, UsageErrors) {
  auto both = verify({"--manifest", manifest(2).string(), "--bundle", bundle_file(2).string()});
  EXPECT_EQ(both.exit_code, 2);
  auto no_file = verify({"--manifest", "/nonexistent/manifest.json"});
  EXPECT_EQ(no_file.exit_code, 2) << no_file.err;
}

}  // namespace
}  // namespace kf
