// cleanup's per-node logic against an in-memory node whose shell runs dd as GNU dd does: it
// follows a symlink unless told oflag=nofollow, creates a missing file unless conv=nocreat, and
// blocks on a FIFO unless oflag=nonblock. What cleanup may touch is push's own naming only
// (keydir/staging.hpp); a local user's changes between listing and wiping come through on_call.
#include "fleet/cleanup.hpp"

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/staging.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kOurs[] = "/staging/0123456789abcdef";
constexpr char kAlsoOurs[] = "/staging/fedcba9876543210";

bool has_word(const std::string& command, const std::string& word) {
  return std::regex_search(command, std::regex("[ ,=]" + word + "[ ,]"));
}

// Gives `node` a shell whose dd zeroes files as GNU dd would, logging each path it wrote to.
void give_shell(FakeRemote& node, std::vector<std::string>& zeroed) {
  node.on_exec = [&node, &zeroed](std::string_view command,
                                  std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    std::string cmd(command);
    std::smatch m;
    static const std::regex dd(R"(^dd if=/dev/zero of='([^']+)' bs=(\d+) count=(\d+) )");
    if (!std::regex_search(cmd, m, dd)) return ExecResult{127, "", "unexpected command: " + cmd};
    std::string path = m[1];
    std::size_t bytes = std::stoul(m[3]) * (has_word(cmd, "count_bytes") ? 1 : std::stoul(m[2]));
    auto it = node.entries.find(path);
    if (it != node.entries.end() && it->second.type == FileType::symlink) {
      if (has_word(cmd, "nofollow")) {
        return ExecResult{
            1, "dd: failed to open '" + path + "': Too many levels of symbolic links\n", ""};
      }
      path = it->second.target;
      it = node.entries.find(path);
    }
    if (it == node.entries.end()) {
      if (has_word(cmd, "nocreat")) {
        return ExecResult{1, "dd: failed to open '" + path + "': No such file or directory\n", ""};
      }
      node.add_file(path, "", 0644);
      it = node.entries.find(path);
    }
    if (it->second.type == FileType::other) {
      // A FIFO nobody reads: open(2) blocks, or fails with ENXIO under O_NONBLOCK.
      if (!has_word(cmd, "nonblock")) return ExecResult{-1, "", "dd blocked opening a FIFO"};
      return ExecResult{1, "dd: failed to open '" + path + "': No such device or address\n", ""};
    }
    auto& data = it->second.data;
    if (data.size() < bytes) data.resize(bytes);
    std::fill(data.begin(), data.begin() + static_cast<long>(bytes), 0);
    zeroed.push_back(path);
    return ExecResult{0, "", ""};
  };
}

void add_generations(FakeRemote& node, std::vector<std::uint64_t> generations,
                     std::uint64_t current) {
  node.add_dir("/dest", 0700);
  node.add_dir("/dest/generations", 0700);
  for (auto g : generations) {
    std::string dir = "/dest/generations/" + generation_name(g);
    node.add_dir(dir, 0700);
    node.add_file(dir + "/agent.key", "key " + std::to_string(g), 0600);
    node.add_file(dir + "/manifest.json", "manifest " + std::to_string(g), 0600);
  }
  ASSERT_TRUE(node.symlink(keydir::KeyDir("/dest").link_target(current), "/dest/current"));
}

