// push, verify, rollback and cleanup decide from what each node really holds (issue 11): every row
// of the decision table, honest hooks, concurrent pushes and the exit-code rule, with the real
// binary against a 3-node loopback sshd fleet shared by the suite (each test starts from empty
// key directories).
#include <fstream>
#include <future>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::current_of;
using test::Fleet;
using test::keyfleet;
using test::nodes_of;
using test::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;

// Two lineages made with the real binary: A in one directory (generation 1, then 2 with
// --force: the same key set) and B in a fresh directory (generation 1 of another key set, with
// its own CA). A2x is A's generation 2 made again in a copy of A's directory at generation 1:
// the same key set and generation as a2, other keys (another manifest digest). The manifests are
// kept per generation for verify --manifest.
class KeySets {
 public:
  explicit KeySets(const Fleet& fleet) : inventory_(fleet.inventory().string()) {
    test::write_text(pass(), "integration passphrase\n", 0600);
    make(work_ / "keys-a", {}, "a1");
    copy_files(work_ / "keys-a", work_ / "keys-a-copy");
    make(work_ / "keys-a", {"--force"}, "a2");
    make(work_ / "keys-b", {}, "b1");
    make(work_ / "keys-a-copy", {"--force"}, "a2x");
  }
  [[nodiscard]] fs::path pass() const { return work_ / "pass"; }
  [[nodiscard]] fs::path bundle(const std::string& name) const { return work_ / (name + ".kfb"); }
  [[nodiscard]] fs::path manifest(const std::string& name) const {
    return work_ / (name + ".json");
  }
  [[nodiscard]] fs::path keys(const std::string& name) const { return work_ / name; }

 private:
  void make(const fs::path& dir, std::vector<std::string> extra, const std::string& name) {
    std::vector<std::string> create = {"create-keys", "--out", dir.string(), "--inventory",
                                       inventory_};
    create.insert(create.end(), extra.begin(), extra.end());
    auto made = keyfleet(create);
    if (made.exit_code != 0) throw std::runtime_error("create-keys failed: " + made.err);
    auto bundled = keyfleet({"bundle", "--keys", dir.string(), "--out", bundle(name).string(),
                             "--passphrase-file", pass().string(), "--work-factor", "10"});
    if (bundled.exit_code != 0) throw std::runtime_error("bundle failed: " + bundled.err);
    fs::copy_file(dir / "manifest.json", manifest(name));
    copy_files(dir, keys(name));
  }
  // The regular files of `from` into a new private directory `to`.
  static void copy_files(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    fs::permissions(to, fs::perms(0700));
    for (fs::directory_iterator it(from), end; it != end; ++it) {
      if (fs::is_regular_file(it->status())) fs::copy_file(it->path(), to / it->path().filename());
    }
  }

  std::string inventory_;
  test::TempDir work_;
};

class NodeTruth : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    fleet_ = std::make_unique<Fleet>(3);
    sets_ = std::make_unique<KeySets>(*fleet_);
    started_ = true;
  }
  static void TearDownTestSuite() {
    sets_.reset();
    fleet_.reset();
    started_ = false;
  }
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
    fleet_->restore_known_hosts();
    for (int k = 1; k <= fleet_->size(); ++k) {
      for (const std::string& dir : {node(k).dest, node(k).staging}) {
        fs::create_directories(dir);
        for (fs::directory_iterator it(dir), end; it != end; ++it) fs::remove_all(it->path());
      }
      fs::remove(log_of(k));
      fs::remove(fleet_->node_dir(k) / "killed");
    }
  }

  static const Fleet& fleet() { return *fleet_; }
  static const NodeConfig& node(int k) { return fleet_->node(k); }
  static const KeySets& sets() { return *sets_; }
  static fs::path dest(int k) { return node(k).dest; }
  static fs::path generation(int k, int g) {
    return dest(k) / "generations" / fmt::format("{:06}", g);
  }
  static fs::path log_of(int k) { return fleet_->node_dir(k) / "hooks.log"; }
  static std::string log(int k) { return fs::exists(log_of(k)) ? test::read_text(log_of(k)) : ""; }

  // keyfleet push BUNDLE --inventory INV --passphrase-file P --yes --json EXTRA..., and the same
  // with the fleet's own inventory.
  static RunResult push_with(const std::string& bundle, const fs::path& inventory,
                             const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"push",
                                     sets().bundle(bundle).string(),
                                     "--inventory",
                                     inventory.string(),
                                     "--passphrase-file",
                                     sets().pass().string(),
                                     "--yes",
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return keyfleet(args);
  }
  static RunResult push(const std::string& bundle, const std::vector<std::string>& extra = {}) {
    return push_with(bundle, fleet().inventory(), extra);
  }
  // keyfleet COMMAND --inventory INV --json EXTRA... (verify, rollback --yes, cleanup).
  static RunResult fleet_command(const std::string& command, const fs::path& inventory,
                                 const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {command, "--inventory", inventory.string(), "--json"};
    if (command == "rollback") args.emplace_back("--yes");
    args.insert(args.end(), extra.begin(), extra.end());
    return keyfleet(args);
  }
  static RunResult verify(const std::vector<std::string>& extra = {}) {
    return fleet_command("verify", fleet().inventory(), extra);
  }

  // Hooks that log "<hook> <generation> <current>" to node k's hooks.log; `check_then` and
  // `post_then` are appended to the check and post hooks (e.g. a test that fails it).
  static std::string logged_hooks(int k, const std::string& check_then = "",
                                  const std::string& post_then = "") {
    auto hook = [&](const std::string& name, const std::string& then) {
      return fmt::format(
          "{} = 'echo {} \"$KEYFLEET_GENERATION\" \"$(readlink \"$KEYFLEET_DEST/current\")\" "
          ">> {}{}'\n",
          name, name, log_of(k).string(), then.empty() ? "" : "; " + then);
    };
    return hook("pre", "") + hook("post", post_then) + hook("check", check_then);
  }
  static fs::path hooked_inventory(const std::string& name,
                                   const std::map<int, std::string>& check_then = {}) {
    std::map<int, std::string> extra;
    for (int k = 1; k <= fleet_->size(); ++k) {
      extra[k] = logged_hooks(k, check_then.contains(k) ? check_then.at(k) : "");
    }
    return fleet_->inventory_with(name, extra);
  }

  static void append(const fs::path& file, const std::string& text) {
    std::ofstream out(file.string(), std::ios::app);
    out << text;
  }

  static std::unique_ptr<Fleet> fleet_;
  static std::unique_ptr<KeySets> sets_;
};

