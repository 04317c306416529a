#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/lock.hpp"
#include "keydir/layout.hpp"
#include "keydir/local_install.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {

using bundle::OpenedBundle;
using bundle::validate_tar;
namespace {

using test::TempDir;

OpenedBundle opened(std::uint64_t generation,
                    std::vector<test::FileSpec> files = test::keyset_files(false)) {
  std::string tar = test::craft_tar(test::valid_entries(files, generation));
  auto result = validate_tar(as_bytes(tar));
  if (!result) throw std::runtime_error(result.error().message);
  return std::move(*result);
}

std::string current_of(const fs::path& dest) {
  return fs::read_symlink(dest / "current").string();
}

void expect_installed(const fs::path& dest, const OpenedBundle& b) {
  fs::path dir = dest / "generations" / generation_name(b.manifest.generation);
  EXPECT_EQ(test::file_mode(dir), 0700u);
  EXPECT_EQ(test::read_text(dir / "manifest.json"),
            std::string(b.manifest_bytes.begin(), b.manifest_bytes.end()));
  EXPECT_EQ(test::file_mode(dir / "manifest.json"), 0644u);
  for (const auto& f : b.files) {
    EXPECT_EQ(test::read_text(dir / f.name), std::string(f.data.begin(), f.data.end())) << f.name;
    EXPECT_EQ(test::file_mode(dir / f.name), f.mode) << f.name;
  }
  EXPECT_EQ(test::snapshot(dir).size(), b.files.size() + 1);
}

TEST(Install, FreshDestinationThenNextGeneration) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  auto one = opened(1);
  auto r1 = install_bundle(one, dest, {});
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_EQ(r1->generation, 1u);
  EXPECT_FALSE(r1->previous);
  EXPECT_EQ(r1->files.front(), "manifest.json");
  EXPECT_EQ(r1->files.size(), one.files.size() + 1);
  EXPECT_EQ(test::file_mode(dest), 0700u);
  EXPECT_EQ(test::file_mode(dest / "generations"), 0700u);
  EXPECT_EQ(current_of(dest), "generations/000001");
  expect_installed(dest, one);

  auto two = opened(2);
  auto r2 = install_bundle(two, dest, {});
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(r2->previous, 1u);
  EXPECT_EQ(current_of(dest), "generations/000002");
  expect_installed(dest, two);
  expect_installed(dest, one);  // kept for rollback
  // Nothing but the layout: no temporaries left behind.
  std::set<std::string> top;
  for (fs::directory_iterator it(dest), end; it != end; ++it)
    top.insert(it->path().filename().string());
  EXPECT_EQ(top, (std::set<std::string>{".lock", "current", "generations", "history.log"}));
}

// The same bundle again is verified identical and left alone; another bundle of the same
// generation is a conflict; an older one a downgrade.
TEST(Install, SameBundleIsUnchangedAndOthersAreRefused) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  auto two = opened(2);
  ASSERT_TRUE(install_bundle(two, dest, {}));
  auto before = test::snapshot(dest);
  auto again = install_bundle(two, dest, {});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->action, "unchanged");
  EXPECT_EQ(test::snapshot(dest), before);

  auto other = install_bundle(opened(2), dest, {});  // same generation, other files
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ExitCode::refused);
  EXPECT_NE(other.error().message.find("with another manifest"), std::string::npos)
      << other.error().message;
  LocalInstallOptions downgrade;
  downgrade.allow_downgrade = true;
  EXPECT_FALSE(install_bundle(opened(2), dest, downgrade));

  auto older = install_bundle(opened(1), dest, {});
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code, ExitCode::refused);
  EXPECT_NE(older.error().message.find("--allow-downgrade"), std::string::npos);
  EXPECT_EQ(test::snapshot(dest), before);

  auto allowed = install_bundle(opened(1), dest, downgrade);
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_EQ(current_of(dest), "generations/000001");
  EXPECT_EQ(allowed->previous, 2u);
}

// A file of the current generation edited in place is found and repaired.
TEST(Install, RepairsAnEditedCurrentGeneration) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  auto one = opened(1);
  ASSERT_TRUE(install_bundle(one, dest, {}));
  fs::path key = dest / "generations" / "000001" / "agent.key";
  test::write_text(key, test::read_text(key) + "!", 0600);
  auto repaired = install_bundle(one, dest, {});
  ASSERT_TRUE(repaired) << repaired.error().message;
  EXPECT_EQ(repaired->action, "repaired");
  EXPECT_NE(repaired->detail.find("agent.key"), std::string::npos) << repaired->detail;
  expect_installed(dest, one);
}

