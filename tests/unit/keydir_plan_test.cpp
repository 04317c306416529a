// keydir::decide, every row of the decision table and both modifiers, over node states built on an
// in-memory node (FakeRemote) and read back with read_for_plan, as push and unpack read them.
#include "keydir/plan.hpp"

#include <algorithm>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"

namespace kf::keydir {
namespace {

using test::FakeRemote;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kKeysetA(32, 'a');
const std::string kKeysetB(32, 'b');
const std::string kCaA = "sha256:" + std::string(64, '1');
const std::string kCaB = "sha256:" + std::string(64, '2');

// A key set of one lineage (key set id, CA) at one generation, opened as push opens a bundle.
// Built once: the same object is installed on the node and decided against.
class KeySet {
 public:
  KeySet(std::uint64_t generation, std::string keyset, std::string ca,
         const std::vector<test::FileSpec>& files = test::keyset_files(false)) {
    Manifest m = test::manifest_for(files, generation);
    m.keyset = std::move(keyset);
    m.ca_fingerprint = std::move(ca);
    std::vector<test::RawEntry> entries{{"manifest.json", serialize(m), AE_IFREG, 0644}};
    for (const auto& f : files) entries.emplace_back(f.name, f.data, AE_IFREG, f.mode);
    auto validated = bundle::validate_tar(as_bytes(test::craft_tar(entries)));
    if (!validated) throw std::runtime_error(validated.error().message);
    opened_ = std::make_unique<bundle::OpenedBundle>(std::move(*validated));
    content_ = GenerationContent::of(*opened_);
  }
  [[nodiscard]] const bundle::OpenedBundle& opened() const { return *opened_; }
  [[nodiscard]] BundleIdentity identity() const {
    return BundleIdentity::of(opened_->manifest, content_);
  }
  [[nodiscard]] std::uint64_t generation() const { return content_.number; }

 private:
  std::unique_ptr<bundle::OpenedBundle> opened_;
  GenerationContent content_;
};

class Decide : public ::testing::Test {
 protected:
  const KeyDir dir_{"/keys"};
  FakeRemote node_;

  [[nodiscard]] static std::string gen_path(std::uint64_t g) {
    return fmt::format("/keys/generations/{:06}", g);
  }
  [[nodiscard]] static std::string file_path(std::uint64_t g, const std::string& name) {
    return gen_path(g) + "/" + name;
  }

  // An empty node: nothing but "/".
  void reset() { node_.entries = {{"/", FakeRemote::Entry{FileType::directory, 0755, {}, {}}}}; }

  // generations/G as a complete install of `set` leaves it.
  void place(const KeySet& set) {
    const std::string gen = gen_path(set.generation());
    node_.add_dir("/keys", 0700);
    node_.add_dir("/keys/generations", 0700);
    node_.add_dir(gen, 0700);
    const auto& manifest = set.opened().manifest_bytes;
    node_.add_file(gen + "/manifest.json", std::string(manifest.begin(), manifest.end()), 0644);
    for (const auto& f : set.opened().files) {
      node_.add_file(gen + "/" + f.name, std::string(f.data.begin(), f.data.end()), f.mode);
    }
  }
  void link_current(const std::string& target) {
    node_.entries.erase("/keys/current");
    ASSERT_TRUE(node_.symlink(target, "/keys/current"));
  }
  // place, and current -> it.
  void install(const KeySet& set) {
    place(set);
    link_current(dir_.link_target(set.generation()));
  }

