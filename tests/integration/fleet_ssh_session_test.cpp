// SshSession against real sshd daemons on loopback (tests/fleet/fleet.sh).
#include <dirent.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <type_traits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/secret.hpp"
#include "keydir/lock.hpp"
#include "pki/manifest.hpp"
#include "ssh/ssh_session.hpp"
#include "support/fleet_fixture.hpp"
#include "support/lock_holder.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;
using ::testing::HasSubstr;
using Seconds = std::chrono::duration<double>;

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(gen());
  return out;
}

std::string text(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

NodeResult<SshSession> connect(const NodeConfig& node) {
  return SshSession::connect(node, Deadline::after_seconds(node.timeout));
}

class SshSessionTest : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    fleet_ = std::make_unique<Fleet>(3);
    started_ = true;
  }
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
  }
  static void TearDownTestSuite() {
    fleet_.reset();
    started_ = false;
  }
  void TearDown() override {
    if (fleet_) fleet_->restore_known_hosts();
  }

  static const Fleet& fleet() { return *fleet_; }
  static Fleet& mutable_fleet() { return *fleet_; }

 private:
  static std::unique_ptr<Fleet> fleet_;
};

std::unique_ptr<Fleet> SshSessionTest::fleet_;

TEST_F(SshSessionTest, InventoryDescribesTheFleet) {
  ASSERT_EQ(fleet().size(), 3);
  for (int k = 1; k <= 3; ++k) {
    const NodeConfig& node = fleet().node(k);
    EXPECT_EQ(node.name, "node" + std::to_string(k));
    EXPECT_EQ(node.host, "127.0.0.1");
    EXPECT_EQ(node.port, std::stoi(test::read_text(fleet().node_dir(k) / "port")));
    EXPECT_EQ(node.identity_file, fleet().client_key().string());
    EXPECT_EQ(node.known_hosts, fleet().known_hosts().string());
    EXPECT_TRUE(fs::is_directory(node.dest));
    EXPECT_TRUE(fs::is_directory(node.staging));
    EXPECT_THAT(test::read_text(fleet().known_hosts()),
                HasSubstr("[127.0.0.1]:" + std::to_string(node.port) + " ssh-ed25519 "));
  }
}

TEST_F(SshSessionTest, ExecReturnsStatusOutputAndErrorOnEveryNode) {
  for (const NodeConfig& node : fleet().nodes()) {
    auto session = connect(node);
    ASSERT_TRUE(session) << session.error().message;
    EXPECT_THAT(session->host_key_fingerprint(), HasSubstr("SHA256:"));

    auto r = session->exec("echo out-$0; echo err >&2; exit 3");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->exit_status, 3);
    EXPECT_THAT(r->out, HasSubstr("out-"));
    EXPECT_EQ(r->err, "err\n");

    // The fleet's own home: the machine's ~/.bashrc was not read.
    auto home = session->exec("echo \"$HOME\"");
    ASSERT_TRUE(home) << home.error().message;
    EXPECT_EQ(home->out, fleet().home().string() + "\n");
  }
}

TEST_F(SshSessionTest, ExecFeedsStdinLargerThanTheChannelWindow) {
  auto session = connect(fleet().node(1));
  ASSERT_TRUE(session) << session.error().message;
  auto data = random_bytes(3 << 20, 1);
  auto r = session->exec("cat", data);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_TRUE(r->out == text(data)) << "stdin did not come back intact: " << r->out.size();

  // A command that reads none of its input still reports its own exit status.
  auto ignored = session->exec("exit 7", data);
  ASSERT_TRUE(ignored) << ignored.error().message;
  EXPECT_EQ(ignored->exit_status, 7);

  // Many commands over one connection.
  for (int i = 0; i < 20; ++i) {
    auto echo = session->exec("echo " + std::to_string(i));
    ASSERT_TRUE(echo) << echo.error().message;
    EXPECT_EQ(echo->out, std::to_string(i) + "\n");
  }
}