std::string manifest_sha(std::uint64_t g) {
  std::string text = "manifest " + std::to_string(g);
  return sha256_hex({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

void add_staged(FakeRemote& node, const std::string& dir, std::string_view data) {
  node.add_dir("/staging", 0700);
  node.add_dir(dir, 0700);
  node.add_file(dir + "/bundle.kfb", data, 0600);
}

std::vector<std::uint64_t> generations_left(FakeRemote& node) {
  std::vector<std::uint64_t> out;
  auto listing = node.list_dir("/dest/generations");
  if (!listing) return out;
  for (const auto& entry : *listing) {
    if (auto g = parse_generation_name(entry.name)) out.push_back(*g);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint64_t> numbers(const std::vector<GenerationRecord>& records) {
  std::vector<std::uint64_t> out;
  for (const auto& r : records) out.push_back(r.generation);
  return out;
}

bool wrote_anything(const FakeRemote& node) {
  static const std::vector<std::string> writes = {"mkdir", "upload", "rename",  "unlink",  "rmdir",
                                                  "chmod", "chown",  "symlink", "exec dd", "lock"};
  return std::any_of(node.log.begin(), node.log.end(), [](const std::string& line) {
    return std::any_of(writes.begin(), writes.end(),
                       [&](const std::string& w) { return line.starts_with(w + " "); });
  });
}

NodeConfig config() {
  NodeConfig node;
  node.name = "node1";
  node.dest = "/dest";
  node.staging = "/staging";
  return node;
}

TEST(FleetCleanup, WipesEveryStagedCopyWithZerosBeforeUnlinking) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_staged(node, kOurs, "ciphertext");
  add_staged(node, kAlsoOurs, "more ciphertext");
  add_generations(node, {1}, 1);

  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_FALSE(receipt->failure);
  EXPECT_THAT(receipt->wiped, ElementsAre(std::string(kOurs) + "/bundle.kfb",
                                          std::string(kAlsoOurs) + "/bundle.kfb"));
  EXPECT_THAT(zeroed, ElementsAre(std::string(kOurs) + "/bundle.kfb",
                                  std::string(kAlsoOurs) + "/bundle.kfb"));
  EXPECT_FALSE(node.exists(kOurs));
  EXPECT_FALSE(node.exists(kAlsoOurs));
  // STAGING itself stays: nobody else can take its name until the next push.
  EXPECT_TRUE(node.exists("/staging"));
  // Zeroed before the unlink, never the other way round.
  auto dd_at = std::find_if(node.log.begin(), node.log.end(),
                            [](const std::string& l) { return l.starts_with("exec dd"); });
  auto unlink_at =
      std::find(node.log.begin(), node.log.end(), "unlink " + std::string(kOurs) + "/bundle.kfb");
  EXPECT_LT(dd_at, unlink_at);
  EXPECT_THAT(describe(*receipt), HasSubstr("wiped 2 staged copies"));
}

// With `become`, the lock holder (and everything in DEST) is root, the staged copies the SSH
// user's: they are listed and wiped as that user, in its home, never as root.
TEST(FleetCleanup, WithBecomeTheStagedCopiesAreWipedAsTheSshUser) {
  FakeRemote root("node1");
  FakeRemote login("node1");
  root.login_view = &login;
  root.login_uid = 0;
  add_generations(root, {1, 2, 3}, 3);
  login.login_uid = 1000;
  login.login_home = "/home/op";
  std::vector<std::string> zeroed;
  give_shell(login, zeroed);
  const std::string staging = "/home/op/.cache/keyfleet/dest.staging";
  login.add_dir("/home/op", 0700);
  login.add_dir("/home/op/.cache", 0700);
  login.add_dir("/home/op/.cache/keyfleet", 0700);
  login.add_dir(staging, 0700);
  login.add_dir(staging + "/0123456789abcdef", 0700);
  login.add_file(staging + "/0123456789abcdef/bundle.kfb", "ciphertext", 0600);
  NodeConfig node = config();
  node.become = "sudo -n";
  node.staging = "~/.cache/keyfleet/dest.staging";
  node.keep = 2;

  auto receipt = cleanup_node(root, node, {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_FALSE(receipt->failure) << receipt->failure->message;
  EXPECT_THAT(receipt->wiped, ElementsAre(staging + "/0123456789abcdef/bundle.kfb"));
  EXPECT_THAT(zeroed, ElementsAre(staging + "/0123456789abcdef/bundle.kfb"));
  EXPECT_FALSE(login.exists(staging + "/0123456789abcdef"));
  EXPECT_THAT(numbers(receipt->removed), ElementsAre(1u));
  EXPECT_THAT(generations_left(root), ElementsAre(2u, 3u));
  for (const auto& line : root.log) {
    EXPECT_EQ(line.find("/home/op"), std::string::npos) << line << " done as root";
  }
}

// Only STAGING/<16 hex>/bundle.kfb, in a 0700 directory of the SSH user's, as a regular file of
// theirs: everything else is someone else's, left in place and named.
TEST(FleetCleanup, TouchesOnlyWhatPushMadeAndNamesTheRest) {
  FakeRemote node("node1");
  node.login_uid = 1000;
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  node.add_file("/etc-passwd", "root:x:0:0", 0644);
  add_staged(node, kOurs, "ciphertext");
  node.add_file("/staging/notes.txt", "an operator's notes", 0600);
  add_staged(node, "/staging/a1b2", "wrong name");
  add_staged(node, "/staging/1111111111111111", "wrong mode");
  node.entries["/staging/1111111111111111"].mode = 0755;
  add_staged(node, "/staging/2222222222222222", "someone else's");
  node.owners["/staging/2222222222222222"] = 1001;
  add_staged(node, "/staging/3333333333333333", "ours, with company");
  node.add_file("/staging/3333333333333333/extra.txt", "not ours", 0600);
  node.add_dir("/staging/4444444444444444", 0700);
  ASSERT_TRUE(node.symlink("/etc-passwd", "/staging/4444444444444444/bundle.kfb"));
  add_staged(node, "/staging/5555555555555555", "root's file");
  node.owners["/staging/5555555555555555/bundle.kfb"] = 0;
  ASSERT_TRUE(node.symlink("/etc", "/staging/6666666666666666"));
  add_generations(node, {1}, 1);

  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_FALSE(receipt->failure);
  EXPECT_THAT(receipt->wiped, ElementsAre(std::string(kOurs) + "/bundle.kfb",
                                          "/staging/3333333333333333/bundle.kfb"));
  EXPECT_THAT(zeroed, ElementsAre(std::string(kOurs) + "/bundle.kfb",
                                  "/staging/3333333333333333/bundle.kfb"));
  EXPECT_THAT(
      receipt->left_alone,
      UnorderedElementsAre("/staging/notes.txt (not named as push names its directories)",
                           "/staging/a1b2 (not named as push names its directories)",
                           "/staging/1111111111111111 (mode 0755, not 0700)",
                           "/staging/2222222222222222 (owned by uid 1001, not by the SSH user)",
                           "/staging/3333333333333333/extra.txt (not a staged copy)",
                           "/staging/4444444444444444/bundle.kfb (not a regular file)",
                           "/staging/5555555555555555/bundle.kfb (not owned by the SSH user)",
                           "/staging/6666666666666666 (a symlink)"));
  EXPECT_EQ(node.text("/etc-passwd"), "root:x:0:0");
  for (const char* kept :
       {"/staging/notes.txt", "/staging/a1b2/bundle.kfb", "/staging/1111111111111111/bundle.kfb",
        "/staging/2222222222222222/bundle.kfb", "/staging/3333333333333333/extra.txt",
        "/staging/5555555555555555/bundle.kfb", "/staging/6666666666666666"}) {
    EXPECT_TRUE(node.exists(kept)) << kept;
  }
  EXPECT_EQ(node.text("/staging/a1b2/bundle.kfb"), "wrong name");
  EXPECT_TRUE(node.exists("/staging/3333333333333333"));  // not empty: stays
  EXPECT_FALSE(node.exists(kOurs));
  EXPECT_THAT(describe(*receipt), HasSubstr("left alone: /staging/"));
}

// The race of the issue: bundle.kfb swapped for a symlink to a root-owned file after cleanup
// listed STAGING and before dd opens it. dd refuses to follow it; the target is untouched.
TEST(FleetCleanup, ASymlinkSwappedInAfterTheListingIsNotFollowed) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  node.add_file("/etc-shadow", "root:$6$secret", 0600);
  add_staged(node, kOurs, "ciphertext");
  add_generations(node, {1}, 1);
  const std::string copy = std::string(kOurs) + "/bundle.kfb";
  bool swapped = false;
  node.on_call = [&](std::string_view op, const std::string& path) {
    if (op == "exec" && path.starts_with("dd ") && !swapped) {
      node.entries.erase(copy);
      node.entries[copy] = FakeRemote::Entry{FileType::symlink, 0777, {}, "/etc-shadow"};
      swapped = true;
    }
  };

  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(swapped);
  ASSERT_FALSE(receipt);
  EXPECT_EQ(receipt.error().step, "staging");
  EXPECT_THAT(receipt.error().message, HasSubstr("cannot overwrite " + copy));
  EXPECT_THAT(receipt.error().message, HasSubstr("Too many levels of symbolic links"));
  EXPECT_THAT(zeroed, IsEmpty());
  EXPECT_EQ(node.text("/etc-shadow"), "root:$6$secret");
  EXPECT_TRUE(node.exists(copy));  // the symlink is not unlinked either
}

TEST(FleetCleanup, AFifoOrNothingSwappedInIsNeitherWaitedOnNorCreated) {
  for (bool fifo : {true, false}) {
    FakeRemote node("node1");
    std::vector<std::string> zeroed;
    give_shell(node, zeroed);
    add_staged(node, kOurs, "ciphertext");
    const std::string copy = std::string(kOurs) + "/bundle.kfb";
    node.on_call = [&](std::string_view op, const std::string& path) {
      if (op != "exec" || !path.starts_with("dd ")) return;
      node.entries.erase(copy);
      if (fifo) node.entries[copy] = FakeRemote::Entry{FileType::other, 0600, {}, {}};
    };
    auto receipt = cleanup_node(node, config(), {});
    ASSERT_FALSE(receipt) << fifo;
    EXPECT_EQ(receipt.error().step, "staging");
    EXPECT_EQ(node.exists(copy), fifo);
    EXPECT_THAT(zeroed, IsEmpty());
  }
}

TEST(FleetCleanup, AStagingOthersCouldChangeIsLeftAloneAndFailsTheNodeAfterPruning) {
  struct Case {
    const char* name;
    std::function<void(FakeRemote&)> set_up;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"1777", [](FakeRemote& n) { n.entries["/staging"].mode = 01777; },
       "is writable by its group or others (mode 1777)"},
      {"0770", [](FakeRemote& n) { n.entries["/staging"].mode = 0770; },
       "is writable by its group or others (mode 0770)"},
      {"nobody's", [](FakeRemote& n) { n.owners["/staging"] = 65534; },
       "is owned by uid 65534, not by the SSH user (uid 1000) or root"},
      {"symlink",
       [](FakeRemote& n) {
         n.add_dir("/elsewhere", 0700);
         n.entries.erase("/staging");
         n.entries["/staging"] = FakeRemote::Entry{FileType::symlink, 0777, {}, "/elsewhere"};
       },
       "is a symlink"},
  };
  for (const auto& c : cases) {
    FakeRemote node("node1");
    node.login_uid = 1000;
    std::vector<std::string> zeroed;
    give_shell(node, zeroed);
    add_staged(node, kOurs, "ciphertext");
    add_generations(node, {1, 2, 3}, 3);
    c.set_up(node);
    auto receipt = cleanup_node(node, config(), {.keep = 2, .purge_old = false});
    ASSERT_TRUE(receipt) << c.name << ": " << receipt.error().message;
    ASSERT_TRUE(receipt->failure) << c.name;
    EXPECT_EQ(receipt->failure->step, "staging") << c.name;
    EXPECT_THAT(receipt->failure->message,
                HasSubstr(std::string("staging directory /staging ") + c.why))
        << c.name;
    EXPECT_THAT(zeroed, IsEmpty()) << c.name;
    EXPECT_THAT(receipt->wiped, IsEmpty()) << c.name;
    if (c.name != std::string("symlink")) {
      EXPECT_EQ(node.text(std::string(kOurs) + "/bundle.kfb"), "ciphertext") << c.name;
    }
    // DEST is keyfleet's own: its cleanup is not held hostage by the staging directory.
    EXPECT_THAT(numbers(receipt->removed), ElementsAre(1)) << c.name;
  }
}

TEST(FleetCleanup, PrunesBeyondKeepByRenamingFirst) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2, 3, 4, 5, 6}, 6);
  auto receipt = cleanup_node(node, config(), {.keep = 3, .purge_old = false});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_THAT(numbers(receipt->removed), ElementsAre(1, 2, 3));
  EXPECT_EQ(receipt->removed[0].manifest_sha256, manifest_sha(1));
  EXPECT_THAT(numbers(receipt->remaining), ElementsAre(4, 5, 6));
  EXPECT_TRUE(receipt->remaining.back().current);
  EXPECT_THAT(generations_left(node), ElementsAre(4, 5, 6));
  EXPECT_EQ(*node.readlink("/dest/current"), "generations/000006");
  EXPECT_TRUE(std::any_of(node.log.begin(), node.log.end(), [](const std::string& l) {
    return l == "rename /dest/generations/000001";
  }));
  for (const auto& [path, entry] : node.entries)
    EXPECT_FALSE(path.find(".tmp-prune-") != std::string::npos);
}

std::vector<std::string> manifests_read(const FakeRemote& node) {
  std::vector<std::string> out;
  for (const auto& line : node.log) {
    if (line.starts_with("read_file ") && line.ends_with("/manifest.json")) {
      out.push_back(line.substr(std::string_view("read_file ").size()));
    }
  }
  return out;
}

// A manifest is four SFTP round trips: cleanup reads current's (the key set of the audit record)
// and those the receipt names, no other.
TEST(FleetCleanup, ReadsTheManifestsOfCurrentAndOfWhatItRemovesOnly) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2, 3, 4}, 4);
  auto quiet = cleanup_node(node, config(), {.keep = 4});
  ASSERT_TRUE(quiet) << quiet.error().message;
  EXPECT_EQ(describe(*quiet), "nothing to clean");
  EXPECT_THAT(manifests_read(node), ElementsAre("/dest/generations/000004/manifest.json"));

  node.log.clear();
  auto pruned = cleanup_node(node, config(), {.keep = 3});
  ASSERT_TRUE(pruned) << pruned.error().message;
  ASSERT_THAT(numbers(pruned->removed), ElementsAre(1));
  EXPECT_EQ(pruned->removed[0].manifest_sha256, manifest_sha(1));
  std::vector<std::string> read = manifests_read(node);
  // Current's, the removed one's, then every remaining one's for the receipt, read again after.
  EXPECT_THAT(read, ElementsAre("/dest/generations/000004/manifest.json",
                                "/dest/generations/000001/manifest.json",
                                "/dest/generations/000002/manifest.json",
                                "/dest/generations/000003/manifest.json",
                                "/dest/generations/000004/manifest.json"));
  ASSERT_THAT(numbers(pruned->remaining), ElementsAre(2, 3, 4));
  EXPECT_EQ(pruned->remaining[0].manifest_sha256, manifest_sha(2));
}