  Plan decide_for(const KeySet& bundle, DecideOptions options = {}) {
    auto state = read_for_plan(node_, dir_, bundle.generation(), "read");
    EXPECT_TRUE(state) << state.error().message;
    if (!state) return {};
    return decide(*state, bundle.identity(), options);
  }
};

// --- Row 1: nothing installed -------------------------------------------------------------------

TEST_F(Decide, AbsentDestIsAFirstInstall) {
  KeySet b(1, kKeysetA, kCaA);
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_EQ(plan.reason, "");
  EXPECT_FALSE(plan.previous);
  EXPECT_FALSE(plan.replace_existing);
  EXPECT_THAT(plan.foreign_generations, IsEmpty());
}

TEST_F(Decide, EmptyDestAndEmptyGenerationsAreAFirstInstall) {
  KeySet b(3, kKeysetA, kCaA);
  node_.add_dir("/keys", 0700);
  EXPECT_EQ(decide_for(b).action, Action::install);
  node_.add_dir("/keys/generations", 0700);
  node_.add_file("/keys/.lock", "", 0600);
  EXPECT_EQ(decide_for(b).action, Action::install);
  // The modifiers change nothing for a first install.
  EXPECT_EQ(decide_for(b, {true, true}).action, Action::install);
}

// --- Row 2: `current` broken --------------------------------------------------------------------

TEST_F(Decide, CurrentMissingWhileGenerationsExistIsRepaired) {
  KeySet old(1, kKeysetA, kCaA);
  KeySet b(2, kKeysetA, kCaA);
  place(old);
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("current missing while generations exist"));
  EXPECT_FALSE(plan.previous);  // nothing healthy to roll back to
  EXPECT_FALSE(plan.replace_existing);
}

TEST_F(Decide, DanglingCurrentIsRepairedAndItsNumberNeverCompared) {
  KeySet old(1, kKeysetA, kCaA);
  KeySet b(2, kKeysetA, kCaA);
  place(old);
  // A dangling link naming a newer generation is no downgrade: its number means nothing.
  link_current("generations/000009");
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("dangling link to 'generations/000009'"));
  EXPECT_FALSE(plan.previous);
  // Nor does --allow-downgrade or --replace-keyset change a repair.
  EXPECT_EQ(decide_for(b, {true, true}).action, Action::repair);
}

TEST_F(Decide, CurrentThatIsARegularFileOrADirectoryIsRepaired) {
  KeySet b(1, kKeysetA, kCaA);
  node_.add_dir("/keys/generations", 0700);
  node_.add_file("/keys/current", "generations/000001", 0644);
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("current is not a symlink"));

  node_.entries.erase("/keys/current");
  node_.add_dir("/keys/current", 0700);
  EXPECT_EQ(decide_for(b).action, Action::repair);
}

TEST_F(Decide, CurrentPointingAnywhereButAGenerationDirectoryIsRepaired) {
  KeySet b(2, kKeysetA, kCaA);
  install(KeySet(1, kKeysetA, kCaA));
  // A real directory elsewhere, holding a key set: still not a generation directory.
  node_.add_dir("/elsewhere", 0700);
  link_current("/elsewhere");
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("'/elsewhere', not at a generation directory"));
  EXPECT_FALSE(plan.previous);

  // generations/000003 that is a symlink to a directory is no generation either.
  ASSERT_TRUE(node_.symlink("000001", "/keys/generations/000003"));
  link_current("generations/000003");
  plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("'generations/000003'"));
}

TEST_F(Decide, CurrentOnAGenerationWithoutAValidManifestIsRepaired) {
  KeySet installed(1, kKeysetA, kCaA);
  KeySet b(2, kKeysetA, kCaA);
  install(installed);
  node_.entries.erase(file_path(1, "manifest.json"));
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("which has no valid manifest"));
  EXPECT_FALSE(plan.previous);

  node_.add_file(file_path(1, "manifest.json"), "{not json", 0644);
  EXPECT_EQ(decide_for(b).action, Action::repair);

  // A manifest whose generation is not its directory's.
  node_.entries.erase(file_path(1, "manifest.json"));
  const auto& other = b.opened().manifest_bytes;
  node_.add_file(file_path(1, "manifest.json"), std::string(other.begin(), other.end()), 0644);
  plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_THAT(plan.reason, HasSubstr("says generation 2"));
}

TEST_F(Decide, BrokenCurrentOnGenerationGReplacesItInPlace) {
  KeySet b(1, kKeysetA, kCaA);
  install(b);
  node_.entries.erase(file_path(1, "manifest.json"));
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::repair);
  EXPECT_TRUE(plan.replace_existing);
  EXPECT_TRUE(plan.replace_current);  // two switches: current names a whole generation throughout
}

// --- Row 3: current is G with digest M
// ------------------------------------------------------------

