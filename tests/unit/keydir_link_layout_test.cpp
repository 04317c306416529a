// Layout "link" (inventory `layout = "link"`): DEST itself is keyfleet's link to
// DEST.generations/NNNNNN. KeyDir's paths, the node state read through them, the decision for a
// DEST keyfleet does not manage (refused, or --adopt), the switch that moves it aside, and
// runtime files, on an in-memory node (FakeRemote) and through the real node scripts
// (LocalRemote).
#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/install.hpp"
#include "keydir/local_install.hpp"
#include "keydir/local_remote.hpp"
#include "keydir/lock.hpp"
#include "keydir/plan.hpp"
#include "keydir/prune.hpp"
#include "keydir/switch.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using namespace std::chrono_literals;
using test::FakeRemote;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

PathPattern pattern(std::string_view text) {
  auto parsed = PathPattern::parse(text);
  if (!parsed) throw std::runtime_error(parsed.error().message);
  return *parsed;
}

// A GnuPG home as a key set of one lineage, opened as push opens a bundle.
class GpgSet {
 public:
  explicit GpgSet(std::uint64_t generation,
                  std::vector<test::FileSpec> files = {
                      {"pubring.kbx", 0644, test::random_text(400)},
                      {"private-keys-v1.d/ABCD.key", 0600, test::random_text(200)},
                      {"trustdb.gpg", 0600, test::random_text(40)}}) {
    Manifest m = test::manifest_for(files, generation);
    m.kind = std::string(kKindImported);
    m.key_type.clear();
    m.hosts.clear();
    m.not_after.clear();
    m.ca_fingerprint.clear();
    m.agent_fingerprint.clear();
    m.keyset = std::string(32, 'c');
    m.directories = {{"private-keys-v1.d", 0700}};
    std::vector<test::RawEntry> entries{{"manifest.json", serialize(m), AE_IFREG, 0644}};
    for (const auto& f : files) entries.emplace_back(f.name, f.data, AE_IFREG, f.mode);
    auto validated = bundle::validate_tar(as_bytes(test::craft_tar(entries)));
    if (!validated) throw std::runtime_error(validated.error().message);
    opened_ = std::make_unique<bundle::OpenedBundle>(std::move(*validated));
    content_ = GenerationContent::of(*opened_);
  }
  [[nodiscard]] const bundle::OpenedBundle& opened() const { return *opened_; }
  [[nodiscard]] const GenerationContent& content() const { return content_; }
  [[nodiscard]] BundleIdentity identity() const {
    return BundleIdentity::of(opened_->manifest, content_);
  }

 private:
  std::unique_ptr<bundle::OpenedBundle> opened_;
  GenerationContent content_;
};

TEST(LinkLayout, EveryPathLivesBesideDest) {
  const KeyDir dir("/var/lib/keytrustee/.keytrustee", DestLayout::link);
  EXPECT_EQ(dir.current(), "/var/lib/keytrustee/.keytrustee");
  EXPECT_EQ(dir.home(), "/var/lib/keytrustee/.keytrustee.generations");
  EXPECT_EQ(dir.generations(), dir.home());
  EXPECT_EQ(dir.link_dir(), "/var/lib/keytrustee");
  EXPECT_EQ(dir.lock(), "/var/lib/keytrustee/.keytrustee.generations/.lock");
  EXPECT_EQ(dir.pending(), "/var/lib/keytrustee/.keytrustee.generations/.pending");
  EXPECT_EQ(dir.history(), "/var/lib/keytrustee/.keytrustee.generations/history.log");
  EXPECT_EQ(dir.generation(3), "/var/lib/keytrustee/.keytrustee.generations/000003");
  EXPECT_EQ(dir.link_target(3), ".keytrustee.generations/000003");
  EXPECT_EQ(dir.generation_of_target(".keytrustee.generations/000003"), 3u);
  EXPECT_EQ(dir.generation_of_target("generations/000003"), std::nullopt);
  EXPECT_TRUE(dir.names_generations(".keytrustee.generations/.tmp-prune-x"));
  EXPECT_TRUE(dir.names_generations("/var/lib/keytrustee/.keytrustee.generations//000009/"));
  EXPECT_TRUE(dir.names_generations("./x/../.keytrustee.generations/000001"));
  EXPECT_FALSE(dir.names_generations("/data/keytrustee/.keytrustee"));
  EXPECT_FALSE(dir.names_generations(".keytrustee.generations-other/000001"));
  // 2026-11-23T10:15:00Z
  EXPECT_EQ(dir.adopted_path(1795428900),
            "/var/lib/keytrustee/.keytrustee.generations/adopted-20261123T101500Z");

  // The default layout is today's.
  const KeyDir old("/etc/keyfleet/agent");
  EXPECT_EQ(old.current(), "/etc/keyfleet/agent/current");
  EXPECT_EQ(old.home(), "/etc/keyfleet/agent");
  EXPECT_EQ(old.generations(), "/etc/keyfleet/agent/generations");
  EXPECT_EQ(old.link_dir(), "/etc/keyfleet/agent");
  EXPECT_EQ(old.link_target(3), "generations/000003");
  EXPECT_EQ(old.lock(), "/etc/keyfleet/agent/.lock");
}

