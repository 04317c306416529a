// The one pruning policy (push, unpack and cleanup all use it), and prune_generations and
// remove_leftovers on a real key directory (keydir::LocalRemote) and on an in-memory node.
#include "keydir/prune.hpp"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/local_remote.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(PrunePolicy, KeepsTheNewestAndNeverCurrentOrPrevious) {
  EXPECT_THAT(generations_to_remove({1, 2, 3, 4, 5, 6, 7}, 7, 5, false), ElementsAre(1, 2));
  EXPECT_THAT(generations_to_remove({1, 2, 3}, 3, 5, false), IsEmpty());
  EXPECT_THAT(generations_to_remove({1, 2}, 2, 5, false), IsEmpty());
  EXPECT_THAT(generations_to_remove({3, 1, 2}, 3, 2, false), ElementsAre(1));  // any order in
  EXPECT_THAT(generations_to_remove({1, 1, 2, 3}, 3, 2, false), ElementsAre(1));
}

TEST(PrunePolicy, AfterARollbackNeverCurrentOrTheOneBelowIt) {
  // Current is old: the others go oldest first, but never current or previous.
  EXPECT_THAT(generations_to_remove({1, 2, 3, 4}, 2, 2, false), ElementsAre(3, 4));
  EXPECT_THAT(generations_to_remove({1, 2, 3, 4}, 1, 2, false), ElementsAre(2, 3));
  EXPECT_THAT(generations_to_remove({1, 9, 10}, 9, 2, false), ElementsAre(10));
  // After a downgrade to 4 nothing is below current: the oldest others go.
  EXPECT_THAT(generations_to_remove({4, 5, 6, 7}, 4, 2, false), ElementsAre(5, 6));
}

TEST(PrunePolicy, KeepBelowTheMinimumStillKeepsPrevious) {
  EXPECT_THAT(generations_to_remove({1, 2, 3}, 3, 1, false), ElementsAre(1));
  EXPECT_THAT(generations_to_remove({1, 2, 3}, 3, 0, false), ElementsAre(1));
}

TEST(PrunePolicy, PurgeOldLeavesOnlyCurrent) {
  EXPECT_THAT(generations_to_remove({1, 2, 3, 5}, 5, 5, true), ElementsAre(1, 2, 3));
  EXPECT_THAT(generations_to_remove({1, 2, 3, 5}, 2, 5, true), ElementsAre(1, 3, 5));
  EXPECT_THAT(generations_to_remove({5}, 5, 5, true), IsEmpty());
}

// Without a current generation there is no telling what services use: nothing goes.
TEST(PrunePolicy, NothingWithoutACurrentGeneration) {
  EXPECT_THAT(generations_to_remove({1, 2, 3}, std::nullopt, 2, false), IsEmpty());
  EXPECT_THAT(generations_to_remove({1, 2, 3}, std::nullopt, 2, true), IsEmpty());
}

class PruneLocal : public ::testing::Test {
 protected:
  [[nodiscard]] fs::path dest() const { return tmp_ / "dest"; }
  [[nodiscard]] KeyDir dir() const { return KeyDir(dest().string()); }
  [[nodiscard]] fs::path entry(const std::string& name) const {
    return dest() / "generations" / name;
  }
  void make_generations(std::initializer_list<std::uint64_t> numbers,
                        std::optional<std::uint64_t> current) const {
    for (auto g : numbers) {
      fs::create_directories(entry(generation_name(g)) / "sub");
      test::write_text(entry(generation_name(g)) / "agent.key", "key " + std::to_string(g));
      test::write_text(entry(generation_name(g)) / "sub" / "nested", "n");
    }
    if (current) fs::create_symlink(dir().link_target(*current), dest() / "current");
  }
  NodeState read() {
    auto state = read_node_state(remote_, dir(), {false}, "prune");
    EXPECT_TRUE(state) << state.error().message;
    return state ? std::move(*state) : NodeState{};
  }
  [[nodiscard]] std::set<std::string> names_in(const fs::path& d) const {
    std::set<std::string> out;
    for (fs::directory_iterator it(d), end; it != end; ++it) {
      out.insert(it->path().filename().string());
    }
    return out;
  }

