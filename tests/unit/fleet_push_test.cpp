// push_node's steps against an in-memory node.
#include <algorithm>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fleet/push.hpp"
#include "pki/manifest.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;
using ::testing::HasSubstr;

// Plays the node's shell for hooks (a hook `false` fails); keyfleet's own requests are
// FakeRemote's.
void give_shell(FakeRemote& r) {
  r.on_exec = [](std::string_view cmd, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    return ExecResult{cmd.find("( false )") != std::string_view::npos ? 1 : 0, "", ""};
  };
}

// The hooks run and the switch, in order, from the node's log.
std::vector<std::string> steps(const FakeRemote& r) {
  std::vector<std::string> out;
  for (const auto& line : r.log) {
    if (line.starts_with("switch ")) out.push_back("install");
    if (auto hook = test::hook_in(line)) out.push_back(*hook);
  }
  return out;
}

bundle::OpenedBundle opened(std::uint64_t generation) {
  std::string tar = test::craft_tar(test::valid_entries(test::keyset_files(false), generation));
  auto result = bundle::validate_tar(as_bytes(tar));
  if (!result) throw std::runtime_error(result.error().message);
  return std::move(*result);
}

struct Fixture {
  std::vector<std::uint8_t> bytes{'a', 'g', 'e'};
  bundle::OpenedBundle opened = kf::opened(2);
  NodeConfig node;
  Fixture() {
    opened.sha256 = sha256_hex(bytes);
    opened.size = bytes.size();
    node.name = "fake";
    node.dest = "/keys";
    node.staging = "/stage";
    node.pre = "pre";
    node.post = "post";
    node.check = "check";
  }
  PushPayload payload() const { return {bytes, &opened}; }
};

// generations/N holding `installed`'s manifest, and its files unless `files` is false.
void add_generation(FakeRemote& r, const bundle::OpenedBundle& installed, bool files) {
  const std::string gen = fmt::format("/keys/generations/{:06}", installed.manifest.generation);
  r.add_dir(gen, 0700);
  r.add_file(gen + "/manifest.json",
             std::string(installed.manifest_bytes.begin(), installed.manifest_bytes.end()), 0644);
  for (const auto& f : installed.files) {
    if (files) r.add_file(gen + "/" + f.name, std::string(f.data.begin(), f.data.end()), f.mode);
  }
}

// The node as a complete install of `installed` left it.
void on_generation(FakeRemote& r, const bundle::OpenedBundle& installed) {
  r.add_dir("/keys", 0700);
  r.add_dir("/keys/generations", 0700);
  add_generation(r, installed, true);
  ASSERT_TRUE(
      r.symlink(fmt::format("generations/{:06}", installed.manifest.generation), "/keys/current"));
}

void on_generation_one(FakeRemote& r) {
  on_generation(r, opened(1));
}

TEST(PushNode, InstallsAndRunsHooksInOrder) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::ok) << out.error;
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  for (const auto& file : f.opened.files) {
    const std::string path = "/keys/generations/000002/" + file.name;
    EXPECT_EQ(r.text(path), std::string(file.data.begin(), file.data.end()));
    EXPECT_EQ(r.entries.at(path).mode, file.mode);
  }
  EXPECT_EQ(steps(r), (std::vector<std::string>{"pre", "install", "post", "check"}));
}

std::vector<std::string> manifests_read(const FakeRemote& r) {
  std::vector<std::string> out;
  for (const auto& line : r.log) {
    if (line.starts_with("read_file ") && line.ends_with("/manifest.json") &&
        std::find(out.begin(), out.end(), line) == out.end()) {
      out.push_back(line);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Each manifest is four SFTP round trips: the decision reads current's and generations/G's; only
// --replace-keyset's search for the other key set's generations reads the others.
TEST(PushNode, ReadsTheManifestsOfCurrentAndTheBundlesGenerationOnly) {
  for (bool replace_keyset : {false, true}) {
    Fixture f;
    f.opened = opened(3);
    f.opened.sha256 = sha256_hex(f.bytes);
    f.opened.size = f.bytes.size();
    FakeRemote r;
    give_shell(r);
    on_generation_one(r);
    add_generation(r, opened(2), true);  // rolled back from: no part in the decision
    add_generation(r, f.opened, false);  // generations/3 with the bundle's manifest, damaged
    auto out = push_node(r, f.node, f.payload(), {.replace_keyset = replace_keyset});
    EXPECT_EQ(out.status, NodeStatus::ok) << out.error;
    EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000003");
    for (const auto& file : f.opened.files) {
      EXPECT_TRUE(r.exists("/keys/generations/000003/" + file.name)) << file.name;
    }
    std::vector<std::string> want = {"read_file /keys/generations/000001/manifest.json",
                                     "read_file /keys/generations/000003/manifest.json"};
    if (replace_keyset)
      want.insert(want.begin() + 1, "read_file /keys/generations/000002/manifest.json");
    EXPECT_EQ(manifests_read(r), want) << "replace_keyset " << replace_keyset;
  }
}

TEST(PushNode, SameGenerationIsUnchangedAndUntouched) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation(r, f.opened);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::unchanged);
  EXPECT_FALSE(r.exists("/stage"));
  // Only the check runs again: a failed check is never hidden behind `unchanged`.
  EXPECT_EQ(steps(r), std::vector<std::string>{"check"});
}

TEST(PushNode, DigestMismatchFailsAtDigestAndLeavesCurrent) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  // The node's copy is not what was sent by the time it is read back.
  r.on_call = [&r](std::string_view op, const std::string& path) {
    if (op == "read_file" && path.ends_with("/bundle.kfb")) r.entries.at(path).data.back() ^= 1;
  };
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.step, "digest");
  EXPECT_THAT(out.error, HasSubstr("reads back as 3 bytes with SHA-256"));
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001");
  EXPECT_TRUE(steps(r).empty());
}