TEST(LinkLayout, InventoryNodeGivesItsLayoutAndRuntimeFiles) {
  NodeConfig node;
  node.dest = "/srv/gpg";
  node.layout = DestLayout::link;
  node.runtime_files = {pattern("random_seed"), pattern("S.gpg-agent*")};
  const KeyDir dir = KeyDir::of(node);
  EXPECT_EQ(dir.home(), "/srv/gpg.generations");
  EXPECT_TRUE(dir.is_runtime("random_seed", false));
  EXPECT_TRUE(dir.is_runtime("S.gpg-agent.ssh", false));
  EXPECT_FALSE(dir.is_runtime("pubring.kbx", false));
}

class LinkFake : public ::testing::Test {
 protected:
  LinkFake() { node_.add_dir("/srv", 0755); }

  // As a push of generation `generation` reads it.
  NodeState read(std::uint64_t generation = 1) {
    auto state = read_for_plan(node_, dir_, generation, "read");
    EXPECT_TRUE(state) << state.error().message;
    return state ? std::move(*state) : NodeState{};
  }
  NodeResult<InstallResult> install(const GpgSet& set, DecideOptions options = {}) {
    auto state = read_for_plan(node_, dir_, set.content().number, "read");
    if (!state) return std::unexpected(state.error());
    const Plan plan = decide(*state, set.identity(), options);
    if (plan.action == Action::unmanaged) {
      return node_fail(NodeStatus::refused, "decide", "{}", plan.reason);
    }
    return apply_plan(node_, nullptr, dir_, *state, plan, set.content(), options_, "install");
  }
  [[nodiscard]] std::string link() const {
    auto it = node_.entries.find("/srv/gpg");
    return it == node_.entries.end() || it->second.type != FileType::symlink ? ""
                                                                             : it->second.target;
  }
  std::map<std::string, std::string> dump() const {
    std::map<std::string, std::string> out;
    for (const auto& [path, e] : node_.entries) {
      out[path] = fmt::format("{} {:o} {} {}", static_cast<int>(e.type), e.mode,
                              std::string(e.data.begin(), e.data.end()), e.target);
    }
    return out;
  }

  FakeRemote node_;
  KeyDir dir_{"/srv/gpg", DestLayout::link};
  InstallOptions options_{.owner = std::nullopt, .lock_wait = 1};
};

TEST_F(LinkFake, NothingThereIsAFirstInstallWhoseLinkIsDestItself) {
  NodeState state = read();
  EXPECT_FALSE(state.dest_exists);
  EXPECT_EQ(state.current_kind, CurrentKind::absent);

  GpgSet one(1);
  auto installed = install(one);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(link(), "gpg.generations/000001");
  EXPECT_EQ(node_.entries.at("/srv/gpg.generations").mode, 0700u);
  EXPECT_EQ(node_.text("/srv/gpg.generations/000001/trustdb.gpg").size(), 40u);
  EXPECT_FALSE(node_.exists("/srv/gpg/generations"));

  GpgSet two(2);
  ASSERT_TRUE(install(two));
  EXPECT_EQ(link(), "gpg.generations/000002");
  EXPECT_TRUE(node_.exists("/srv/gpg.generations/000001"));
  state = read(2);
  EXPECT_EQ(state.current, 2u);
  EXPECT_THAT(state.unexpected, IsEmpty());
  EXPECT_THAT(state.leftovers, IsEmpty());
  EXPECT_EQ(decide(state, two.identity(), {}).action, Action::unchanged);
}