// rotate's turn hands cleanup the DEST verify read under the same lock: cleanup goes by it
// instead of reading DEST again, and reads DEST after a removal as always.
TEST(FleetCleanup, UnderTheCallersLockItsReadingOfDestIsUsedNotRepeated) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2, 3, 4}, 4);
  const keydir::KeyDir dir("/dest");
  auto dest =
      keydir::read_node_state(node, dir, {false, nullptr, keydir::Manifests::current}, "read");
  ASSERT_TRUE(dest) << dest.error().message;
  auto lock = keydir::DestLock::acquire(node, dir, 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  node.log.clear();
  auto quiet = cleanup_node(node, config(), {.keep = 4}, &*lock, &*dest);
  ASSERT_TRUE(quiet) << quiet.error().message;
  EXPECT_EQ(describe(*quiet), "nothing to clean");
  EXPECT_THAT(node.log, Not(Contains("list_dir /dest/generations")));

  auto pruned = cleanup_node(node, config(), {.keep = 2}, &*lock, &*dest);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_THAT(numbers(pruned->removed), ElementsAre(1, 2));
  EXPECT_THAT(numbers(pruned->remaining), ElementsAre(3, 4));
  EXPECT_THAT(generations_left(node), ElementsAre(3, 4));
  // Read again after the removal: the receipt says what is there.
  EXPECT_THAT(node.log, Contains("list_dir /dest/generations"));

  // Without the lock it was read under, another's reading is not taken: DEST is read.
  node.log.clear();
  auto unlocked = cleanup_node(node, config(), {.keep = 2, .dry_run = true}, nullptr, &*dest);
  ASSERT_TRUE(unlocked) << unlocked.error().message;
  EXPECT_THAT(node.log, Contains("list_dir /dest/generations"));
  EXPECT_EQ(describe(*unlocked), "nothing to clean");
}