std::unique_ptr<Fleet> NodeTruth::fleet_;
std::unique_ptr<KeySets> NodeTruth::sets_;

std::string text_of(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : "";
}

// --- Another key set --------------------------------------------------------------------------

TEST_F(NodeTruth, AFreshKeySetOverAnotherGenerationOneConflictsThenReplaceKeysetInstallsIt) {
  ASSERT_EQ(push("a1").exit_code, 0);
  // node3 is a generation further along the old key set.
  auto ahead = push("a2", {"--limit", "node3"});
  ASSERT_EQ(ahead.exit_code, 0) << ahead.out << ahead.err;
  const auto before = test::node_trees(fleet());

  auto refused = push("b1");
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  auto nodes = nodes_of(refused);
  for (const auto& [name, n] : nodes) {
    EXPECT_EQ(n["status"], "conflict") << name;
    EXPECT_EQ(n["step"], "decide") << name;
    EXPECT_THAT(text_of(n["error"]), HasSubstr("of another key set")) << name;
    EXPECT_THAT(text_of(n["error"]), HasSubstr("--replace-keyset")) << name;
  }
  EXPECT_EQ(nodes["node1"]["generation"], 1);
  EXPECT_EQ(nodes["node3"]["generation"], 2);
  EXPECT_EQ(test::node_trees(fleet()), before);  // nothing staged, nothing installed

  // The old key set is no more in service anywhere: B is installed, A's generations removed.
  auto replaced = push("b1", {"--replace-keyset"});
  EXPECT_EQ(replaced.exit_code, 0) << replaced.out << replaced.err;
  nodes = nodes_of(replaced);
  for (int k = 1; k <= 3; ++k) {
    const auto& n = nodes["node" + std::to_string(k)];
    EXPECT_EQ(n["status"], "ok") << n;
    EXPECT_EQ(n["generation"], 1) << n;
    EXPECT_THAT(text_of(n["detail"]), HasSubstr("of another key set")) << n;
    EXPECT_TRUE(test::current_is_complete(dest(k), 1)) << k;
    EXPECT_EQ(test::read_text(dest(k) / "current" / "ca.crt"),
              test::read_text(sets().keys("b1") / "ca.crt"));
    EXPECT_FALSE(fs::exists(generation(k, 2))) << k;
    EXPECT_THAT(test::temporary_generations(node(k)), ::testing::IsEmpty()) << k;
  }
  // The one replaced in place counts as removed too.
  EXPECT_THAT(text_of(nodes["node1"]["detail"]),
              ::testing::EndsWith("removed the other key set's generations 1"));
  EXPECT_THAT(text_of(nodes["node3"]["detail"]),
              ::testing::EndsWith("removed the other key set's generations 1, 2"));
  auto verified = verify({"--manifest", sets().manifest("b1").string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out;
  // And again: nothing left to replace.
  auto again = push("b1", {"--replace-keyset"});
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("\"unchanged\": 3"));
}

// --- The same generation of the same key set, with another digest --------------------------------

// Two key sets made from copies of one directory: the same key set and generation, other keys.
// Neither replaces the other silently: a conflict, exit 4, and nothing changed.
TEST_F(NodeTruth, TheSameGenerationWithAnotherDigestIsAConflictAndNothingChanges) {
  ASSERT_EQ(push("a2").exit_code, 0);
  const auto before = test::node_trees(fleet());

  auto refused = push("a2x");
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  for (const auto& [name, n] : nodes_of(refused)) {
    EXPECT_EQ(n["status"], "conflict") << name;
    EXPECT_EQ(n["step"], "decide") << name;
    EXPECT_EQ(n["generation"], 2) << name;
    EXPECT_THAT(text_of(n["error"]), HasSubstr("of this key set with another manifest")) << name;
  }
  // --allow-downgrade does not settle it either.
  EXPECT_EQ(push("a2x", {"--allow-downgrade"}).exit_code, 4);
  EXPECT_EQ(test::node_trees(fleet()), before);  // nothing staged, nothing installed
  EXPECT_EQ(verify({"--manifest", sets().manifest("a2").string()}).exit_code, 0);
}

// --- A downgrade ------------------------------------------------------------------------------

TEST_F(NodeTruth, AnOlderBundleIsRefusedUnlessAllowDowngrade) {
  ASSERT_EQ(push("a2").exit_code, 0);
  const auto before = test::node_trees(fleet());
  auto refused = push("a1");
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  for (const auto& [name, n] : nodes_of(refused)) {
    EXPECT_EQ(n["status"], "refused") << name;
    EXPECT_THAT(text_of(n["error"]), HasSubstr("newer than the bundle's 000001")) << name;
    EXPECT_THAT(text_of(n["error"]), HasSubstr("--allow-downgrade")) << name;
    EXPECT_EQ(n["generation"], 2) << name;
  }
  EXPECT_EQ(test::node_trees(fleet()), before);

  auto allowed = push("a1", {"--allow-downgrade"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.out << allowed.err;
  for (const auto& [name, n] : nodes_of(allowed)) EXPECT_EQ(n["status"], "ok") << name;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_TRUE(test::current_is_complete(dest(k), 1)) << k;
    EXPECT_TRUE(fs::is_directory(generation(k, 2))) << k;  // kept: a downgrade removes nothing
  }
}

// --- Repair -------------------------------------------------------------------------------------

TEST_F(NodeTruth, AnEditedADeletedAndAChmodedFileAreRepairedByName) {
  const fs::path inventory = hooked_inventory("repair.toml");
  ASSERT_EQ(push_with("a1", inventory).exit_code, 0);
  append(dest(1) / "current" / "agent.crt", "tampered");
  fs::remove(dest(2) / "current" / "keystore.p12");
  fs::permissions(dest(3) / "current" / "storepass", fs::perms(0644));
  // verify sees all three.
  auto seen = verify({"--manifest", sets().manifest("a1").string()});
  EXPECT_EQ(seen.exit_code, 1) << seen.out;
  for (const auto& [name, n] : nodes_of(seen)) EXPECT_EQ(n["status"], "mismatch") << name;
  for (int k = 1; k <= 3; ++k) fs::remove(log_of(k));

  auto repaired = push_with("a1", inventory);
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  auto nodes = nodes_of(repaired);
  EXPECT_THAT(text_of(nodes["node1"]["detail"]), HasSubstr("agent.crt (size"));
  EXPECT_THAT(text_of(nodes["node2"]["detail"]), HasSubstr("keystore.p12 (missing)"));
  EXPECT_THAT(text_of(nodes["node3"]["detail"]),
              HasSubstr("storepass (mode 0644 instead of 0600)"));
  for (int k = 1; k <= 3; ++k) {
    const auto& n = nodes["node" + std::to_string(k)];
    EXPECT_EQ(n["status"], "repaired") << n;
    EXPECT_EQ(n["generation"], 1) << n;
    EXPECT_TRUE(test::current_is_complete(dest(k), 1)) << k;
    EXPECT_THAT(test::temporary_generations(node(k)), ::testing::IsEmpty()) << k;
    // Written again and switched to, with hooks.
    EXPECT_EQ(log(k),
              "pre 1 generations/000001\npost 1 generations/000001\n"
              "check 1 generations/000001\n")
        << k;
  }
  // The human report names what was found too.
  append(dest(1) / "current" / "ca.crt", "x");
  auto human =
      keyfleet({"push", sets().bundle("a1").string(), "--inventory", fleet().inventory().string(),
                "--passphrase-file", sets().pass().string(), "--yes"});
  EXPECT_EQ(human.exit_code, 0) << human.out << human.err;
  EXPECT_THAT(human.out, HasSubstr("node1: generation 000001 differs from its manifest: ca.crt"));
  EXPECT_EQ(verify({"--manifest", sets().manifest("a1").string()}).exit_code, 0);
}

TEST_F(NodeTruth, ADanglingCurrentAndACurrentThatIsAFileAreDamagedThenRepaired) {
  ASSERT_EQ(push("a1").exit_code, 0);
  // A dangling link naming a newer generation: its number is never taken for a downgrade.
  fs::remove(dest(1) / "current");
  fs::create_symlink("generations/000009", dest(1) / "current");
  fs::remove(dest(2) / "current");
  test::write_text(dest(2) / "current", "generations/000001\n", 0644);

  auto damaged = verify({"--manifest", sets().manifest("a1").string()});
  EXPECT_EQ(damaged.exit_code, 1) << damaged.out;
  auto nodes = nodes_of(damaged);
  EXPECT_EQ(nodes["node1"]["status"], "damaged");
  EXPECT_THAT(text_of(nodes["node1"]["error"]), HasSubstr("dangling link to 'generations/000009'"));
  EXPECT_EQ(nodes["node2"]["status"], "damaged");
  EXPECT_THAT(text_of(nodes["node2"]["error"]), HasSubstr("current is not a symlink"));
  EXPECT_EQ(nodes["node3"]["status"], "ok");
  EXPECT_EQ(nodes_of(verify())["node1"]["status"], "damaged");  // by majority too

  auto repaired = push("a1");
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  nodes = nodes_of(repaired);
  EXPECT_EQ(nodes["node1"]["status"], "repaired");
  EXPECT_THAT(text_of(nodes["node1"]["detail"]), HasSubstr("dangling link"));
  EXPECT_EQ(nodes["node2"]["status"], "repaired");
  EXPECT_THAT(text_of(nodes["node2"]["detail"]), HasSubstr("not a symlink"));
  EXPECT_EQ(nodes["node3"]["status"], "unchanged");
  for (int k = 1; k <= 3; ++k) {
    EXPECT_TRUE(test::current_is_complete(dest(k), 1)) << k;
    EXPECT_THAT(test::temporary_generations(node(k)), ::testing::IsEmpty()) << k;
  }
  EXPECT_EQ(verify({"--manifest", sets().manifest("a1").string()}).exit_code, 0);
}

// --- Rollback and reactivate
// ----------------------------------------------------------------------

TEST_F(NodeTruth, RollbackRunsTheHooksAndPushingAgainReactivates) {
  const fs::path inventory = hooked_inventory("hooks.toml");
  ASSERT_EQ(push_with("a1", inventory).exit_code, 0);
  ASSERT_EQ(push_with("a2", inventory).exit_code, 0);
  for (int k = 1; k <= 3; ++k) fs::remove(log_of(k));

  auto back = fleet_command("rollback", inventory);
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(current_of(node(k)), "generations/000001") << k;
    // Services pick the old keys up: pre before the switch, post and check after it.
    EXPECT_EQ(log(k),
              "pre 1 generations/000002\npost 1 generations/000001\n"
              "check 1 generations/000001\n")
        << k;
    EXPECT_FALSE(fs::exists(dest(k) / ".pending")) << k;
    fs::remove(log_of(k));
  }

  // After a rollback the newer bundle is pushed again: generations/000002 is there intact.
  auto again = push_with("a2", inventory);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  for (const auto& [name, n] : nodes_of(again)) {
    EXPECT_EQ(n["status"], "reactivated") << name;
    EXPECT_EQ(n["generation"], 2) << name;
  }
  for (int k = 1; k <= 3; ++k) {
    EXPECT_TRUE(test::current_is_complete(dest(k), 2)) << k;
    EXPECT_EQ(log(k),
              "pre 2 generations/000001\npost 2 generations/000002\n"
              "check 2 generations/000002\n")
        << k;
  }
}

// After a rollback, a generations/000002 that is damaged (node1) or holds another manifest
// (node2: the copied directory's generation 2) is not reactivated: push writes it anew and
// switches to it, and current names a complete generation throughout. node3's is intact.
TEST_F(NodeTruth, ADamagedOrDifferentGenerationGBelowCurrentIsReplacedNotReactivated) {
  const fs::path inventory = hooked_inventory("below.toml");
  ASSERT_EQ(push_with("a1", inventory).exit_code, 0);
  ASSERT_EQ(push_with("a2x", inventory, {"--limit", "node2"}).exit_code, 0);
  ASSERT_EQ(push_with("a2", inventory, {"--exclude", "node2"}).exit_code, 0);
  auto back = fleet_command("rollback", inventory);
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  append(generation(1, 2) / "agent.crt", "tampered");
  for (int k = 1; k <= 3; ++k) {
    ASSERT_EQ(current_of(node(k)), "generations/000001") << k;
    fs::remove(log_of(k));
  }

  auto pushed = push_with("a2", inventory);
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto nodes = nodes_of(pushed);
  EXPECT_EQ(nodes["node1"]["status"], "ok");
  EXPECT_THAT(text_of(nodes["node1"]["detail"]), HasSubstr("was there and is replaced: damaged"));
  EXPECT_EQ(nodes["node2"]["status"], "ok");
  EXPECT_THAT(text_of(nodes["node2"]["detail"]),
              HasSubstr("was there and is replaced: it holds another manifest"));
  EXPECT_EQ(nodes["node3"]["status"], "reactivated");
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(nodes["node" + std::to_string(k)]["generation"], 2) << k;
    EXPECT_TRUE(test::current_is_complete(dest(k), 2)) << k;
    EXPECT_EQ(test::read_text(dest(k) / "current" / "agent.crt"),
              test::read_text(sets().keys("a2") / "agent.crt"))
        << k;
    EXPECT_TRUE(fs::is_directory(generation(k, 1))) << k;
    EXPECT_THAT(test::temporary_generations(node(k)), ::testing::IsEmpty()) << k;
    EXPECT_EQ(log(k),
              "pre 2 generations/000001\npost 2 generations/000002\n"
              "check 2 generations/000002\n")
        << k;
  }
  EXPECT_EQ(verify({"--manifest", sets().manifest("a2").string()}).exit_code, 0);
}

