// rollback_node against an in-memory node: what it reports when the switch's connection is cut,
// and the hooks a lost connection left owed.
#include <gtest/gtest.h>

#include "fleet/hooks.hpp"
#include "fleet/rollback.hpp"
#include "keydir/layout.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;

// Plays the node's shell for hooks; keyfleet's own requests are FakeRemote's.
void give_shell(FakeRemote& r) {
  r.on_exec = [](std::string_view, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    return ExecResult{0, "", ""};
  };
}

// The hooks run, in order, from the node's log.
std::vector<std::string> hooks_run(const FakeRemote& r) {
  std::vector<std::string> out;
  for (const auto& line : r.log) {
    if (auto hook = test::hook_in(line)) out.push_back(*hook);
  }
  return out;
}

NodeConfig hooked_node() {
  NodeConfig node;
  node.name = "fake";
  node.dest = "/keys";
  node.pre = "pre";
  node.post = "post";
  node.check = "check";
  return node;
}

// Complete generations 1..`newest` in /keys, `current` on `newest`.
void with_generations(FakeRemote& r, std::uint64_t newest) {
  r.add_dir("/keys", 0700);
  r.add_dir("/keys/generations", 0700);
  for (std::uint64_t g = 1; g <= newest; ++g) {
    std::string tar = test::craft_tar(test::valid_entries(test::keyset_files(false), g));
    auto opened = bundle::validate_tar(as_bytes(tar));
    ASSERT_TRUE(opened) << opened.error().message;
    const std::string dir = fmt::format("/keys/generations/{:06}", g);
    r.add_dir(dir, 0700);
    r.add_file(dir + "/manifest.json",
               std::string(opened->manifest_bytes.begin(), opened->manifest_bytes.end()), 0644);
    for (const auto& f : opened->files) {
      r.add_file(dir + "/" + f.name, std::string(f.data.begin(), f.data.end()), f.mode);
    }
  }
  ASSERT_TRUE(r.symlink(fmt::format("generations/{:06}", newest), "/keys/current"));
}

// The deadline runs out right after the switch back and the watchdog cuts the connection: the
// node may be on either generation, and the report names none.
TEST(RollbackNode, ASwitchWhoseConnectionIsCutReportsNoGenerationItCouldNotRead) {
  FakeRemote r;
  give_shell(r);
  with_generations(r, 2);
  r.on_call = [&r](std::string_view op, const std::string& path) {
    auto current = r.entries.find("/keys/current");
    if (op == "fsync_dir" && path == "/keys" && current != r.entries.end() &&
        current->second.target == "generations/000001") {
      r.cut_connection(NodeError{NodeStatus::timeout, "sftp", "fake: timed out"});
    }
  };
  auto out = rollback_node(r, hooked_node(), {});
  EXPECT_EQ(out.status, NodeStatus::timeout) << out.error;
  EXPECT_EQ(out.generation, std::nullopt) << out.error;
  EXPECT_NE(out.error.find("current could not be read again after the timeout: it may already be "
                           "generation 1; the hooks still owed are recorded in /keys/.pending"),
            std::string::npos)
      << out.error;
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001");
}

// A first install whose connection died after its switch owes post and check; a rollback finds
// nothing older to go back to, fails, and runs them: the next push or rollback runs owed hooks.
TEST(RollbackNode, NothingToGoBackToStillRunsTheHooksCurrentOwes) {
  FakeRemote r;
  give_shell(r);
  with_generations(r, 1);
  const NodeConfig node = hooked_node();
  ASSERT_TRUE(record_owed_hooks(r, keydir::KeyDir::of(node), node, 1, "push", "install"));
  r.log.clear();
  auto out = rollback_node(r, node, {});
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.generation, 1u);
  EXPECT_NE(out.error.find("no complete generation older than the current 1"), std::string::npos)
      << out.error;
  EXPECT_NE(out.error.find("the hooks still owed in /keys/.pending ran"), std::string::npos)
      << out.error;
  EXPECT_EQ(hooks_run(r), (std::vector<std::string>{"post", "check"}));
  EXPECT_FALSE(r.exists("/keys/.pending"));
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001");
}

// A refusal changes nothing: `--to` an incomplete generation leaves the owed hooks owed.
TEST(RollbackNode, ARefusalRunsNoHooksEvenOwedOnes) {
  FakeRemote r;
  give_shell(r);
  with_generations(r, 2);
  r.entries.erase("/keys/generations/000001/agent.key");
  const NodeConfig node = hooked_node();
  ASSERT_TRUE(record_owed_hooks(r, keydir::KeyDir::of(node), node, 2, "push", "install"));
  r.log.clear();
  RollbackOptions to_one;
  to_one.to = 1;
  auto out = rollback_node(r, node, to_one);
  EXPECT_EQ(out.status, NodeStatus::refused) << out.error;
  EXPECT_TRUE(hooks_run(r).empty());
  EXPECT_TRUE(r.exists("/keys/.pending"));
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
}

}  // namespace
}  // namespace kf