TEST(FleetCleanup, PurgeOldLeavesOnlyCurrentEvenAfterARollbackAndSaysSo) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2, 3, 4}, 3);
  node.add_dir("/dest/generations/.tmp-0123", 0700);
  node.add_file("/dest/generations/.tmp-0123/agent.key", "plaintext, half written", 0600);
  auto receipt = cleanup_node(node, config(), {.keep = 5, .purge_old = true});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_FALSE(receipt->failure);
  EXPECT_THAT(numbers(receipt->removed), ElementsAre(1, 2, 4));
  EXPECT_EQ(receipt->removed[2].manifest_sha256, manifest_sha(4));
  ASSERT_THAT(numbers(receipt->remaining), ElementsAre(3));
  EXPECT_TRUE(receipt->remaining[0].current);
  EXPECT_EQ(receipt->remaining[0].manifest_sha256, manifest_sha(3));
  EXPECT_THAT(receipt->leftovers, ElementsAre("/dest/generations/.tmp-0123"));
  // DEST was listed again after the removals: the receipt is what the node holds.
  auto lists = std::count(node.log.begin(), node.log.end(), "list_dir /dest/generations");
  EXPECT_EQ(lists, 2);
  EXPECT_THAT(generations_left(node), ElementsAre(3));
  EXPECT_FALSE(node.exists("/dest/generations/.tmp-0123"));
  EXPECT_EQ(node.text("/dest/generations/000003/agent.key"), "key 3");
  auto json = to_json(*receipt);
  EXPECT_EQ(json["removed"][0]["generation"], 1);
  EXPECT_EQ(json["remaining"][0]["current"], true);
  EXPECT_THAT(describe(*receipt),
              HasSubstr("removed generations 000001 (manifest " + manifest_sha(1).substr(0, 12)));
  EXPECT_THAT(describe(*receipt), HasSubstr("remaining: 000003 (current)"));
}