TEST_F(NodeTruth, AnEmptyOrPartialGenerationBelowCurrentIsNeverARollbackTarget) {
  ASSERT_EQ(push("a1").exit_code, 0);
  ASSERT_EQ(push("a2").exit_code, 0);
  fs::remove_all(generation(1, 1));
  fs::create_directory(generation(1, 1));      // node1: an empty generation
  fs::remove(generation(2, 1) / "agent.key");  // node2: a partial one
  const auto before = test::node_trees(fleet());

  auto back = fleet_command("rollback", fleet().inventory());
  EXPECT_EQ(back.exit_code, 1) << back.out << back.err;
  auto nodes = nodes_of(back);
  for (std::string name : {"node1", "node2"}) {
    EXPECT_EQ(nodes[name]["status"], "failed") << name;
    EXPECT_THAT(text_of(nodes[name]["error"]), HasSubstr("(incomplete, never a target: 000001)"))
        << name;
    EXPECT_EQ(nodes[name]["generation"], 2) << name;
  }
  EXPECT_EQ(nodes["node3"]["status"], "ok");
  EXPECT_EQ(current_of(node(3)), "generations/000001");

  // Named with --to, it is refused for safety.
  auto to = fleet_command("rollback", fleet().inventory(), {"--to", "1", "--limit", "node[1-2]"});
  EXPECT_EQ(to.exit_code, 4) << to.out << to.err;
  nodes = nodes_of(to);
  EXPECT_EQ(nodes["node1"]["status"], "refused");
  EXPECT_THAT(text_of(nodes["node1"]["error"]), HasSubstr("not a complete generation"));
  EXPECT_EQ(nodes["node2"]["status"], "refused");
  EXPECT_THAT(text_of(nodes["node2"]["error"]), HasSubstr("agent.key (missing)"));
  // Neither rollback touched those two key directories.
  EXPECT_EQ(test::tree(dest(1)), before[0]);
  EXPECT_EQ(test::tree(dest(2)), before[2]);
}