TEST_F(SshSessionTest, FileOperationsLandOnTheNodeWithTheirModes) {
  for (int k = 1; k <= fleet().size(); ++k) {
    const NodeConfig& node = fleet().node(k);
    auto session = connect(node);
    ASSERT_TRUE(session) << session.error().message;
    std::string dir = node.staging + "/work";
    ASSERT_TRUE(session->mkdir(dir, 0700));
    EXPECT_EQ(test::file_mode(dir), 0700u);
    auto again = session->mkdir(dir, 0700);
    ASSERT_FALSE(again);
    EXPECT_THAT(again.error().message, HasSubstr("already exists"));

    auto data = random_bytes(300 * 1024 + 17, static_cast<unsigned>(k));  // several SFTP writes
    ASSERT_TRUE(session->upload(dir + "/bundle", data, 0600));
    EXPECT_EQ(test::file_mode(dir + "/bundle"), 0600u);
    EXPECT_EQ(test::read_text(dir + "/bundle"), text(data));
    auto back = session->read_file(dir + "/bundle", 1 << 20);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_TRUE(*back == data);
    auto too_big = session->read_file(dir + "/bundle", 1000);
    ASSERT_FALSE(too_big);
    EXPECT_THAT(too_big.error().message, HasSubstr("larger than 1000 bytes"));

    // O_EXCL: an existing name is never overwritten.
    auto over = session->upload(dir + "/bundle", as_bytes("x"), 0600);
    ASSERT_FALSE(over);
    EXPECT_THAT(over.error().message, HasSubstr("already exists"));
    EXPECT_EQ(test::read_text(dir + "/bundle"), text(data));

    // A mode with group/other bits survives whatever umask the SFTP server has.
    ASSERT_TRUE(session->upload(dir + "/agent.crt", as_bytes("cert\n"), 0644));
    EXPECT_EQ(test::file_mode(dir + "/agent.crt"), 0644u);
    auto st = session->stat(dir + "/agent.crt");
    ASSERT_TRUE(st && *st);
    EXPECT_EQ((*st)->type, FileType::regular);
    EXPECT_EQ((*st)->mode, 0644u);
    EXPECT_EQ((*st)->size, 5u);
    auto none = session->stat(dir + "/nothing");
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);

    ASSERT_TRUE(session->rename(dir + "/agent.crt", dir + "/renamed.crt"));
    EXPECT_FALSE(fs::exists(dir + "/agent.crt"));
    EXPECT_EQ(test::read_text(dir + "/renamed.crt"), "cert\n");
    // libssh 0.10 + OpenSSH's SFTP v3: rename never replaces; replace() does (posix-rename).
    auto replace = session->rename(dir + "/renamed.crt", dir + "/bundle");
    EXPECT_FALSE(replace);
    EXPECT_EQ(test::read_text(dir + "/bundle"), text(data));

    ASSERT_TRUE(session->symlink("renamed.crt", dir + "/current"));
    EXPECT_EQ(fs::read_symlink(dir + "/current").string(), "renamed.crt");
    auto target = session->readlink(dir + "/current");
    ASSERT_TRUE(target) << target.error().message;
    EXPECT_EQ(*target, "renamed.crt");
    auto link = session->lstat(dir + "/current");
    ASSERT_TRUE(link && *link);
    EXPECT_EQ((*link)->type, FileType::symlink);
    auto followed = session->stat(dir + "/current");
    ASSERT_TRUE(followed && *followed);
    EXPECT_EQ((*followed)->type, FileType::regular);

    // One rename(2) of a new link over `current`, as the switch does; a refused one says why in
    // the server's words, and the SFTP channel keeps answering after either.
    auto can = session->can_replace();
    ASSERT_TRUE(can) << can.error().message;
    ASSERT_TRUE(*can) << "OpenSSH's sftp-server offers posix-rename@openssh.com";
    ASSERT_TRUE(session->symlink("bundle", dir + "/current.new"));
    auto replaced = session->replace(dir + "/current.new", dir + "/current");
    ASSERT_TRUE(replaced) << replaced.error().message;
    EXPECT_EQ(fs::read_symlink(dir + "/current").string(), "bundle");
    EXPECT_FALSE(fs::exists(fs::symlink_status(dir + "/current.new")));
    auto refused = session->replace(dir + "/nothing", dir + "/current");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status, NodeStatus::failed);
    EXPECT_THAT(refused.error().message, HasSubstr("no such file"));
    EXPECT_THAT(refused.error().message, HasSubstr(dir + "/nothing"));
    ASSERT_TRUE(session->symlink("renamed.crt", dir + "/current.new"));
    ASSERT_TRUE(session->replace(dir + "/current.new", dir + "/current"));
    EXPECT_EQ(fs::read_symlink(dir + "/current").string(), "renamed.crt");

    auto entries = session->list_dir(dir);
    ASSERT_TRUE(entries) << entries.error().message;
    std::vector<std::string> names;
    for (const auto& e : *entries) names.push_back(e.name);
    EXPECT_EQ(names, (std::vector<std::string>{"bundle", "current", "renamed.crt"}));

    ASSERT_TRUE(session->fsync_dir(dir));
    auto space = session->space(dir);
    ASSERT_TRUE(space) << space.error().message;
    EXPECT_GT(space->total, 0u);
    EXPECT_FALSE(space->read_only);

    ASSERT_TRUE(session->unlink(dir + "/current"));
    ASSERT_TRUE(session->unlink(dir + "/renamed.crt"));
    ASSERT_TRUE(session->unlink(dir + "/bundle"));
    auto gone = session->unlink(dir + "/bundle");
    ASSERT_FALSE(gone);
    EXPECT_THAT(gone.error().message, HasSubstr("no such file"));
    ASSERT_TRUE(session->rmdir(dir));
    EXPECT_FALSE(fs::exists(dir));
  }
}