TEST(PushNode, FailuresNameTheirStepAndLeaveCurrent) {
  // exec failures match on a word of the command; the staged and temporary paths are random.
  for (auto [op, path, step] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"mkdir", "/stage", "staging"},
           {"upload", "", "upload"},
           {"request", "switch", "install"}}) {
    Fixture f;
    FakeRemote r;
    give_shell(r);
    on_generation_one(r);
    r.fail_next(op, path, NodeError{NodeStatus::failed, "sftp", "injected"});
    auto out = push_node(r, f.node, f.payload(), {});
    EXPECT_EQ(out.status, NodeStatus::failed) << step;
    EXPECT_EQ(out.step, step) << out.error;
    EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001") << step;
    EXPECT_FALSE(r.exists("/keys/generations/000002")) << step;
    for (const auto& [path, entry] : r.entries) {
      EXPECT_FALSE(path.starts_with("/keys/current.tmp-")) << step << ": " << path << " left";
    }
  }
}

// With `become`, the node is two views of one machine: the SSH user's (login(): the staged copy,
// in its home by default) and root's (everything in DEST, the lock holder, the hooks).
TEST(PushNode, WithBecomeTheCopyIsStagedAsTheSshUserAndDestWrittenThroughBecome) {
  Fixture f;
  f.node.become = "sudo -n";
  f.node.staging = "~/.cache/keyfleet/keys.staging";
  FakeRemote root;
  FakeRemote login("fake");
  root.login_view = &login;
  give_shell(root);
  on_generation_one(root);
  login.login_uid = 1000;
  login.login_home = "/home/op";
  login.add_dir("/home", 0755);
  login.owners["/home"] = 0;
  login.add_dir("/home/op", 0700);

  auto out = push_node(root, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::ok) << out.error;
  EXPECT_EQ(root.entries.at("/keys/current").target, "generations/000002");
  EXPECT_EQ(steps(root), (std::vector<std::string>{"pre", "install", "post", "check"}));
  std::vector<std::string> staged;
  for (const auto& [path, entry] : login.entries) {
    if (path.ends_with("/bundle.kfb")) staged.push_back(path);
  }
  ASSERT_EQ(staged.size(), 1u);
  EXPECT_TRUE(staged[0].starts_with("/home/op/.cache/keyfleet/keys.staging/")) << staged[0];
  EXPECT_EQ(login.text(staged[0]), "age");
  // The copy is checked as the SSH user reads it back: root never touches it.
  for (const auto& line : root.log) {
    EXPECT_EQ(line.find(" /home/"), std::string::npos) << line << " done as root";
  }
  for (const auto& line : login.log) {
    EXPECT_TRUE(line.find(" /keys/") == std::string::npos && !line.ends_with(" /keys"))
        << line << " done as the SSH user";
  }
}

// A failing check must not leave the node silently on the new keys: back to generation 1, with
// its hooks run again, and nothing owed.
TEST(PushNode, CheckHookFailureRollsBack) {
  Fixture f;
  f.node.check = "false";
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::rolled_back) << out.error;
  EXPECT_EQ(out.step, "check");
  EXPECT_EQ(out.generation, 1u);
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001");
  EXPECT_EQ(steps(r), (std::vector<std::string>{"pre", "install", "post", "false", "pre", "install",
                                                "post", "false"}));
  EXPECT_FALSE(r.exists("/keys/.pending"));
  EXPECT_NE(out.error.find("rolled back to generation 1, where the hooks failed too"),
            std::string::npos)
      << out.error;
}