// --- Honest hooks
// ---------------------------------------------------------------------------------

TEST_F(NodeTruth, AFailingCheckRollsThatNodeBackAndTheOthersInstall) {
  // node2's check fails for generation 2 only.
  const fs::path inventory =
      hooked_inventory("check.toml", {{2, "test \"$KEYFLEET_GENERATION\" != 2"}});
  ASSERT_EQ(push_with("a1", inventory).exit_code, 0);
  for (int k = 1; k <= 3; ++k) fs::remove(log_of(k));

  auto result = push_with("a2", inventory);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = nodes_of(result);
  for (std::string name : {"node1", "node3"}) {
    EXPECT_EQ(nodes[name]["status"], "ok") << name;
    EXPECT_EQ(nodes[name]["generation"], 2) << name;
  }
  EXPECT_EQ(nodes["node2"]["status"], "rolled-back");
  EXPECT_EQ(nodes["node2"]["step"], "check");
  EXPECT_EQ(nodes["node2"]["generation"], 1);  // what current really is
  EXPECT_THAT(text_of(nodes["node2"]["error"]), HasSubstr("rolled back to generation 1"));
  EXPECT_EQ(current_of(node(2)), "generations/000001");
  EXPECT_FALSE(fs::exists(dest(2) / ".pending"));
  // Its hooks ran again on the old generation.
  EXPECT_EQ(log(2),
            "pre 2 generations/000001\npost 2 generations/000002\n"
            "check 2 generations/000002\n"
            "pre 1 generations/000002\npost 1 generations/000001\n"
            "check 1 generations/000001\n");
  EXPECT_TRUE(test::current_is_complete(dest(1), 2));
  EXPECT_TRUE(test::current_is_complete(dest(3), 2));

  // --keep-failed leaves the new generation current and says how to go back.
  auto kept = push_with("a2", inventory, {"--keep-failed", "--limit", "node2"});
  EXPECT_EQ(kept.exit_code, 1) << kept.out << kept.err;
  nodes = nodes_of(kept);
  EXPECT_EQ(nodes["node2"]["status"], "failed");
  EXPECT_EQ(nodes["node2"]["generation"], 2);
  EXPECT_THAT(text_of(nodes["node2"]["error"]),
              HasSubstr("current is now generation 2 (--keep-failed): run keyfleet rollback"));
  EXPECT_EQ(current_of(node(2)), "generations/000002");
  EXPECT_FALSE(fs::exists(dest(2) / ".pending"));
}

