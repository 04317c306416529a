// `keyfleet cleanup` against a real 5-node sshd fleet on loopback: staged copies put where push
// puts them, generations installed with the same install code push's layout follows.
#include <sys/stat.h>

#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/bundle.hpp"
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
  static void SetUpTestSuite() {
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
  }
  static void TearDownTestSuite() {
    fleet_.reset();
    keys_.reset();
    bundles_.clear();
  }
  // Every node on generation kGenerations with all older ones kept, and two staged copies.
  void SetUp() override {
    for (const auto& node : fleet_->nodes()) {
      fs::remove_all(node.staging);
      for (fs::directory_iterator it(node.dest), end; it != end; ++it) fs::remove_all(it->path());
      for (const auto& opened : bundles_) {
        keydir::LocalInstallOptions options;
        options.keep = 99;
        auto report = keydir::install_bundle(opened, node.dest, options);
        ASSERT_TRUE(report) << report.error().message;
      }
      stage(node, "3f9a2c", bytes_.back());
      stage(node, "77b0e1", bytes_.front());
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
  fs::create_hard_link(fs::path(node2.staging) / "3f9a2c" / "bundle.kfb", witness);
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
    EXPECT_FALSE(fs::exists(node.staging)) << node.name;
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
  EXPECT_THAT(result.out, HasSubstr("pruned 000001, 000002"));
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

TEST_F(CleanupTest, PurgeOldLeavesOnlyCurrent) {
  auto before = current_files(fleet().node(5));
  auto result = cleanup({"--purge-old", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  for (const auto& node : fleet().nodes()) {
    EXPECT_THAT(generations(node), ElementsAre(4)) << node.name;
    EXPECT_EQ(files_under(node.staging), 0u) << node.name;
  }
  EXPECT_EQ(current_files(fleet().node(5)), before);
  EXPECT_EQ(cleanup({"--purge-old"}).exit_code, 0);
}

TEST_F(CleanupTest, ABadBundleArgumentIsAUsageErrorAndNoNodeIsTouched) {
  auto trees = [&] { return test::node_trees(fleet()); };
  auto before = trees();
  fs::path missing = keys_->path() / "missing.age";
  auto gone = cleanup({"--bundle", missing.string()});
  EXPECT_EQ(gone.exit_code, 2) << gone.err;
  EXPECT_THAT(gone.err,
              HasSubstr("bundle " + missing.string() + " does not exist; nothing was cleaned"));
  auto dir = cleanup({"--bundle", keys_->path().string()});
  EXPECT_EQ(dir.exit_code, 2) << dir.err;
  EXPECT_THAT(dir.err, HasSubstr("not a regular file; nothing wiped"));
  EXPECT_EQ(trees(), before);
}

}  // namespace
}  // namespace kf
