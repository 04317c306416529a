// Inventory `become`: a fleet user that is not root reaches a root-owned DEST through `sudo -n`,
// on real sshd daemons, with a real sudo and a real sudoers rule.
#include <fcntl.h>
#include <pwd.h>
#include <shadow.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "core/fd.hpp"
#include "integration/push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::Fleet;
using test::nodes_of;

constexpr char kUser[] = "kf-become-test";
constexpr char kHome[] = "/var/lib/kf-become-test";
constexpr char kSudoers[] = "/etc/sudoers.d/keyfleet-test";
// sh as root without a password; as daemon only with one, which this user cannot give.
constexpr char kRule[] =
    "# keyfleet's integration tests (tests/integration/become_test.cpp): its fleet user may run\n"
    "# sh as root without a password, and as daemon only with one (it has none).\n"
    "kf-become-test ALL=(root) NOPASSWD: /bin/sh, /usr/bin/sh\n"
    "kf-become-test ALL=(daemon) /bin/sh, /usr/bin/sh\n";

// "" when `argv` ran and exited 0, else what it said.
std::string ran(const std::vector<std::string>& argv) {
  auto result = test::run(argv);
  if (result.exit_code == 0) return "";
  return fmt::format("`{}` exited with status {}: {}{}", fmt::join(argv, " "), result.exit_code,
                     result.out, result.err);
}

// The machine's part, made once and idempotently; two tests doing it at once take turns (flock).
// The user has no password at all (shadow "*": nothing can match it), rather than a locked one
// ("!"), which OpenSSH refuses even a key for when UsePAM is off, as in the test fleet. Its home
// holds the default staging directory; it logs in only through the test sshd's own
// AuthorizedKeysFile.
std::string set_up_machine() {
  if (::geteuid() != 0) {
    return fmt::format(
        "the become tests must run as root (CI runs them so): they create the system user {}, "
        "its home {} and the sudoers rule {}",
        kUser, kHome, kSudoers);
  }
  if (::access("/usr/bin/sudo", X_OK) != 0) return "sudo is missing: run scripts/deps.sh test";
  Fd lock(::open("/run/lock/keyfleet-become-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) {
    return fmt::format("cannot lock /run/lock/keyfleet-become-test.lock: {}", std::strerror(errno));
  }
  if (::getpwnam(kUser) == nullptr) {
    if (auto e = ran({"useradd", "--system", "--no-create-home", "--home-dir", kHome, "--shell",
                      "/bin/sh", kUser});
        !e.empty()) {
      return e;
    }
  }
  const passwd* user = ::getpwnam(kUser);
  if (user == nullptr) return fmt::format("no user {} after useradd", kUser);
  const spwd* shadow = ::getspnam(kUser);
  if (shadow == nullptr || std::strcmp(shadow->sp_pwdp, "*") != 0) {
    if (auto e = ran({"usermod", "--password", "*", kUser}); !e.empty()) return e;
  }
  if (::mkdir(kHome, 0700) != 0 && errno != EEXIST) {
    return fmt::format("cannot create {}: {}", kHome, std::strerror(errno));
  }
  if (::chown(kHome, user->pw_uid, user->pw_gid) != 0 || ::chmod(kHome, 0700) != 0) {
    return fmt::format("cannot give {} to {}: {}", kHome, kUser, std::strerror(errno));
  }
  if (!fs::exists(kSudoers) || test::read_text(kSudoers) != kRule ||
      test::file_mode(kSudoers) != 0440) {
    // sudo skips names with a dot: the rule appears whole, checked, or not at all.
    const std::string draft = std::string(kSudoers) + ".new";
    fs::remove(draft);
    test::write_text(draft, kRule, 0440);
    if (auto e = ran({"visudo", "-cf", draft}); !e.empty()) return e;
    fs::rename(draft, kSudoers);
  }
  return "";
}

class Become : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string problem = set_up_machine();
    ASSERT_EQ(problem, "") << problem;
    user_ = *::getpwnam(kUser);
    fleet_ = std::make_unique<Fleet>(2);
    // The user reads the fleet's authorized_keys, and nothing else of it: its DESTs stay root's.
    ASSERT_EQ(::chmod(fleet_->dir().c_str(), 0711), 0);
    ASSERT_EQ(::chmod((fleet_->dir() / "authorized_keys").c_str(), 0644), 0);
    bundles_ = std::make_unique<Bundles>(*fleet_, 2);
  }
  void TearDown() override {
    // The default staging directories, in the user's home: this fleet's only.
    if (fleet_) {
      boost::system::error_code ec;
      fs::remove_all(fs::path(kHome) / ".cache/keyfleet" / fleet_->dir().relative_path(), ec);
    }
  }

  // The fleet as kUser with `become`, default staging; `extra[k]` adds lines to node k.
  fs::path inventory(const std::string& name, const std::string& become,
                     const std::map<int, std::string>& extra = {}) const {
    std::string text = fmt::format(
        "[defaults]\nuser = \"{}\"\nbecome = \"{}\"\nidentity_file = \"{}\"\n"
        "known_hosts = \"{}\"\nconnect_timeout = 5\ntimeout = 60\n",
        kUser, become, fleet_->client_key().string(), fleet_->known_hosts().string());
    for (int k = 1; k <= fleet_->size(); ++k) {
      const NodeConfig& node = fleet_->node(k);
      text += fmt::format("\n[[node]]\nname = \"{}\"\nhost = \"{}\"\nport = {}\ndest = \"{}\"\n",
                          node.name, node.host, node.port, node.dest);
      if (auto it = extra.find(k); it != extra.end()) text += it->second + "\n";
    }
    fs::path path = fleet_->dir() / name;
    test::write_text(path, text, 0644);
    return path;
  }
  [[nodiscard]] fs::path staging(int k) const {
    return fs::path(kHome) / ".cache/keyfleet" /
           (fs::path(fleet_->node(k).dest).relative_path().string() + ".staging");
  }
  [[nodiscard]] fs::path hook_file(int k) const {
    return fleet_->dir() / fmt::format("post-uid-node{}", k);
  }

  passwd user_{};
  std::unique_ptr<Fleet> fleet_;
  std::unique_ptr<Bundles> bundles_;
};