TEST_F(NodeTruth, UnchangedRunsTheCheckAgainAndAFailingOneIsReported) {
  ASSERT_EQ(push_with("a1", hooked_inventory("hooks.toml")).exit_code, 0);
  for (int k = 1; k <= 3; ++k) fs::remove(log_of(k));
  auto same = push_with("a1", hooked_inventory("hooks.toml"));
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  for (const auto& [name, n] : nodes_of(same)) EXPECT_EQ(n["status"], "unchanged") << name;
  for (int k = 1; k <= 3; ++k) EXPECT_EQ(log(k), "check 1 generations/000001\n") << k;

  // The service on node3 is down now: its check fails, and `unchanged` does not hide it.
  auto down = push_with("a1", hooked_inventory("down.toml", {{3, "exit 3"}}));
  EXPECT_EQ(down.exit_code, 1) << down.out << down.err;
  auto nodes = nodes_of(down);
  EXPECT_EQ(nodes["node1"]["status"], "unchanged");
  EXPECT_EQ(nodes["node3"]["status"], "failed");
  EXPECT_EQ(nodes["node3"]["step"], "check");
  EXPECT_THAT(text_of(nodes["node3"]["error"]), HasSubstr("exited with status 3"));
  EXPECT_EQ(nodes["node3"]["generation"], 1);
  EXPECT_TRUE(test::current_is_complete(dest(3), 1));
}