TEST_F(Decide, CurrentIsTheBundleWithEveryFileMatchingIsUnchanged) {
  KeySet b(2, kKeysetA, kCaA);
  install(KeySet(1, kKeysetA, kCaA));
  install(b);
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::unchanged);
  EXPECT_EQ(plan.reason, "");
  // The modifiers never turn an identical install into work.
  EXPECT_EQ(decide_for(b, {true, true}).action, Action::unchanged);
}

TEST_F(Decide, AnEditedDeletedChmodedOrExtraFileUnderCurrentIsRepairedByName) {
  KeySet b(1, kKeysetA, kCaA);
  struct Damage {
    std::string what;
    std::function<void(FakeRemote&)> apply;
    std::string named;
  };
  const std::vector<Damage> damages = {
      {"edited", [](FakeRemote& r) { r.entries.at(file_path(1, "agent.key")).data.back() ^= 1; },
       "agent.key (digest differs)"},
      {"truncated", [](FakeRemote& r) { r.entries.at(file_path(1, "ca.crt")).data.pop_back(); },
       "ca.crt (size"},
      {"deleted", [](FakeRemote& r) { r.entries.erase(file_path(1, "keystore.p12")); },
       "keystore.p12 (missing)"},
      {"chmod'ed", [](FakeRemote& r) { r.entries.at(file_path(1, "storepass")).mode = 0644; },
       "storepass (mode 0644 instead of 0600)"},
      {"extra", [](FakeRemote& r) { r.add_file(file_path(1, "planted"), "x", 0600); },
       "planted (not in the manifest)"},
      {"irregular", [](FakeRemote& r) { ASSERT_TRUE(r.symlink("/etc", file_path(1, "link"))); },
       "link (not a regular file)"},
  };
  for (const auto& damage : damages) {
    reset();
    install(b);
    damage.apply(node_);
    Plan plan = decide_for(b);
    EXPECT_EQ(plan.action, Action::repair) << damage.what;
    EXPECT_THAT(plan.reason, HasSubstr(damage.named)) << damage.what;
    EXPECT_THAT(plan.reason, HasSubstr("generation 000001 differs from its manifest"));
    EXPECT_TRUE(plan.replace_existing) << damage.what;
    EXPECT_TRUE(plan.replace_current) << damage.what;
    EXPECT_FALSE(plan.previous) << damage.what;
  }
}

TEST_F(Decide, CurrentIsGWithAnotherDigestOfTheSameKeySetIsAConflict) {
  // Two key sets made from copies of one directory: same id, same generation, other files.
  KeySet installed(1, kKeysetA, kCaA);
  KeySet b(1, kKeysetA, kCaA);
  install(installed);
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::conflict);
  EXPECT_THAT(plan.reason, HasSubstr("of this key set with another manifest"));
  EXPECT_THAT(plan.reason, HasSubstr(b.identity().manifest_sha256));
  // --allow-downgrade does not resolve a conflict.
  EXPECT_EQ(decide_for(b, {.allow_downgrade = true}).action, Action::conflict);
}

TEST_F(Decide, CurrentIsGOfAnotherKeySetIsAConflictUnlessReplaceKeyset) {
  KeySet other(1, kKeysetB, kCaB);
  KeySet b(1, kKeysetA, kCaA);
  install(other);
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::conflict);
  EXPECT_THAT(plan.reason, HasSubstr("generation 000001 of another key set (key set " + kKeysetB));

  plan = decide_for(b, {.replace_keyset = true});
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_TRUE(plan.replace_existing);
  EXPECT_TRUE(plan.replace_current);
  EXPECT_THAT(plan.foreign_generations, ElementsAre(1u));
  EXPECT_THAT(plan.reason, HasSubstr("another key set"));
}

// --- Row 4: another key set
// -----------------------------------------------------------------------