// An SFTP server that answers one request twice, the first time it runs: what a hostile or broken
// node can do. The `become` wrapper below puts it between keyfleet and the real sftp-server.
constexpr char kTwiceFilter[] = R"py(import os, subprocess, sys, threading, time
server = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def requests():
    while True:
        data = os.read(0, 65536)
        if not data:
            server.stdin.close()
            return
        server.stdin.write(data)
        server.stdin.flush()
threading.Thread(target=requests, daemon=True).start()
sent = 0
while True:
    head = server.stdout.read(4)
    if len(head) < 4:
        break
    packet = head + server.stdout.read(int.from_bytes(head, "big"))
    os.write(1, packet)
    sent += 1
    if sent == 2:  # the first is the version, the second the first request's answer
        os.write(1, packet)
        # The rest comes once the client has given up on this batch: left on the channel.
        time.sleep(0.5)
server.wait()
)py";

// A batch that failed on a stray answer leaves that SFTP channel out of step: the next call gets a
// new channel and its own answers, not the old channel's leftovers.
TEST_F(SshSessionTest, ABatchLeftOutOfStepGivesWayToANewSftpChannel) {
  NodeConfig node = fleet().node(1);
  const fs::path dir = fs::path(node.staging) / "out-of-step";
  fs::create_directories(dir);
  test::write_text(dir / "twice.py", kTwiceFilter, 0644);
  test::write_text(dir / "become",
                   fmt::format("#!/bin/sh\n"
                               "case $3 in *sftp-server*) ;; *) exec \"$@\" ;; esac\n"
                               "[ -e {0}/served ] && exec \"$@\"\n"
                               ": > {0}/served\n"
                               "exec python3 {0}/twice.py \"$@\"\n",
                               dir.string()),
                   0755);
  node.become = (dir / "become").string();
  auto session = connect(node);
  ASSERT_TRUE(session) << session.error().message;

  auto first = session->lstat_list(node.staging);
  ASSERT_FALSE(first);
  EXPECT_THAT(first.error().message, HasSubstr("not this request's"));
  ASSERT_TRUE(fs::exists(dir / "served"));
  for (int i = 0; i < 2; ++i) {
    auto again = session->lstat_list(node.staging);
    ASSERT_TRUE(again) << again.error().message;
    ASSERT_TRUE(again->stat);
    EXPECT_EQ(again->stat->type, FileType::directory);
    EXPECT_EQ(again->entries.size(), 1u);  // out-of-step
  }
}