// The connection dies right after the switch, in the post hook (which kills its own sshd session,
// once): the node is on the new generation and owes its hooks. verify says so, and the next push
// runs them.
TEST_F(NodeTruth, HooksOwedByASwitchWhoseConnectionDiedRunAtTheNextPush) {
  const fs::path marker = fleet().node_dir(1) / "killed";
  // $PPID of the hook's shell is the sshd process serving this connection.
  const std::string kill =
      fmt::format("test -e {} || {{ touch {}; kill -9 $PPID; }}", marker.string(), marker.string());
  std::map<int, std::string> extra = {{1, logged_hooks(1, "", kill) + "timeout = 20\n"},
                                      {2, logged_hooks(2) + "timeout = 20\n"}};
  const fs::path inventory = fleet_->inventory_with("killer.toml", extra);
  const std::vector<std::string> two = {"--limit", "node[1-2]"};
  test::write_text(marker, "");  // not this time
  ASSERT_EQ(push_with("a1", inventory, two).exit_code, 0);
  fs::remove(marker);
  for (int k = 1; k <= 2; ++k) fs::remove(log_of(k));

  auto lost = push_with("a2", inventory, two);
  EXPECT_EQ(lost.exit_code, 1) << lost.out << lost.err;
  auto nodes = nodes_of(lost);
  EXPECT_EQ(nodes["node2"]["status"], "ok");
  EXPECT_NE(nodes["node1"]["status"], "ok");
  EXPECT_EQ(nodes["node1"]["generation"], 2) << nodes["node1"];
  EXPECT_THAT(text_of(nodes["node1"]["error"]), HasSubstr(".pending")) << nodes["node1"];
  EXPECT_EQ(current_of(node(1)), "generations/000002");
  ASSERT_TRUE(fs::exists(dest(1) / ".pending"));
  EXPECT_EQ(log(1), "pre 2 generations/000001\npost 2 generations/000002\n");

  auto owed = verify({"--limit", "node[1-2]", "--manifest", sets().manifest("a2").string()});
  EXPECT_EQ(owed.exit_code, 1) << owed.out;
  nodes = nodes_of(owed);
  EXPECT_EQ(nodes["node1"]["status"], "pending-hooks");
  EXPECT_EQ(nodes["node2"]["status"], "ok");
  EXPECT_EQ(nodes_of(verify({"--limit", "node[1-2]"}))["node1"]["status"], "pending-hooks");

  auto settled = push_with("a2", inventory, two);
  EXPECT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(nodes_of(settled)["node1"]["status"], "unchanged");
  EXPECT_FALSE(fs::exists(dest(1) / ".pending"));
  // The owed post and check, once each.
  EXPECT_EQ(log(1),
            "pre 2 generations/000001\npost 2 generations/000002\n"
            "post 2 generations/000002\ncheck 2 generations/000002\n");
  EXPECT_EQ(
      verify({"--limit", "node[1-2]", "--manifest", sets().manifest("a2").string()}).exit_code, 0);
}