TEST(FleetCleanup, PurgeWithoutAGoodCurrentRemovesNoGenerationAndNamesThem) {
  for (std::string link : {"generations/000009", ""}) {
    FakeRemote node("node1");
    std::vector<std::string> zeroed;
    give_shell(node, zeroed);
    add_generations(node, {1, 2}, 2);
    ASSERT_TRUE(node.unlink("/dest/current"));
    if (!link.empty()) {
      ASSERT_TRUE(node.symlink(link, "/dest/current"));
    }
    ASSERT_TRUE(node.symlink("generations/000001", "/dest/current.tmp-cafe"));
    auto receipt = cleanup_node(node, config(), {.keep = 5, .purge_old = true});
    ASSERT_TRUE(receipt) << receipt.error().message;
    ASSERT_TRUE(receipt->failure) << link;
    EXPECT_EQ(receipt->failure->step, "prune");
    EXPECT_THAT(receipt->failure->message,
                HasSubstr(link.empty() ? "/dest/current is missing"
                                       : "current is a dangling link to 'generations/000009'"));
    EXPECT_THAT(receipt->failure->message,
                HasSubstr("nothing purged: generations 000001, 000002 remain"));
    EXPECT_THAT(numbers(receipt->remaining), ElementsAre(1, 2));
    EXPECT_THAT(receipt->removed, IsEmpty());
    EXPECT_THAT(generations_left(node), ElementsAre(1, 2));
    // Leftovers are never current's target: they go anyway.
    EXPECT_THAT(receipt->leftovers, ElementsAre("/dest/current.tmp-cafe"));
  }
  FakeRemote empty("node2");
  auto receipt = cleanup_node(empty, config(), {.keep = 5, .purge_old = true});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_FALSE(receipt->failure) << "no generation at all: nothing to purge";
}

