// Where push may stage (keydir/staging.hpp), against an in-memory node: directories others could
// change are refused before anything is created in them, and what push creates is 0700.
#include "keydir/staging.hpp"

#include <sys/stat.h>

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/local_remote.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using test::FakeRemote;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::uint32_t kUser = 1000;

std::vector<std::string> creations(const FakeRemote& node) {
  std::vector<std::string> out;
  for (const auto& line : node.log) {
    if (line.starts_with("mkdir ") || line.starts_with("upload ")) out.push_back(line);
  }
  return out;
}

TEST(KeydirStaging, NamesArePushsOwn) {
  std::string name = new_staging_name();
  EXPECT_TRUE(is_staging_name(name)) << name;
  EXPECT_NE(name, new_staging_name());
  EXPECT_TRUE(is_staging_name("0123456789abcdef"));
  for (const char* other : {"0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF",
                            "0123456789abcdeg", "", "../3456789abcdef"}) {
    EXPECT_FALSE(is_staging_name(other)) << other;
  }
}

TEST(KeydirStaging, CreatesMissingDirectoriesPrivateUnderAStickyRootParent) {
  FakeRemote node("node1");
  node.login_uid = kUser;
  node.add_dir("/var", 0755);
  node.owners["/var"] = 0;
  node.add_dir("/var/tmp", 01777);
  node.owners["/var/tmp"] = 0;
  auto dir = make_staging_dir(node, "/var/tmp/keyfleet/agent", kUser, "staging");
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_TRUE(dir->starts_with("/var/tmp/keyfleet/agent/"));
  EXPECT_TRUE(is_staging_name(dir->substr(dir->rfind('/') + 1)));
  for (const std::string& made :
       {std::string("/var/tmp/keyfleet"), std::string("/var/tmp/keyfleet/agent"), *dir}) {
    ASSERT_TRUE(node.exists(made)) << made;
    EXPECT_EQ(node.entries[made].mode, 0700u) << made;
  }
  // Again: STAGING is there now, and each push gets a directory of its own.
  auto second = make_staging_dir(node, "/var/tmp/keyfleet/agent", kUser, "staging");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_NE(*second, *dir);
}

// Directories others could write in, and why each is refused as the one STAGING is (or would be)
// created in.
struct UnsafeParent {
  const char* name;
  mode_t mode;
  std::uint32_t owner;
  const char* why;
};

std::vector<UnsafeParent> unsafe_parents() {
  return {
      {"world-writable", 0777, 0,
       "is writable by its group or others (mode 0777) and is not root's with the sticky bit"},
      {"group-writable", 0775, 0,
       "is writable by its group or others (mode 0775) and is not root's with the sticky bit"},
      {"sticky but a user's", 01777, 4242,
       "is writable by its group or others (mode 1777) and is not root's with the sticky bit"},
      {"another user's", 0755, 4242,
       "is owned by uid 4242, not by the SSH user (uid 1000) or root"},
  };
}

TEST(KeydirStaging, RefusesParentsOthersCouldWriteInWithoutCreatingAnything) {
  for (const auto& c : unsafe_parents()) {
    FakeRemote node("node1");
    node.login_uid = kUser;
    node.add_dir("/shared", c.mode);
    node.owners["/shared"] = c.owner;
    auto dir = make_staging_dir(node, "/shared/keyfleet/agent", kUser, "staging");
    ASSERT_FALSE(dir) << c.name;
    EXPECT_EQ(dir.error().step, "staging") << c.name;
    EXPECT_EQ(dir.error().status, NodeStatus::failed) << c.name;
    EXPECT_THAT(dir.error().message,
                HasSubstr("/shared, where staging directory /shared/keyfleet/agent would be "
                          "created, " +
                          std::string(c.why)))
        << c.name;
    EXPECT_THAT(creations(node), IsEmpty()) << c.name;
  }
}