// The same lost connection, then a rollback: a rollback that leaves current where it is runs the
// hooks current owes, whether it has nothing older to go back to (a first install's switch) or
// is already on the generation asked for.
TEST_F(NodeTruth, HooksOwedByASwitchWhoseConnectionDiedRunAtTheNextRollback) {
  const fs::path marker = fleet().node_dir(1) / "killed";
  // $PPID of the hook's shell is the sshd process serving this connection.
  const std::string kill =
      fmt::format("test -e {} || {{ touch {}; kill -9 $PPID; }}", marker.string(), marker.string());
  const fs::path inventory = fleet_->inventory_with(
      "killer-rollback.toml", {{1, logged_hooks(1, "", kill) + "timeout = 20\n"}});
  const std::vector<std::string> one = {"--limit", "node1"};

  auto lost = push_with("a1", inventory, one);
  EXPECT_EQ(lost.exit_code, 1) << lost.out << lost.err;
  EXPECT_EQ(current_of(node(1)), "generations/000001");
  ASSERT_TRUE(fs::exists(dest(1) / ".pending"));
  fs::remove(log_of(1));
  auto back = fleet_command("rollback", inventory, one);
  EXPECT_EQ(back.exit_code, 1) << back.out << back.err;
  auto nodes = nodes_of(back);
  EXPECT_EQ(nodes["node1"]["status"], "failed");
  EXPECT_THAT(text_of(nodes["node1"]["error"]), HasSubstr("no complete generation older"));
  EXPECT_THAT(text_of(nodes["node1"]["error"]), HasSubstr(".pending ran"));
  EXPECT_EQ(log(1), "post 1 generations/000001\ncheck 1 generations/000001\n");
  EXPECT_FALSE(fs::exists(dest(1) / ".pending"));
  EXPECT_EQ(current_of(node(1)), "generations/000001");

  fs::remove(marker);
  lost = push_with("a2", inventory, one);
  EXPECT_EQ(lost.exit_code, 1) << lost.out << lost.err;
  EXPECT_EQ(current_of(node(1)), "generations/000002");
  ASSERT_TRUE(fs::exists(dest(1) / ".pending"));
  fs::remove(log_of(1));
  back = fleet_command("rollback", inventory, {"--limit", "node1", "--to", "2"});
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(nodes_of(back)["node1"]["status"], "ok");
  EXPECT_EQ(log(1), "post 2 generations/000002\ncheck 2 generations/000002\n");
  EXPECT_FALSE(fs::exists(dest(1) / ".pending"));
  EXPECT_EQ(current_of(node(1)), "generations/000002");
  EXPECT_EQ(verify({"--limit", "node1", "--manifest", sets().manifest("a2").string()}).exit_code,
            0);
}

// --- Concurrent pushes
// ------------------------------------------------------------------------------

TEST_F(NodeTruth, TwoConcurrentPushesOfOneBundleBothSucceed) {
  // Six handshakes at once on a loaded machine: more room than the fleet's 5 s (a limit, never
  // waited out when all is well).
  std::map<int, std::string> patient;
  for (int k = 1; k <= 3; ++k) patient[k] = "connect_timeout = 30";
  const fs::path inventory = fleet_->inventory_with("patient.toml", patient);
  auto first = std::async(std::launch::async, [&] { return push_with("a1", inventory); });
  auto second = std::async(std::launch::async, [&] { return push_with("a1", inventory); });
  RunResult a = first.get();
  RunResult b = second.get();
  EXPECT_EQ(a.exit_code, 0) << a.out << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.out << b.err;
  auto nodes_a = nodes_of(a);
  auto nodes_b = nodes_of(b);
  for (int k = 1; k <= 3; ++k) {
    const std::string name = "node" + std::to_string(k);
    // One of them installed it, the other found it there under the lock.
    std::multiset<std::string> statuses = {text_of(nodes_a[name]["status"]),
                                           text_of(nodes_b[name]["status"])};
    EXPECT_EQ(statuses, (std::multiset<std::string>{"ok", "unchanged"})) << name;
    EXPECT_TRUE(test::current_is_complete(dest(k), 1)) << k;
    EXPECT_THAT(test::temporary_generations(node(k)), ::testing::IsEmpty()) << k;
  }
}

// --- Dry run, --no-install and the plan
// -----------------------------------------------------------

