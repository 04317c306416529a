// keydir::read_node_state over keydir::LocalRemote: a real key directory in every shape a node
// can leave it in, and GenerationState::differences on its own.
#include "keydir/node_state.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/secret.hpp"
#include "keydir/local_remote.hpp"
#include "keydir/lock.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class NodeStateTest : public ::testing::Test {
 protected:
  [[nodiscard]] fs::path dest() const { return tmp_ / "dest"; }
  [[nodiscard]] fs::path generation(std::uint64_t number) const {
    return dest() / "generations" / generation_name(number);
  }
  [[nodiscard]] std::string path(const std::string& relative) const {
    return (dest() / relative).string();
  }
  Manifest write_generation(std::uint64_t number) const {
    return test::write_keyset(generation(number), number, test::keyset_files(false));
  }
  void link_current(const std::string& text) const { fs::create_symlink(text, dest() / "current"); }
  NodeState read(ReadOptions options = {}) {
    auto state = read_node_state(remote_, KeyDir(dest().string()), options, "read");
    EXPECT_TRUE(state) << state.error().message;
    return state ? std::move(*state) : NodeState{};
  }

  test::TempDir tmp_;
  LocalRemote remote_{"local"};
};

TEST_F(NodeStateTest, AbsentDest) {
  NodeState state = read();
  EXPECT_FALSE(state.dest_exists);
  EXPECT_EQ(state.current_kind, CurrentKind::absent);
  EXPECT_THAT(state.generations, IsEmpty());
  EXPECT_EQ(state.describe_current(), "no current");
}

TEST_F(NodeStateTest, DestWithoutGenerations) {
  fs::create_directories(dest());
  test::write_text(dest() / ".lock", "");
  NodeState state = read();
  EXPECT_TRUE(state.dest_exists);
  EXPECT_EQ(state.current_kind, CurrentKind::absent);
  EXPECT_FALSE(state.current);
  EXPECT_THAT(state.generations, IsEmpty());
  EXPECT_THAT(state.leftovers, IsEmpty());
  EXPECT_THAT(state.unexpected, IsEmpty());
}

TEST_F(NodeStateTest, GenerationsWithoutCurrent) {
  write_generation(2);
  write_generation(1);
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::absent);
  EXPECT_FALSE(state.current);
  EXPECT_EQ(state.current_generation(), nullptr);
  ASSERT_EQ(state.generations.size(), 2u);
  EXPECT_EQ(state.generations[0].number, 1u);  // ascending
  EXPECT_EQ(state.generations[1].number, 2u);
  EXPECT_EQ(state.generations[1].path, generation(2).string());
  for (const auto& g : state.generations) {
    ASSERT_TRUE(g.manifest) << g.problem;
    EXPECT_EQ(g.manifest->generation, g.number);
    EXPECT_EQ(g.manifest_sha256,
              sha256_hex(as_bytes(test::read_text(generation(g.number) / "manifest.json"))));
    EXPECT_FALSE(g.files_read);
  }
}

TEST_F(NodeStateTest, CurrentOnACompleteGenerationIsReadAndHashed) {
  write_generation(1);
  Manifest two = write_generation(2);
  link_current("generations/000002");
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::generation);
  EXPECT_EQ(state.current_text, "generations/000002");
  EXPECT_EQ(state.current, 2u);
  EXPECT_EQ(state.describe_current(), "generations/000002");
  const GenerationState* current = state.current_generation();
  ASSERT_NE(current, nullptr);
  ASSERT_TRUE(current->files_read);
  ASSERT_EQ(current->files.size(), two.files.size());
  for (std::size_t i = 0; i < two.files.size(); ++i) {  // both sorted by name
    EXPECT_EQ(current->files[i].name, two.files[i].name);
    EXPECT_EQ(current->files[i].size, two.files[i].size);
    EXPECT_EQ(current->files[i].mode, two.files[i].mode);
    EXPECT_EQ(current->files[i].sha256, two.files[i].sha256);
  }
  EXPECT_THAT(current->irregular, IsEmpty());
  EXPECT_TRUE(current->complete());
  EXPECT_FALSE(state.generation(1)->files_read);  // only current's files are read

  NodeState quick = read({.current_files = false});
  EXPECT_EQ(quick.current, 2u);
  EXPECT_FALSE(quick.current_generation()->files_read);
  EXPECT_FALSE(quick.current_generation()->complete());
}