TEST(FleetCleanup, ADryRunSaysWhatWouldGoAndWritesNothing) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_staged(node, kOurs, "ciphertext");
  add_generations(node, {1, 2, 3}, 3);
  node.add_dir("/dest/generations/.tmp-0123", 0700);
  auto before = node.entries;
  node.log.clear();
  auto receipt = cleanup_node(node, config(), {.keep = 5, .purge_old = true, .dry_run = true});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_THAT(receipt->wiped, ElementsAre(std::string(kOurs) + "/bundle.kfb"));
  EXPECT_THAT(numbers(receipt->removed), ElementsAre(1, 2));
  EXPECT_THAT(numbers(receipt->remaining), ElementsAre(3));
  EXPECT_THAT(receipt->leftovers, ElementsAre("/dest/generations/.tmp-0123"));
  EXPECT_FALSE(wrote_anything(node)) << fmt::format("{}", fmt::join(node.log, "\n"));
  EXPECT_EQ(node.entries.size(), before.size());
  EXPECT_THAT(describe(*receipt), HasSubstr("would wipe 1 staged copy"));
  EXPECT_THAT(describe(*receipt), HasSubstr("would remove generations 000001"));
}

TEST(FleetCleanup, NothingToCleanIsOkAndIdempotent) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2}, 2);
  for (int run = 0; run < 2; ++run) {
    auto receipt = cleanup_node(node, config(), {});
    ASSERT_TRUE(receipt) << receipt.error().message;
    EXPECT_EQ(describe(*receipt), "nothing to clean");
  }
  EXPECT_THAT(generations_left(node), ElementsAre(1, 2));
  FakeRemote empty("node2");
  EXPECT_TRUE(cleanup_node(empty, config(), {}));
}