TEST(PushNode, CheckHookFailureWithKeepFailedStaysOnTheNewGeneration) {
  Fixture f;
  f.node.check = "false";
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  PushOptions options;
  options.keep_failed = true;
  auto out = push_node(r, f.node, f.payload(), options);
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.step, "check");
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  EXPECT_NE(out.error.find("--keep-failed"), std::string::npos) << out.error;
}

// A post hook whose connection is lost did not fail: whether it passes is unknown, so the node
// is not rolled back (a guess over a dead connection) and its hooks stay owed in DEST/.pending.
// The next push finds it unchanged, runs the owed post and check, and the check only once.
TEST(PushNode, HooksALostConnectionLeftOwedRunAtTheNextPushOnce) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  r.fail_next("exec", "KEYFLEET_STEP=post",
              NodeError{NodeStatus::failed, "exec", "fake: connection lost"});
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.step, "post");
  EXPECT_EQ(out.generation, 2u);
  EXPECT_NE(out.error.find("current is generation 2 and its hooks are owed"), std::string::npos)
      << out.error;
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  ASSERT_TRUE(r.exists("/keys/.pending"));
  // post was tried (and lost); no rollback was attempted, no check run.
  EXPECT_EQ(steps(r), (std::vector<std::string>{"pre", "install", "post"}));

  r.log.clear();
  out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::unchanged) << out.error;
  EXPECT_FALSE(r.exists("/keys/.pending"));
  EXPECT_EQ(steps(r), (std::vector<std::string>{"post", "check"}));
}

// The deadline runs out in the fsync that follows the switch: the node is on the new generation,
// and the report says so (read again).
TEST(PushNode, AFailureAfterTheSwitchReportsTheGenerationCurrentReallyIs) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  f.node.pre.clear();
  f.node.post.clear();
  f.node.check.clear();
  // Without hooks (no DEST/.pending to write), the first fsync of DEST follows the switch.
  r.fail_next("fsync_dir", "/keys", NodeError{NodeStatus::timeout, "sftp", "fake: timed out"});
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::timeout) << out.error;
  EXPECT_EQ(out.step, "install");
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  EXPECT_EQ(out.generation, 2u);
  EXPECT_TRUE(out.error.ends_with("; current is generation 2")) << out.error;
}

// The deadline runs out right after the switch and the watchdog cuts the connection: `current`
// cannot be read again, so the node may be on either generation. The report names none (never
// the one from before the switch) and says what it may be and where the owed hooks are.
TEST(PushNode, ASwitchWhoseConnectionIsCutReportsNoGenerationItCouldNotRead) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  r.on_call = [&r](std::string_view op, const std::string& path) {
    auto current = r.entries.find("/keys/current");
    if (op == "fsync_dir" && path == "/keys" && current != r.entries.end() &&
        current->second.target == "generations/000002") {
      r.cut_connection(NodeError{NodeStatus::timeout, "sftp", "fake: timed out"});
    }
  };
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::timeout) << out.error;
  EXPECT_EQ(out.step, "install");
  EXPECT_EQ(out.generation, std::nullopt) << out.error;
  EXPECT_NE(out.error.find("current could not be read again after the timeout: it may already be "
                           "generation 2; the hooks still owed are recorded in /keys/.pending and "
                           "run at the next push or rollback"),
            std::string::npos)
      << out.error;
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  EXPECT_TRUE(r.exists("/keys/.pending"));
}

// Two pushes at once: the one that waited for DEST/.lock finds, under it, that the other installed
// the same generation meanwhile, and reports unchanged (its check run) instead of failing; a node
// switched to another key set meanwhile is refused before any hook.
TEST(PushNode, ANodeChangedWhileWaitingForTheLockIsDecidedAgain) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  r.before_lock = [&](FakeRemote& node) {
    node.entries.erase("/keys/current");
    on_generation(node, f.opened);
  };
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::unchanged) << out.error;
  EXPECT_EQ(out.generation, 2u);
  EXPECT_FALSE(r.exists("/stage"));
  EXPECT_EQ(steps(r), std::vector<std::string>{"check"});

  FakeRemote other;
  give_shell(other);
  on_generation_one(other);
  other.before_lock = [](FakeRemote& node) {
    node.entries.erase("/keys/current");
    auto foreign = opened(3);
    on_generation(node, foreign);
    foreign.manifest.keyset = std::string(32, 'f');
    const std::string text = serialize(foreign.manifest);
    node.entries.at("/keys/generations/000003/manifest.json").data.assign(text.begin(), text.end());
  };
  f.opened.manifest.keyset = std::string(32, 'e');
  out = push_node(other, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::conflict) << out.error;
  EXPECT_EQ(other.entries.at("/keys/current").target, "generations/000003");
  EXPECT_TRUE(steps(other).empty());
}

