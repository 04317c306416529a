// push_node's steps against an in-memory node.
#include <gtest/gtest.h>

#include "fleet/push.hpp"
#include "pki/manifest.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;

std::vector<std::string> switch_args(std::string_view command) {
  auto at = command.find(" keyfleet-switch ");
  std::string rest(command.substr(at + 17));
  std::vector<std::string> words;
  for (std::size_t i = 0; i < rest.size();) {
    auto end = rest.find('\'', i + 1);
    words.push_back(rest.substr(i + 1, end - i - 1));
    i = end + 2;
  }
  return words;
}

// Plays the node's shell: sha256sum, the switch script, rm -rf, and hooks (logged in `hooks`).
void give_shell(FakeRemote& r, std::vector<std::string>& hooks, std::string bad_digest = "") {
  r.on_exec = [&r, &hooks, bad_digest](std::string_view cmd,
                                       std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    std::string c(cmd);
    if (c.starts_with("sha256sum -- '")) {
      std::string path = c.substr(14, c.size() - 15);
      auto data = r.entries.at(path).data;
      return ExecResult{0, (bad_digest.empty() ? sha256_hex(data) : bad_digest) + "  " + path, ""};
    }
    if (c.find(" keyfleet-switch ") != std::string::npos) {
      auto a = switch_args(c);
      std::string gens = a[0] + "/generations/";
      if (!a[1].empty()) KF_CHECK(r.rename(gens + a[1], gens + a[2]));
      EXPECT_TRUE(r.entries.contains(a[0] + "/" + a[4])) << "no link made over SFTP";
      r.entries.erase(a[0] + "/" + a[4]);
      r.entries.erase(a[0] + "/current");
      KF_CHECK(r.symlink("generations/" + a[2], a[0] + "/current"));
      hooks.push_back("install");
      return ExecResult{0, "", ""};
    }
    if (c.starts_with("rm -rf")) return ExecResult{0, "", ""};
    hooks.push_back(c.substr(c.rfind("; ") + 2));
    return ExecResult{c.ends_with("false") ? 1 : 0, "", ""};
  };
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
  std::vector<std::string> hooks;
  give_shell(r, hooks);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::ok) << out.error;
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000002");
  EXPECT_EQ(r.text("/keys/generations/000002/agent.key"), "k");
  EXPECT_EQ(r.entries.at("/keys/generations/000002/agent.key").mode, 0600u);
  EXPECT_EQ(hooks, (std::vector<std::string>{"pre", "install", "post", "check"}));
}

TEST(PushNode, SameGenerationIsUnchangedAndUntouched) {
  Fixture f;
  f.opened.manifest.generation = 1;
  FakeRemote r;
  std::vector<std::string> hooks;
  give_shell(r, hooks);
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::unchanged);
  EXPECT_FALSE(r.exists("/stage"));
  EXPECT_TRUE(hooks.empty());
}

TEST(PushNode, DigestMismatchFailsAtDigestAndLeavesCurrent) {
  Fixture f;
  FakeRemote r;
  std::vector<std::string> hooks;
  give_shell(r, hooks, std::string(64, '0'));
  on_generation_one(r);
  auto out = push_node(r, f.node, f.payload(), {});
  EXPECT_EQ(out.status, NodeStatus::failed);
  EXPECT_EQ(out.step, "digest");
  EXPECT_EQ(r.entries.at("/keys/current").target, "generations/000001");
  EXPECT_TRUE(hooks.empty());
}

TEST(PushNode, FailuresNameTheirStepAndLeaveCurrent) {
  // exec failures match on a word of the command; the staged and temporary paths are random.
  for (auto [op, path, step] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"mkdir", "/stage", "staging"},
           {"upload", "", "upload"},
           {"exec", "sha256sum", "digest"},
           {"exec", "keyfleet-switch", "install"}}) {
    Fixture f;
    FakeRemote r;
    std::vector<std::string> hooks;
    give_shell(r, hooks);
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
  std::vector<std::string> hooks;
  give_shell(r, hooks);
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