// Under DEST/.lock no install or prune is in progress: every temporary there is a leftover, and
// leftovers may hold plaintext keys.
TEST(FleetCleanup, LeftoversOfInterruptedInstallsAndPrunesAreRemovedAndListed) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  add_generations(node, {1, 2}, 2);
  node.add_dir("/dest/generations/.tmp-prune-deadbeef", 0700);
  node.add_file("/dest/generations/.tmp-prune-deadbeef/agent.key", "old", 0600);
  node.add_dir("/dest/generations/.tmp-0123", 0700);
  node.add_file("/dest/generations/.tmp-0123/agent.key", "half written", 0600);
  ASSERT_TRUE(node.symlink("generations/000001", "/dest/current.tmp-cafe"));
  node.add_file("/dest/generations/notes.txt", "an operator's file", 0600);
  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  EXPECT_THAT(receipt->leftovers,
              UnorderedElementsAre("/dest/current.tmp-cafe", "/dest/generations/.tmp-0123",
                                   "/dest/generations/.tmp-prune-deadbeef"));
  EXPECT_FALSE(node.exists("/dest/generations/.tmp-prune-deadbeef"));
  EXPECT_FALSE(node.exists("/dest/generations/.tmp-0123"));
  EXPECT_FALSE(node.exists("/dest/current.tmp-cafe"));
  EXPECT_TRUE(node.exists("/dest/generations/notes.txt"));  // not keyfleet's: left alone
  EXPECT_THAT(receipt->unexpected, ElementsAre("/dest/generations/notes.txt"));
  EXPECT_THAT(describe(*receipt), HasSubstr("removed leftovers of interrupted runs: "));
}

TEST(FleetCleanup, NodeTextIsEscapedInTheReceipt) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  node.add_dir("/staging", 0700);
  node.add_file("/staging/\x1b[2Jgotcha\xff", "", 0600);
  auto receipt = cleanup_node(node, config(), {});
  ASSERT_TRUE(receipt) << receipt.error().message;
  std::string text = describe(*receipt);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_THAT(text, HasSubstr("\\x1b[2Jgotcha\\xff"));
  EXPECT_NO_THROW((void)to_json(*receipt).dump());
}

TEST(FleetCleanup, FailedWipeIsReportedAndTheCopyKept) {
  FakeRemote node("node1");
  node.on_exec = [](std::string_view, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    return ExecResult{1, "dd: error writing: No space left on device\n", ""};
  };
  add_staged(node, kOurs, "ciphertext");
  auto receipt = cleanup_node(node, config(), {});
  ASSERT_FALSE(receipt);
  EXPECT_EQ(receipt.error().step, "staging");
  EXPECT_THAT(receipt.error().message, HasSubstr(std::string(kOurs) + "/bundle.kfb"));
  EXPECT_THAT(receipt.error().message, HasSubstr("No space left on device"));
  EXPECT_TRUE(node.exists(std::string(kOurs) + "/bundle.kfb"));
}

}  // namespace
}  // namespace kf