// With the lock's holder, the node hashes the files (one sha256sum) and the result is the same as
// reading them back, differences included; a name sha256sum's output would escape is read back.
TEST_F(NodeStateTest, TheLockHolderHashesTheFilesOnTheNode) {
  write_generation(1);
  link_current("generations/000001");
  test::write_text(generation(1) / "agent.key", "not the key");
  fs::create_directories(generation(1) / "sub");
  test::write_text(generation(1) / "sub" / "odd\\name", "odd");
  test::write_text(generation(1) / "sub" / "plain", "plain");
  const NodeState read_back = read();
  auto lock = DestLock::acquire(remote_, KeyDir(dest().string()), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  const NodeState hashed = read({.current_files = true, .holder = &*lock});
  const GenerationState* with = hashed.current_generation();
  const GenerationState* without = read_back.current_generation();
  ASSERT_NE(with, nullptr);
  ASSERT_NE(without, nullptr);
  ASSERT_TRUE(with->files_read);
  EXPECT_EQ(with->files, without->files);
  EXPECT_EQ(with->differences(with->manifest->files),
            without->differences(without->manifest->files));
  EXPECT_THAT(with->differences(with->manifest->files), Contains(HasSubstr("agent.key (size")));
  auto odd = std::find_if(with->files.begin(), with->files.end(),
                          [](const InstalledFile& f) { return f.name == "sub/odd\\name"; });
  ASSERT_NE(odd, with->files.end());
  EXPECT_EQ(odd->sha256, sha256_hex(as_bytes("odd")));
}

TEST_F(NodeStateTest, CurrentOnAGenerationThatDiffersFromItsManifest) {
  write_generation(1);
  link_current("generations/000001");
  test::write_text(generation(1) / "agent.key", "not the key");
  fs::remove(generation(1) / "ca.crt");
  test::write_text(generation(1) / "extra", "x");
  fs::create_directories(generation(1) / "subdir");
  NodeState state = read();
  const GenerationState* current = state.current_generation();
  ASSERT_NE(current, nullptr);
  EXPECT_FALSE(current->complete());
  // A directory is an entry of a (format 2) key set: one the manifest does not list differs.
  EXPECT_THAT(current->irregular, IsEmpty());
  EXPECT_THAT(current->differences(current->manifest->files),
              UnorderedElementsAre(HasSubstr("agent.key (size"), "ca.crt (missing)",
                                   "extra (not in the manifest)", "subdir/ (not in the manifest)"));
}

TEST_F(NodeStateTest, DanglingCurrent) {
  write_generation(1);
  link_current("generations/000009");
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::dangling);
  EXPECT_EQ(state.current_text, "generations/000009");
  EXPECT_FALSE(state.current);
  EXPECT_EQ(state.current_generation(), nullptr);
  EXPECT_THAT(state.describe_current(), HasSubstr("dangling link to 'generations/000009'"));
}

TEST_F(NodeStateTest, CurrentThatIsNotASymlink) {
  write_generation(1);
  test::write_text(dest() / "current", "generations/000001");
  EXPECT_EQ(read().current_kind, CurrentKind::not_symlink);
  fs::remove(dest() / "current");
  fs::create_directories(dest() / "current");
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::not_symlink);
  EXPECT_FALSE(state.current);
  EXPECT_EQ(state.describe_current(), "current is not a symlink");
}