struct stat stat_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// Every file and directory of generation `g` on node k, with its owner.
std::vector<std::pair<fs::path, uid_t>> owners_of(const Fleet& fleet, int k, int g) {
  std::vector<std::pair<fs::path, uid_t>> out;
  fs::path dir = fs::path(fleet.node(k).dest) / "generations" / fmt::format("{:06}", g);
  out.emplace_back(dir, stat_of(dir).st_uid);
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    out.emplace_back(it->path(), stat_of(it->path()).st_uid);
  }
  return out;
}

TEST_F(Become, ANonRootUserInstallsIntoARootOwnedDestThroughSudo) {
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  for (int k : {1, 2}) {
    auto st = stat_of(fleet_->node(k).dest);
    ASSERT_EQ(st.st_uid, 0u);
    ASSERT_EQ(st.st_mode & 07777, 0700u);
  }
  // Hooks run as root; node 2's files belong to `owner`.
  fs::path inv = inventory(
      "become.toml", "sudo -n",
      {{1,
        fmt::format("post = \"id -u > {}\"\ncheck = \"test $(id -u) = 0\"", hook_file(1).string())},
       {2, fmt::format("post = \"id -u > {}\"\nowner = \"nobody\"", hook_file(2).string())}});

  auto planned = bundles_->push(1, inv, {"--dry-run"});
  EXPECT_EQ(planned.exit_code, 0) << planned.out << planned.err;
  for (auto& [name, node] : nodes_of(planned)) EXPECT_EQ(node["status"], "would-install") << node;

  auto pushed = bundles_->push(1, inv);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  for (auto& [name, node] : nodes_of(pushed)) EXPECT_EQ(node["status"], "ok") << node;
  for (int k : {1, 2}) {
    EXPECT_EQ(test::current_of(fleet_->node(k)), "generations/000001");
    EXPECT_EQ(test::read_text(hook_file(k)), "0\n")
        << "the post hook ran as uid " << test::read_text(hook_file(k));
    EXPECT_EQ(stat_of(hook_file(k)).st_uid, 0u);
  }
  for (const auto& [path, uid] : owners_of(*fleet_, 1, 1)) EXPECT_EQ(uid, 0u) << path;
  for (const auto& [path, uid] : owners_of(*fleet_, 2, 1)) EXPECT_EQ(uid, nobody->pw_uid) << path;
  EXPECT_EQ(stat_of(fs::path(fleet_->node(1).dest) / "generations").st_uid, 0u);

  // The staged copy is the SSH user's, in its home, as push's rules want it.
  std::vector<fs::path> staged;
  for (fs::recursive_directory_iterator it(staging(1)), end; it != end; ++it) {
    if (fs::is_regular_file(it->symlink_status())) staged.push_back(it->path());
  }
  ASSERT_EQ(staged.size(), 1u);
  EXPECT_EQ(staged[0].filename(), "bundle.kfb");
  EXPECT_EQ(stat_of(staged[0]).st_uid, user_.pw_uid);
  EXPECT_EQ(stat_of(staged[0]).st_mode & 07777, 0600u);
  EXPECT_EQ(stat_of(staging(1)).st_uid, user_.pw_uid);
  EXPECT_EQ(stat_of(fs::path(kHome) / ".cache").st_uid, user_.pw_uid);

  auto verified = test::keyfleet({"verify", "--inventory", inv.string(), "--json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto status = test::keyfleet({"status", "--inventory", inv.string(), "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;

  // pull reads the root-only key directory through become too; the SSH user alone cannot.
  test::TempDir local;
  const std::string generation = fleet_->node(1).dest + "/generations/000001";
  auto pulled =
      test::keyfleet({"pull", "--inventory", inv.string(), "--node", "node1", "--path", generation,
                      "--exclude-path", "manifest.json", "--out", (local / "keys").string()});
  EXPECT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_TRUE(fs::exists(local / "keys" / "agent.key"));
  auto refused = test::keyfleet({"pull", "--inventory", inventory("plain.toml", "").string(),
                                 "--node", "node1", "--path", generation, "--exclude-path",
                                 "manifest.json", "--out", (local / "plain").string()});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("permission denied"), std::string::npos) << refused.err;

  pushed = bundles_->push(2, inv);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto back = test::keyfleet({"rollback", "--inventory", inv.string(), "--yes", "--json"});
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  for (int k : {1, 2}) EXPECT_EQ(test::current_of(fleet_->node(k)), "generations/000001");

  auto cleaned = test::keyfleet({"cleanup", "--inventory", inv.string(), "--json"});
  EXPECT_EQ(cleaned.exit_code, 0) << cleaned.out << cleaned.err;
  for (const auto& [name, node] : nodes_of(cleaned)) {
    EXPECT_EQ(node["wiped"].size(), 2u) << node;
  }
  for (int k : {1, 2}) {
    EXPECT_TRUE(fs::is_empty(staging(k))) << staging(k) << " still holds a staged copy";
  }
}

TEST_F(Become, APasswordAskedForFailsEveryNodeAtStepBecomeAndWritesNothing) {
  const auto before = test::node_trees(*fleet_);
  for (const std::string& become :
       {std::string("sudo -n -u daemon"), std::string("kf-no-such-become")}) {
    SCOPED_TRACE(become);
    fs::path inv = inventory("refused.toml", become,
                             {{1, fmt::format("pre = \"id -u > {}\"", hook_file(1).string())}});
    for (const std::vector<std::string>& extra :
         {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
      auto pushed = bundles_->push(1, inv, extra);
      EXPECT_EQ(pushed.exit_code, 1) << pushed.out << pushed.err;
      for (auto& [name, node] : nodes_of(pushed)) {
        EXPECT_EQ(node["status"], "failed") << node;
        EXPECT_EQ(node["step"], "become") << node;
        const std::string error = node["error"];
        EXPECT_NE(error.find(fmt::format("{}: become '{}' failed: ", name, become)),
                  std::string::npos)
            << error;
        EXPECT_NE(error.find(become.starts_with("sudo") ? "sudo: a password is required"
                                                        : "kf-no-such-become: not found"),
                  std::string::npos)
            << error;
      }
    }
    auto status = test::keyfleet({"status", "--inventory", inv.string(), "--json"});
    EXPECT_EQ(status.exit_code, 1) << status.out;
    for (auto& [name, node] : nodes_of(status)) EXPECT_EQ(node["step"], "become") << node;
  }
  EXPECT_EQ(test::node_trees(*fleet_), before);
  EXPECT_FALSE(fs::exists(hook_file(1)));
  EXPECT_FALSE(fs::exists(staging(1)));
}

}  // namespace
}  // namespace kf