// What keyfleet keeps in DEST.generations is told apart by name: the lock, owed hooks, history,
// adopted directories, leftovers; anything else is named as not keyfleet's.
TEST_F(LinkFake, TheHomeIsReadForWhatKeyfleetKeepsThere) {
  GpgSet one(1);
  ASSERT_TRUE(install(one));
  node_.add_file("/srv/gpg.generations/.lock", "", 0600);
  node_.add_file("/srv/gpg.generations/history.log", "{}\n", 0600);
  node_.add_dir("/srv/gpg.generations/adopted-20261123T101500Z", 0700);
  node_.add_dir("/srv/gpg.generations/.tmp-0123456789abcdef", 0700);
  ASSERT_TRUE(node_.symlink("gpg.generations/000001", "/srv/gpg.generations/current.tmp-ab"));
  node_.add_file("/srv/gpg.generations/notes.txt", "mine", 0644);
  NodeState state = read();
  EXPECT_EQ(state.current, 1u);
  EXPECT_THAT(state.adopted, ElementsAre("/srv/gpg.generations/adopted-20261123T101500Z"));
  EXPECT_THAT(state.leftovers, ElementsAre("/srv/gpg.generations/.tmp-0123456789abcdef",
                                           "/srv/gpg.generations/current.tmp-ab"));
  EXPECT_THAT(state.unexpected, ElementsAre("/srv/gpg.generations/notes.txt"));
  // Both leftovers go; the adopted directory and the stranger stay.
  auto removed = remove_leftovers(node_, dir_, state, "install");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->size(), 2u);
  EXPECT_TRUE(node_.exists("/srv/gpg.generations/adopted-20261123T101500Z"));
  EXPECT_TRUE(node_.exists("/srv/gpg.generations/notes.txt"));
}

// A real directory at DEST is the service's own material: refused, nothing touched, the reason
// naming it, until --adopt.
TEST_F(LinkFake, ARealDirectoryAtDestIsRefusedUntilAdopted) {
  node_.add_dir("/srv/gpg", 0700);
  node_.add_file("/srv/gpg/secring.gpg", "old ring", 0600);
  const auto before = dump();
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::unmanaged);
  EXPECT_THAT(state.describe_current(),
              HasSubstr("/srv/gpg is a real directory keyfleet does not manage"));
  GpgSet one(1);
  Plan plan = decide(state, one.identity(), {});
  EXPECT_EQ(plan.action, Action::unmanaged);
  EXPECT_FALSE(plan.adopt);
  EXPECT_FALSE(install(one));
  EXPECT_EQ(dump(), before);

  plan = decide(state, one.identity(), {.adopt = true});
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_TRUE(plan.adopt);
  auto installed = install(one, {.adopt = true});
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_THAT(installed->adopted, StartsWith("/srv/gpg.generations/adopted-"));
  EXPECT_EQ(link(), "gpg.generations/000001");
  EXPECT_EQ(node_.text(installed->adopted + "/secring.gpg"), "old ring");
  state = read();
  EXPECT_EQ(state.current, 1u);
  EXPECT_THAT(state.adopted, ElementsAre(installed->adopted));

  // Pruning never counts it; the next push has nothing to adopt.
  EXPECT_EQ(decide(state, one.identity(), {}).action, Action::unchanged);
}

TEST_F(LinkFake, AFailedSwitchPutsTheAdoptedDirectoryBack) {
  node_.add_dir("/srv/gpg", 0700);
  node_.add_file("/srv/gpg/secring.gpg", "old ring", 0600);
  const auto before = dump();
  node_.fail_next("request", "switch", {NodeStatus::failed, "exec", "fake: injected"});
  GpgSet one(1);
  ASSERT_FALSE(install(one, {.adopt = true}));
  for (const auto& [path, entry] : node_.entries) {
    if (path.starts_with("/srv/gpg.generations/")) ADD_FAILURE() << path << " left behind";
  }
  EXPECT_EQ(node_.text("/srv/gpg/secring.gpg"), "old ring");
  auto after = dump();
  after.erase("/srv/gpg.generations");  // made for the install: empty, keyfleet's
  EXPECT_EQ(after, before);
}