// The calls that batch SFTP requests (one round trip for several) against OpenSSH's server:
// what lands, what is left after a failure, and that the channel answers libssh's own requests
// afterwards (every batched answer was read).
TEST_F(SshSessionTest, BatchedFileOperationsDoWhatTheirSingleCallsDo) {
  const NodeConfig& node = fleet().node(1);
  auto session = connect(node);
  ASSERT_TRUE(session) << session.error().message;
  const std::string dir = node.staging + "/batched";
  ASSERT_TRUE(session->mkdir(dir, 0700));

  // Several files in one go, one of them more than a trip's worth of writes, one empty.
  auto big = random_bytes((std::size_t{3} << 20) / 2 + 5, 7);
  const std::vector<std::uint8_t> empty;
  const std::vector<NewFile> files{{dir + "/big", big, 0600},
                                   {dir + "/ca.crt", as_bytes("ca\n"), 0644},
                                   {dir + "/empty", empty, 0600}};
  auto put = session->upload_all(files);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(test::read_text(dir + "/big"), text(big));
  EXPECT_EQ(test::file_mode(dir + "/ca.crt"), 0644u);
  EXPECT_EQ(test::read_text(dir + "/ca.crt"), "ca\n");
  EXPECT_EQ(test::read_text(dir + "/empty"), "");

  // One name taken: none of the others is left, the taken one is untouched.
  const std::vector<NewFile> clash{{dir + "/new1", as_bytes("1"), 0600},
                                   {dir + "/ca.crt", as_bytes("other"), 0600},
                                   {dir + "/new2", as_bytes("2"), 0600}};
  auto refused = session->upload_all(clash);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr(dir + "/ca.crt: it already exists"));
  EXPECT_FALSE(fs::exists(dir + "/new1"));
  EXPECT_FALSE(fs::exists(dir + "/new2"));
  EXPECT_EQ(test::read_text(dir + "/ca.crt"), "ca\n");

  // A copy read back before it is closed: what the node's file holds, however many trips the
  // writes and reads take; a taken name is refused and left as it was.
  const std::vector<std::pair<std::string, std::vector<std::uint8_t>>> copies{
      {"staged-big", big}, {"staged-small", {'a', 'g', 'e', '\n'}}, {"staged-empty", empty}};
  for (const auto& [name, data] : copies) {
    auto back = session->upload_and_read_back(dir + "/" + name, data, 0600);
    ASSERT_TRUE(back) << name << ": " << back.error().message;
    EXPECT_TRUE(*back == data) << name << ": " << back->size() << " bytes back";
    EXPECT_EQ(test::file_mode(dir + "/" + name), 0600u);
  }
  auto taken = session->upload_and_read_back(dir + "/ca.crt", as_bytes("other"), 0600);
  ASSERT_FALSE(taken);
  EXPECT_THAT(taken.error().message, HasSubstr("already exists"));
  EXPECT_EQ(test::read_text(dir + "/ca.crt"), "ca\n");

  // Whole files back, small (one batched read) and large (one read at a time).
  auto small = session->read_file(dir + "/ca.crt", 1 << 20);
  ASSERT_TRUE(small) << small.error().message;
  EXPECT_EQ(text(*small), "ca\n");
  auto none = session->read_file(dir + "/empty", 1 << 20);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
  auto back = session->read_file(dir + "/big", 4 << 20);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == big);

  // A directory longer than one readdir answer (OpenSSH sends 100 entries at a time).
  const std::string many = dir + "/many";
  fs::create_directory(many);
  for (int i = 0; i < 250; ++i) test::write_text(fmt::format("{}/f{:03}", many, i), "x");
  auto listed = session->list_dir(many);
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 250u);
  EXPECT_EQ(listed->front().name, "f000");
  EXPECT_EQ(listed->back().name, "f249");

  // lstat_list: nothing, a file, a symlink to a directory (never listed through), a directory.
  fs::create_symlink("many", dir + "/to-many");
  auto missing = session->lstat_list(dir + "/nothing");
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_FALSE(missing->stat);
  auto file = session->lstat_list(dir + "/ca.crt");
  ASSERT_TRUE(file && file->stat);
  EXPECT_EQ(file->stat->type, FileType::regular);
  EXPECT_TRUE(file->entries.empty());
  auto linked = session->lstat_list(dir + "/to-many");
  ASSERT_TRUE(linked && linked->stat) << (linked ? "" : linked.error().message);
  EXPECT_EQ(linked->stat->type, FileType::symlink);
  EXPECT_TRUE(linked->entries.empty());
  auto whole = session->lstat_list(many);
  ASSERT_TRUE(whole && whole->stat);
  EXPECT_EQ(whole->stat->type, FileType::directory);
  EXPECT_EQ(whole->entries.size(), 250u);

  // lstat_link: a link's text and target; a dangling one; no link.
  fs::create_symlink("gone", dir + "/dangling");
  auto link = session->lstat_link(dir + "/to-many");
  ASSERT_TRUE(link) << link.error().message;
  EXPECT_EQ(link->text, "many");
  ASSERT_TRUE(link->target);
  EXPECT_EQ(link->target->type, FileType::directory);
  auto dangling = session->lstat_link(dir + "/dangling");
  ASSERT_TRUE(dangling) << dangling.error().message;
  EXPECT_EQ(dangling->text, "gone");
  EXPECT_FALSE(dangling->target);
  auto plain = session->lstat_link(dir + "/ca.crt");
  ASSERT_TRUE(plain && plain->stat);
  EXPECT_EQ(plain->stat->type, FileType::regular);
  EXPECT_EQ(plain->text, "");
  auto no_link = session->lstat_link(dir + "/nothing");
  ASSERT_TRUE(no_link);
  EXPECT_FALSE(no_link->stat);

  // survey: the same answers as lstat_list and lstat_link one by one, all in one go.
  const std::vector<std::string> lists{many, dir + "/nothing", dir + "/to-many", dir + "/ca.crt"};
  const std::vector<std::string> links{dir + "/to-many", dir + "/dangling", dir + "/nothing"};
  auto found = session->survey(lists, links);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->lists.size(), lists.size());
  ASSERT_EQ(found->links.size(), links.size());
  for (std::size_t i = 0; i < lists.size(); ++i) {
    auto one = session->lstat_list(lists[i]);
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(found->lists[i].stat.has_value(), one->stat.has_value()) << lists[i];
    if (one->stat) {
      EXPECT_EQ(found->lists[i].stat->type, one->stat->type) << lists[i];
    }
    ASSERT_EQ(found->lists[i].entries.size(), one->entries.size()) << lists[i];
    for (std::size_t k = 0; k < one->entries.size(); ++k) {
      EXPECT_EQ(found->lists[i].entries[k].name, one->entries[k].name);
    }
  }
  EXPECT_EQ(found->lists[0].entries.size(), 250u);  // longer than one readdir answer
  EXPECT_EQ(found->links[0].text, "many");
  EXPECT_EQ(found->links[1].text, "gone");
  EXPECT_FALSE(found->links[1].target);
  EXPECT_FALSE(found->links[2].stat);

  // remove_each: each its own result, the files before the directories.
  fs::create_directory(dir + "/emptied");
  test::write_text(dir + "/emptied/last", "x");
  const std::vector<std::string> doomed{dir + "/empty", dir + "/nothing", dir + "/dangling",
                                        dir + "/emptied/last"};
  const std::vector<std::string> dirs{dir + "/emptied", dir + "/many"};
  auto removed = session->remove_each(doomed, dirs);
  ASSERT_TRUE(removed) << removed.error().message;
  ASSERT_EQ(removed->size(), 6u);
  EXPECT_TRUE((*removed)[0]);
  ASSERT_FALSE((*removed)[1]);
  EXPECT_THAT((*removed)[1].error().message, HasSubstr(dir + "/nothing: no such file"));
  EXPECT_TRUE((*removed)[2]);
  EXPECT_TRUE((*removed)[3]);
  EXPECT_TRUE((*removed)[4]) << (*removed)[4].error().message;
  ASSERT_FALSE((*removed)[5]);  // not empty
  EXPECT_THAT((*removed)[5].error().message, HasSubstr("remove directory " + dir + "/many"));
  EXPECT_FALSE(fs::exists(dir + "/empty"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir + "/dangling")));
  EXPECT_FALSE(fs::exists(dir + "/emptied"));
  EXPECT_TRUE(fs::exists(dir + "/many/f000"));

  const std::vector<std::string> synced{dir, many};
  ASSERT_TRUE(session->fsync_dirs(synced));
  const std::vector<std::string> unsynced{dir, dir + "/nothing"};
  auto failed = session->fsync_dirs(unsynced);
  ASSERT_FALSE(failed);
  EXPECT_THAT(failed.error().message, HasSubstr(dir + "/nothing"));

  // libssh's own requests still get their own answers.
  auto st = session->stat(dir + "/ca.crt");
  ASSERT_TRUE(st && *st);
  EXPECT_EQ((*st)->size, 3u);
  ASSERT_TRUE(remove_tree(*session, dir));
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(SshSessionTest, ChangedHostKeyFailsBeforeAuthentication) {
  mutable_fleet().corrupt_known_host(2);
  NodeConfig node = fleet().node(2);
  // Were the key offered before the host key check, this would be an `auth` failure.
  node.identity_file = (fleet().dir() / "no-such-key").string();
  auto before = test::snapshot(fleet().node_dir(2));
  auto session = connect(node);
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().status, NodeStatus::hostkey);
  EXPECT_EQ(session.error().step, "hostkey");
  EXPECT_THAT(session.error().message, HasSubstr("node2"));
  EXPECT_THAT(session.error().message, HasSubstr("does not match"));
  EXPECT_THAT(session.error().message, HasSubstr("SHA256:"));
  EXPECT_EQ(test::snapshot(fleet().node_dir(2)), before);

  // The others are unaffected, and known_hosts was not rewritten.
  std::string known = test::read_text(fleet().known_hosts());
  EXPECT_TRUE(connect(fleet().node(1)));
  EXPECT_EQ(test::read_text(fleet().known_hosts()), known);
}

