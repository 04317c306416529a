// A nested key set (manifest format 2) through the node side: unpack's install into a real
// directory (LocalRemote), the node state read back recursively, the push decision, verify.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "fleet/verify.hpp"
#include "keydir/layout.hpp"
#include "keydir/local_install.hpp"
#include "keydir/local_remote.hpp"
#include "keydir/node_state.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

using test::TempDir;

std::vector<test::RawEntry> nested_tar_entries(std::uint64_t generation, Manifest* out = nullptr) {
  std::vector<test::FileSpec> files = {{".keytrustee/secring.gpg", 0600, test::random_text(300)},
                                       {".keytrustee/.ssl/ca.pem", 0644, "ca"},
                                       {".keytrustee/pubring.gpg", 0640, test::random_text(100)},
                                       {"top", 0600, "top"}};
  Manifest m = test::manifest_for(files, generation);
  m.kind = std::string(kKindImported);
  m.key_type.clear();
  m.hosts.clear();
  m.not_after.clear();
  m.ca_fingerprint.clear();
  m.agent_fingerprint.clear();
  m.keyset = std::string(32, 'a');
  m.directories = {{".keytrustee", 0750}, {".keytrustee/.ssl", 0700}};
  if (out) *out = m;
  std::vector<test::RawEntry> entries{{"manifest.json", serialize(m), AE_IFREG, 0644}};
  for (const auto& f : files) entries.push_back({f.name, f.data, AE_IFREG, f.mode});
  return entries;
}

bundle::OpenedBundle nested_bundle(std::uint64_t generation, Manifest* m = nullptr) {
  std::string tar = test::craft_tar(nested_tar_entries(generation, m));
  auto opened = bundle::validate_tar(as_bytes(tar));
  if (!opened) throw std::runtime_error(opened.error().message);
  return std::move(*opened);
}

TEST(NestedInstall, DirectoriesWithTheirModesFilesWithTheirsAndVerifyAgrees) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  Manifest manifest;
  auto one = nested_bundle(1, &manifest);
  auto r = install_bundle(one, dest, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->action, "installed");
  fs::path gen = dest / "generations" / "000001";
  EXPECT_EQ(test::file_mode(gen / ".keytrustee"), 0750u);
  EXPECT_EQ(test::file_mode(gen / ".keytrustee" / ".ssl"), 0700u);
  EXPECT_EQ(test::file_mode(gen / ".keytrustee" / "pubring.gpg"), 0640u);
  EXPECT_EQ(test::read_text(gen / ".keytrustee" / ".ssl" / "ca.pem"), "ca");

  // The node state reads it back recursively, and the same bundle again is `unchanged`.
  LocalRemote remote("local");
  auto state = read_node_state(remote, KeyDir(fs::absolute(dest).string()), {true}, "read");
  ASSERT_TRUE(state) << state.error().message;
  const GenerationState* current = state->current_generation();
  ASSERT_NE(current, nullptr);
  EXPECT_TRUE(current->complete());
  EXPECT_EQ(current->directories, manifest.directories);
  EXPECT_EQ(current->files.size(), 4u);
  auto again = install_bundle(one, dest, {});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->action, "unchanged");

  auto verified = verify_node(remote, KeyDir(fs::absolute(dest).string()), manifest);
  EXPECT_EQ(verified.status, NodeStatus::ok) << verified.error;

  // A directory whose mode changed, or one more directory, is a mismatch naming it.
  ::chmod((gen / ".keytrustee").c_str(), 0700);
  fs::create_directory(gen / "extra");
  auto differs = verify_node(remote, KeyDir(fs::absolute(dest).string()), manifest);
  EXPECT_EQ(differs.status, NodeStatus::mismatch);
  EXPECT_NE(differs.error.find(".keytrustee/ (mode 0700 instead of 0750)"), std::string::npos)
      << differs.error;
  EXPECT_NE(differs.error.find("extra/ (not in the manifest)"), std::string::npos) << differs.error;
  // And the push decision sees the damage: repair.
  auto repaired = install_bundle(one, dest, {});
  ASSERT_TRUE(repaired) << repaired.error().message;
  EXPECT_EQ(repaired->action, "repaired");
  EXPECT_EQ(test::file_mode(dest / "current" / ".keytrustee"), 0750u);
}

TEST(NestedInstall, ASymlinkInsideAGenerationIsNeverFollowed) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  Manifest manifest;
  auto one = nested_bundle(1, &manifest);
  ASSERT_TRUE(install_bundle(one, dest, {}));
  fs::path gen = dest / "generations" / "000001";
  fs::create_directories(tmp / "elsewhere");
  test::write_text(tmp / "elsewhere" / "x", "outside", 0600);
  fs::create_directory_symlink(tmp / "elsewhere", gen / "link");
  LocalRemote remote("local");
  auto state = read_node_state(remote, KeyDir(fs::absolute(dest).string()), {true}, "read");
  ASSERT_TRUE(state);
  const GenerationState* current = state->current_generation();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->irregular, (std::vector<std::string>{"link"}));
  EXPECT_FALSE(current->complete());
}

TEST(NestedInstall, TheWritingSideRefusesABadNameItself) {
  test::FakeRemote node("node1");
  node.add_dir("/dest", 0700);
  node.add_dir("/dest/generations", 0700);
  Manifest manifest;
  auto one = nested_bundle(1, &manifest);
  GenerationContent content = GenerationContent::of(one);
  content.directories.push_back({"../escape", 0700});  // past every reader: refused here too
  auto written = write_temp_generation(node, KeyDir("/dest"), content, {}, "install");
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find("refusing to write '../escape': a '..' component"),
            std::string::npos)
      << written.error().message;
  for (const auto& [path, entry] : node.entries) {
    EXPECT_EQ(path.find("escape"), std::string::npos) << path;
    EXPECT_EQ(path.find(".tmp-"), std::string::npos) << "left behind: " << path;
  }
}

}  // namespace
}  // namespace kf::keydir
