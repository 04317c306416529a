// Existing key material against real sshd daemons on loopback: create-keys --import of a nested
// directory with dotfiles, pushed and verified; pull from a node; the inventory's `keep` after
// every push.
#include <sys/stat.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;
using test::keyfleet;
using test::nodes_of;

// A Key Trustee-like directory: a GnuPG ring, nested keys, a dotfile, an .ssl/ to leave behind.
void make_keytrustee(const fs::path& dir) {
  fs::create_directories(dir / "private-keys-v1.d");
  fs::create_directories(dir / ".ssl");
  ::chmod(dir.c_str(), 0700);
  ::chmod((dir / "private-keys-v1.d").c_str(), 0750);
  ::chmod((dir / ".ssl").c_str(), 0700);
  test::write_text(dir / "secring.gpg", test::random_text(700), 0600);
  test::write_text(dir / "pubring.gpg", test::random_text(500), 0644);
  test::write_text(dir / ".gpg-v21-migrated", "", 0640);
  test::write_text(dir / "private-keys-v1.d" / "0123ABCD.key", test::random_text(300), 0600);
  test::write_text(dir / ".ssl" / "ssl-cert-keytrustee.pem", "tls", 0600);
}

struct Work {
  test::TempDir dir;
  fs::path pass() const { return dir / "pass"; }
  Work() { test::write_text(pass(), "integration passphrase\n", 0600); }
  test::RunResult bundle(const fs::path& keys, const std::string& name) const {
    return keyfleet({"bundle", "--keys", keys.string(), "--out", (dir / name).string(),
                     "--passphrase-file", pass().string(), "--work-factor", "10"});
  }
  test::RunResult push(const std::string& name, const fs::path& inventory,
                       std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"push",
                                     (dir / name).string(),
                                     "--inventory",
                                     inventory.string(),
                                     "--passphrase-file",
                                     pass().string(),
                                     "--yes",
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return keyfleet(args);
  }
};