TEST_F(SshSessionTest, UnknownHostFailsHostkey) {
  mutable_fleet().forget_known_host(1);
  auto session = connect(fleet().node(1));
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().status, NodeStatus::hostkey);
  EXPECT_THAT(session.error().message, HasSubstr("is not in"));

  test::TempDir temp;
  NodeConfig node = fleet().node(1);
  node.known_hosts = (temp / "empty_known_hosts").string();
  test::write_text(node.known_hosts, "", 0644);
  auto empty = connect(node);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().status, NodeStatus::hostkey);
  EXPECT_EQ(test::read_text(node.known_hosts), "");

  node.known_hosts = (temp / "missing").string();
  auto missing = connect(node);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().status, NodeStatus::hostkey);
  EXPECT_THAT(missing.error().message, HasSubstr("it does not exist"));
  EXPECT_FALSE(fs::exists(node.known_hosts));
}

TEST_F(SshSessionTest, KeyOfAnotherTypeFailsHostkey) {
  test::TempDir temp;
  ASSERT_EQ(
      test::run({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", (temp / "ecdsa").string()})
          .exit_code,
      0);
  std::string pub = test::read_text(temp / "ecdsa.pub");
  NodeConfig node = fleet().node(1);
  node.known_hosts = (temp / "known_hosts").string();
  test::write_text(
      node.known_hosts,
      "[127.0.0.1]:" + std::to_string(node.port) + " " + pub.substr(0, pub.rfind(' ')) + "\n",
      0644);
  auto session = connect(node);
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().status, NodeStatus::hostkey) << session.error().message;
}

TEST_F(SshSessionTest, RefusedKeyFailsAuth) {
  test::TempDir temp;
  ASSERT_EQ(
      test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (temp / "stranger").string()})
          .exit_code,
      0);
  NodeConfig node = fleet().node(3);
  node.identity_file = (temp / "stranger").string();
  auto refused = connect(node);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().status, NodeStatus::auth);
  EXPECT_EQ(refused.error().step, "auth");
  EXPECT_THAT(refused.error().message, HasSubstr("refused key"));

  node.identity_file = (temp / "absent").string();
  auto absent = connect(node);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().status, NodeStatus::auth);
  EXPECT_THAT(absent.error().message, HasSubstr("cannot read identity_file"));

  test::write_text(temp / "garbage", "not a key\n");
  node.identity_file = (temp / "garbage").string();
  auto garbage = connect(node);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().status, NodeStatus::auth);
  EXPECT_THAT(garbage.error().message, HasSubstr("cannot load identity_file"));
}

