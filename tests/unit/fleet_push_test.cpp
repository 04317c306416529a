// push_node's steps against an in-memory node.
#include <gtest/gtest.h>

#include "fleet/push.hpp"
#include "pki/manifest.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;

// Plays the node's shell for hooks; keyfleet's own requests are FakeRemote's.
void give_shell(FakeRemote& r) {
  r.on_exec = [](std::string_view cmd, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    std::string c(cmd);
    return ExecResult{c.ends_with("false") ? 1 : 0, "", ""};
  };
}

// The hooks run and the switch, in order, from the node's log.
std::vector<std::string> steps(const FakeRemote& r) {
  std::vector<std::string> out;
  for (const auto& line : r.log) {
    if (line.starts_with("switch ")) out.push_back("install");
    if (line.starts_with("exec KEYFLEET_STEP=")) out.push_back(line.substr(line.rfind("; ") + 2));
  }
  return out;
}

struct Fixture {
  std::vector<std::uint8_t> bytes{'a', 'g', 'e'};
  bundle::OpenedBundle opened;
  NodeConfig node;
  Fixture() {
    opened.manifest.generation = 2;
    opened.manifest_bytes = {'{', '}'};
    opened.files.push_back({"agent.key", 0600, {'k'}});
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

void on_generation_one(FakeRemote& r) {
  r.add_dir("/keys", 0700);
  r.add_dir("/keys/generations", 0700);
  r.add_dir("/keys/generations/000001", 0700);
  ASSERT_TRUE(r.symlink("generations/000001", "/keys/current"));
}

TEST(PushNode, InstallsAndRunsHooksInOrder) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::ok) << out.error;
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  EXPECT_EQ(r.text("/keys/generations/000002/agent.key"), "k");
  EXPECT_EQ(r.entries.at("/keys/generations/000002/agent.key").mode, 0600u);
  EXPECT_EQ(steps(r), (std::vector<std::string>{"pre", "install", "post", "check"}));
}

TEST(PushNode, SameGenerationIsUnchangedAndUntouched) {
  Fixture f;
  f.opened.manifest.generation = 1;
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::unchanged);
  EXPECT_FALSE(r.exists("/stage"));
  EXPECT_TRUE(steps(r).empty());
}

TEST(PushNode, DigestMismatchFailsAtDigestAndLeavesCurrent) {
  Fixture f;
  FakeRemote r;
  give_shell(r);
  r.digest_override = std::string(64, '0');
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.step, "digest");
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001");
  EXPECT_TRUE(steps(r).empty());
}

TEST(PushNode, FailuresNameTheirStepAndLeaveCurrent) {
  // exec failures match on a word of the command; the staged and temporary paths are random.
  for (auto [op, path, step] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"mkdir", "/stage", "staging"},
           {"upload", "", "upload"},
           {"request", "sha256", "digest"},
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

TEST(PushNode, CheckHookFailureIsReportedAtCheck) {
  Fixture f;
  f.node.check = "false";
  FakeRemote r;
  give_shell(r);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.step, "check");
}

TEST(ParseSha256sum, TakesTheDigest) {
  EXPECT_EQ(parse_sha256sum(std::string(64, 'A') + "  /x"), std::string(64, 'a'));
  EXPECT_EQ(parse_sha256sum("nope"), "");
}

}  // namespace
}  // namespace kf