  test::TempDir tmp_;
  LocalRemote remote_{"local"};
};

TEST_F(PruneLocal, RemovesBeyondKeepAndLeavesNoTemporary) {
  make_generations({1, 2, 3, 4, 5, 6}, 6);
  auto pruned = prune_generations(remote_, dir(), read(), 3, false, "prune");
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_THAT(*pruned, ElementsAre(1, 2, 3));
  EXPECT_EQ(names_in(dest() / "generations"),
            (std::set<std::string>{"000004", "000005", "000006"}));
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "key 6");
}

TEST_F(PruneLocal, AfterARollbackKeepsCurrentAndTheOneBelowIt) {
  make_generations({1, 2, 3, 4, 5, 6}, 3);
  auto pruned = prune_generations(remote_, dir(), read(), 2, false, "prune");
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_THAT(*pruned, ElementsAre(1, 4, 5, 6));
  EXPECT_EQ(names_in(dest() / "generations"), (std::set<std::string>{"000002", "000003"}));
}

TEST_F(PruneLocal, PurgeOldThenNothingLeftToDo) {
  make_generations({1, 2, 3}, 2);
  auto pruned = prune_generations(remote_, dir(), read(), 5, true, "prune");
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_THAT(*pruned, ElementsAre(1, 3));
  EXPECT_EQ(names_in(dest() / "generations"), (std::set<std::string>{"000002"}));
  auto again = prune_generations(remote_, dir(), read(), 5, true, "prune");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_THAT(*again, IsEmpty());
}

TEST_F(PruneLocal, NothingGoesWithoutACurrentGeneration) {
  make_generations({1, 2, 3, 4}, std::nullopt);
  fs::create_symlink("/etc", dest() / "current");  // foreign: no generation is known current
  auto pruned = prune_generations(remote_, dir(), read(), 2, true, "prune");
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_THAT(*pruned, IsEmpty());
  EXPECT_EQ(names_in(dest() / "generations").size(), 4u);
}

TEST_F(PruneLocal, RemoveLeftoversTakesTemporariesButNeverWhatCurrentPointsAt) {
  make_generations({1}, std::nullopt);
  // An in-place replacement left `current` on a temporary name: that one is in use.
  fs::create_directories(entry(".tmp-inplace"));
  test::write_text(entry(".tmp-inplace") / "agent.key", "in use");
  fs::create_symlink("generations/.tmp-inplace", dest() / "current");
  fs::create_directories(entry(".tmp-0a1b2c3d") / "sub");
  test::write_text(entry(".tmp-0a1b2c3d") / "sub" / "agent.key", "half");
  fs::create_directories(entry(".tmp-prune-0a1b2c3d"));
  fs::create_symlink("generations/000002", dest() / "current.tmp-0a1b2c3d");
  NodeState state = read();
  auto removed = remove_leftovers(remote_, dir(), state, "prune");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_THAT(*removed, UnorderedElementsAre(entry(".tmp-0a1b2c3d").string(),
                                             entry(".tmp-prune-0a1b2c3d").string(),
                                             (dest() / "current.tmp-0a1b2c3d").string()));
  EXPECT_EQ(names_in(dest() / "generations"), (std::set<std::string>{"000001", ".tmp-inplace"}));
  EXPECT_EQ(names_in(dest()), (std::set<std::string>{"current", "generations"}));
  EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "in use");
}

