#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pki/keyset_dir.hpp"
#include "support/test_support.hpp"

namespace kf::keyset_dir {
namespace {

using test::TempDir;
using ::testing::HasSubstr;

Manifest manifest_with(std::uint64_t generation, std::vector<std::string> names) {
  Manifest m;
  m.generation = generation;
  for (auto& name : names) m.files.push_back({name, 1, 0600, std::string(64, 'a')});
  return m;
}

void fill(const TempDir& dir, std::initializer_list<std::string_view> names) {
  for (auto name : names) test::write_text(dir / std::string(name), std::string(name) + " bytes");
}

TEST(KeysetDir, ArchivePathIsSixDigits) {
  EXPECT_EQ(archive_path("/k", 1).string(), "/k/archive/000001");
  EXPECT_EQ(archive_path("/k", 123456).string(), "/k/archive/123456");
}

TEST(KeysetDir, InspectSeesFilesManifestAndArchivedGenerations) {
  TempDir dir;
  auto empty = inspect(dir.path());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(empty->highest_archived, 0u);

  fill(dir, {"ca.crt", "ca.key", "unrelated.txt"});
  auto ca_only = inspect(dir.path());
  ASSERT_TRUE(ca_only);
  EXPECT_FALSE(ca_only->empty());
  EXPECT_TRUE(ca_only->only_ca());
  EXPECT_EQ(ca_only->present, (std::vector<std::string>{"ca.crt", "ca.key"}));

  fill(dir, {"storepass"});
  boost::filesystem::create_directories(dir / "archive/000002");
  boost::filesystem::create_directories(dir / "archive/000010");
  boost::filesystem::create_directories(dir / "archive/notes");
  test::write_text(dir / "manifest.json", "{ not json");
  auto state = inspect(dir.path());
  ASSERT_TRUE(state);
  EXPECT_FALSE(state->only_ca());
  EXPECT_TRUE(state->has_manifest);
  ASSERT_FALSE(state->manifest);
  EXPECT_EQ(state->manifest.error().code, ExitCode::refused);
  EXPECT_NE(state->manifest.error().message.find("manifest.json"), std::string::npos);
  EXPECT_EQ(state->highest_archived, 10u);
}

TEST(KeysetDir, ArchiveMovesTheWholeSetAndLeavesOtherFiles) {
  TempDir dir;
  fill(dir, {"ca.crt", "ca.key", "agent.crt", "agent.key", "keystore.p12", "truststore.p12",
             "storepass", "manifest.json", "extra.pem", "notes.txt"});
  auto before = test::snapshot(dir.path());
  auto target = archive(dir.path(), manifest_with(7, {"extra.pem", "archive"}));
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(*target, dir / "archive/000007");
  EXPECT_EQ(test::file_mode(dir / "archive"), 0700u);
  EXPECT_EQ(test::file_mode(*target), 0700u);
  auto after = test::snapshot(dir.path());
  EXPECT_EQ(after.size(), before.size());
  for (const auto& [name, bytes] : before) {
    if (name == "notes.txt") {
      EXPECT_EQ(after.at(name), bytes);
    } else {
      EXPECT_EQ(after.at("archive/000007/" + name), bytes) << name;
    }
  }
}

TEST(KeysetDir, ArchiveResumesAnInterruptedMove) {
  TempDir dir;
  fill(dir, {"ca.crt", "ca.key", "manifest.json"});
  boost::filesystem::create_directories(dir / "archive/000001");
  boost::filesystem::rename(dir / "ca.crt", dir / "archive/000001/ca.crt");
  ASSERT_TRUE(archive(dir.path(), manifest_with(1, {"ca.crt", "ca.key"})));
  auto after = test::snapshot(dir.path());
  EXPECT_EQ(after, (std::map<std::string, std::string>{
                       {"archive/000001/ca.crt", "ca.crt bytes"},
                       {"archive/000001/ca.key", "ca.key bytes"},
                       {"archive/000001/manifest.json", "manifest.json bytes"}}));
}

// A write of the next set killed after the archive and before its manifest.json: what it wrote is
// wiped, the archived set comes back whole, and the archive directory goes.
TEST(KeysetDir, RestoreArchivedUndoesAnInterruptedWriteOfTheNextSet) {
  TempDir dir;
  fill(dir, {"ca.crt", "ca.key", "agent.key", "notes.txt"});
  Manifest m = manifest_with(3, {"ca.crt", "ca.key", "agent.key"});
  test::write_text(dir / "manifest.json", serialize(m));
  auto before = test::snapshot(dir.path());
  ASSERT_TRUE(archive(dir.path(), m));
  test::write_text(dir / "ca.crt", "the next set's ca.crt");
  test::write_text(dir / "agent.key", "the next set's agent.key");
  test::write_text(dir / ".storepass.tmp-0123abcd", "half a storepass");

  auto restored = restore_archived(dir.path(), 3);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(test::snapshot(dir.path()), before);
  EXPECT_FALSE(boost::filesystem::exists(dir / "archive/000003"));

  // Nothing to restore: DIR has its manifest, or the archive has none.
  auto again = restore_archived(dir.path(), 3);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ExitCode::refused);
  EXPECT_THAT(again.error().message, HasSubstr("it holds a manifest.json"));
  boost::filesystem::remove(dir / "manifest.json");
  auto none = restore_archived(dir.path(), 3);
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("the archive holds no manifest.json"));
}