TEST(Import, ANestedSetWithDotfilesIsPushedWithItsModesAndVerifies) {
  Fleet fleet(2);
  Work work;
  make_keytrustee(work.dir / "kt");
  fs::path keys = work.dir / "keys";
  auto made = keyfleet({"create-keys", "--out", keys.string(), "--import",
                        (work.dir / "kt").string(), "--exclude-path", ".ssl"});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  EXPECT_NE(made.out.find("excluded: .ssl"), std::string::npos) << made.out;
  ASSERT_EQ(work.bundle(keys, "kt.kfb").exit_code, 0);
  auto pushed = work.push("kt.kfb", fleet.inventory());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  for (int k : {1, 2}) {
    fs::path current = fs::path(fleet.node(k).dest) / "current";
    EXPECT_EQ(test::read_text(current / "secring.gpg"),
              test::read_text(work.dir / "kt" / "secring.gpg"));
    EXPECT_EQ(test::file_mode(current / "pubring.gpg"), 0644u) << "the source's mode";
    EXPECT_EQ(test::file_mode(current / ".gpg-v21-migrated"), 0640u);
    EXPECT_EQ(test::file_mode(current / "private-keys-v1.d"), 0750u);
    EXPECT_EQ(test::read_text(current / "private-keys-v1.d" / "0123ABCD.key"),
              test::read_text(work.dir / "kt" / "private-keys-v1.d" / "0123ABCD.key"));
    EXPECT_FALSE(fs::exists(current / ".ssl"));
  }
  auto verified = keyfleet({"verify", "--inventory", fleet.inventory().string(), "--manifest",
                            (keys / "manifest.json").string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto by_majority = keyfleet({"verify", "--inventory", fleet.inventory().string()});
  EXPECT_EQ(by_majority.exit_code, 0) << by_majority.out << by_majority.err;
  // A changed mode on a node is a mismatch verify names.
  ::chmod((fs::path(fleet.node(2).dest) / "current" / "private-keys-v1.d").c_str(), 0700);
  auto differs = keyfleet({"verify", "--inventory", fleet.inventory().string(), "--manifest",
                           (keys / "manifest.json").string()});
  EXPECT_EQ(differs.exit_code, 1);
  EXPECT_NE(differs.out.find("private-keys-v1.d/ (mode 0700 instead of 0750)"), std::string::npos)
      << differs.out;
  // Pushing the same bundle again repairs it.
  auto repaired = work.push("kt.kfb", fleet.inventory());
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out;
  EXPECT_EQ(nodes_of(repaired)["node2"]["status"], "repaired") << repaired.out;
}

TEST(Pull, TakesANodesDirectoryOverSshAndRefusesSymlinks) {
  Fleet fleet(1);
  Work work;
  fs::path source = fleet.node_dir(1) / "keytrustee";
  make_keytrustee(source);
  test::write_text(source / "secring.gpg.bak", "old", 0600);
  fs::path keys = work.dir / "keys";
  std::vector<std::string> pull = {"pull",           "--inventory", fleet.inventory().string(),
                                   "--node",         "node1",       "--path",
                                   source.string(),  "--out",       keys.string(),
                                   "--exclude-path", ".ssl",        "--exclude-path",
                                   "*.bak"};
  auto pulled = keyfleet(pull);
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_NE(pulled.out.find("digests checked on the node"), std::string::npos) << pulled.out;
  EXPECT_EQ(test::read_text(keys / "secring.gpg"), test::read_text(source / "secring.gpg"));
  EXPECT_EQ(test::file_mode(keys / "pubring.gpg"), 0600u);
  EXPECT_EQ(test::file_mode(keys / "private-keys-v1.d"), 0700u);
  EXPECT_FALSE(fs::exists(keys / ".ssl"));
  EXPECT_FALSE(fs::exists(keys / "secring.gpg.bak"));
  auto manifest = parse_manifest(test::read_text(keys / "manifest.json"), "manifest.json");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->find("pubring.gpg")->mode, 0644u);
  EXPECT_EQ(manifest->exclude, (std::vector<std::string>{".ssl", "*.bak"}));

  // A symlink on the node is refused, named, and nothing is written.
  fs::create_symlink("/etc/shadow", source / "private-keys-v1.d" / "evil.key");
  pull.push_back("--force");
  auto refused = keyfleet(pull);
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("'private-keys-v1.d/evil.key' is a symbolic link"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(fs::exists(keys / "archive"));
  fs::remove(source / "private-keys-v1.d" / "evil.key");

  // With --force, the next generation of the same key directory.
  test::write_text(source / "secring.gpg", "rotated", 0600);
  auto second = keyfleet(pull);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(test::read_text(keys / "secring.gpg"), "rotated");
  EXPECT_TRUE(fs::exists(keys / "archive" / "000001" / "secring.gpg"));

  // Pull changes key material: it leaves an audit record, also when refused.
  test::RunOptions audited;
  audited.env["KEYFLEET_AUDIT_LOG"] = (work.dir / "audit.jsonl").string();
  test::write_text(source / "secring.gpg", "rotated again", 0600);
  ASSERT_EQ(keyfleet(pull, audited).exit_code, 0);
  auto shown = keyfleet({"audit", "show", "--json", (work.dir / "audit.jsonl").string()});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  auto records = nlohmann::json::parse(shown.out)["records"];
  ASSERT_EQ(records.size(), 1u) << shown.out;
  EXPECT_EQ(records[0]["command"], "pull");
  EXPECT_EQ(records[0]["exit_code"], 0);
  EXPECT_EQ(records[0]["node"], "node1");
  EXPECT_EQ(records[0]["path"], source.string());
  EXPECT_EQ(records[0]["generation"], 3);
  EXPECT_EQ(records[0]["keyset"], manifest->keyset);

  // An unknown host key: exit 3, nothing read.
  fleet.corrupt_known_host(1);
  auto hostkey = keyfleet(pull);
  EXPECT_EQ(hostkey.exit_code, 3) << hostkey.out << hostkey.err;
  fleet.restore_known_hosts();
}

TEST(Keep, PushPrunesToTheInventorysKeepAndCleanupKeepOverridesIt) {
  Fleet fleet(1);
  test::Bundles bundles(fleet, 5);
  fs::path keep2 = fleet.inventory_with("keep.toml", {{1, "keep = 2"}});
  auto generations = [&] {
    std::vector<std::string> out;
    for (fs::directory_iterator it(fs::path(fleet.node(1).dest) / "generations"), end; it != end;
         ++it) {
      out.push_back(it->path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  for (int g = 1; g <= 4; ++g) {  // the default keep, 5: nothing pruned
    auto pushed = bundles.push(g, fleet.inventory());
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  }
  EXPECT_EQ(generations().size(), 4u);
  auto three = keyfleet({"cleanup", "--inventory", keep2.string(), "--keep", "3"});
  EXPECT_EQ(three.exit_code, 0) << three.out << three.err;
  EXPECT_EQ(generations(), (std::vector<std::string>{"000002", "000003", "000004"}));
  auto two = keyfleet({"cleanup", "--inventory", keep2.string()});
  EXPECT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_EQ(generations(), (std::vector<std::string>{"000003", "000004"}));

  auto pushed = bundles.push(5, keep2);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_NE(pushed.out.find("pruned 000003 (keep = 2)"), std::string::npos) << pushed.out;
  EXPECT_EQ(generations(), (std::vector<std::string>{"000004", "000005"}));
  EXPECT_EQ(test::current_of(fleet.node(1)), "generations/000005");
}

// Key Trustee keeps the last 10 backups: `keep = 10` in the inventory, 12 pushes, and the node
// holds the 10 newest generations, current among them.
TEST(Keep, TenKeptAfterTwelvePushesWithKeepTen) {
  Fleet fleet(1);
  test::Bundles bundles(fleet, 12);
  fs::path keep10 = fleet.inventory_with("keep10.toml", {{1, "keep = 10"}});
  for (int g = 1; g <= 12; ++g) {
    auto pushed = bundles.push(g, keep10);
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  }
  std::vector<std::string> kept;
  for (fs::directory_iterator it(fs::path(fleet.node(1).dest) / "generations"), end; it != end;
       ++it) {
    kept.push_back(it->path().filename().string());
  }
  std::sort(kept.begin(), kept.end());
  std::vector<std::string> expected;
  for (int g = 3; g <= 12; ++g) expected.push_back(fmt::format("{:06}", g));
  EXPECT_EQ(kept, expected);
  EXPECT_EQ(test::current_of(fleet.node(1)), "generations/000012");
}

}  // namespace
}  // namespace kf
