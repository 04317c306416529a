// keyfleet push against real sshd daemons on loopback.
#include <sys/mount.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pki/manifest.hpp"
#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::current_of;
using test::Fleet;
using test::keyfleet;
using test::nodes_of;
using ::testing::HasSubstr;

TEST(Push, InstallsEverywhereThenRerunIsUnchangedAndBadHostKeyReceivesNothing) {
  Fleet fleet(5);
  test::TempDir work;
  std::string inv = fleet.inventory().string();
  fs::path pass = work / "pass";
  test::write_text(pass, "integration passphrase\n");
  fs::permissions(pass, fs::owner_read | fs::owner_write);
  ASSERT_EQ(
      keyfleet({"create-keys", "--out", (work / "keys").string(), "--inventory", inv}).exit_code,
      0);
  auto made =
      keyfleet({"bundle", "--keys", (work / "keys").string(), "--out", (work / "b.kfb").string(),
                "--passphrase-file", pass.string(), "--work-factor", "10"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::vector<std::string> push = {"push", (work / "b.kfb").string(), "--inventory",
                                   inv,    "--passphrase-file",       pass.string()};

  EXPECT_EQ(keyfleet(push).exit_code, 4);  // no terminal, no --yes
  EXPECT_FALSE(fs::exists(fs::path(fleet.node(1).dest) / "current"));

  fleet.corrupt_known_host(2);
  push.push_back("--yes");
  auto first = keyfleet(push);
  EXPECT_EQ(first.exit_code, 3) << first.out << first.err;
  EXPECT_NE(first.out.find("hostkey"), std::string::npos) << first.out;
  EXPECT_TRUE(!fs::exists(fleet.node(2).staging) || fs::is_empty(fleet.node(2).staging));
  EXPECT_FALSE(fs::exists(fs::path(fleet.node(2).dest) / "current"));
  for (int k : {1, 3, 4, 5}) {
    fs::path current = fs::path(fleet.node(k).dest) / "current";
    EXPECT_EQ(fs::read_symlink(current).string(), "generations/000001") << k;
    EXPECT_EQ(test::read_text(current / "agent.key"), test::read_text(work / "keys" / "agent.key"));
    EXPECT_EQ(test::read_text(current / "keystore.p12"),
              test::read_text(work / "keys" / "keystore.p12"));
    EXPECT_FALSE(fs::exists(current / "ca.key"));  // bundles leave the CA key at home
  }
  fleet.restore_known_hosts();
  EXPECT_EQ(keyfleet(push).exit_code, 0);  // node2 now installed, the others unchanged
  push.push_back("--json");
  auto again = keyfleet(push);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("\"unchanged\": 5"), std::string::npos) << again.out;
}

// A hook that logs "<name> STEP GENERATION DEST CURRENT" to the node's hooks.log, then runs `then`.
std::string hook(const Fleet& fleet, int k, const std::string& name, const std::string& then = "") {
  std::string log = (fleet.node_dir(k) / "hooks.log").string();
  return fmt::format(
      "{} = 'echo {} \"$KEYFLEET_STEP\" \"$KEYFLEET_GENERATION\" \"$KEYFLEET_DEST\" "
      "\"$(readlink \"$KEYFLEET_DEST/current\")\" >> {}{}'",
      name, name, log, then.empty() ? "" : "; " + then);
}

std::string all_hooks(const Fleet& fleet, int k, const std::string& pre_then = "") {
  return hook(fleet, k, "pre", pre_then) + "\n" + hook(fleet, k, "post") + "\n" +
         hook(fleet, k, "check");
}

TEST(Push, HooksRunPrePostCheckAroundTheInstallAndAFailingPreKeepsCurrent) {
  Fleet fleet(2);
  Bundles bundles(fleet, 2);
  // node2's pre hook refuses any generation from 2 on.
  fs::path inventory = fleet.inventory_with(
      "hooks.toml",
      {{1, all_hooks(fleet, 1)}, {2, all_hooks(fleet, 2, "test \"$KEYFLEET_GENERATION\" -lt 2")}});
  auto first = bundles.push(1, inventory);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  for (int k : {1, 2}) {
    std::string dest = fleet.node(k).dest;
    EXPECT_EQ(test::read_text(fleet.node_dir(k) / "hooks.log"),
              "pre pre 1 " + dest + " \n" +                          // before the switch
                  "post post 1 " + dest + " generations/000001\n" +  // after it
                  "check check 1 " + dest + " generations/000001\n")
        << k;
  }

  auto second = bundles.push(2, inventory);
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  auto nodes = nodes_of(second);
  EXPECT_EQ(nodes["node1"]["status"], "ok");
  EXPECT_EQ(nodes["node2"]["status"], "failed");
  EXPECT_EQ(nodes["node2"]["step"], "pre");
  EXPECT_NE(nodes["node2"]["error"].get<std::string>().find("pre hook"), std::string::npos)
      << nodes["node2"];
  EXPECT_EQ(nodes["node2"]["generation"], 1);
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000002");
  EXPECT_EQ(current_of(fleet.node(2)), "generations/000001");
  EXPECT_FALSE(fs::exists(fs::path(fleet.node(2).dest) / "generations" / "000002"));
  std::string log2 = test::read_text(fleet.node_dir(2) / "hooks.log");
  EXPECT_TRUE(log2.ends_with("check check 1 " + fleet.node(2).dest + " generations/000001\n" +
                             "pre pre 2 " + fleet.node(2).dest + " generations/000001\n"))
      << log2;  // no post, no check after a failed pre
}

TEST(Push, RollingStopsAtTheFirstFailingCheckAndMaxFailuresGoesOn) {
  Fleet fleet(5);
  Bundles bundles(fleet, 1);
  fs::path inventory = fleet.inventory_with("rolling.toml", {{3, "check = 'exit 7'"}});
  auto result = bundles.push(1, inventory, {"--rolling"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = nodes_of(result);
  for (std::string name : {"node1", "node2"}) EXPECT_EQ(nodes[name]["status"], "ok") << name;
  // Its first install fails its check: with nothing to go back to, node3 loses `current` again and
  // the generation stays for inspection.
  EXPECT_EQ(nodes["node3"]["status"], "rolled-back");
  EXPECT_EQ(nodes["node3"]["step"], "check");
  EXPECT_TRUE(nodes["node3"]["generation"].is_null()) << nodes["node3"];
  for (int k : {4, 5}) {
    EXPECT_EQ(nodes["node" + std::to_string(k)]["status"], "skipped") << result.out;
    EXPECT_TRUE(test::staged_files(fleet.node(k)).empty()) << k;
    EXPECT_TRUE(fs::is_empty(fleet.node(k).dest)) << k;
  }
  for (int k : {1, 2}) EXPECT_EQ(current_of(fleet.node(k)), "generations/000001") << k;
  EXPECT_EQ(current_of(fleet.node(3)), "");
  EXPECT_TRUE(fs::is_directory(fs::path(fleet.node(3).dest) / "generations" / "000001"));

  // node3's check is fixed and node 4's pre hook now refuses: node3's install is repaired, and
  // with one failure tolerated, node 5 still gets its turn.
  fs::path refusing = fleet.inventory_with("refusing.toml", {{4, "pre = 'exit 8'"}});
  auto tolerant = bundles.push(1, refusing, {"--rolling", "--max-failures", "1"});
  EXPECT_EQ(tolerant.exit_code, 1) << tolerant.out << tolerant.err;
  nodes = nodes_of(tolerant);
  for (std::string name : {"node1", "node2"}) {
    EXPECT_EQ(nodes[name]["status"], "unchanged") << name;
  }
  EXPECT_EQ(nodes["node3"]["status"], "repaired") << nodes["node3"];
  EXPECT_EQ(current_of(fleet.node(3)), "generations/000001");
  EXPECT_EQ(nodes["node4"]["status"], "failed");
  EXPECT_EQ(nodes["node4"]["step"], "pre");
  EXPECT_EQ(nodes["node5"]["status"], "ok");
  EXPECT_EQ(current_of(fleet.node(4)), "");
  EXPECT_EQ(current_of(fleet.node(5)), "generations/000001");

  auto everyone = bundles.push(1, fleet.inventory(), {"--rolling", "--max-failures", "1"});
  EXPECT_EQ(everyone.exit_code, 0) << everyone.out;
  for (int k = 1; k <= 5; ++k) EXPECT_EQ(current_of(fleet.node(k)), "generations/000001") << k;
}

std::string sha256_of(const fs::path& file) {
  std::string bytes = test::read_text(file);
  return sha256_hex({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

TEST(Push, NoInstallStagesOneCheckedCopyAndLeavesCurrent) {
  Fleet fleet(3);
  Bundles bundles(fleet, 2);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  for (const auto& node : fleet.nodes()) fs::remove_all(node.staging);
  auto result = bundles.push(2, fleet.inventory(), {"--no-install"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  auto doc = nlohmann::json::parse(result.out);
  std::string local = sha256_of(bundles.bundle(2));
  EXPECT_EQ(doc["bundle_sha256"], local);
  EXPECT_EQ(doc["summary"]["staged"], 3) << result.out;
  for (int k = 1; k <= 3; ++k) {
    auto staged = test::staged_files(fleet.node(k));
    ASSERT_EQ(staged.size(), 1u) << k;
    EXPECT_EQ(sha256_of(staged.front()), local) << k;
    EXPECT_EQ(test::file_mode(staged.front()), 0600u);
    EXPECT_EQ(current_of(fleet.node(k)), "generations/000001") << k;
    EXPECT_FALSE(fs::exists(fs::path(fleet.node(k).dest) / "generations" / "000002"));
  }
}

// With --yes the nodes connect while the bundle is decrypted (work factor 16 makes that take a
// while): a bundle that fails to open still reaches no node, and a good one installs.
TEST(Push, ABundleThatFailsToOpenReachesNoNodeEvenWhileNodesConnect) {
  Fleet fleet(4);
  test::TempDir work;
  fs::path keys = work / "keys";
  fs::path pass = work / "pass";
  fs::path wrong = work / "wrong";
  test::write_text(pass, "integration passphrase\n", 0600);
  test::write_text(wrong, "not the passphrase\n", 0600);
  std::string inv = fleet.inventory().string();
  ASSERT_EQ(keyfleet({"create-keys", "--out", keys.string(), "--inventory", inv}).exit_code, 0);
  fs::path bundle = work / "b.kfb";
  auto made = keyfleet({"bundle", "--keys", keys.string(), "--out", bundle.string(),
                        "--passphrase-file", pass.string(), "--work-factor", "16"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto snapshot = [&] { return test::node_trees(fleet); };
  auto before = snapshot();
  auto push = [&](const fs::path& file, const fs::path& passphrase) {
    return keyfleet({"push", file.string(), "--inventory", inv, "--passphrase-file",
                     passphrase.string(), "--yes", "--json"});
  };

  auto refused = push(bundle, wrong);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  // One document still, its nodes never started.
  EXPECT_EQ(test::json_schema_errors(refused.out), "") << refused.out;
  auto doc = nlohmann::json::parse(refused.out);
  EXPECT_THAT(doc["error"]["message"].get<std::string>(), HasSubstr("wrong passphrase"));
  for (const auto& node : doc["nodes"]) EXPECT_EQ(node["status"], "skipped") << node;
  EXPECT_NE(refused.err.find(bundle.string()), std::string::npos) << refused.err;
  EXPECT_EQ(snapshot(), before);

  std::string bytes = test::read_text(bundle);
  bytes[bytes.size() / 2] ^= 1;
  fs::path tampered = work / "tampered.kfb";
  test::write_text(tampered, bytes, 0600);
  auto damaged = push(tampered, pass);
  EXPECT_EQ(damaged.exit_code, 3) << damaged.out << damaged.err;
  EXPECT_EQ(snapshot(), before);

  auto good = push(bundle, pass);
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  for (const auto& node : fleet.nodes()) {
    EXPECT_EQ(current_of(node), "generations/000001") << node.name;
  }
}

TEST(Push, DryRunWritesNothingAndNamesAnUnwritableDest) {
  Fleet fleet(3);
  Bundles bundles(fleet, 2);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  auto snapshot = [&] { return test::node_trees(fleet); };
  auto before = snapshot();
  auto result = bundles.push(2, fleet.inventory(), {"--dry-run"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  auto nodes = nodes_of(result);
  for (const auto& [name, node] : nodes) EXPECT_EQ(node["status"], "would-install") << name;
  EXPECT_EQ(snapshot(), before);

  // node3's dest would go into a directory it cannot write: read-only for root, 0555 for others.
  fs::path locked = fleet.node_dir(3) / "locked";
  fs::create_directories(locked);
  bool mounted = false;
  if (::geteuid() == 0) {
    mounted = ::mount("tmpfs", locked.c_str(), "tmpfs", MS_RDONLY, "size=64k") == 0;
    if (!mounted) GTEST_SKIP() << "cannot mount a read-only tmpfs on " << locked;
  } else {
    fs::permissions(locked, fs::perms(0555));
  }
  fs::path inventory =
      fleet.inventory_with("locked.toml", {{3, "dest = \"" + (locked / "dest").string() + "\""}});
  auto refused = bundles.push(2, inventory, {"--dry-run"});
  if (mounted) ::umount2(locked.c_str(), MNT_DETACH);
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  nodes = nodes_of(refused);
  EXPECT_EQ(nodes["node1"]["status"], "would-install");
  EXPECT_EQ(nodes["node3"]["status"], "failed");
  EXPECT_EQ(nodes["node3"]["step"], "install");
  EXPECT_NE(nodes["node3"]["error"].get<std::string>().find(locked.string()), std::string::npos)
      << nodes["node3"];
  EXPECT_EQ(snapshot(), before);
}

}  // namespace
}  // namespace kf
