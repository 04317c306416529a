// A node with other local users on it, and a node whose text is hostile, against real sshd daemons
// on loopback: push stages only where nobody but the SSH user (or root) can change what it
// stages, cleanup touches only what push made, leftovers of interrupted runs go, and nothing a
// node says reaches the terminal raw. The tests run as root; "another user" is nobody.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
using ::testing::IsEmpty;
using Seconds = std::chrono::duration<double>;

uid_t nobody() {
  const passwd* pw = ::getpwnam("nobody");
  return pw != nullptr ? pw->pw_uid : 65534;
}

void chown_to_nobody(const fs::path& path) {
  ASSERT_EQ(::lchown(path.c_str(), nobody(), static_cast<gid_t>(-1)), 0) << path;
}

test::RunResult cleanup(const fs::path& inventory, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"cleanup", "--inventory", inventory.string(), "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return keyfleet(args);
}

// Every entry below `dir`, for "still all there".
std::vector<std::string> entries_below(const fs::path& dir) {
  std::vector<std::string> out;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    out.push_back(fs::relative(it->path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class HostileNodeTest : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    if (::geteuid() != 0) GTEST_SKIP() << "another local user needs root (CI runs as root)";
    fleet_ = std::make_unique<Fleet>(3);
    bundles_ = std::make_unique<Bundles>(*fleet_, 2);
    started_ = true;
  }
  static void TearDownTestSuite() {
    bundles_.reset();
    fleet_.reset();
    started_ = false;
  }
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
    for (const auto& node : fleet_->nodes()) {
      fs::remove_all(node.dest);
      fs::remove_all(node.staging);
      fs::create_directories(node.dest);
      fs::create_directories(node.staging);
      fs::permissions(node.staging, fs::owner_all);
    }
  }

  static std::unique_ptr<Fleet> fleet_;
  static std::unique_ptr<Bundles> bundles_;
};

std::unique_ptr<Fleet> HostileNodeTest::fleet_;
std::unique_ptr<Bundles> HostileNodeTest::bundles_;

// The issue's /var/tmp/keyfleet taken first by a local user, a parent anyone may write in, and the
// sticky /tmp-like parent that is fine.
TEST_F(HostileNodeTest, PushStagesOnlyWhereOthersCannotChangeWhatItStages) {
  const Fleet& fleet = *fleet_;
  // node1: its staging directory made beforehand by nobody, mode 1777.
  fs::path squatted = fleet.node(1).staging;
  fs::permissions(squatted, static_cast<fs::perms>(01777));
  chown_to_nobody(squatted);
  // node2: staging to be created in a directory anyone may write in (no sticky bit).
  fs::path open = fleet.node_dir(2) / "open";
  fs::create_directory(open);
  fs::permissions(open, fs::all_all);
  // node3: staging to be created two levels below a root-owned sticky directory, as in /var/tmp.
  fs::path sticky = fleet.node_dir(3) / "sticky";
  fs::create_directory(sticky);
  fs::permissions(sticky, static_cast<fs::perms>(01777));
  fs::path inventory = fleet.inventory_with(
      "staging.toml", {{2, fmt::format("staging = '{}/keyfleet'", open.string())},
                       {3, fmt::format("staging = '{}/keyfleet/agent'", sticky.string())}});

  auto r = bundles_->push(1, inventory);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto nodes = nodes_of(r);
  EXPECT_EQ(nodes["node1"]["status"], "failed");
  EXPECT_EQ(nodes["node1"]["step"], "staging");
  EXPECT_THAT(nodes["node1"]["error"].get<std::string>(),
              HasSubstr(fmt::format("staging directory {} is owned by uid {}, not by the SSH "
                                    "user (uid 0) or root",
                                    squatted.string(), nobody())));
  EXPECT_THAT(entries_below(squatted), IsEmpty());  // nothing uploaded
  EXPECT_EQ(current_of(fleet.node(1)), "");

  EXPECT_EQ(nodes["node2"]["status"], "failed");
  EXPECT_EQ(nodes["node2"]["step"], "staging");
  EXPECT_THAT(nodes["node2"]["error"].get<std::string>(),
              HasSubstr(open.string() + ", where staging directory " + open.string() +
                        "/keyfleet would be created, is writable by its group or others "
                        "(mode 0777)"));
  EXPECT_THAT(entries_below(open), IsEmpty());
  EXPECT_EQ(current_of(fleet.node(2)), "");

  EXPECT_EQ(nodes["node3"]["status"], "ok") << nodes["node3"];
  EXPECT_EQ(test::file_mode(sticky / "keyfleet"), 0700u);
  EXPECT_EQ(test::file_mode(sticky / "keyfleet" / "agent"), 0700u);
  EXPECT_EQ(current_of(fleet.node(3)), "generations/000001");

  // --dry-run checks the same rules and the free space in staging, and writes nothing.
  auto trees = test::node_trees(fleet);
  auto dry = bundles_->push(1, inventory, {"--dry-run"});
  EXPECT_EQ(dry.exit_code, 1) << dry.out << dry.err;
  auto planned = nodes_of(dry);
  EXPECT_EQ(planned["node1"]["step"], "staging");
  EXPECT_EQ(planned["node2"]["step"], "staging");
  EXPECT_EQ(test::node_trees(fleet), trees);
}