// Authentication through a real ssh-agent when the inventory names no identity_file.
TEST_F(SshSessionTest, AgentAuthenticatesWithoutIdentityFile) {
  test::TempDir temp;
  std::string socket = (temp / "agent.sock").string();
  auto agent = test::run({"ssh-agent", "-s", "-a", socket});
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  std::string pid = agent.out.substr(agent.out.find("SSH_AGENT_PID=") + 14);
  pid = pid.substr(0, pid.find(';'));
  const char* saved = std::getenv("SSH_AUTH_SOCK");
  std::string saved_value = saved ? saved : "";
  ::setenv("SSH_AUTH_SOCK", socket.c_str(), 1);
  NodeConfig node = fleet().node(1);
  node.identity_file.clear();

  auto empty_agent = connect(node);
  ASSERT_FALSE(empty_agent);
  EXPECT_EQ(empty_agent.error().status, NodeStatus::auth);

  test::RunOptions with_agent;
  with_agent.env["SSH_AUTH_SOCK"] = socket;
  auto add = test::run({"ssh-add", fleet().client_key().string()}, with_agent);
  EXPECT_EQ(add.exit_code, 0) << add.err;
  auto session = connect(node);
  EXPECT_TRUE(session) << session.error().message;

  ::unsetenv("SSH_AUTH_SOCK");
  auto no_agent = connect(node);
  ASSERT_FALSE(no_agent);
  EXPECT_EQ(no_agent.error().status, NodeStatus::auth);
  EXPECT_THAT(no_agent.error().message, HasSubstr("SSH_AUTH_SOCK"));

  if (saved) ::setenv("SSH_AUTH_SOCK", saved_value.c_str(), 1);
  test::run({"kill", pid});
}