TEST_F(Decide, AnotherKeySetAtAnyGenerationIsAConflictAndReplaceKeysetListsItsGenerations) {
  KeySet b(1, kKeysetA, kCaA);
  install(KeySet(1, kKeysetB, kCaB));
  install(KeySet(2, kKeysetB, kCaB));
  // Newer, but of another key set: a conflict, not a downgrade.
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::conflict);
  EXPECT_THAT(plan.reason, HasSubstr("current is generation 000002 of another key set"));
  EXPECT_EQ(decide_for(b, {.allow_downgrade = true}).action, Action::conflict);

  plan = decide_for(b, {.replace_keyset = true});
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_THAT(plan.foreign_generations, ElementsAre(1u, 2u));
  EXPECT_EQ(plan.previous, 2u);
  EXPECT_TRUE(plan.replace_existing);  // generations/000001 is B's: replaced
  EXPECT_FALSE(plan.replace_current);
}

TEST_F(Decide, ReplaceKeysetKeepsTheBundlesOwnOlderGenerations) {
  KeySet mine(1, kKeysetA, kCaA);
  KeySet b(3, kKeysetA, kCaA);
  place(mine);
  install(KeySet(2, kKeysetB, kCaB));
  Plan plan = decide_for(b, {.replace_keyset = true});
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_THAT(plan.foreign_generations, ElementsAre(2u));
  EXPECT_FALSE(plan.replace_existing);
}

// --- Row 5: a downgrade
// ---------------------------------------------------------------------------

TEST_F(Decide, CurrentNewerThanTheBundleIsADowngradeUnlessAllowed) {
  KeySet b(1, kKeysetA, kCaA);
  install(KeySet(3, kKeysetA, kCaA));
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::downgrade);
  EXPECT_THAT(plan.reason,
              HasSubstr("current is generation 000003, newer than the bundle's 000001"));
  EXPECT_EQ(decide_for(b, {.replace_keyset = true}).action, Action::downgrade);

  plan = decide_for(b, {.allow_downgrade = true});
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_EQ(plan.previous, 3u);
  EXPECT_FALSE(plan.replace_existing);
}

TEST_F(Decide, AllowedDowngradeToAnIntactGenerationReactivatesIt) {
  KeySet b(1, kKeysetA, kCaA);
  place(b);
  install(KeySet(2, kKeysetA, kCaA));
  // Without --allow-downgrade, an intact generations/G below current is still a downgrade:
  // going back is rollback's job.
  EXPECT_EQ(decide_for(b).action, Action::downgrade);
  Plan plan = decide_for(b, {.allow_downgrade = true});
  EXPECT_EQ(plan.action, Action::reactivate);
  EXPECT_EQ(plan.previous, 2u);
}

// --- Row 6: reactivate
// ------------------------------------------------------------------------------

TEST_F(Decide, IntactGenerationGWithCurrentOnAnOlderOneIsReactivated) {
  KeySet old(1, kKeysetA, kCaA);
  KeySet b(2, kKeysetA, kCaA);
  place(b);
  install(old);  // after a rollback from 2 to 1
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::reactivate);
  EXPECT_EQ(plan.previous, 1u);
  EXPECT_THAT(plan.reason, HasSubstr("generation 000002 is there intact; current was 000001"));
  EXPECT_FALSE(plan.replace_existing);
}

TEST_F(Decide, ADamagedOrDifferentGenerationGBelowCurrentIsReplacedNotReactivated) {
  KeySet old(1, kKeysetA, kCaA);
  KeySet b(2, kKeysetA, kCaA);
  place(b);
  install(old);
  node_.entries.at(file_path(2, "agent.crt")).data.front() ^= 1;
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_TRUE(plan.replace_existing);
  EXPECT_FALSE(plan.replace_current);
  EXPECT_EQ(plan.previous, 1u);
  EXPECT_THAT(plan.reason, HasSubstr("generations/000002 was there and is replaced: damaged"));

  // An empty directory named 000002 (no manifest at all).
  reset();
  install(old);
  node_.add_dir(gen_path(2), 0700);
  plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_TRUE(plan.replace_existing);
  EXPECT_THAT(plan.reason, HasSubstr("it holds another manifest"));

  // generations/000002 of the same key set made from a copied directory.
  reset();
  place(KeySet(2, kKeysetA, kCaA));
  install(old);
  plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_TRUE(plan.replace_existing);
  EXPECT_THAT(plan.reason, HasSubstr("it holds another manifest"));
}

// --- Row 7: otherwise, install
// ----------------------------------------------------------------------