// A link keyfleet did not make (the operator's /srv/gpg -> /data/gpg) is not replaced either;
// --adopt keeps the link itself, and what it points at is not touched.
TEST_F(LinkFake, ALinkElsewhereIsNotKeyfleetsEither) {
  node_.add_dir("/data/gpg", 0700);
  node_.add_file("/data/gpg/secring.gpg", "ring", 0600);
  ASSERT_TRUE(node_.symlink("/data/gpg", "/srv/gpg"));
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::unmanaged);
  EXPECT_THAT(state.describe_current(), HasSubstr("is a link to '/data/gpg'"));
  GpgSet one(1);
  EXPECT_EQ(decide(state, one.identity(), {}).action, Action::unmanaged);
  auto installed = install(one, {.adopt = true});
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(link(), "gpg.generations/000001");
  EXPECT_EQ(node_.entries.at(installed->adopted).target, "/data/gpg");
  EXPECT_EQ(node_.text("/data/gpg/secring.gpg"), "ring");
}

// keyfleet's own link, broken, is repaired as ever: it is no stranger's.
TEST_F(LinkFake, ItsOwnBrokenLinkIsRepairedNotRefused) {
  GpgSet one(1);
  ASSERT_TRUE(install(one));
  node_.entries.erase("/srv/gpg");
  ASSERT_TRUE(node_.symlink("gpg.generations/000007", "/srv/gpg"));
  NodeState state = read();
  EXPECT_EQ(state.current_kind, CurrentKind::dangling);
  EXPECT_THAT(state.describe_current(), HasSubstr("/srv/gpg is a dangling link"));
  Plan plan = decide(state, one.identity(), {});
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_FALSE(plan.adopt);
}

// Files the service writes into its directory -- through the link, into the current
// generation -- are neither compared nor installed.
TEST_F(LinkFake, RuntimeFilesAreNeitherComparedNorInstalled) {
  dir_ = KeyDir(
      "/srv/gpg", DestLayout::link,
      {pattern("random_seed"), pattern("S.gpg-agent*"), pattern("trustdb.gpg"), pattern(".#lk*")});
  GpgSet one(1);
  ASSERT_TRUE(install(one));
  // The bundle's trustdb.gpg is the service's business once it runs: not written.
  EXPECT_FALSE(node_.exists("/srv/gpg.generations/000001/trustdb.gpg"));
  EXPECT_TRUE(node_.exists("/srv/gpg.generations/000001/pubring.kbx"));
  node_.add_file("/srv/gpg.generations/000001/random_seed", "seed", 0600);
  node_.add_file("/srv/gpg.generations/000001/trustdb.gpg", "trust", 0600);
  node_.add_file("/srv/gpg.generations/000001/.#lk0x1.host.42", "", 0600);
  node_.entries["/srv/gpg.generations/000001/S.gpg-agent"] =
      FakeRemote::Entry{FileType::other, 0700, {}, {}};
  NodeState state = read();
  const GenerationState* current = state.current_generation();
  ASSERT_NE(current, nullptr);
  EXPECT_TRUE(current->complete())
      << fmt::format("{}", fmt::join(current->differences(current->manifest->files), ", "));
  EXPECT_EQ(decide(state, one.identity(), {}).action, Action::unchanged);
  EXPECT_TRUE(one.content().matches(*current));

  // A key file edited is still a difference.
  const std::string pubring = "/srv/gpg.generations/000001/pubring.kbx";
  const auto original = node_.entries.at(pubring).data;
  node_.entries.at(pubring).data = test::to_vector("edited");
  state = read();
  Plan plan = decide(state, one.identity(), {});
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("pubring.kbx"));
  EXPECT_THAT(plan.reason, Not(HasSubstr("random_seed")));

  // Without the patterns the same files are differences.
  dir_ = KeyDir("/srv/gpg", DestLayout::link);
  node_.entries.at(pubring).data = original;
  state = read();
  plan = decide(state, one.identity(), {});
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("random_seed (not in the manifest)"));
}

class LinkLocal : public ::testing::Test {
 protected:
  [[nodiscard]] fs::path dest() const { return tmp_ / "gpg"; }
  [[nodiscard]] KeyDir dir() const { return KeyDir(dest().string(), DestLayout::link); }
  NodeResult<InstallResult> install(const GpgSet& set, DestLock* lock, DecideOptions options = {}) {
    auto state = read_for_plan(remote_, dir(), set.content().number, "read");
    if (!state) return std::unexpected(state.error());
    const Plan plan = decide(*state, set.identity(), options);
    return apply_plan(remote_, lock, dir(), *state, plan, set.content(), options_, "install");
  }