TEST_F(NodeStateTest, CurrentOutsideTheGenerationsIsForeign) {
  write_generation(1);
  link_current("/etc");
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::foreign);
  EXPECT_EQ(state.current_text, "/etc");
  EXPECT_FALSE(state.current);
  EXPECT_THAT(state.describe_current(), HasSubstr("points at '/etc'"));
}

// generations/000003 may carry a generation's name and lead elsewhere: it is no generation.
TEST_F(NodeStateTest, CurrentOnASymlinkedGenerationIsForeign) {
  write_generation(1);
  fs::path elsewhere = tmp_ / "elsewhere";
  test::write_keyset(elsewhere, 3, test::keyset_files(false));
  fs::create_symlink(elsewhere, generation(3));
  link_current("generations/000003");
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::foreign);
  EXPECT_FALSE(state.current);
  EXPECT_EQ(state.generation(3), nullptr);
  EXPECT_THAT(state.unexpected, ElementsAre(generation(3).string()));
}

TEST_F(NodeStateTest, GenerationsWithoutAValidManifestSayWhy) {
  write_generation(1);
  fs::create_directories(generation(2));  // empty: an install that never wrote its manifest
  write_generation(3);
  test::write_text(generation(3) / "manifest.json", "{ not json", 0644);
  write_generation(4);
  fs::copy_file(generation(1) / "manifest.json", generation(4) / "manifest.json",
                fs::copy_options::overwrite_existing);  // says generation 1
  write_generation(5);
  fs::remove(generation(5) / "manifest.json");
  fs::create_symlink(generation(1) / "manifest.json", generation(5) / "manifest.json");
  link_current("generations/000003");
  NodeState state = read();
  ASSERT_EQ(state.generations.size(), 5u);
  EXPECT_TRUE(state.generation(1)->manifest);
  EXPECT_TRUE(state.generation(1)->problem.empty());
  for (std::uint64_t g : {2, 3, 4, 5}) {
    EXPECT_FALSE(state.generation(g)->manifest) << g;
    EXPECT_FALSE(state.generation(g)->problem.empty()) << g;
  }
  EXPECT_THAT(state.generation(2)->problem, HasSubstr("has no manifest.json"));
  EXPECT_THAT(state.generation(3)->problem, HasSubstr(generation(3).string()));
  EXPECT_THAT(state.generation(4)->problem, HasSubstr("says generation 1"));
  EXPECT_THAT(state.generation(5)->problem, HasSubstr("not a regular file"));
  // Current is a generation directory, but one that does not hold what it should.
  EXPECT_EQ(state.current_kind, CurrentKind::generation);
  EXPECT_FALSE(state.current_generation()->complete());
}

TEST_F(NodeStateTest, LeftoversAndUnexpectedEntriesAreNamed) {
  write_generation(1);
  link_current("generations/000001");
  fs::create_directories(dest() / "generations" / ".tmp-0a1b2c3d");
  test::write_text(dest() / "generations" / ".tmp-0a1b2c3d" / "agent.key", "half");
  fs::create_directories(dest() / "generations" / ".tmp-prune-0a1b2c3d");
  fs::create_symlink("generations/000002", dest() / "current.tmp-0a1b2c3d");
  test::write_text(dest() / "current.tmp-notalink", "x");  // keyfleet makes links only
  fs::create_directories(dest() / "generations" / "backup");
  test::write_text(dest() / "generations" / "000007", "a file");
  fs::create_directories(dest() / "generations" / "1234567");
  NodeState state = read();
  EXPECT_THAT(state.leftovers, UnorderedElementsAre(path("generations/.tmp-0a1b2c3d"),
                                                    path("generations/.tmp-prune-0a1b2c3d"),
                                                    path("current.tmp-0a1b2c3d")));
  EXPECT_THAT(state.unexpected,
              UnorderedElementsAre(path("generations/backup"), path("generations/000007"),
                                   path("generations/1234567")));
  ASSERT_EQ(state.generations.size(), 1u);
  EXPECT_TRUE(state.current_generation()->complete());
}

