// Inventory `layout = "link"` on the real sshd fleet: the Key Trustee KMS migration of issue 13
// (a real GnuPG home pulled from the active node, pushed to two others at the same path, verified
// on all three, the source included), a real directory at a target's DEST (refused, then adopted
// and kept), and the runtime files a service writes between pushes.
//
// The loopback fleet's nodes share one machine, so "the same path" on each is the same path
// under each node's own directory (nodes/nodeK/kms/.keytrustee).
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;
using test::keyfleet;
using test::nodes_of;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kRuntime[] =
    "runtime_files = [\"random_seed\", \"trustdb.gpg\", \".#lk*\", \"S.gpg-agent*\"]";

fs::path kms_dest(const Fleet& fleet, int k) {
  return fleet.node_dir(k) / "kms" / ".keytrustee";
}

// An inventory with every node's DEST at nodes/nodeK/kms/.keytrustee, layout "link".
fs::path kms_inventory(const Fleet& fleet, const std::string& name, const std::string& more = "") {
  std::map<int, std::string> extra;
  for (int k = 1; k <= fleet.size(); ++k) {
    fs::create_directories(fleet.node_dir(k) / "kms");
    extra[k] = fmt::format("dest = \"{}\"\nlayout = \"link\"\n{}\n{}", kms_dest(fleet, k).string(),
                           kRuntime, more);
  }
  return fleet.inventory_with(name, extra);
}

test::RunResult gpg(const fs::path& home, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"gpg", "--batch", "--homedir", home.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv);
}

// gpg starts an agent that keeps sockets in the home: stopped, so that nothing outlives the test.
void stop_agent(const fs::path& home) {
  test::run({"gpgconf", "--homedir", home.string(), "--kill", "gpg-agent"});
}