  test::TempDir tmp_;
  LocalRemote remote_{"local", Deadline::after(60s)};
  InstallOptions options_{.owner = std::nullopt, .lock_wait = 1};
};

// The real scripts: the one-shot switch, then the lock holder's, with the lock in the home.
TEST_F(LinkLocal, TheRealScriptsSwitchDestItself) {
  GpgSet one(1);
  auto installed = install(one, nullptr);
  ASSERT_TRUE(installed) << installed.error().message;
  ASSERT_TRUE(fs::is_symlink(dest()));
  EXPECT_EQ(fs::read_symlink(dest()).string(), "gpg.generations/000001");
  EXPECT_EQ(test::read_text(dest() / "pubring.kbx").size(), 400u);  // through the link

  auto lock = DestLock::acquire(remote_, dir(), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(lock->held());
  EXPECT_TRUE(fs::exists(tmp_ / "gpg.generations" / ".lock"));
  GpgSet two(2);
  installed = install(two, &*lock);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(fs::read_symlink(dest()).string(), "gpg.generations/000002");
  lock->release();
  for (fs::directory_iterator it(tmp_ / "gpg.generations"), end; it != end; ++it) {
    EXPECT_FALSE(it->path().filename().string().starts_with("current.tmp-")) << it->path();
  }
}

TEST_F(LinkLocal, TheRealSwitchAdoptsARealDirectory) {
  fs::create_directories(dest());
  test::write_text(dest() / "secring.gpg", "old ring", 0600);
  GpgSet one(1);
  auto lock = DestLock::acquire(remote_, dir(), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto installed = install(one, &*lock, {.adopt = true});
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(fs::read_symlink(dest()).string(), "gpg.generations/000001");
  EXPECT_EQ(test::read_text(fs::path(installed->adopted) / "secring.gpg"), "old ring");
  EXPECT_THAT(fs::path(installed->adopted).filename().string(), StartsWith("adopted-"));
}

// The switch refuses when something appears where the adopted directory would go, and leaves
// DEST as it was.
TEST_F(LinkLocal, TheRealSwitchNeverMovesOverAnExistingAside) {
  fs::create_directories(dest());
  fs::create_directories(tmp_ / "gpg.generations" / "000001");
  test::write_text(dest() / "secring.gpg", "old ring", 0600);
  fs::create_directories(tmp_ / "gpg.generations" / "adopted-x");
  SwitchRequest request{"", "000001", std::nullopt, (tmp_ / "gpg.generations/adopted-x").string()};
  auto switched = switch_current(remote_, nullptr, dir(), request, 1, "switch");
  ASSERT_FALSE(switched);
  EXPECT_THAT(switched.error().message, HasSubstr("already exists"));
  EXPECT_FALSE(fs::is_symlink(dest()));
  EXPECT_EQ(test::read_text(dest() / "secring.gpg"), "old ring");
}

// unpack --layout link --adopt: the same code on this machine.
TEST(LinkUnpack, AdoptsAndThenIsUnchanged) {
  test::TempDir tmp;
  fs::path dest = tmp / "gpg";
  fs::create_directories(dest);
  test::write_text(dest / "secring.gpg", "old ring", 0600);
  GpgSet one(1);
  LocalInstallOptions options;
  options.layout = DestLayout::link;
  options.runtime_files = {pattern("random_seed")};
  auto refused = install_bundle(one.opened(), dest, options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ExitCode::refused);
  EXPECT_THAT(refused.error().message, HasSubstr("--adopt"));
  EXPECT_FALSE(fs::is_symlink(dest));

  options.adopt = true;
  auto adopted = install_bundle(one.opened(), dest, options);
  ASSERT_TRUE(adopted) << adopted.error().message;
  EXPECT_EQ(adopted->action, "installed");
  EXPECT_EQ(test::read_text(fs::path(adopted->adopted) / "secring.gpg"), "old ring");
  EXPECT_EQ(adopted->link_target, "gpg.generations/000001");
  test::write_text(dest / "random_seed", "the service's", 0600);
  options.adopt = false;
  auto again = install_bundle(one.opened(), dest, options);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->action, "unchanged");
}

}  // namespace
}  // namespace kf::keydir