// /var/tmp/keyfleet pre-created by a local user: whatever its mode, not theirs to offer.
TEST(KeydirStaging, RefusesAStagingDirectoryOthersOwnOrCanWrite) {
  struct Case {
    const char* name;
    std::function<void(FakeRemote&)> set_up;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"squatted 1777",
       [](FakeRemote& n) {
         n.entries["/var/tmp/keyfleet"].mode = 01777;
         n.owners["/var/tmp/keyfleet"] = 65534;
       },
       "is owned by uid 65534, not by the SSH user (uid 1000) or root"},
      {"ours but 0777", [](FakeRemote& n) { n.entries["/var/tmp/keyfleet"].mode = 0777; },
       "is writable by its group or others (mode 0777)"},
      {"root's but 1777",
       [](FakeRemote& n) {
         n.entries["/var/tmp/keyfleet"].mode = 01777;
         n.owners["/var/tmp/keyfleet"] = 0;
       },
       "is writable by its group or others (mode 1777)"},
      {"a symlink",
       [](FakeRemote& n) {
         n.entries["/var/tmp/keyfleet"] = FakeRemote::Entry{FileType::symlink, 0777, {}, "/home"};
       },
       "is a symlink"},
      {"a file",
       [](FakeRemote& n) {
         n.entries["/var/tmp/keyfleet"] = FakeRemote::Entry{FileType::regular, 0600, {}, {}};
       },
       "is not a directory"},
  };
  for (const auto& c : cases) {
    FakeRemote node("node1");
    node.login_uid = kUser;
    node.add_dir("/var/tmp", 01777);
    node.add_dir("/home", 0755);
    node.owners["/var/tmp"] = 0;
    node.add_dir("/var/tmp/keyfleet", 0700);
    c.set_up(node);
    auto dir = make_staging_dir(node, "/var/tmp/keyfleet", kUser, "staging");
    ASSERT_FALSE(dir) << c.name;
    EXPECT_THAT(dir.error().message,
                HasSubstr("staging directory /var/tmp/keyfleet " + std::string(c.why)))
        << c.name;
    EXPECT_THAT(creations(node), IsEmpty()) << c.name;
  }
}

// Whoever can write where STAGING is can rename it away and put a directory of theirs in its place
// between two calls: an existing STAGING is held to the rule of a directory push creates in.
TEST(KeydirStaging, RefusesAnExistingStagingInADirectoryOthersCouldWriteIn) {
  for (const auto& c : unsafe_parents()) {
    FakeRemote node("node1");
    node.login_uid = kUser;
    node.add_dir("/shared", c.mode);
    node.owners["/shared"] = c.owner;
    node.add_dir("/shared/staging", 0700);
    node.add_dir("/shared/staging/0123456789abcdef", 0700);
    node.add_file("/shared/staging/0123456789abcdef/bundle.kfb", "ciphertext", 0600);
    const std::string want =
        "/shared, which holds staging directory /shared/staging, " + std::string(c.why);
    auto dir = make_staging_dir(node, "/shared/staging", kUser, "staging");
    ASSERT_FALSE(dir) << c.name;
    EXPECT_EQ(dir.error().step, "staging") << c.name;
    EXPECT_THAT(dir.error().message, HasSubstr(want)) << c.name;
    EXPECT_THAT(creations(node), IsEmpty()) << c.name;

    auto contents = read_staging(node, "/shared/staging", kUser, "staging");
    ASSERT_TRUE(contents) << c.name << ": " << contents.error().message;
    EXPECT_THAT(contents->refused, HasSubstr(want + "; nothing in it was touched")) << c.name;
    EXPECT_THAT(contents->dirs, IsEmpty()) << c.name;
  }
  // /tmp: root's with the sticky bit, so others cannot move what is in it.
  FakeRemote node("node1");
  node.login_uid = kUser;
  node.add_dir("/tmp", 01777);
  node.owners["/tmp"] = 0;
  node.add_dir("/tmp/keyfleet", 0700);
  auto dir = make_staging_dir(node, "/tmp/keyfleet", kUser, "staging");
  ASSERT_TRUE(dir) << dir.error().message;
  auto contents = read_staging(node, "/tmp/keyfleet", kUser, "staging");
  ASSERT_TRUE(contents) << contents.error().message;
  EXPECT_EQ(contents->refused, "");
  EXPECT_EQ(contents->dirs.size(), 1u);
}

TEST(KeydirStaging, RootsAndOurOwnPrivateDirectoriesAreFine) {
  for (std::uint32_t owner : {0u, kUser}) {
    FakeRemote node("node1");
    node.login_uid = kUser;
    node.add_dir("/srv/staging", 0755);
    node.owners["/srv/staging"] = owner;
    auto dir = make_staging_dir(node, "/srv/staging", kUser, "staging");
    ASSERT_TRUE(dir) << dir.error().message;
  }
}