namespace kf {
namespace {

// Without --keep, each node's inventory `keep` decides; --keep overrides it for the run.
TEST(FleetCleanup, KeepComesFromTheInventoryUnlessGiven) {
  for (auto [given, left] : {std::pair{std::optional<std::size_t>{}, std::size_t{2}},
                             std::pair{std::optional<std::size_t>{4}, std::size_t{4}}}) {
    test::FakeRemote node("node1");
    std::vector<std::string> zeroed;
    give_shell(node, zeroed);
    add_generations(node, {1, 2, 3, 4, 5, 6}, 6);
    NodeConfig two = config();
    two.keep = 2;
    CleanupOptions options;
    options.keep = given;
    auto receipt = cleanup_node(node, two, options);
    ASSERT_TRUE(receipt) << receipt.error().message;
    EXPECT_EQ(generations_left(node).size(), left);
  }
}

// Layout "link": what push --adopt kept in DEST.generations/adopted-* is a backup that pruning
// never counts; only a purge removes it, and says so.
TEST(FleetCleanup, AdoptedDirectoriesStayUntilAPurgeWhichListsThem) {
  FakeRemote node("node1");
  std::vector<std::string> zeroed;
  give_shell(node, zeroed);
  node.add_dir("/srv", 0755);
  node.add_dir("/srv/gpg.generations", 0700);
  for (std::uint64_t g : {1, 2, 3}) {
    const std::string dir = "/srv/gpg.generations/" + generation_name(g);
    node.add_dir(dir, 0700);
    node.add_file(dir + "/manifest.json", "manifest " + std::to_string(g), 0600);
  }
  const std::string adopted = "/srv/gpg.generations/adopted-20261123T101500Z";
  node.add_dir(adopted, 0700);
  node.add_file(adopted + "/secring.gpg", "the old ring", 0600);
  ASSERT_TRUE(node.symlink("gpg.generations/000003", "/srv/gpg"));
  NodeConfig link = config();
  link.dest = "/srv/gpg";
  link.layout = DestLayout::link;

  CleanupOptions keep2;
  keep2.keep = 2;
  auto pruned = cleanup_node(node, link, keep2);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_FALSE(pruned->failure);
  EXPECT_THAT(numbers(pruned->removed), ElementsAre(1u));
  EXPECT_THAT(pruned->adopted, ElementsAre(adopted));
  EXPECT_THAT(pruned->adopted_removed, IsEmpty());
  EXPECT_THAT(pruned->unexpected, IsEmpty());
  EXPECT_THAT(describe(*pruned), HasSubstr("kept what push --adopt moved aside"));
  EXPECT_TRUE(node.exists(adopted + "/secring.gpg"));

  CleanupOptions purge;
  purge.purge_old = true;
  purge.dry_run = true;
  auto planned = cleanup_node(node, link, purge);
  ASSERT_TRUE(planned) << planned.error().message;
  EXPECT_THAT(planned->adopted_removed, ElementsAre(adopted));
  EXPECT_THAT(describe(*planned), HasSubstr("would remove what push --adopt kept"));
  EXPECT_TRUE(node.exists(adopted));

  purge.dry_run = false;
  auto purged = cleanup_node(node, link, purge);
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_FALSE(purged->failure) << purged->failure->message;
  EXPECT_THAT(numbers(purged->removed), ElementsAre(2u));
  EXPECT_THAT(purged->adopted_removed, ElementsAre(adopted));
  EXPECT_THAT(purged->adopted, IsEmpty());
  EXPECT_THAT(numbers(purged->remaining), ElementsAre(3u));
  EXPECT_FALSE(node.exists(adopted));
  auto json = to_json(*purged);
  EXPECT_EQ(json["adopted_removed"], nlohmann::ordered_json::array({adopted}));
  EXPECT_EQ(json["adopted"], nlohmann::ordered_json::array());
}

}  // namespace
}  // namespace kf