// A GnuPG home made by GnuPG itself, as a Key Trustee server's .keytrustee is, with a TLS copy
// in .ssl/ that must go nowhere.
void make_gnupg_home(const fs::path& home) {
  fs::create_directories(home);
  ::chmod(home.c_str(), 0700);
  auto made = gpg(home, {"--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                         "KMS Test <kms@example.com>", "default", "default", "never"});
  stop_agent(home);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  fs::create_directories(home / ".ssl");
  ::chmod((home / ".ssl").c_str(), 0700);
  test::write_text(home / ".ssl" / "ssl-cert-keytrustee.pem", "tls of kms1", 0600);
}

// Every regular file under `dir` (through a link at `dir` itself) by relative path, with its
// SHA-256, leaving out `skip` prefixes.
std::map<std::string, std::string> digests(const fs::path& dir,
                                           const std::vector<std::string>& skip) {
  std::map<std::string, std::string> out;
  fs::path real = fs::canonical(dir);
  for (fs::recursive_directory_iterator it(real), end; it != end; ++it) {
    if (!fs::is_regular_file(it->symlink_status())) continue;
    std::string name = it->path().lexically_relative(real).string();
    if (std::any_of(skip.begin(), skip.end(), [&](const auto& s) { return name.starts_with(s); })) {
      continue;
    }
    out[name] = sha256_hex(as_bytes(test::read_text(it->path())));
  }
  return out;
}

struct Work {
  test::TempDir dir;
  fs::path pass() const { return dir / "pass"; }
  fs::path keys() const { return dir / "keys"; }
  Work() { test::write_text(pass(), "integration passphrase\n", 0600); }
  test::RunResult bundle(const std::string& name) const {
    return keyfleet({"bundle", "--keys", keys().string(), "--out", (dir / name).string(),
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

TEST(LinkLayout, KeyTrusteeMigrationFromARealGnupgHomeToTwoNodesAtTheSamePath) {
  if (::access("/usr/bin/gpg", X_OK) != 0) {
    FAIL() << "gpg is missing: scripts/deps.sh test installs gnupg";
  }
  Fleet fleet(3);
  Work work;
  const fs::path inventory = kms_inventory(fleet, "kms.toml", "keep = 10");
  const fs::path source = kms_dest(fleet, 1);
  make_gnupg_home(source);

  // 1. Pull the active node's directory, without .ssl.
  auto pulled = keyfleet({"pull", "--inventory", inventory.string(), "--node", "node1", "--path",
                          source.string(), "--out", work.keys().string(), "--exclude-path", ".ssl",
                          "--json"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  auto manifest = parse_manifest(test::read_text(work.keys() / "manifest.json"), "manifest.json");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->exclude, (std::vector<std::string>{".ssl"}));
  EXPECT_FALSE(fs::exists(work.keys() / ".ssl"));

  // 2. Bundle, then push one node at a time to the two new ones.
  ASSERT_EQ(work.bundle("kt.kfb").exit_code, 0);
  auto pushed = work.push("kt.kfb", inventory, {"--rolling", "--limit", "node2,node3"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto nodes = nodes_of(pushed);
  for (int k : {2, 3}) {
    const std::string name = "node" + std::to_string(k);
    EXPECT_EQ(nodes[name]["status"], "ok") << nodes[name];
    const fs::path dest = kms_dest(fleet, k);
    ASSERT_TRUE(fs::is_symlink(dest)) << dest;
    EXPECT_EQ(fs::read_symlink(dest).string(), ".keytrustee.generations/000001");
    EXPECT_TRUE(fs::exists(fleet.node_dir(k) / "kms" / ".keytrustee.generations" / ".lock"));
    EXPECT_TRUE(fs::exists(fleet.node_dir(k) / "kms" / ".keytrustee.generations" / "history.log"));
    EXPECT_FALSE(fs::exists(dest / ".ssl")) << ".ssl went nowhere";
    // trustdb.gpg is a runtime file here: GnuPG makes its own; the key set's is not installed.
    EXPECT_FALSE(fs::exists(dest / "trustdb.gpg"));
  }
  EXPECT_TRUE(fs::is_directory(source)) << "the source is left as it is";
  EXPECT_FALSE(fs::is_symlink(source));

  // 3. The same digests everywhere, the source included (without its .ssl and runtime files).
  // (A generation holds keyfleet's manifest.json beside the files: not the source's.)
  const std::vector<std::string> skip = {".ssl/", "trustdb.gpg", "random_seed", "S.gpg-agent",
                                         "manifest.json"};
  const auto reference = digests(source, skip);
  EXPECT_GE(reference.size(), 4u);
  for (int k : {2, 3}) EXPECT_EQ(digests(kms_dest(fleet, k), skip), reference) << k;
  auto verified = keyfleet({"verify", "--inventory", inventory.string(), "--manifest",
                            (work.keys() / "manifest.json").string(), "--json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  nodes = nodes_of(verified);
  for (const char* name : {"node1", "node2", "node3"}) {
    EXPECT_EQ(nodes[name]["status"], "ok") << nodes[name];
  }
  EXPECT_THAT(nodes["node1"]["detail"].get<std::string>(), HasSubstr("unmanaged"));
  EXPECT_TRUE(nodes["node1"]["generation"].is_null());
  EXPECT_EQ(nodes["node2"]["generation"], 1);
  auto by_majority = keyfleet({"verify", "--inventory", inventory.string()});
  EXPECT_EQ(by_majority.exit_code, 0) << by_majority.out << by_majority.err;
  EXPECT_THAT(by_majority.out, HasSubstr("unmanaged"));

  // 4. GnuPG itself, at the path it always read, finds the key; it writes its runtime files
  // (trustdb.gpg, agent sockets) into the generation meanwhile.
  const fs::path target = kms_dest(fleet, 2);
  auto listed = gpg(target, {"--list-secret-keys"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("kms@example.com"));
  auto sign = gpg(target, {"--pinentry-mode", "loopback", "--passphrase", "", "--clearsign",
                           "--output", (work.dir / "signed.asc").string(), work.pass().string()});
  EXPECT_EQ(sign.exit_code, 0) << sign.err;
  test::write_text(target / "random_seed", "the service's seed", 0600);

  // ... which neither verify nor push counts: unchanged, not repaired.
  auto again = keyfleet({"verify", "--inventory", inventory.string(), "--manifest",
                         (work.keys() / "manifest.json").string()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  auto repushed = work.push("kt.kfb", inventory, {"--limit", "node2,node3"});
  EXPECT_EQ(repushed.exit_code, 0) << repushed.out << repushed.err;
  EXPECT_EQ(nodes_of(repushed)["node2"]["status"], "unchanged") << repushed.out;
  stop_agent(target);

  // 5. The next generation of the source (pull --force) carries no runtime file to the targets.
  auto second = keyfleet({"pull", "--inventory", inventory.string(), "--node", "node1", "--path",
                          source.string(), "--out", work.keys().string(), "--exclude-path", ".ssl",
                          "--force"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  ASSERT_EQ(work.bundle("kt2.kfb").exit_code, 0);
  auto next = work.push("kt2.kfb", inventory, {"--rolling", "--limit", "node2,node3"});
  ASSERT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_EQ(fs::read_symlink(target).string(), ".keytrustee.generations/000002");
  EXPECT_FALSE(fs::exists(target / "random_seed"));
  EXPECT_EQ(test::read_text(fleet.node_dir(2) / "kms" / ".keytrustee.generations" / "000001" /
                            "random_seed"),
            "the service's seed")
      << "left with the generation it was written in";
  auto still = gpg(target, {"--list-secret-keys"});
  EXPECT_THAT(still.out, HasSubstr("kms@example.com")) << still.err;
  stop_agent(target);

  // Status reads an imported set: no certificates, the generation and what is kept.
  auto status =
      keyfleet({"status", "--inventory", inventory.string(), "--limit", "node2", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  auto doc = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << status.out;
  EXPECT_EQ(doc["nodes"][0]["generation"], 2);
  EXPECT_EQ(doc["nodes"][0]["generations_kept"], 2);

  // Rollback goes back through the same link.
  auto rolled =
      keyfleet({"rollback", "--inventory", inventory.string(), "--limit", "node2", "--yes"});
  EXPECT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err;
  EXPECT_EQ(fs::read_symlink(target).string(), ".keytrustee.generations/000001");
}

// A target whose DEST is already the service's real directory: refused (exit 4, nothing
// touched) until --adopt, which keeps it aside, listed; only a confirmed purge removes it.
TEST(LinkLayout, ARealDirectoryAtDestIsRefusedThenAdoptedKeptAndListed) {
  Fleet fleet(2);
  Work work;
  const fs::path inventory = kms_inventory(fleet, "kms.toml");
  fs::path src = work.dir / "src";
  fs::create_directories(src / "private-keys-v1.d");
  ::chmod(src.c_str(), 0700);
  ::chmod((src / "private-keys-v1.d").c_str(), 0700);
  test::write_text(src / "pubring.kbx", "new ring", 0644);
  test::write_text(src / "private-keys-v1.d" / "A.key", "new key", 0600);
  ASSERT_EQ(
      keyfleet({"create-keys", "--out", work.keys().string(), "--import", src.string()}).exit_code,
      0);
  ASSERT_EQ(work.bundle("kt.kfb").exit_code, 0);

  const fs::path old = kms_dest(fleet, 1);
  fs::create_directories(old);
  test::write_text(old / "secring.gpg", "the old ring", 0600);
  const auto before = test::tree(old);

  auto planned = work.push("kt.kfb", inventory, {"--dry-run"});
  EXPECT_EQ(planned.exit_code, 4) << planned.out << planned.err;
  auto nodes = nodes_of(planned);
  EXPECT_EQ(nodes["node1"]["status"], "would-refuse");
  EXPECT_EQ(nodes["node2"]["status"], "would-install");

  auto refused = work.push("kt.kfb", inventory);
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  nodes = nodes_of(refused);
  EXPECT_EQ(nodes["node1"]["status"], "refused");
  EXPECT_THAT(nodes["node1"]["error"].get<std::string>(), HasSubstr("real directory"));
  EXPECT_THAT(nodes["node1"]["error"].get<std::string>(), HasSubstr("--adopt"));
  EXPECT_EQ(nodes["node2"]["status"], "ok");
  EXPECT_EQ(test::tree(old), before);
  EXPECT_FALSE(fs::is_symlink(old));

  auto adopt_plan = work.push("kt.kfb", inventory, {"--dry-run", "--adopt"});
  EXPECT_EQ(adopt_plan.exit_code, 0) << adopt_plan.out << adopt_plan.err;
  nodes = nodes_of(adopt_plan);
  EXPECT_EQ(nodes["node1"]["status"], "would-install");
  EXPECT_THAT(nodes["node1"]["detail"].get<std::string>(), HasSubstr("--adopt: would move"));
  EXPECT_EQ(test::tree(old), before);

  auto adopted = work.push("kt.kfb", inventory, {"--adopt"});
  ASSERT_EQ(adopted.exit_code, 0) << adopted.out << adopted.err;
  nodes = nodes_of(adopted);
  EXPECT_EQ(nodes["node1"]["status"], "ok") << nodes["node1"];
  EXPECT_EQ(nodes["node2"]["status"], "unchanged");
  ASSERT_TRUE(fs::is_symlink(old));
  EXPECT_EQ(test::read_text(old / "pubring.kbx"), "new ring");
  const fs::path home = fleet.node_dir(1) / "kms" / ".keytrustee.generations";
  std::vector<fs::path> kept;
  for (fs::directory_iterator it(home), end; it != end; ++it) {
    if (it->path().filename().string().starts_with("adopted-")) kept.push_back(it->path());
  }
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(test::read_text(kept[0] / "secring.gpg"), "the old ring");
  const std::string detail = nodes["node1"]["detail"].get<std::string>();
  EXPECT_THAT(detail, HasSubstr(kept[0].string())) << detail;
  EXPECT_THAT(detail, HasSubstr("kept"));

  // Cleanup keeps and lists it; a purge without a terminal needs --yes, then removes and lists it.
  auto cleaned = keyfleet({"cleanup", "--inventory", inventory.string(), "--json"});
  EXPECT_EQ(cleaned.exit_code, 0) << cleaned.out << cleaned.err;
  nodes = nodes_of(cleaned);
  EXPECT_EQ(nodes["node1"]["adopted"], nlohmann::json::array({kept[0].string()}));
  EXPECT_TRUE(fs::exists(kept[0]));
  auto unconfirmed = keyfleet({"cleanup", "--inventory", inventory.string(), "--purge-old"});
  EXPECT_EQ(unconfirmed.exit_code, 4) << unconfirmed.out << unconfirmed.err;
  EXPECT_TRUE(fs::exists(kept[0]));
  auto purged =
      keyfleet({"cleanup", "--inventory", inventory.string(), "--purge-old", "--yes", "--json"});
  EXPECT_EQ(purged.exit_code, 0) << purged.out << purged.err;
  nodes = nodes_of(purged);
  EXPECT_EQ(nodes["node1"]["adopted_removed"], nlohmann::json::array({kept[0].string()}));
  EXPECT_EQ(nodes["node1"]["adopted"], nlohmann::json::array());
  EXPECT_FALSE(fs::exists(kept[0]));
  EXPECT_EQ(test::read_text(old / "pubring.kbx"), "new ring");
}

// rotate installs through push's own code: on a link-layout node it switches DEST itself, keeps
// the previous generation beside it, and carries none of the service's runtime files over.
TEST(LinkLayout, RotateKeepCaSwitchesTheLinkedDest) {
  Fleet fleet(2);
  Work work;
  const fs::path inventory = kms_inventory(fleet, "kms.toml");
  ASSERT_EQ(
      keyfleet({"create-keys", "--out", work.keys().string(), "--inventory", inventory.string()})
          .exit_code,
      0);
  ASSERT_EQ(work.bundle("g1.kfb").exit_code, 0);
  auto pushed = work.push("g1.kfb", inventory);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  const std::string old_ca = test::read_text(work.keys() / "ca.crt");
  const std::string old_agent = test::read_text(work.keys() / "agent.crt");
  test::write_text(kms_dest(fleet, 1) / "random_seed", "the service's seed", 0600);

  auto rotated = keyfleet({"rotate", "--inventory", inventory.string(), "--keys",
                           work.keys().string(), "--passphrase-file", work.pass().string(),
                           "--work-factor", "10", "--keep-ca", "--yes", "--json"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  EXPECT_EQ(test::json_schema_errors(rotated.out), "") << rotated.out;
  auto nodes = nodes_of(rotated);
  for (int k : {1, 2}) {
    const std::string name = "node" + std::to_string(k);
    EXPECT_EQ(nodes[name]["status"], "ok") << nodes[name];
    const fs::path dest = kms_dest(fleet, k);
    ASSERT_TRUE(fs::is_symlink(dest)) << dest;
    EXPECT_EQ(fs::read_symlink(dest).string(), ".keytrustee.generations/000002");
    EXPECT_EQ(test::read_text(dest / "ca.crt"), old_ca) << name;
    EXPECT_EQ(test::read_text(dest / "agent.crt"), test::read_text(work.keys() / "agent.crt"));
    EXPECT_NE(test::read_text(dest / "agent.crt"), old_agent) << name;
    const fs::path home = fleet.node_dir(k) / "kms" / ".keytrustee.generations";
    EXPECT_TRUE(fs::is_directory(home / "000001")) << "rollback's target stays";
  }
  EXPECT_FALSE(fs::exists(kms_dest(fleet, 1) / "random_seed"));

  auto verified = keyfleet({"verify", "--inventory", inventory.string(), "--manifest",
                            (work.keys() / "manifest.json").string(), "--json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  for (const auto& [name, node] : nodes_of(verified)) EXPECT_EQ(node["generation"], 2) << name;
}

}  // namespace
}  // namespace kf