TEST_F(SshSessionTest, NodeThatIsDownIsUnreachableAtOnce) {
  NodeConfig node = fleet().node(1);
  node.port = test::unused_port();
  auto begin = std::chrono::steady_clock::now();
  auto session = connect(node);
  Seconds took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().status, NodeStatus::unreachable);
  EXPECT_EQ(session.error().step, "connect");
  EXPECT_THAT(session.error().message, HasSubstr("Connection refused"));
  EXPECT_LT(took.count(), node.connect_timeout);
}

TEST_F(SshSessionTest, SilentPeerTimesOutWithinConnectTimeout) {
  test::SilentListener silent;
  NodeConfig node = fleet().node(1);
  node.port = silent.port();
  node.connect_timeout = 2;
  node.timeout = 30;
  auto begin = std::chrono::steady_clock::now();
  auto session = connect(node);
  Seconds took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().status, NodeStatus::timeout);
  EXPECT_EQ(session.error().step, "connect");
  EXPECT_THAT(session.error().message, HasSubstr("connect_timeout"));
  EXPECT_GE(took.count(), 1.5);
  EXPECT_LT(took.count(), 15.0);  // generous: correctness, not speed
}

TEST_F(SshSessionTest, CommandOutlivingTheDeadlineTimesOut) {
  NodeConfig node = fleet().node(2);
  auto session = SshSession::connect(node, Deadline::after_seconds(3));
  ASSERT_TRUE(session) << session.error().message;
  auto begin = std::chrono::steady_clock::now();
  auto r = session->exec("sleep 30");
  Seconds took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, NodeStatus::timeout);
  EXPECT_LT(took.count(), 20.0);
}

// A node whose sessions stop answering mid-SFTP (SIGSTOP): libssh 0.10 alone would wait forever.
TEST_F(SshSessionTest, FrozenPeerMidSftpTimesOut) {
  NodeConfig node = fleet().node(3);
  auto session = SshSession::connect(node, Deadline::after_seconds(4));
  ASSERT_TRUE(session) << session.error().message;
  ASSERT_TRUE(session->stat(node.dest));
  mutable_fleet().freeze_sessions(3, true);
  auto begin = std::chrono::steady_clock::now();
  auto st = session->read_file(node.dest + "/nothing", 100);
  auto up = session->upload(node.staging + "/frozen", as_bytes("x"), 0600);
  Seconds took = std::chrono::steady_clock::now() - begin;
  session->close();
  mutable_fleet().freeze_sessions(3, false);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().status, NodeStatus::timeout) << st.error().message;
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().status, NodeStatus::timeout) << up.error().message;
  EXPECT_LT(took.count(), 20.0);
  EXPECT_TRUE(connect(node)) << "node 3 should serve new connections again";
}

TEST_F(SshSessionTest, NodeKilledMidSessionFailsFast) {
  NodeConfig node = fleet().node(2);
  auto session = connect(node);
  ASSERT_TRUE(session) << session.error().message;
  ASSERT_TRUE(session->stat(node.dest));
  mutable_fleet().kill_node(2);
  auto begin = std::chrono::steady_clock::now();
  auto r = session->upload(node.staging + "/bundle", random_bytes(1 << 20, 9), 0600);
  Seconds took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, NodeStatus::failed) << r.error().message;
  EXPECT_LT(took.count(), 20.0);
  auto down = connect(node);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().status, NodeStatus::unreachable);
  mutable_fleet().restart_node(2);
  EXPECT_TRUE(connect(node));
}

TEST_F(SshSessionTest, NoDescriptorLeaksOnSuccessOrFailure) {
  NodeConfig bad_key = fleet().node(1);
  bad_key.identity_file = "/nonexistent";
  NodeConfig down = fleet().node(1);
  down.port = test::unused_port();
  // The first connection loads libssh's lazily opened files; count after it.
  { auto warm = connect(fleet().node(1)); }
  int before = open_fds();
  for (int i = 0; i < 3; ++i) {
    auto ok = connect(fleet().node(1));
    ASSERT_TRUE(ok);
    ASSERT_TRUE(ok->stat(fleet().node(1).dest));
    EXPECT_FALSE(connect(bad_key));
    EXPECT_FALSE(connect(down));
  }
  mutable_fleet().forget_known_host(1);
  EXPECT_FALSE(connect(fleet().node(1)));
  EXPECT_EQ(open_fds(), before);
}

