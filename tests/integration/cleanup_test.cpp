// `keyfleet cleanup` against a real 5-node sshd fleet on loopback: staged copies put where push
// puts them, generations installed with the same install code push's layout follows.
#include <sys/stat.h>

#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/bundle.hpp"
#include "core/secret.hpp"
#include "keydir/layout.hpp"
#include "keydir/local_install.hpp"
#include "push_support.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fleet_fixture.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::uint64_t kGenerations = 4;

class CleanupTest : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    fleet_ = std::make_unique<Fleet>(5);
    keys_ = std::make_unique<test::TempDir>();
    for (std::uint64_t g = 1; g <= kGenerations; ++g) {
      fs::path dir = keys_->path() / ("gen" + std::to_string(g));
      test::write_keyset(dir, g);
      bundle::BundleOptions options;
      options.work_factor = test::kTestWorkFactor;
      auto made = bundle::make_bundle(dir, test::kPassphrase, options);
      ASSERT_TRUE(made) << made.error().message;
      auto opened = bundle::open_bundle(made->bytes, test::kPassphrase);
      ASSERT_TRUE(opened) << opened.error().message;
      bundles_.push_back(std::move(*opened));
      bytes_.push_back(made->bytes);
    }
    started_ = true;
  }
  static void TearDownTestSuite() {
    fleet_.reset();
    keys_.reset();
    bundles_.clear();
    started_ = false;
  }
  // Every node on generation kGenerations with all older ones kept, and two staged copies.
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
    for (const auto& node : fleet_->nodes()) {
      fs::remove_all(node.staging);
      for (fs::directory_iterator it(node.dest), end; it != end; ++it) fs::remove_all(it->path());
      for (const auto& opened : bundles_) {
        keydir::LocalInstallOptions options;
        options.keep = 99;
        auto report = keydir::install_bundle(opened, node.dest, options);
        ASSERT_TRUE(report) << report.error().message;
      }
      stage(node, "3f9a2c00d1e5b7a4", bytes_.back());
      stage(node, "77b0e1c2a9f3d856", bytes_.front());
    }
  }

  static void stage(const NodeConfig& node, const std::string& name,
                    const std::vector<std::uint8_t>& data) {
    fs::create_directories(node.staging);
    fs::path dir = fs::path(node.staging) / name;
    fs::create_directory(dir);
    fs::permissions(dir, fs::owner_all);
    test::write_text(dir / "bundle.kfb", std::string(data.begin(), data.end()), 0600);
  }
  static std::vector<std::uint64_t> generations(const NodeConfig& node) {
    std::vector<std::uint64_t> out;
    for (fs::directory_iterator it(fs::path(node.dest) / "generations"), end; it != end; ++it) {
      if (auto g = parse_generation_name(it->path().filename().string())) out.push_back(*g);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::size_t files_under(const fs::path& dir) {
    if (!fs::exists(dir)) return 0;
    std::size_t n = 0;
    for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
      if (!fs::is_directory(it->symlink_status())) ++n;
    }
    return n;
  }
  static test::RunResult cleanup(std::vector<std::string> extra) {
    std::vector<std::string> args = {"cleanup", "--inventory", fleet_->inventory().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::keyfleet(args);
  }
  // The current generation's files, to check cleanup never touched them.
  static std::map<std::string, std::string> current_files(const NodeConfig& node) {
    return test::snapshot(fs::path(node.dest) / "generations" / generation_name(kGenerations));
  }

  static const Fleet& fleet() { return *fleet_; }
  static std::unique_ptr<test::TempDir> keys_;

 private:
  static std::unique_ptr<Fleet> fleet_;
  static std::vector<bundle::OpenedBundle> bundles_;
  static std::vector<std::vector<std::uint8_t>> bytes_;
};

std::unique_ptr<Fleet> CleanupTest::fleet_;
std::unique_ptr<test::TempDir> CleanupTest::keys_;
std::vector<bundle::OpenedBundle> CleanupTest::bundles_;
std::vector<std::vector<std::uint8_t>> CleanupTest::bytes_;

TEST_F(CleanupTest, WipesEveryStagedCopyAndIsIdempotent) {
  // A second name for one staged copy, outside staging: it shows what cleanup wrote into the
  // file before unlinking it.
  const NodeConfig& node2 = fleet().node(2);
  fs::path witness = fleet().dir() / "witness";
  fs::create_hard_link(fs::path(node2.staging) / "3f9a2c00d1e5b7a4" / "bundle.kfb", witness);
  std::size_t witness_size = fs::file_size(witness);
  auto before = current_files(fleet().node(1));

  fs::path local = keys_->path() / "local-copy.age";
  test::write_text(local, "local ciphertext", 0600);
  auto result = cleanup({"--bundle", local.string()});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("node1: wiped 2 staged copies"));
  EXPECT_THAT(result.out, HasSubstr("ok (5): node[1-5]"));
  EXPECT_FALSE(fs::exists(local));

  for (const auto& node : fleet().nodes()) {
    EXPECT_EQ(files_under(node.staging), 0u) << node.name;
    // STAGING itself stays, empty: nobody else can take its name before the next push.
    EXPECT_TRUE(fs::is_empty(node.staging)) << node.name;
    EXPECT_THAT(generations(node), ElementsAre(1, 2, 3, 4)) << node.name;  // --keep 5
  }
  EXPECT_EQ(test::read_text(witness), std::string(witness_size, '\0'));
  EXPECT_EQ(current_files(fleet().node(1)), before);

  test::write_text(local, "a second local copy", 0600);
  auto again = cleanup({"--json", "--bundle", local.string()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  auto doc = nlohmann::json::parse(again.out);
  EXPECT_EQ(doc["command"], "cleanup");
  EXPECT_EQ(doc["summary"]["ok"], 5);
  EXPECT_EQ(doc["nodes"][0]["detail"], "nothing to clean") << again.out;
  EXPECT_EQ(doc["local"]["bundle"], local.string());
  EXPECT_EQ(doc["local"]["wiped"], true);
  EXPECT_FALSE(fs::exists(local));
}

TEST_F(CleanupTest, KeepPrunesOldestButNeverCurrentOrPrevious) {
  auto before = current_files(fleet().node(3));
  auto result = cleanup({"--keep", "2"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("removed generations 000001 (manifest "));
  EXPECT_THAT(result.out, HasSubstr("remaining: 000003 (manifest "));
  for (const auto& node : fleet().nodes()) {
    EXPECT_THAT(generations(node), ElementsAre(3, 4)) << node.name;
    EXPECT_EQ(fs::read_symlink(fs::path(node.dest) / "current").string(), "generations/000004");
    for (fs::directory_iterator it(fs::path(node.dest) / "generations"), end; it != end; ++it) {
      EXPECT_FALSE(it->path().filename().string().starts_with(".tmp-")) << it->path();
    }
  }
  EXPECT_EQ(current_files(fleet().node(3)), before);
  EXPECT_EQ(cleanup({"--keep", "1"}).exit_code, 2);  // below the minimum: usage
}

TEST_F(CleanupTest, PurgeOldLeavesOnlyCurrentAndGivesAReceipt) {
  auto before = current_files(fleet().node(5));
  std::map<std::uint64_t, std::string> manifests;
  for (std::uint64_t g = 1; g <= kGenerations; ++g) {
    manifests[g] = sha256_hex(as_bytes(test::read_text(
        fs::path(fleet().node(1).dest) / "generations" / generation_name(g) / "manifest.json")));
  }
  auto trees = test::node_trees(fleet());

  // Key material goes for good: asked first, and refused without a terminal or --yes.
  auto unconfirmed = cleanup({"--purge-old"});
  EXPECT_EQ(unconfirmed.exit_code, 4) << unconfirmed.out << unconfirmed.err;
  EXPECT_THAT(unconfirmed.err, HasSubstr("pass --yes"));
  EXPECT_EQ(test::node_trees(fleet()), trees);

  auto dry = cleanup({"--purge-old", "--dry-run", "--json"});
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  auto planned = nlohmann::json::parse(dry.out);
  EXPECT_EQ(planned["command"], "cleanup");
  EXPECT_EQ(planned["nodes"][0]["removed"].size(), 3u) << dry.out;
  EXPECT_EQ(test::node_trees(fleet()), trees);

  auto result = cleanup({"--purge-old", "--yes", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  for (const auto& node : fleet().nodes()) {
    EXPECT_THAT(generations(node), ElementsAre(4)) << node.name;
    EXPECT_EQ(files_under(node.staging), 0u) << node.name;
  }
  EXPECT_EQ(current_files(fleet().node(5)), before);
  auto doc = nlohmann::json::parse(result.out);
  const auto& node1 = doc["nodes"][0];
  ASSERT_EQ(node1["removed"].size(), 3u) << node1;
  for (std::uint64_t g = 1; g <= 3; ++g) {
    EXPECT_EQ(node1["removed"][g - 1]["generation"], g) << node1;
    EXPECT_EQ(node1["removed"][g - 1]["manifest_sha256"], manifests[g]) << node1;
  }
  ASSERT_EQ(node1["remaining"].size(), 1u) << node1;
  EXPECT_EQ(node1["remaining"][0]["generation"], 4);
  EXPECT_EQ(node1["remaining"][0]["manifest_sha256"], manifests[4]);
  EXPECT_EQ(node1["remaining"][0]["current"], true);
  EXPECT_EQ(node1["wiped"].size(), 2u);

  auto again = cleanup({"--purge-old", "--yes", "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["nodes"][0]["removed"].size(), 0u);
}

// On a terminal --purge-old shows what would go and asks, as push does.
TEST_F(CleanupTest, PurgeOldAsksOnATerminal) {
  auto ask = [&](const std::string& answer) {
    test::RunOptions options;
    options.input = answer + "\n";
    return test::run({"script", "-qec",
                      fmt::format("{} cleanup --inventory {} --purge-old --limit node1",
                                  test::keyfleet_bin(), fleet().inventory().string()),
                      "/dev/null"},
                     options);
  };
  auto refused = ask("n");
  EXPECT_THAT(refused.out,
              HasSubstr("Remove 3 old generations from 1 node, keeping only current?"));
  EXPECT_THAT(refused.out, HasSubstr("not confirmed"));
  EXPECT_THAT(generations(fleet().node(1)), ElementsAre(1, 2, 3, 4));
  auto confirmed = ask("y");
  EXPECT_THAT(confirmed.out, HasSubstr("removed generations 000001"));
  EXPECT_THAT(generations(fleet().node(1)), ElementsAre(4));
}

// Without a generation `current` names, nobody can tell which keys the services use: the purge
// removes none, fails that node and says what is left.
TEST_F(CleanupTest, PurgeOldWithADanglingCurrentFailsThatNodeAndNamesWhatIsLeft) {
  const NodeConfig& node2 = fleet().node(2);
  fs::path current = fs::path(node2.dest) / "current";
  fs::remove(current);
  fs::create_symlink("generations/000009", current);
  auto result = cleanup({"--purge-old", "--yes", "--json"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto doc = nlohmann::json::parse(result.out);
  const auto& failed = doc["nodes"][1];
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["step"], "prune");
  EXPECT_THAT(failed["error"].get<std::string>(),
              HasSubstr("current is a dangling link to 'generations/000009'; nothing purged: "
                        "generations 000001, 000002, 000003, 000004 remain"));
  EXPECT_EQ(failed["remaining"].size(), 4u) << failed;
  EXPECT_EQ(failed["wiped"].size(), 2u) << failed;  // staged copies are wiped all the same
  EXPECT_THAT(generations(node2), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(doc["nodes"][0]["status"], "ok");
  EXPECT_THAT(generations(fleet().node(1)), ElementsAre(4));
}

TEST_F(CleanupTest, LeftoversOfInterruptedRunsAreRemovedAndListed) {
  const NodeConfig& node3 = fleet().node(3);
  fs::path tmp = fs::path(node3.dest) / "generations" / ".tmp-0badc0de";
  fs::create_directory(tmp);
  test::write_text(tmp / "agent.key", "plaintext of an interrupted install");
  fs::create_symlink("generations/000002", fs::path(node3.dest) / "current.tmp-5eed");
  auto result = cleanup({"--json", "--limit", "node3"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_FALSE(fs::is_symlink(fs::path(node3.dest) / "current.tmp-5eed"));
  auto leftovers = nlohmann::json::parse(result.out)["nodes"][0]["leftovers"].dump();
  EXPECT_THAT(leftovers, HasSubstr("generations/.tmp-0badc0de"));
  EXPECT_THAT(leftovers, HasSubstr("current.tmp-5eed"));
}

// The local bundle goes only once every node is clean; a rerun with it gone is no error.
TEST_F(CleanupTest, TheLocalBundleIsWipedOnlyOnceEveryNodeIsClean) {
  fs::path local = keys_->path() / "local.kfb";
  test::write_text(local, "local ciphertext", 0600);
  fs::path inventory = fleet().inventory_with("unreachable.toml",
                                              {{4, fmt::format("port = {}", test::unused_port())}});
  auto partial = test::keyfleet(
      {"cleanup", "--inventory", inventory.string(), "--bundle", local.string(), "--json"});
  EXPECT_EQ(partial.exit_code, 1) << partial.out << partial.err;
  EXPECT_TRUE(fs::exists(local));
  auto doc = nlohmann::json::parse(partial.out);
  EXPECT_EQ(doc["local"]["wiped"], false);

  auto rest = cleanup({"--bundle", local.string()});
  EXPECT_EQ(rest.exit_code, 0) << rest.out << rest.err;
  EXPECT_THAT(rest.out, HasSubstr("local: wiped " + local.string()));
  EXPECT_FALSE(fs::exists(local));

  auto rerun = cleanup({"--bundle", local.string(), "--json"});
  EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  auto again = nlohmann::json::parse(rerun.out);
  EXPECT_EQ(again["local"]["wiped"], true);
  EXPECT_EQ(again["local"]["already_gone"], true);
}

TEST_F(CleanupTest, ABundleArgumentThatIsNoFileIsAUsageErrorAndNoNodeIsTouched) {
  auto trees = [&] { return test::node_trees(fleet()); };
  auto before = trees();
  auto dir = cleanup({"--bundle", keys_->path().string()});
  EXPECT_EQ(dir.exit_code, 2) << dir.err;
  EXPECT_THAT(dir.err, HasSubstr("not a regular file; nothing wiped"));
  EXPECT_EQ(trees(), before);
}

}  // namespace
}  // namespace kf