// A generation directory left complete by an install that died before switching `current` is
// reused when the same bundle comes again; one with other contents is replaced atomically.
TEST(Install, ExistingGenerationDirectory) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  ASSERT_TRUE(install_bundle(opened(1), dest, {}));
  auto two = opened(2);
  fs::path dir = dest / "generations" / "000002";
  fs::create_directories(dir);
  test::write_text(dir / "manifest.json",
                   std::string(two.manifest_bytes.begin(), two.manifest_bytes.end()), 0644);
  for (const auto& f : two.files) {
    test::write_text(dir / f.name, std::string(f.data.begin(), f.data.end()), f.mode);
  }
  fs::path odd = dir / "agent.key";
  std::string original = test::read_text(odd);
  test::write_text(odd, original + "!", 0600);
  auto differs = install_bundle(two, dest, {});
  ASSERT_TRUE(differs) << differs.error().message;
  EXPECT_FALSE(differs->reused);
  EXPECT_NE(differs->detail.find("replaced"), std::string::npos) << differs->detail;
  EXPECT_EQ(current_of(dest), "generations/000002");
  expect_installed(dest, two);

  // Interrupted before the switch: generations/2 complete, current still on 1.
  fs::remove(dest / "current");
  fs::create_symlink("generations/000001", dest / "current");
  (void)original;
  auto reused = install_bundle(two, dest, {});
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_TRUE(reused->reused);
  EXPECT_EQ(current_of(dest), "generations/000002");
}

TEST(Install, RemovesLeftoversOfACrash) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  ASSERT_TRUE(install_bundle(opened(1), dest, {}));
  fs::create_directories(dest / "generations" / ".tmp-deadbeef" / "sub");
  test::write_text(dest / "generations" / ".tmp-deadbeef" / "agent.key", "half");
  ASSERT_EQ(symlink("generations/000001", (dest / "current.tmp-cafe").c_str()), 0);
  test::write_text(dest / "generations" / "notes.txt", "an operator's file");
  auto r = install_bundle(opened(2), dest, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->leftovers_removed, 2u);
  EXPECT_FALSE(fs::exists(dest / "generations" / ".tmp-deadbeef"));
  EXPECT_FALSE(fs::is_symlink(dest / "current.tmp-cafe"));
  EXPECT_TRUE(fs::exists(dest / "generations" / "notes.txt"));  // not ours: left alone
}

TEST(Install, LockHeldIsRefusedAndWritesNothing) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  ASSERT_TRUE(install_bundle(opened(1), dest, {}));
  auto before = test::snapshot(dest);
  auto lock = FileLock::try_acquire(dest / ".lock");
  ASSERT_TRUE(lock);
  auto r = install_bundle(opened(2), dest, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::refused);
  EXPECT_NE(r.error().message.find(".lock is held"), std::string::npos) << r.error().message;
  EXPECT_EQ(test::snapshot(dest), before);
}

// unpack prunes with the one policy cleanup uses (keydir/prune.hpp, tested in
// keydir_prune_test.cpp): `keep` generations stay, never current and never the one below it.
TEST(Install, KeepsNewestAndNeverCurrentOrPrevious) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  LocalInstallOptions keep2;
  keep2.keep = 2;
  for (std::uint64_t g = 1; g <= 4; ++g) {
    auto r = install_bundle(opened(g), dest, keep2);
    ASSERT_TRUE(r) << r.error().message;
    if (g == 3) {
      EXPECT_EQ(r->pruned, (std::vector<std::uint64_t>{1}));
    }
  }
  std::set<std::string> left;
  for (fs::directory_iterator it(dest / "generations"), end; it != end; ++it) {
    left.insert(it->path().filename().string());
  }
  EXPECT_EQ(left, (std::set<std::string>{"000003", "000004"}));
  keep2.keep = 1;
  auto r = install_bundle(opened(5), dest, keep2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::usage);
}

