// cleanup's per-node logic against an in-memory node whose exec understands the two commands
// cleanup sends (dd over a file, rm -rf of a tree).
#include "fleet/cleanup.hpp"

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/layout.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Gives `node` a shell that zeroes files for dd and removes trees for rm -rf, logging both.
void give_shell(FakeRemote& node, std::vector<std::string>& zeroed) {
  node.on_exec = [&node, &zeroed](std::string_view command,
                                  std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    std::string cmd(command);
    std::smatch m;
    static const std::regex dd(
        R"(^dd if=/dev/zero of='([^']+)' bs=(\d+) count=1 conv=notrunc,fsync)");
    static const std::regex rm(R"(^rm -rf -- '([^']+)'$)");
    if (std::regex_search(cmd, m, dd)) {
      auto& entry = node.entries.at(m[1]);
      std::size_t size = std::stoul(m[2]);
      if (entry.data.size() < size) entry.data.resize(size);
      std::fill(entry.data.begin(), entry.data.begin() + static_cast<long>(size), 0);
      zeroed.push_back(m[1]);
      return ExecResult{0, "", ""};
    }
    if (std::regex_search(cmd, m, rm)) {
      std::string root = m[1];
      std::erase_if(node.entries, [&](const auto& kv) {
        return kv.first == root || kv.first.starts_with(root + "/");
      });
      return ExecResult{0, "", ""};
    }
    return ExecResult{127, "", "unexpected command: " + cmd};
  };
}

void add_generations(FakeRemote& node, std::vector<std::uint64_t> generations,
                     std::uint64_t current) {
  node.add_dir("/dest", 0700);
  node.add_dir("/dest/generations", 0700);
  for (auto g : generations) {
    std::string dir = "/dest/generations/" + generation_name(g);
    node.add_dir(dir, 0700);
    node.add_file(dir + "/agent.key", "key " + std::to_string(g), 0600);
  }
  ASSERT_TRUE(node.symlink(keydir::KeyDir::link_target(current), "/dest/current"));
}

std::vector<std::uint64_t> generations_left(FakeRemote& node) {
  std::vector<std::uint64_t> out;
  auto listing = node.list_dir("/dest/generations");
  if (!listing) return out;
  for (const auto& entry : *listing) {
    if (auto g = parse_generation_name(entry.name)) out.push_back(*g);
  }
  std::sort(out.begin(), out.end());
  return out;
}

NodeConfig config() {
  NodeConfig node;
  node.name = "node1";
  node.dest = "/dest";
  node.staging = "/staging";
  return node;
}

TEST(FleetCleanup, WipesEveryStagedCopyWithZerosBeforeUnlinking) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  node.add_dir("/staging", 0700);
  node.add_dir("/staging/a1b2", 0700);
  node.add_file("/staging/a1b2/bundle.kfb", "ciphertext", 0600);
  node.add_dir("/staging/c3d4", 0700);
  node.add_file("/staging/c3d4/bundle.kfb", "more ciphertext", 0600);
  node.add_file("/staging/c3d4/bundle.kfb.part", "", 0600);
  add_generations(node, {1}, 1);

  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_EQ(receipt->wiped.size(), 3u);
  EXPECT_THAT(zeroed, ElementsAre("/staging/a1b2/bundle.kfb", "/staging/c3d4/bundle.kfb"));
  EXPECT_FALSE(node.exists("/staging"));
  for (const auto& [path, entry] : node.entries) EXPECT_FALSE(path.starts_with("/staging")) << path;
  // Zeroed before the unlink, never the other way round.
  auto dd_at = std::find_if(node.log.begin(), node.log.end(),
                            [](const std::string& l) { return l.starts_with("exec dd"); });
  auto unlink_at = std::find(node.log.begin(), node.log.end(), "unlink /staging/a1b2/bundle.kfb");
  EXPECT_LT(dd_at, unlink_at);
  EXPECT_THAT(describe(*receipt), HasSubstr("wiped 3 staged copies"));
}

TEST(FleetCleanup, SymlinksInStagingAreNeitherFollowedNorRemoved) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  node.add_file("/etc-passwd", "root:x:0:0", 0644);
  node.add_dir("/staging", 0700);
  node.add_dir("/staging/a1", 0700);
  ASSERT_TRUE(node.symlink("/etc-passwd", "/staging/a1/bundle.kfb"));
  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_TRUE(zeroed.empty());
  EXPECT_EQ(node.text("/etc-passwd"), "root:x:0:0");
  EXPECT_TRUE(node.exists("/staging/a1/bundle.kfb"));
  EXPECT_THAT(describe(*receipt), HasSubstr("/staging/a1/bundle.kfb"));
}