TEST_F(SshSessionTest, MovedSessionKeepsWorking) {
  auto session = connect(fleet().node(1));
  ASSERT_TRUE(session);
  SshSession moved = std::move(*session);
  auto r = moved.exec("echo moved");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "moved\n");
  auto other = connect(fleet().node(2));
  ASSERT_TRUE(other);
  moved = std::move(*other);
  EXPECT_TRUE(moved.stat(fleet().node(2).dest));
  EXPECT_EQ(moved.node_name(), "node2");
}

// A DestLock's channel shares the connection, not the SshSession object: moving the session
// (into a variable that held another connection) leaves the lock held and serving.
TEST_F(SshSessionTest, DestLockOutlivesAMoveOfItsSession) {
  const NodeConfig& node = fleet().node(1);
  const keydir::KeyDir dir(node.dest + "/lock-after-move");
  auto session = connect(node);
  ASSERT_TRUE(session) << session.error().message;
  auto lock = keydir::DestLock::acquire(*session, dir, 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  ASSERT_TRUE(lock->held());
  auto other = connect(fleet().node(2));
  ASSERT_TRUE(other) << other.error().message;
  SshSession moved = std::move(*other);
  moved = std::move(*session);
  EXPECT_EQ(moved.node_name(), "node1");
  EXPECT_FALSE(test::lock_is_free(dir.lock()));

  test::write_text(fs::path(dir.dest()) / "staged", "ciphertext");
  const std::vector<std::string> fields = {"sha256-files", "1", dir.dest() + "/staged"};
  auto sum = lock->request(fields);
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(sum->exit_status, 0);
  EXPECT_EQ(sum->out, sha256_hex(as_bytes("ciphertext")) + "  " + dir.dest() + "/staged\n");
  lock->release();
  EXPECT_TRUE(test::lock_is_free(dir.lock()));
  auto still = moved.exec("echo still");
  ASSERT_TRUE(still) << still.error().message;
  EXPECT_EQ(still->out, "still\n");
}

// Closing (or destroying) the session frees libssh's channels with it: the lock's requests then
// fail with an error, never touch freed memory (run under the ASan build too), and the node lets
// go of the lock once the connection is gone.
TEST_F(SshSessionTest, DestLockOfAClosedSessionFailsCleanly) {
  const NodeConfig& node = fleet().node(1);
  const std::vector<std::string> fields = {"sha256-files", "1", node.dest + "/closed/.lock"};
  for (bool destroy : {false, true}) {
    const keydir::KeyDir dir(node.dest + "/closed");
    std::optional<keydir::DestLock> lock;
    {
      auto session = connect(node);
      ASSERT_TRUE(session) << session.error().message;
      auto acquired = keydir::DestLock::acquire(*session, dir, 1, "lock");
      ASSERT_TRUE(acquired) << acquired.error().message;
      lock.emplace(std::move(*acquired));
      ASSERT_TRUE(lock->request(fields));
      if (!destroy) {
        session->close();
        auto after = lock->request(fields);
        ASSERT_FALSE(after);
        EXPECT_THAT(after.error().message, HasSubstr("closed"));
      }
    }
    auto after = lock->request(fields);
    ASSERT_FALSE(after) << "destroy " << destroy;
    EXPECT_THAT(after.error().message, HasSubstr("closed"));
    lock->release();
    lock->release();
    lock.reset();
    // The node's sshd ends the holder when the connection goes; that takes a moment.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!test::lock_is_free(dir.lock()) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(test::lock_is_free(dir.lock())) << "destroy " << destroy;
  }
}

// Only moves: a copy would share libssh's session and free it twice.
TEST(SshSessionType, MovesButNeverCopies) {
  static_assert(!std::is_copy_constructible_v<SshSession>);
  static_assert(!std::is_copy_assignable_v<SshSession>);
  static_assert(std::is_nothrow_move_constructible_v<SshSession>);
  static_assert(std::is_nothrow_move_assignable_v<SshSession>);
  static_assert(!std::is_copy_constructible_v<keydir::DestLock>);
  static_assert(!std::is_copy_assignable_v<keydir::DestLock>);
  SUCCEED();
}

}  // namespace
}  // namespace kf