TEST_F(Decide, TheNextGenerationIsInstalledWithCurrentAsItsRollbackTarget) {
  KeySet b(4, kKeysetA, kCaA);
  install(KeySet(1, kKeysetA, kCaA));
  install(KeySet(2, kKeysetA, kCaA));
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_EQ(plan.previous, 2u);
  EXPECT_EQ(plan.reason, "");
  EXPECT_FALSE(plan.replace_existing);
  EXPECT_THAT(plan.foreign_generations, IsEmpty());
  // The modifiers change nothing here.
  Plan modified = decide_for(b, {true, true});
  EXPECT_EQ(modified.action, Action::install);
  EXPECT_THAT(modified.foreign_generations, IsEmpty());
}

// --- Manifests without a key set id
// -----------------------------------------------------------------

TEST_F(Decide, ANodeManifestWithoutAnIdIsTheSameKeySetWhenItsCaMatches) {
  KeySet b(2, kKeysetA, kCaA);
  install(KeySet(1, "", kCaA));
  EXPECT_EQ(decide_for(b).action, Action::install);

  reset();
  install(KeySet(3, "", kCaA));
  EXPECT_EQ(decide_for(b).action, Action::downgrade);

  reset();
  place(b);
  install(KeySet(1, "", kCaA));
  EXPECT_EQ(decide_for(b).action, Action::reactivate);
}

TEST_F(Decide, ANodeManifestWithoutAnIdIsAnotherKeySetWhenItsCaDiffers) {
  KeySet b(2, kKeysetA, kCaA);
  install(KeySet(1, "", kCaB));
  Plan plan = decide_for(b);
  EXPECT_EQ(plan.action, Action::conflict);
  EXPECT_THAT(plan.reason, HasSubstr("another key set (CA " + kCaB + ")"));
  plan = decide_for(b, {.replace_keyset = true});
  EXPECT_EQ(plan.action, Action::install);
  EXPECT_THAT(plan.foreign_generations, ElementsAre(1u));
}

TEST_F(Decide, ABundleWithoutAnIdIsJudgedByCaToo) {
  KeySet b(2, "", kCaA);
  install(KeySet(1, kKeysetB, kCaA));  // the node has an id, the bundle none: CA decides
  EXPECT_EQ(decide_for(b).action, Action::install);
  reset();
  install(KeySet(1, kKeysetB, kCaB));
  EXPECT_EQ(decide_for(b).action, Action::conflict);
}

TEST(SameKeyset, ByIdWhenBothHaveOneElseByCaFingerprint) {
  Manifest node;
  node.ca_fingerprint = kCaA;
  BundleIdentity bundle{kKeysetA, kCaA, 1, ""};
  node.keyset = kKeysetA;
  EXPECT_TRUE(same_keyset(node, bundle));
  // Ids decide over a shared CA (create-keys --keep-ca in a fresh directory is another set)...
  node.keyset = kKeysetB;
  EXPECT_FALSE(same_keyset(node, bundle));
  // ... and over another CA (--force without --keep-ca is the same set).
  node.keyset = kKeysetA;
  node.ca_fingerprint = kCaB;
  EXPECT_TRUE(same_keyset(node, bundle));
  node.keyset.clear();
  EXPECT_FALSE(same_keyset(node, bundle));
  node.ca_fingerprint = kCaA;
  EXPECT_TRUE(same_keyset(node, bundle));
  bundle.keyset.clear();
  node.keyset = kKeysetB;
  EXPECT_TRUE(same_keyset(node, bundle));
}

// --- The reader
// -----------------------------------------------------------------------------------------

