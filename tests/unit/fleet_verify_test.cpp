// verify's per-node logic against an in-memory node.
#include "fleet/verify.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/secret.hpp"
#include "keydir/layout.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;
using ::testing::HasSubstr;
using ::testing::Not;

struct Spec {
  std::string name;
  mode_t mode;
  std::string data;
};

const std::vector<Spec> kFiles = {
    {"agent.crt", 0644, "agent certificate"},
    {"agent.key", 0600, "agent private key"},
    {"ca.crt", 0644, "ca certificate"},
    {"ca.key", 0600, "ca private key"},
};

std::vector<std::uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

Manifest manifest_of(const std::vector<Spec>& files, std::uint64_t generation) {
  Manifest m;
  m.generation = generation;
  m.created = "2026-01-31T12:00:00Z";
  m.key_type = "ec-p256";
  m.hosts = {"node1"};
  m.not_after = "2027-01-31T12:00:00Z";
  m.ca_fingerprint = "sha256:" + std::string(64, 'a');
  m.agent_fingerprint = "sha256:" + std::string(64, 'b');
  for (const auto& f : files) {
    m.files.push_back({f.name, f.data.size(), f.mode, sha256_hex(as_bytes(f.data))});
  }
  return m;
}

// DEST=/dest with generation `generation` holding `files` and current pointing at it.
void install(FakeRemote& node, std::uint64_t generation, const std::vector<Spec>& files = kFiles,
             bool make_current = true) {
  if (!node.exists("/dest")) node.add_dir("/dest", 0700);
  if (!node.exists("/dest/generations")) node.add_dir("/dest/generations", 0700);
  std::string dir = "/dest/generations/" + generation_name(generation);
  node.add_dir(dir, 0700);
  for (const auto& f : files) node.add_file(dir + "/" + f.name, f.data, f.mode);
  node.add_file(dir + "/manifest.json", serialize(manifest_of(files, generation)), 0644);
  if (make_current) {
    node.entries.erase("/dest/current");
    ASSERT_TRUE(node.symlink(keydir::KeyDir::link_target(generation), "/dest/current"));
  }
}

TEST(FleetVerify, IdenticalInstallIsOk) {
  FakeRemote node("node1");
  install(node, 3);
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::ok) << outcome.error;
  EXPECT_EQ(outcome.generation, 3u);
}

TEST(FleetVerify, EditedFileIsMismatchNamingTheFile) {
  FakeRemote node("node1");
  install(node, 3);
  node.entries["/dest/generations/000003/agent.key"].data = bytes("agent private kez");
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::mismatch);
  EXPECT_THAT(outcome.error, HasSubstr("agent.key (digest differs)"));
  EXPECT_THAT(outcome.error, Not(HasSubstr("agent.crt")));
}

TEST(FleetVerify, MissingExtraResizedAndModeChangedFilesAreNamed) {
  FakeRemote node("node1");
  install(node, 3);
  node.entries.erase("/dest/generations/000003/ca.crt");
  node.add_file("/dest/generations/000003/extra.pem", "x", 0600);
  node.entries["/dest/generations/000003/agent.crt"].data = bytes("short");
  node.entries["/dest/generations/000003/agent.key"].mode = 0644;
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::mismatch);
  EXPECT_THAT(outcome.error, HasSubstr("ca.crt (missing)"));
  EXPECT_THAT(outcome.error, HasSubstr("extra.pem (not in the manifest)"));
  EXPECT_THAT(outcome.error, HasSubstr("agent.crt (size 5 instead of 17)"));
  EXPECT_THAT(outcome.error, HasSubstr("agent.key (mode 0644 instead of 0600)"));
}

TEST(FleetVerify, SymlinkInGenerationIsMismatch) {
  FakeRemote node("node1");
  install(node, 3);
  node.entries.erase("/dest/generations/000003/agent.key");
  ASSERT_TRUE(node.symlink("/etc/shadow", "/dest/generations/000003/agent.key"));
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::mismatch);
  EXPECT_THAT(outcome.error, HasSubstr("agent.key (not a regular file)"));
  EXPECT_THAT(node.log,
              Not(::testing::Contains(HasSubstr("read_file /dest/generations/000003/agent.key"))));
}

TEST(FleetVerify, OlderGenerationIsStale) {
  FakeRemote node("node1");
  install(node, 2);
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::stale);
  EXPECT_THAT(outcome.error, HasSubstr("000002"));
  EXPECT_EQ(outcome.generation, 2u);
}