// Two pushes to one host (two entries sharing a parent) race to create the same directory.
TEST(KeydirStaging, ADirectoryMadeMeanwhileByAnotherPushIsNoError) {
  FakeRemote node("node1");
  node.login_uid = kUser;
  node.add_dir("/tmp", 01777);
  node.owners["/tmp"] = 0;
  node.on_call = [&](std::string_view op, const std::string& path) {
    if (op == "mkdir" && path == "/tmp/keyfleet" && !node.exists(path)) {
      node.add_dir("/tmp/keyfleet", 0700);
    }
  };
  auto dir = make_staging_dir(node, "/tmp/keyfleet", kUser, "staging");
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_TRUE(dir->starts_with("/tmp/keyfleet/"));
}

// ...but one made meanwhile by someone else is not accepted because it appeared at the right time.
TEST(KeydirStaging, ADirectoryAnotherUserMadeMeanwhileIsRefused) {
  FakeRemote node("node1");
  node.login_uid = kUser;
  node.add_dir("/tmp", 01777);
  node.owners["/tmp"] = 0;
  node.on_call = [&](std::string_view op, const std::string& path) {
    if (op == "mkdir" && path == "/tmp/keyfleet" && !node.exists(path)) {
      node.add_dir("/tmp/keyfleet", 0777);
      node.owners["/tmp/keyfleet"] = 65534;
    }
  };
  auto dir = make_staging_dir(node, "/tmp/keyfleet", kUser, "staging");
  ASSERT_FALSE(dir);
  EXPECT_THAT(dir.error().message, HasSubstr("is owned by uid 65534"));
  EXPECT_FALSE(node.exists("/tmp/keyfleet/0123456789abcdef"));
  EXPECT_EQ(std::count_if(node.log.begin(), node.log.end(),
                          [](const std::string& l) { return l.starts_with("mkdir "); }),
            1);
}

TEST(KeydirStaging, InspectReadsOnlyAndFindsWhereNewEntriesGo) {
  FakeRemote node("node1");
  node.login_uid = kUser;
  node.add_dir("/etc/keyfleet", 0755);
  node.owners["/etc/keyfleet"] = 0;
  node.owners["/etc"] = 0;
  auto found = inspect_staging(node, "/etc/keyfleet/agent.staging/x", kUser, "staging");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->existing, "/etc/keyfleet");
  EXPECT_THAT(found->missing,
              ElementsAre("/etc/keyfleet/agent.staging", "/etc/keyfleet/agent.staging/x"));
  EXPECT_THAT(creations(node), IsEmpty());
}

TEST(KeydirStaging, LoginUidComesFromIdMinusU) {
  FakeRemote node("node1");
  node.login_uid = 4321;
  auto uid = login_uid(node, "staging");
  ASSERT_TRUE(uid) << uid.error().message;
  EXPECT_EQ(*uid, 4321u);
}

TEST(KeydirStaging, AStagingUnderTildeIsInTheHomeTheSshUsersSessionsStartIn) {
  FakeRemote node("node1");
  node.login_uid = kUser;
  node.login_home = "/home/op";
  auto owner = staging_owner(node, "~/.cache/keyfleet/etc/keyfleet/agent.staging", "staging");
  ASSERT_TRUE(owner) << owner.error().message;
  EXPECT_EQ(owner->uid, kUser);
  EXPECT_EQ(owner->staging, "/home/op/.cache/keyfleet/etc/keyfleet/agent.staging");

  // Any other staging is the inventory's as it is: one `id -u`, no `pwd`.
  node.log.clear();
  owner = staging_owner(node, "/srv/stage", "staging");
  ASSERT_TRUE(owner) << owner.error().message;
  EXPECT_EQ(owner->staging, "/srv/stage");
  EXPECT_THAT(node.log, ElementsAre("exec id -u"));
}