// However `current` spells its way to a temporary directory, that directory stays.
TEST_F(PruneLocal, RemoveLeftoversKeepsCurrentsTargetHoweverTheLinkIsSpelled) {
  const std::vector<std::string> spellings = {
      (dest() / "generations" / ".tmp-inplace").string(), "generations/.tmp-inplace/",
      "./generations//.tmp-inplace", "generations/../generations/.tmp-inplace"};
  for (const std::string& text : spellings) {
    fs::create_directories(entry(".tmp-inplace"));
    test::write_text(entry(".tmp-inplace") / "agent.key", "in use");
    fs::remove(dest() / "current");
    fs::create_symlink(text, dest() / "current");
    auto removed = remove_leftovers(remote_, dir(), read(), "prune");
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_THAT(*removed, IsEmpty()) << "current -> " << text;
    EXPECT_EQ(test::read_text(dest() / "current" / "agent.key"), "in use") << text;
  }
}

// Each doomed generation is renamed away before anything in it is removed, so that a failure
// (or a crash) midway never leaves half a generation under its real name.
TEST(PruneFake, RenamesAwayBeforeRemovingAndALeftoverIsCleanedNextTime) {
  test::FakeRemote node;
  for (std::uint64_t g : {1, 2, 3}) {
    node.add_file("/dest/generations/" + generation_name(g) + "/agent.key", "key", 0600);
  }
  ASSERT_TRUE(node.symlink("generations/000003", "/dest/current"));
  const KeyDir dir("/dest");
  auto state = read_node_state(node, dir, {false}, "prune");
  ASSERT_TRUE(state) << state.error().message;
  node.log.clear();
  node.fail_next("rmdir", "", {NodeStatus::failed, "sftp", "fake: injected rmdir failure"});
  auto pruned = prune_generations(node, dir, *state, 2, false, "prune");
  ASSERT_FALSE(pruned);
  EXPECT_EQ(pruned.error().step, "prune");
  ASSERT_FALSE(node.log.empty());
  EXPECT_EQ(node.log.front(), "rename /dest/generations/000001");
  for (const auto& line : node.log) {
    if (line.starts_with("unlink ") || line.starts_with("rmdir ")) {
      EXPECT_TRUE(line.find("/dest/generations/.tmp-prune-") != std::string::npos) << line;
    }
  }
  EXPECT_FALSE(node.exists("/dest/generations/000001"));

  auto after = read_node_state(node, dir, {false}, "prune");
  ASSERT_TRUE(after) << after.error().message;
  ASSERT_EQ(after->leftovers.size(), 1u);
  EXPECT_TRUE(after->leftovers[0].starts_with("/dest/generations/.tmp-prune-"));
  auto removed = remove_leftovers(node, dir, *after, "prune");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(*removed, after->leftovers);
  EXPECT_FALSE(node.exists(after->leftovers[0]));
  EXPECT_TRUE(node.exists("/dest/generations/000002"));
  EXPECT_TRUE(node.exists("/dest/generations/000003"));
}

TEST(PruneFake, SyncsTheDirectoriesItChanged) {
  test::FakeRemote node;
  for (std::uint64_t g : {1, 2, 3}) node.add_dir("/dest/generations/" + generation_name(g), 0700);
  ASSERT_TRUE(node.symlink("generations/000003", "/dest/current"));
  ASSERT_TRUE(node.symlink("generations/000009", "/dest/current.tmp-0a1b2c3d"));
  const KeyDir dir("/dest");
  auto state = read_node_state(node, dir, {false}, "prune");
  ASSERT_TRUE(state) << state.error().message;
  node.log.clear();
  ASSERT_TRUE(remove_leftovers(node, dir, *state, "prune"));
  EXPECT_THAT(node.log, ElementsAre("lstat /dest/current.tmp-0a1b2c3d",
                                    "unlink /dest/current.tmp-0a1b2c3d", "fsync_dir /dest"));
  node.log.clear();
  ASSERT_TRUE(prune_generations(node, dir, *state, 2, false, "prune"));
  ASSERT_FALSE(node.log.empty());
  EXPECT_EQ(node.log.back(), "fsync_dir /dest/generations");
}

}  // namespace
}  // namespace kf::keydir