TEST(KeysetDir, ArchiveNeverReplacesAndMovesNothingOnACollision) {
  TempDir dir;
  fill(dir, {"ca.crt", "ca.key", "manifest.json"});
  boost::filesystem::create_directories(dir / "archive/000001");
  test::write_text(dir / "archive/000001/ca.key", "older key");
  auto before = test::snapshot(dir.path());
  auto r = archive(dir.path(), manifest_with(1, {"ca.crt", "ca.key"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::refused);
  EXPECT_NE(r.error().message.find("archive/000001/ca.key"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(test::snapshot(dir.path()), before);
}

TEST(KeysetDir, StaleTemporariesOfKeySetFilesAreWiped) {
  TempDir dir;
  fill(dir, {".ca.key.tmp-0a1b2c", ".manifest.json.tmp-99", ".mine.tmp-1", "ca.key"});
  ASSERT_TRUE(wipe_stale_temporaries(dir.path()));
  auto left = test::snapshot(dir.path());
  EXPECT_EQ(left.size(), 2u);
  EXPECT_TRUE(left.contains(".mine.tmp-1"));
  EXPECT_TRUE(left.contains("ca.key"));
}

TEST(KeysetDir, ASecondLockIsRefused) {
  TempDir dir;
  auto first = Lock::acquire(dir.path());
  ASSERT_TRUE(first);
  auto second = Lock::acquire(dir.path());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ExitCode::refused);
  EXPECT_TRUE(test::snapshot(dir.path()).empty());  // no lock file left behind
}

TEST(KeysetDir, ADirectoryGroupOrOthersCanWriteIsRefused) {
  TempDir tmp;
  fs::path dir = tmp / "keys";
  ASSERT_TRUE(make_dir(dir, 0700));
  for (mode_t mode : {0700, 0750, 0755, 0711, 0500}) {
    ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
    EXPECT_TRUE(check_private(dir)) << std::oct << mode;
  }
  for (mode_t mode : {0770, 0720, 0707, 0702, 0777, 01777}) {
    ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
    auto checked = check_private(dir);
    ASSERT_FALSE(checked) << std::oct << mode;
    EXPECT_EQ(checked.error().code, ExitCode::usage);
    EXPECT_THAT(checked.error().message, HasSubstr("key directory " + dir.string()));
    EXPECT_THAT(checked.error().message, HasSubstr(fmt::format("mode {:04o}", mode)));
    EXPECT_THAT(checked.error().message, HasSubstr("chmod 700 " + dir.string()));
    // The lock create-keys takes checks the directory it opened.
    auto lock = Lock::acquire(dir);
    ASSERT_FALSE(lock) << std::oct << mode;
    EXPECT_EQ(lock.error().message, checked.error().message);
  }
  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  EXPECT_TRUE(Lock::acquire(dir));

  auto missing = check_private(tmp / "missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ExitCode::usage);
  test::write_text(tmp / "file", "x");
  auto file = check_private(tmp / "file");
  ASSERT_FALSE(file);
  EXPECT_THAT(file.error().message, HasSubstr("not a directory"));
}

}  // namespace
}  // namespace kf::keyset_dir