TEST(KeydirStaging, NoHomeOrAnUnreadableAnswerFailsTheNodeAtTheStep) {
  auto answer = [](ExecResult result) {
    auto node = std::make_unique<FakeRemote>("node1");
    node->on_exec = [result](std::string_view cmd, std::span<const std::uint8_t>) {
      EXPECT_EQ(cmd, "id -u && pwd -P");
      return NodeResult<ExecResult>(result);
    };
    return node;
  };
  const std::string staging = "~/.cache/keyfleet/k.staging";
  struct Case {
    ExecResult result;
    std::string says;
  };
  for (const auto& [result, says] : {
           Case{{0, "1000\n/\n", ""}, "sessions start in /, not in a home directory"},
           Case{{0, "1000\n/home/a\x1b[2Jb\n", ""}, "home /home/a\\x1b[2Jb holds control"},
           Case{{0, "1000\nrelative\n", ""}, "cannot tell the SSH user's uid and home"},
           Case{{0, "x\n/home/op\n", ""}, "cannot tell the SSH user's uid and home"},
           Case{{1, "", "pwd: cannot access\n"}, "exited with status 1: pwd: cannot access"},
       }) {
    auto node = answer(result);
    auto owner = staging_owner(*node, staging, "staging");
    ASSERT_FALSE(owner) << says;
    EXPECT_EQ(owner.error().step, "staging");
    EXPECT_EQ(owner.error().status, NodeStatus::failed);
    EXPECT_THAT(owner.error().message, HasSubstr(says));
  }
}

// The real command under the real GNU dd, through LocalRemote: a copy is zeroed in place, and a
// name swapped for a symlink, a FIFO or nothing is refused at once and left as it is. `holder`:
// the lock holder runs dd instead of a command of its own.
void expect_the_wipe_rules(LocalRemote& remote, const fs::path& tmp, DestLock* holder) {
  using namespace std::chrono_literals;
  const fs::path copy = tmp / "bundle.kfb";

  test::write_text(copy, std::string(70000, 'c'));
  fs::create_hard_link(copy, tmp / "witness");  // shows what was written before the unlink
  auto wiped = wipe_staged_copy(remote, copy.string(), 70000, "staging", holder);
  ASSERT_TRUE(wiped) << wiped.error().message;
  EXPECT_FALSE(fs::exists(copy));
  EXPECT_EQ(test::read_text(tmp / "witness"), std::string(70000, '\0'));

  test::write_text(tmp / "precious", "root:x:0:0");
  fs::create_symlink(tmp / "precious", copy);
  auto followed = wipe_staged_copy(remote, copy.string(), 10, "staging", holder);
  ASSERT_FALSE(followed);
  EXPECT_THAT(followed.error().message, HasSubstr("cannot overwrite " + copy.string()));
  EXPECT_THAT(followed.error().message, HasSubstr("dd exited 1"));
  EXPECT_EQ(test::read_text(tmp / "precious"), "root:x:0:0");
  EXPECT_TRUE(fs::is_symlink(copy));
  fs::remove(copy);

  ASSERT_EQ(::mkfifo(copy.c_str(), 0600), 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(wipe_staged_copy(remote, copy.string(), 10, "staging", holder));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);  // refused, not waited on
  fs::remove(copy);

  EXPECT_FALSE(wipe_staged_copy(remote, copy.string(), 10, "staging", holder));
  EXPECT_FALSE(fs::exists(copy));
}

TEST(KeydirStaging, TheWipeZeroesInPlaceAndRefusesSymlinksFifosAndNothingAtOnce) {
  using namespace std::chrono_literals;
  test::TempDir tmp;
  LocalRemote remote("here", Deadline::after(20s));
  expect_the_wipe_rules(remote, tmp.path(), nullptr);
}

TEST(KeydirStaging, TheLockHoldersWipeKeepsTheSameRulesAndStillServesAfterARefusal) {
  using namespace std::chrono_literals;
  test::TempDir tmp;
  LocalRemote remote("here", Deadline::after(20s));
  auto lock = DestLock::acquire(remote, KeyDir((tmp / "dest").string()), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  expect_the_wipe_rules(remote, tmp.path(), &*lock);
  test::write_text(tmp / "again", "x");
  const std::string request[] = {"sha256-files", "1", (tmp / "again").string()};
  auto sum = lock->request(request);
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_TRUE(sum->ok()) << sum->out;
}

}  // namespace
}  // namespace kf::keydir