TEST_F(NodeStateTest, GenerationsThatIsNotADirectoryIsUnexpected) {
  fs::create_directories(dest());
  test::write_text(dest() / "generations", "x");
  NodeState state = read();
  EXPECT_THAT(state.generations, IsEmpty());
  EXPECT_THAT(state.unexpected, ElementsAre(path("generations")));
}

TEST_F(NodeStateTest, ASymlinkedDestIsRefused) {
  fs::path elsewhere = tmp_ / "elsewhere";
  fs::create_directories(elsewhere / "generations");
  fs::create_symlink(elsewhere, dest());
  auto state = read_node_state(remote_, KeyDir(dest().string()), {}, "verify");
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().status, NodeStatus::refused);
  EXPECT_EQ(state.error().step, "verify");
  EXPECT_THAT(state.error().message, HasSubstr("symlink"));
}

TEST(GenerationStateDifferences, NamesEveryKindOfDifference) {
  GenerationState g;
  g.files_read = true;
  g.files = {
      {"changed-digest", 4, 0600, "aaaa"}, {"changed-mode", 4, 0644, "bbbb"},
      {"changed-size", 3, 0600, "cccc"},   {"extra", 1, 0600, "dddd"},
      {"same", 4, 0600, "eeee"},
  };
  g.irregular = {"link"};
  std::vector<ManifestFile> want = {
      {"changed-digest", 4, 0600, "ffff"}, {"changed-mode", 4, 0600, "bbbb"},
      {"changed-size", 4, 0600, "cccc"},   {"missing", 4, 0600, "0000"},
      {"same", 4, 0600, "eeee"},
  };
  EXPECT_THAT(
      g.differences(want),
      ElementsAre("changed-digest (digest differs)", "changed-mode (mode 0644 instead of 0600)",
                  "changed-size (size 3 instead of 4)", "missing (missing)",
                  "extra (not in the manifest)", "link (not a regular file)"));
  g.files.erase(g.files.begin() + 3);  // extra
  g.irregular.clear();
  std::vector<ManifestFile> exact = {{"changed-digest", 4, 0600, "aaaa"},
                                     {"changed-mode", 4, 0644, "bbbb"},
                                     {"changed-size", 3, 0600, "cccc"},
                                     {"same", 4, 0600, "eeee"}};
  EXPECT_THAT(g.differences(exact), IsEmpty());
}

TEST(GenerationStateDifferences, CompleteNeedsAManifestTheFilesReadAndNothingIrregular) {
  GenerationState g;
  g.files_read = true;
  g.files = {{"agent.key", 4, 0600, "aaaa"}};
  Manifest m;
  m.generation = 1;
  m.files = {{"agent.key", 4, 0600, "aaaa"}};
  EXPECT_FALSE(g.complete());  // no manifest
  g.manifest = m;
  EXPECT_TRUE(g.complete());
  g.irregular = {"fifo"};
  EXPECT_FALSE(g.complete());
  g.irregular.clear();
  g.files_read = false;
  EXPECT_FALSE(g.complete());
}

// The reader asks for DEST, DEST/generations and DEST/current together; when one of them cannot
// be read, they are read again one at a time, in order, so that the first problem is the one
// reported: a DEST that is a symlink, not a failure to read what is behind it.
TEST(NodeStateSurvey, WhatCannotBeReadIsReadAgainInOrderAndTheFirstProblemIsReported) {
  test::FakeRemote node;
  node.add_dir("/elsewhere/generations", 0700);
  ASSERT_TRUE(node.symlink("/elsewhere", "/dest"));
  node.fail_next("lstat", "/dest/generations",
                 {NodeStatus::failed, "sftp", "fake: /dest/generations: permission denied"});
  auto state = read_node_state(node, KeyDir("/dest"), {false}, "read");
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().status, NodeStatus::refused);
  EXPECT_THAT(state.error().message, HasSubstr("/dest is not a directory but a symlink"));
  EXPECT_EQ(state.error().step, "read");
}

}  // namespace
}  // namespace kf::keydir