// What push found on the node is reported (a repair names the damage), escaped: link texts and
// file names are the node's.
TEST(PushNode, ARepairSaysWhatItFoundEscaped) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  r.entries.erase("/keys/current");
  ASSERT_TRUE(r.symlink("\x1b[2Jgone", "/keys/current"));
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::repaired) << out.error;
  EXPECT_NE(out.detail.find("dangling link to '\\x1b[2Jgone'"), std::string::npos) << out.detail;
  EXPECT_EQ(out.detail.find('\x1b'), std::string::npos);

  PushOptions dry;
  dry.dry_run = true;
  r.entries.erase("/keys/current");
  ASSERT_TRUE(r.symlink("generations/000002\n", "/keys/current"));
  out = push_node(r, f.node, f.payload(), dry);
  EXPECT_EQ(out.status, NodeStatus::would_repair) << out.error;
  EXPECT_NE(out.detail.find("generations/000002\\n"), std::string::npos) << out.detail;
}

// Leftover names are the node's: escaped before they reach a terminal.
TEST(PushNode, LeftoversItRemovesAreNamedEscaped) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  r.add_dir("/keys/generations/.tmp-\x1b[2Jx", 0700);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::ok) << out.error;
  EXPECT_FALSE(r.exists("/keys/generations/.tmp-\x1b[2Jx"));
  EXPECT_NE(out.detail.find("removed leftovers of interrupted runs: "
                            "/keys/generations/.tmp-\\x1b[2Jx"),
            std::string::npos)
      << out.detail;
  EXPECT_EQ(out.detail.find('\x1b'), std::string::npos) << out.detail;
}

// The plan push asks about counts conflicts apart from the other refusals, though a dry run
// reports both as would-refuse.
TEST(DescribePlan, CountsConflictsApartFromOtherRefusals) {
  Fixture f;
  // A key set id of its own; the nodes' manifests without one count as its key set by their CA.
  f.opened.manifest.keyset = std::string(32, 'e');
  PushOptions dry;
  dry.dry_run = true;
  auto plan_of = [&](const std::function<void(FakeRemote&)>& holding) {
    FakeRemote r;
    give_shell(r);
    holding(r);
    NodeOutcome out = push_node(r, f.node, f.payload(), dry);
    return NodeReport{"fake",    "fake",         out.status, out.step,
                      out.error, out.generation, 0,          out.detail};
  };
  const NodeReport install = plan_of([](FakeRemote& r) { on_generation_one(r); });
  const NodeReport same = plan_of([&](FakeRemote& r) { on_generation(r, f.opened); });
  const NodeReport downgrade = plan_of([](FakeRemote& r) { on_generation(r, opened(3)); });
  const NodeReport conflict = plan_of([](FakeRemote& r) {
    auto other = opened(1);
    on_generation(r, other);
    other.manifest.keyset = std::string(32, 'f');
    const std::string text = serialize(other.manifest);
    r.entries.at("/keys/generations/000001/manifest.json").data.assign(text.begin(), text.end());
  });
  EXPECT_EQ(install.status, NodeStatus::would_install) << install.error;
  EXPECT_EQ(same.status, NodeStatus::unchanged) << same.error;
  EXPECT_EQ(downgrade.status, NodeStatus::would_refuse) << downgrade.error;
  EXPECT_EQ(conflict.status, NodeStatus::would_refuse) << conflict.error;

  EXPECT_EQ(describe_plan({install, downgrade, conflict, same}),
            "1 to install, 1 unchanged, 1 conflict, 1 refused");
  NodeReport failed = install;
  failed.status = NodeStatus::timeout;
  std::vector<NodeReport> fleet(3, install);
  fleet.insert(fleet.end(), 26, same);
  fleet.insert(fleet.end(), 2, conflict);
  fleet.push_back(failed);
  EXPECT_EQ(describe_plan(fleet), "3 to install, 26 unchanged, 2 conflicts, 1 timeout");
}

TEST(ParseSha256sum, TakesTheDigest) {
  EXPECT_EQ(keydir::parse_sha256sum(std::string(64, 'A') + "  /x"), std::string(64, 'a'));
  EXPECT_EQ(keydir::parse_sha256sum("nope"), "");
}

}  // namespace
}  // namespace kf