TEST(FleetCleanup, PrunesBeyondKeepByRenamingFirst) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2, 3, 4, 5, 6}, 6);
  auto receipt = cleanup_node(node, config(), {.keep = 3, .purge_old = false});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_THAT(receipt->pruned, ElementsAre(1, 2, 3));
  EXPECT_THAT(generations_left(node), ElementsAre(4, 5, 6));
  EXPECT_EQ(*node.readlink("/dest/current"), "generations/000006");
  EXPECT_TRUE(std::any_of(node.log.begin(), node.log.end(), [](const std::string& l) {
    return l == "rename /dest/generations/000001";
  }));
  for (const auto& [path, entry] : node.entries)
    EXPECT_FALSE(path.find(".tmp-prune-") != std::string::npos);
}

TEST(FleetCleanup, PurgeOldLeavesOnlyCurrentEvenAfterARollback) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2, 3, 4}, 3);
  auto receipt = cleanup_node(node, config(), {.keep = 5, .purge_old = true});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_THAT(receipt->pruned, ElementsAre(1, 2, 4));
  EXPECT_THAT(generations_left(node), ElementsAre(3));
  EXPECT_EQ(node.text("/dest/generations/000003/agent.key"), "key 3");
}

TEST(FleetCleanup, NothingToCleanIsOkAndIdempotent) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2}, 2);
  for (int run = 0; run < 2; ++run) {
    auto receipt = cleanup_node(node, config(), {});
    ASSERT_TRUE(receipt) << receipt.error().message;
    EXPECT_EQ(describe(*receipt), "nothing to clean");
  }
  EXPECT_THAT(generations_left(node), ElementsAre(1, 2));
  FakeRemote empty("node2");
  EXPECT_TRUE(cleanup_node(empty, config(), {}));
}

// Under DEST/.lock no install or prune is in progress: every temporary there is a leftover, and
// leftovers may hold plaintext keys.
TEST(FleetCleanup, LeftoversOfInterruptedInstallsAndPrunesAreRemoved) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2}, 2);
  node.add_dir("/dest/generations/.tmp-prune-deadbeef", 0700);
  node.add_file("/dest/generations/.tmp-prune-deadbeef/agent.key", "old", 0600);
  node.add_dir("/dest/generations/.tmp-0123", 0700);
  node.add_file("/dest/generations/.tmp-0123/agent.key", "half written", 0600);
  ASSERT_TRUE(node.symlink("generations/000001", "/dest/current.tmp-cafe"));
  node.add_file("/dest/generations/notes.txt", "an operator's file", 0600);
  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_EQ(receipt->leftovers_removed, 3u);
  EXPECT_FALSE(node.exists("/dest/generations/.tmp-prune-deadbeef"));
  EXPECT_FALSE(node.exists("/dest/generations/.tmp-0123"));
  EXPECT_FALSE(node.exists("/dest/current.tmp-cafe"));
  EXPECT_TRUE(node.exists("/dest/generations/notes.txt"));  // not keyfleet's: left alone
}

TEST(FleetCleanup, FailedWipeIsReportedAndTheCopyKept) {
  FakeRemote node("node1");
  node.on_exec = [](std::string_view, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    return ExecResult{1, "dd: No space left on device", ""};
  };
  node.add_dir("/staging", 0700);
  node.add_dir("/staging/a1", 0700);
  node.add_file("/staging/a1/bundle.kfb", "ciphertext", 0600);
  auto receipt = cleanup_node(node, config(), {});
  ASSERT_FALSE(receipt);
  EXPECT_EQ(receipt.error().step, "staging");
  EXPECT_THAT(receipt.error().message, HasSubstr("/staging/a1/bundle.kfb"));
  EXPECT_TRUE(node.exists("/staging/a1/bundle.kfb"));
}

}  // namespace
}  // namespace kf

namespace kf {
namespace {

// Without --keep, each node's inventory `keep` decides; --keep overrides it for the run.
TEST(FleetCleanup, KeepComesFromTheInventoryUnlessGiven) {
  for (auto [given, left] : {std::pair{std::optional<std::size_t>{}, std::size_t{2}},
                             std::pair{std::optional<std::size_t>{4}, std::size_t{4}}}) {
    test::FakeRemote node("node1");
    std::vector<std::string> zeroed;
    give_shell(node, zeroed);
    add_generations(node, {1, 2, 3, 4, 5, 6}, 6);
    NodeConfig two = config();
    two.keep = 2;
    CleanupOptions options;
    options.keep = given;
    auto receipt = cleanup_node(node, two, options);
    ASSERT_TRUE(receipt) << receipt.error().message;
    EXPECT_EQ(generations_left(node).size(), left);
  }
}

}  // namespace
}  // namespace kf