TEST(FleetVerify, NoCurrentIsMissing) {
  FakeRemote node("node1");
  node.add_dir("/dest", 0700);
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::missing);
  EXPECT_THAT(outcome.error, HasSubstr("/dest/current"));
}

TEST(FleetVerify, TransportErrorKeepsItsStatus) {
  FakeRemote node("node1");
  install(node, 3);
  node.fail_next("read_file", "",
                 NodeError{NodeStatus::timeout, "sftp", "node1: deadline ran out"});
  NodeOutcome outcome = verify_node(node, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::timeout);
}

TEST(FleetVerify, CaKeyIsExcusedOnlyWhenTheInstalledManifestLacksIt) {
  std::vector<Spec> without_ca_key(kFiles.begin(), kFiles.begin() + 3);
  FakeRemote node("node1");
  install(node, 3, without_ca_key);
  EXPECT_EQ(verify_node(node, "/dest", manifest_of(kFiles, 3)).status, NodeStatus::ok);

  FakeRemote full("node2");
  install(full, 3);
  full.entries.erase("/dest/generations/000003/ca.key");
  NodeOutcome outcome = verify_node(full, "/dest", manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::mismatch);
  EXPECT_THAT(outcome.error, HasSubstr("ca.key (missing)"));
}

TEST(FleetVerify, MajorityNamesTheOddNodesOut) {
  std::vector<std::optional<NodeInstall>> installs;
  std::vector<NodeReport> reports;
  for (int k = 1; k <= 4; ++k) {
    FakeRemote node("node" + std::to_string(k));
    install(node, k == 4 ? 2 : 3);
    if (k == 3) node.entries["/dest/generations/000003/ca.crt"].data = bytes("forged");
    auto read = read_install(node, "/dest");
    ASSERT_TRUE(read) << read.error().message;
    installs.push_back(std::move(*read));
    reports.push_back({node.node_name(), "h", NodeStatus::ok, "read", "", {}, 0});
  }
  installs.push_back(std::nullopt);
  reports.push_back({"node5", "h", NodeStatus::unreachable, "connect", "refused", {}, 0});

  EXPECT_EQ(judge_by_majority(reports, installs), 3u);
  EXPECT_EQ(reports[0].status, NodeStatus::ok);
  EXPECT_EQ(reports[1].status, NodeStatus::ok);
  EXPECT_EQ(reports[2].status, NodeStatus::mismatch);
  EXPECT_THAT(reports[2].error, HasSubstr("ca.crt"));
  EXPECT_EQ(reports[3].status, NodeStatus::stale);
  EXPECT_EQ(reports[4].status, NodeStatus::unreachable);
}

// A file edited alike on most nodes must not make the one intact node the odd one out: only a
// generation that matches its own manifest votes, and one that does not is a mismatch.
TEST(FleetVerify, MajorityCountsOnlyCompleteGenerations) {
  std::vector<std::optional<NodeInstall>> installs;
  std::vector<NodeReport> reports;
  for (int k = 1; k <= 3; ++k) {
    FakeRemote node("node" + std::to_string(k));
    install(node, 2);
    if (k != 3) node.entries["/dest/generations/000002/agent.key"].data = bytes("replaced");
    auto read = read_install(node, "/dest");
    ASSERT_TRUE(read) << read.error().message;
    installs.push_back(std::move(*read));
    reports.push_back({node.node_name(), "h", NodeStatus::ok, "read", "", {}, 0});
  }
  EXPECT_EQ(judge_by_majority(reports, installs), 2u);
  for (int i : {0, 1}) {
    EXPECT_EQ(reports[i].status, NodeStatus::mismatch) << i;
    EXPECT_THAT(reports[i].error,
                HasSubstr("generation 000002 differs from its manifest: agent.key"));
  }
  EXPECT_EQ(reports[2].status, NodeStatus::ok) << reports[2].error;

  // A lone node (or a fleet edited alike everywhere) agrees with nobody but its manifest.
  std::vector<std::optional<NodeInstall>> alone = {installs[0]};
  std::vector<NodeReport> report = {{"node1", "h", NodeStatus::ok, "read", "", {}, 0}};
  EXPECT_EQ(judge_by_majority(report, alone), std::nullopt);
  EXPECT_EQ(report[0].status, NodeStatus::mismatch);
  EXPECT_THAT(report[0].error, HasSubstr("agent.key (size 8 instead of 17)"));
}

}  // namespace
}  // namespace kf