TEST(Install, OwnerIsAppliedToGenerationAndFiles) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  auto owner = parse_owner("nobody:nogroup");
  ASSERT_TRUE(owner) << owner.error().message;
  LocalInstallOptions options;
  options.owner = *owner;
  auto b = opened(1);
  ASSERT_TRUE(install_bundle(b, dest, options));
  auto owned = [&](const fs::path& p, uid_t uid, gid_t gid) {
    struct stat st {};
    ASSERT_EQ(lstat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, uid) << p;
    EXPECT_EQ(st.st_gid, gid) << p;
  };
  fs::path gen = dest / "generations" / "000001";
  owned(gen, owner->uid, owner->gid);
  owned(gen / "manifest.json", owner->uid, owner->gid);
  for (const auto& f : b.files) owned(gen / f.name, owner->uid, owner->gid);
  // DEST and generations/ stay ours, but the owner's group may pass through them.
  owned(dest, getuid(), owner->gid);
  EXPECT_EQ(test::file_mode(dest), 0710u);
  EXPECT_EQ(test::file_mode(dest / "generations"), 0710u);
  expect_installed(dest, b);
}

TEST(Install, ParseOwner) {
  auto numeric = parse_owner("1234:5678");
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->uid, 1234u);
  EXPECT_EQ(numeric->gid, 5678u);
  for (std::string bad : {"", "agent", ":grp", "usr:", "a:b:c"}) {
    auto r = parse_owner(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ExitCode::usage);
  }
  auto unknown = parse_owner("no-such-user-kf:nogroup");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("no user 'no-such-user-kf'"), std::string::npos);
  auto unknown_group = parse_owner("nobody:no-such-group-kf");
  ASSERT_FALSE(unknown_group);
  EXPECT_NE(unknown_group.error().message.find("no group 'no-such-group-kf'"), std::string::npos);
}

// A `current` that is no link to a generation is damage to repair, whatever it points at: the
// link is replaced, and what it pointed at is never followed or touched.
TEST(Install, RepairsACurrentThatIsNoGeneration) {
  TempDir tmp;
  fs::path dest = tmp / "agent";
  fs::create_directories(dest / "current");
  test::write_text(dest / "current" / "note", "operator's", 0644);
  auto r = install_bundle(opened(1), dest, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->action, "repaired");
  EXPECT_EQ(current_of(dest), "generations/000001");

  fs::path outside = tmp / "outside";
  fs::create_directories(outside);
  test::write_text(outside / "agent.key", "not ours", 0600);
  fs::remove(dest / "current");
  ASSERT_EQ(symlink(outside.c_str(), (dest / "current").c_str()), 0);
  auto odd = install_bundle(opened(2), dest, {});
  ASSERT_TRUE(odd) << odd.error().message;
  EXPECT_EQ(odd->action, "repaired");
  EXPECT_NE(odd->detail.find(outside.string()), std::string::npos) << odd->detail;
  EXPECT_EQ(current_of(dest), "generations/000002");
  EXPECT_EQ(test::read_text(outside / "agent.key"), "not ours");
}

// DEST/.lock would be created through a symlinked DEST, outside it: refused, nothing written.
TEST(Install, ASymlinkedDestIsRefused) {
  TempDir tmp;
  fs::create_directories(tmp / "real");
  ASSERT_EQ(symlink((tmp / "real").c_str(), (tmp / "agent").c_str()), 0);
  auto linked = install_bundle(opened(1), tmp / "agent", {});
  ASSERT_FALSE(linked);
  EXPECT_EQ(linked.error().code, ExitCode::refused);
  EXPECT_NE(linked.error().message.find("symlink"), std::string::npos) << linked.error().message;
  EXPECT_TRUE(fs::is_empty(tmp / "real"));
  ASSERT_EQ(symlink((tmp / "nowhere").c_str(), (tmp / "dangling").c_str()), 0);
  auto r = install_bundle(opened(1), tmp / "dangling", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::refused);
  test::write_text(tmp / "file", "x");
  EXPECT_FALSE(install_bundle(opened(1), tmp / "file", {}));
}

TEST(Install, MissingParentIsAUsageError) {
  TempDir tmp;
  auto r = install_bundle(opened(1), tmp / "no" / "agent", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ExitCode::usage);
  EXPECT_FALSE(fs::exists(tmp / "no"));
}

}  // namespace
}  // namespace kf::keydir