TEST_F(HostileNodeTest, StagingInsideDestIsAUsageError) {
  const Fleet& fleet = *fleet_;
  fs::path inventory = fleet.inventory_with(
      "inside.toml", {{1, fmt::format("staging = '{}/staging'", fleet.node(1).dest)}});
  auto trees = test::node_trees(fleet);
  auto r = bundles_->push(1, inventory);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err,
              HasSubstr("node 'node1': 'staging' (" + fleet.node(1).dest + "/staging, line"));
  EXPECT_THAT(r.err, HasSubstr("is inside 'dest' (" + fleet.node(1).dest));
  EXPECT_EQ(test::node_trees(fleet), trees);
  auto c = cleanup(inventory, {"--purge-old", "--yes"});
  EXPECT_EQ(c.exit_code, 2) << c.out << c.err;
  EXPECT_EQ(test::node_trees(fleet), trees);
}

// Files, directories and symlinks of other people's in STAGING, some named like push's own:
// push and cleanup leave every one of them, and what they point at, as it was.
TEST_F(HostileNodeTest, ForeignEntriesInStagingSurvivePushAndCleanup) {
  const Fleet& fleet = *fleet_;
  const fs::path staging = fleet.node(1).staging;
  fs::path victim = fleet.node_dir(1) / "victim";
  test::write_text(victim, "root:x:0:0:root:/root:/bin/sh\n", 0644);
  test::write_text(staging / "notes.txt", "an operator's notes");
  fs::create_directories(staging / "backup" / "old");
  test::write_text(staging / "backup" / "old" / "bundle.kfb", "an old copy, kept on purpose");
  fs::create_directory(staging / "0123456789abcdef");  // push's naming, but 0755
  fs::permissions(staging / "0123456789abcdef", static_cast<fs::perms>(0755));
  test::write_text(staging / "0123456789abcdef" / "bundle.kfb", "not push's");
  fs::create_directory(staging / "fedcba9876543210");  // push's naming, nobody's
  fs::permissions(staging / "fedcba9876543210", fs::owner_all);
  test::write_text(staging / "fedcba9876543210" / "bundle.kfb", "nobody's");
  chown_to_nobody(staging / "fedcba9876543210");
  fs::create_directory(staging / "aaaaaaaaaaaaaaaa");  // push's naming, a symlink inside
  fs::permissions(staging / "aaaaaaaaaaaaaaaa", fs::owner_all);
  fs::create_symlink(victim, staging / "aaaaaaaaaaaaaaaa" / "bundle.kfb");
  fs::create_directory_symlink(fleet.node_dir(1), staging / "bbbbbbbbbbbbbbbb");
  const auto before = entries_below(staging);
  const auto contents = test::tree(staging);

  auto pushed = bundles_->push(1, fleet.inventory(), {"--limit", "node1"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto cleaned = cleanup(fleet.inventory(), {"--limit", "node1"});
  EXPECT_EQ(cleaned.exit_code, 0) << cleaned.out << cleaned.err;

  EXPECT_EQ(entries_below(staging), before);  // push's own directory came and went
  EXPECT_EQ(test::tree(staging), contents);
  EXPECT_EQ(test::read_text(victim), "root:x:0:0:root:/root:/bin/sh\n");
  auto node = nodes_of(cleaned)["node1"];
  EXPECT_EQ(node["wiped"].size(), 1u) << node;
  std::string left = node["left_alone"].dump();
  for (const char* name :
       {"notes.txt (not named as push names its directories)", "backup (not named",
        "0123456789abcdef (mode 0755, not 0700)", "fedcba9876543210 (owned by uid",
        "aaaaaaaaaaaaaaaa/bundle.kfb (not a regular file)", "bbbbbbbbbbbbbbbb (a symlink)"}) {
    EXPECT_THAT(left, HasSubstr(name)) << node;
  }
}

// Leftovers of interrupted installs may hold plaintext keys: the next push removes them under
// the lock and says so.
TEST_F(HostileNodeTest, LeftoversAreGoneAfterTheNextPushAndListed) {
  const Fleet& fleet = *fleet_;
  ASSERT_EQ(bundles_->push(1, fleet.inventory(), {"--limit", "node2"}).exit_code, 0);
  fs::path generations = fs::path(fleet.node(2).dest) / "generations";
  fs::create_directory(generations / ".tmp-deadbeef");
  test::write_text(generations / ".tmp-deadbeef" / "agent.key", "a compromised key");
  fs::create_symlink("generations/000001", fs::path(fleet.node(2).dest) / "current.tmp-cafe");

  auto r = bundles_->push(2, fleet.inventory(), {"--limit", "node2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(fs::exists(generations / ".tmp-deadbeef"));
  EXPECT_FALSE(fs::is_symlink(fs::path(fleet.node(2).dest) / "current.tmp-cafe"));
  EXPECT_EQ(current_of(fleet.node(2)), "generations/000002");
  std::string detail = nodes_of(r)["node2"].value("detail", "");
  EXPECT_THAT(detail, HasSubstr("removed leftovers of interrupted runs: "));
  EXPECT_THAT(detail, HasSubstr("generations/.tmp-deadbeef"));
  EXPECT_THAT(detail, HasSubstr("current.tmp-cafe"));
}

// The fleet's known_hosts line that starts with `prefix` ("[127.0.0.1]:PORT "), or "".
std::string known_hosts_line(const Fleet& fleet, const std::string& prefix) {
  std::string found;
  std::istringstream lines(test::read_text(fleet.known_hosts()));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(prefix)) found = line;
  }
  return found;
}

// libssh reads `@revoked` as a host pattern and skips the line; keyfleet's own reader does not:
// a revoked key beside a plain line for it fails the node before anything is sent.
TEST_F(HostileNodeTest, ARevokedHostKeyBesideAPlainLineIsHostkeyAndExit3) {
  const Fleet& fleet = *fleet_;
  const std::string prefix = fmt::format("[127.0.0.1]:{} ", fleet.node(2).port);
  const std::string plain = known_hosts_line(fleet, prefix);
  ASSERT_FALSE(plain.empty()) << "no known_hosts line for node2";
  fs::path known_hosts = fleet.dir() / "revoked_known_hosts";
  test::write_text(known_hosts, test::read_text(fleet.known_hosts()) + "@revoked " + plain + "\n");
  fs::path inventory = fleet.inventory_with(
      "revoked.toml", {{2, fmt::format("known_hosts = '{}'", known_hosts.string())}});
  auto trees = test::node_trees(fleet);
  auto r = bundles_->push(1, inventory, {"--limit", "node1,node2"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  auto nodes = nodes_of(r);
  EXPECT_EQ(nodes["node2"]["status"], "hostkey") << nodes["node2"];
  EXPECT_THAT(nodes["node2"]["error"].get<std::string>(), HasSubstr("revoked"));
  EXPECT_EQ(nodes["node1"]["status"], "ok") << nodes["node1"];
  EXPECT_EQ(current_of(fleet.node(2)), "");
  EXPECT_THAT(entries_below(fleet.node(2).staging), IsEmpty());
}

// A marker keyfleet does not implement (`@revoke`, a typo) and a @cert-authority line, beside the
// plain lines two nodes pass by: both nodes succeed, and each line is a warning on stderr once for
// the run, not once per node, nor never because the nodes passed.
TEST_F(HostileNodeTest, KnownHostsNotesAreWarnedOncePerRunWhenNodesPass) {
  const Fleet& fleet = *fleet_;
  const std::string prefix = fmt::format("[127.0.0.1]:{} ", fleet.node(2).port);
  const std::string plain = known_hosts_line(fleet, prefix);
  ASSERT_FALSE(plain.empty()) << "no known_hosts line for node2";
  const std::string key = plain.substr(prefix.size());
  std::string fleet_lines = test::read_text(fleet.known_hosts());
  if (!fleet_lines.empty() && !fleet_lines.ends_with('\n')) fleet_lines += '\n';
  const auto line_count = std::count(fleet_lines.begin(), fleet_lines.end(), '\n');
  fs::path known_hosts = fleet.dir() / "noted_known_hosts";
  test::write_text(known_hosts,
                   fleet_lines + "@revoke " + plain + "\n@cert-authority * " + key + "\n");
  const std::string setting = fmt::format("known_hosts = '{}'", known_hosts.string());
  fs::path inventory = fleet.inventory_with("noted.toml", {{1, setting}, {2, setting}});
  auto r = bundles_->push(1, inventory, {"--limit", "node1,node2"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto nodes = nodes_of(r);
  EXPECT_EQ(nodes["node1"]["status"], "ok") << nodes["node1"];
  EXPECT_EQ(nodes["node2"]["status"], "ok") << nodes["node2"];
  auto count = [&](const std::string& text) {
    std::size_t n = 0;
    for (auto at = r.err.find(text); at != std::string::npos; at = r.err.find(text, at + 1)) ++n;
    return n;
  };
  const std::string revoke =
      fmt::format("keyfleet: warning: {}:{}: line skipped: '@revoke' is not a marker",
                  known_hosts.string(), line_count + 1);
  const std::string authority =
      fmt::format("keyfleet: warning: {}:{}: a @cert-authority line names this host",
                  known_hosts.string(), line_count + 2);
  EXPECT_EQ(count(revoke), 1u) << r.err;
  EXPECT_EQ(count(authority), 1u) << r.err;
}

// A hook that leaves a process behind holding what it was given as stdout: the node is done when
// the hook's shell is, not when that process ends.
TEST_F(HostileNodeTest, APostHookLeavingSleep30BehindIsDoneWithin15Seconds) {
  const Fleet& fleet = *fleet_;
  fs::path pid_file = fleet.node_dir(3) / "daemon.pid";
  fs::path inventory = fleet.inventory_with(
      "daemon.toml", {{3, fmt::format("post = 'sleep 30 & echo $! > {}'", pid_file.string())}});
  auto start = std::chrono::steady_clock::now();
  auto r = bundles_->push(1, inventory, {"--limit", "node3"});
  Seconds took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(took.count(), 15.0) << r.out;
  ASSERT_TRUE(fs::exists(pid_file)) << "the hook did not run";
  pid_t daemon = std::stoi(test::read_text(pid_file));
  EXPECT_EQ(::kill(daemon, 0), 0) << "the background process was not left running";
  ::kill(daemon, SIGKILL);
}

// Hook output with terminal escapes (clear the screen, set the title): printed escaped, on
// stdout and stderr, with and without --json.
TEST_F(HostileNodeTest, HookOutputWithEscapeSequencesNeverReachesTheTerminalRaw) {
  const Fleet& fleet = *fleet_;
  fs::path inventory = fleet.inventory_with(
      "escapes.toml",
      {{1, "check = 'printf \"\\033[2J\\033]0;pwned\\007all good\\n\" >&2; exit 3'"}});
  for (bool json : {true, false}) {
    std::vector<std::string> args = {"push",
                                     bundles_->bundle(1).string(),
                                     "--inventory",
                                     inventory.string(),
                                     "--passphrase-file",
                                     bundles_->pass().string(),
                                     "--yes",
                                     "--limit",
                                     "node1"};
    if (json) args.push_back("--json");
    auto r = keyfleet(args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
    EXPECT_THAT(r.out, HasSubstr("x1b[2J")) << r.out;
  }
}

}  // namespace
}  // namespace kf