// decide() looks at the files of generation G alone (current's too when current is G): a push of
// a new generation reads no key file, and every manifest is read.
TEST_F(Decide, ReadForPlanHashesGenerationGOnly) {
  KeySet one(1, kKeysetA, kCaA);
  KeySet b(3, kKeysetA, kCaA);
  place(b);
  install(KeySet(2, kKeysetA, kCaA));
  place(one);
  auto state = read_for_plan(node_, dir_, 3, "read");
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_FALSE(state->generation(1)->files_read);
  EXPECT_FALSE(state->generation(2)->files_read);
  EXPECT_TRUE(state->generation(3)->files_read);
  EXPECT_TRUE(state->generation(3)->complete());
  for (std::uint64_t g : {1, 2, 3}) EXPECT_TRUE(state->generation(g)->manifest) << g;

  auto fresh = read_for_plan(node_, dir_, 4, "read");
  ASSERT_TRUE(fresh) << fresh.error().message;
  for (const auto& g : fresh->generations) EXPECT_FALSE(g.files_read) << g.number;

  auto same = read_for_plan(node_, dir_, 2, "read");  // current is G
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_TRUE(same->current_generation()->files_read);
  EXPECT_TRUE(same->current_generation()->complete());
}

// A look that only prunes reads no manifest; verify's reads the compared generation's alone.
TEST_F(Decide, ReadsOnlyTheManifestsAskedFor) {
  place(KeySet(1, kKeysetA, kCaA));
  install(KeySet(2, kKeysetA, kCaA));
  auto none = read_node_state(node_, dir_, {false, nullptr, Manifests::none}, "read");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->current, 2u);
  for (const auto& g : none->generations) {
    EXPECT_FALSE(g.manifest) << g.number;
    EXPECT_TRUE(g.problem.empty()) << g.number;
  }
  auto current = read_node_state(node_, dir_, {true, nullptr, Manifests::current}, "read");
  ASSERT_TRUE(current) << current.error().message;
  EXPECT_FALSE(current->generation(1)->manifest);
  ASSERT_TRUE(current->current_generation()->manifest);
  EXPECT_TRUE(current->current_generation()->complete());
  EXPECT_EQ(std::count_if(node_.log.begin(), node_.log.end(),
                          [](const std::string& line) {
                            return line.starts_with("read_file") &&
                                   line.ends_with("/manifest.json");
                          }),
            1);
}

TEST_F(Decide, ATransportErrorWhileReadingIsTheReadStepsFailure) {
  KeySet b(2, kKeysetA, kCaA);
  place(b);
  install(KeySet(1, kKeysetA, kCaA));
  node_.fail_next("read_file", file_path(2, "agent.key"),
                  NodeError{NodeStatus::timeout, "sftp", "fake: timed out"});
  auto state = read_for_plan(node_, dir_, 2, "read");
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().status, NodeStatus::timeout);
  EXPECT_EQ(state.error().step, "read");
}

// Under the lock, its holder hashes generation G's files on the node: the plan is the same and no
// key file is read back. A failed request is the read step's failure, status kept.
TEST_F(Decide, UnderTheLockTheNodeHashesTheFiles) {
  KeySet b(2, kKeysetA, kCaA);
  place(b);
  install(KeySet(1, kKeysetA, kCaA));
  auto lock = DestLock::acquire(node_, dir_, 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto count = [&](std::string_view prefix) {
    return std::count_if(node_.log.begin(), node_.log.end(),
                         [&](const std::string& line) { return line.starts_with(prefix); });
  };
  auto state = read_for_plan(node_, dir_, 2, "read", &*lock);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_TRUE(state->generation(2)->complete());
  EXPECT_EQ(decide(*state, b.identity(), {}).action, Action::reactivate);
  EXPECT_EQ(count("read_file"), 2);  // the two manifests, no key file
  EXPECT_EQ(count("request sha256-files"), 1);

  node_.fail_next("request", "sha256-files",
                  NodeError{NodeStatus::timeout, "exec", "fake: timed out"});
  auto failed = read_for_plan(node_, dir_, 2, "read", &*lock);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().status, NodeStatus::timeout);
  EXPECT_EQ(failed.error().step, "read");
}

TEST(ActionNames, EveryActionHasItsName) {
  EXPECT_EQ(to_string(Action::install), "install");
  EXPECT_EQ(to_string(Action::repair), "repair");
  EXPECT_EQ(to_string(Action::reactivate), "reactivate");
  EXPECT_EQ(to_string(Action::unchanged), "unchanged");
  EXPECT_EQ(to_string(Action::conflict), "conflict");
  EXPECT_EQ(to_string(Action::downgrade), "downgrade");
}

}  // namespace
}  // namespace kf::keydir