TEST_F(NodeTruth, DryRunSaysWhatPushWouldDoAndWritesNothing) {
  ASSERT_EQ(push("a1").exit_code, 0);
  ASSERT_EQ(push("a2").exit_code, 0);
  append(dest(1) / "current" / "agent.key", "x");  // node1: to repair
  fs::remove(dest(2) / "current");                 // node2: rolled back by hand
  fs::create_symlink("generations/000001", dest(2) / "current");
  for (const auto& dir : {dest(3) / "current", dest(3) / "generations"}) fs::remove_all(dir);
  const auto before = test::node_trees(fleet());

  auto planned = push("a2", {"--dry-run"});
  EXPECT_EQ(planned.exit_code, 0) << planned.out << planned.err;
  auto nodes = nodes_of(planned);
  EXPECT_EQ(nodes["node1"]["status"], "would-repair");
  EXPECT_THAT(text_of(nodes["node1"]["detail"]), HasSubstr("agent.key"));
  EXPECT_EQ(nodes["node2"]["status"], "would-reactivate");
  EXPECT_EQ(nodes["node3"]["status"], "would-install");
  // Never ok: a dry run installs nothing.
  EXPECT_THAT(planned.out, Not(HasSubstr("\"status\": \"ok\"")));
  EXPECT_EQ(nlohmann::json::parse(planned.out)["summary"]["ok"], 0);
  EXPECT_EQ(test::node_trees(fleet()), before);

  auto refused = push("b1", {"--dry-run"});
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  nodes = nodes_of(refused);
  EXPECT_EQ(nodes["node1"]["status"], "would-refuse");
  EXPECT_EQ(nodes["node2"]["status"], "would-refuse");
  EXPECT_THAT(text_of(nodes["node2"]["error"]), HasSubstr("another key set"));
  EXPECT_EQ(nodes["node3"]["status"], "would-install");  // nothing there to conflict with
  auto older = push("a1", {"--dry-run", "--limit", "node1"});
  EXPECT_EQ(older.exit_code, 4) << older.out;
  EXPECT_EQ(nodes_of(older)["node1"]["status"], "would-refuse");
  EXPECT_EQ(test::node_trees(fleet()), before);

  // On a terminal push shows the same plan before it asks; "no" writes nothing.
  test::RunOptions typed;
  typed.input = "n\n";
  auto asked = test::run({"script", "-qec",
                          fmt::format("{} push {} --inventory {} --passphrase-file {}",
                                      test::keyfleet_bin(), sets().bundle("a2").string(),
                                      fleet().inventory().string(), sets().pass().string()),
                          "/dev/null"},
                         typed);
  EXPECT_THAT(asked.out, HasSubstr("Push generation 2 to 3 nodes (1 to install, 1 to repair, "
                                   "1 to reactivate)?"));
  EXPECT_EQ(test::node_trees(fleet()), before);

  // --no-install stages a checked copy everywhere and changes no key directory.
  for (int k = 1; k <= 3; ++k) fs::remove_all(node(k).staging);
  auto staged = push("a2", {"--no-install"});
  EXPECT_EQ(staged.exit_code, 0) << staged.out << staged.err;
  for (const auto& [name, n] : nodes_of(staged)) EXPECT_EQ(n["status"], "staged") << name;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(test::tree(dest(k)), before[2 * (k - 1)]) << k;
    EXPECT_EQ(test::staged_files(node(k)).size(), 1u) << k;
  }
}

// --- The exit-code rule
// ---------------------------------------------------------------------------

// 3 if any node failed its host key or authentication check, else 4 if any was refused, else 1 if
// any failed, else 0: push, verify, rollback and cleanup alike.
TEST_F(NodeTruth, OneExitCodeRuleForEveryFleetCommand) {
  ASSERT_EQ(push("a2").exit_code, 0);
  // node1: a wrong known_hosts entry; node2: already on a newer generation (a downgrade);
  // node3: a pre hook that fails.
  const fs::path inventory = fleet_->inventory_with("mixed.toml", {{3, "pre = 'exit 9'"}});
  fleet_->corrupt_known_host(1);
  fs::remove_all(dest(3) / "current");
  fs::remove_all(dest(3) / "generations");
  auto all_three = push_with("a1", inventory);
  EXPECT_EQ(all_three.exit_code, 3) << all_three.out << all_three.err;
  auto nodes = nodes_of(all_three);
  EXPECT_EQ(nodes["node1"]["status"], "hostkey");
  EXPECT_EQ(nodes["node2"]["status"], "refused");
  EXPECT_EQ(nodes["node3"]["status"], "failed");
  EXPECT_EQ(fleet_command("verify", inventory).exit_code, 3);
  EXPECT_EQ(fleet_command("rollback", inventory).exit_code, 3);
  EXPECT_EQ(fleet_command("cleanup", inventory).exit_code, 3);

  fleet_->restore_known_hosts();
  EXPECT_EQ(push_with("a1", inventory).exit_code, 4);
  EXPECT_EQ(push_with("a1", inventory, {"--limit", "node3"}).exit_code, 1);
  EXPECT_EQ(push_with("a2", inventory, {"--exclude", "node3"}).exit_code, 0);

  // A key the node does not accept is an authentication failure: 3, over the refusals.
  const fs::path stranger = fleet().dir() / "stranger_key";
  if (!fs::exists(stranger)) {
    ASSERT_EQ(test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger.string()})
                  .exit_code,
              0);
  }
  const fs::path unknown = fleet_->inventory_with(
      "stranger.toml", {{2, "identity_file = \"" + stranger.string() + "\""}});
  auto refused = push_with("a1", unknown);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_EQ(nodes_of(refused)["node2"]["status"], "auth");
  EXPECT_EQ(nodes_of(refused)["node1"]["status"], "refused");
  EXPECT_EQ(fleet_command("verify", unknown).exit_code, 3);

  // verify: node3 has nothing installed (missing, 1); rollback: node1 has nothing older (failed,
  // 1) and --to a generation that is not complete is refused (4).
  EXPECT_EQ(fleet_command("verify", inventory).exit_code, 1);
  EXPECT_EQ(fleet_command("verify", inventory, {"--exclude", "node3"}).exit_code, 0);
  EXPECT_EQ(fleet_command("rollback", inventory, {"--limit", "node1"}).exit_code, 1);
  fs::create_directory(generation(1, 1));
  EXPECT_EQ(fleet_command("rollback", inventory, {"--limit", "node1", "--to", "1"}).exit_code, 4);
  EXPECT_EQ(fleet_command("cleanup", inventory).exit_code, 0);
}

}  // namespace
}  // namespace kf
