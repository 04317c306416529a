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
    ASSERT_TRUE(node.symlink(keydir::KeyDir("/dest").link_target(generation), "/dest/current"));
  }
}

TEST(FleetVerify, IdenticalInstallIsOk) {
  FakeRemote node("node1");
  install(node, 3);
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::ok) << outcome.error;
  EXPECT_EQ(outcome.generation, 3u);
}

TEST(FleetVerify, EditedFileIsMismatchNamingTheFile) {
  FakeRemote node("node1");
  install(node, 3);
  node.entries["/dest/generations/000003/agent.key"].data = bytes("agent private kez");
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
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
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
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
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::mismatch);
  EXPECT_THAT(outcome.error, HasSubstr("agent.key (not a regular file)"));
  EXPECT_THAT(node.log,
              Not(::testing::Contains(HasSubstr("read_file /dest/generations/000003/agent.key"))));
}

TEST(FleetVerify, OlderGenerationIsStale) {
  FakeRemote node("node1");
  install(node, 2);
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::stale);
  EXPECT_THAT(outcome.error, HasSubstr("000002"));
  EXPECT_EQ(outcome.generation, 2u);
}

TEST(FleetVerify, NoCurrentIsMissing) {
  FakeRemote node("node1");
  node.add_dir("/dest", 0700);
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::missing);
  EXPECT_THAT(outcome.error, HasSubstr("/dest/current"));
}

TEST(FleetVerify, TransportErrorKeepsItsStatus) {
  FakeRemote node("node1");
  install(node, 3);
  node.fail_next("read_file", "",
                 NodeError{NodeStatus::timeout, "sftp", "node1: deadline ran out"});
  NodeOutcome outcome = verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
  EXPECT_EQ(outcome.status, NodeStatus::timeout);
}

TEST(FleetVerify, CaKeyIsExcusedOnlyWhenTheInstalledManifestLacksIt) {
  std::vector<Spec> without_ca_key(kFiles.begin(), kFiles.begin() + 3);
  FakeRemote node("node1");
  install(node, 3, without_ca_key);
  EXPECT_EQ(verify_node(node, keydir::KeyDir("/dest"), manifest_of(kFiles, 3)).status,
            NodeStatus::ok);

  FakeRemote full("node2");
  install(full, 3);
  full.entries.erase("/dest/generations/000003/ca.key");
  NodeOutcome outcome = verify_node(full, keydir::KeyDir("/dest"), manifest_of(kFiles, 3));
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
    auto read = read_install(node, keydir::KeyDir("/dest"));
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
    auto read = read_install(node, keydir::KeyDir("/dest"));
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

// The source of a pull: a real directory at DEST (layout "link") that keyfleet does not manage,
// checked by content against the manifest. What the import excluded (the manifest's `exclude`)
// and what the service writes (runtime_files) count on neither side.
TEST(FleetVerify, AnUnmanagedDirectoryIsComparedByContent) {
  const std::vector<Spec> ring = {{"pubring.kbx", 0644, "public ring"},
                                  {"private-keys-v1.d/A.key", 0600, "secret key"}};
  Manifest manifest = manifest_of(ring, 4);
  manifest.kind = std::string(kKindImported);
  manifest.directories = {{"private-keys-v1.d", 0700}};
  manifest.exclude = {".ssl"};
  FakeRemote node("kms1");
  node.add_dir("/srv/kt", 0700);
  for (const auto& f : ring) node.add_file("/srv/kt/" + f.name, f.data, f.mode);
  node.entries.at("/srv/kt/private-keys-v1.d").mode = 0700;
  node.add_file("/srv/kt/.ssl/ssl-cert-keytrustee.pem", "tls", 0600);
  node.add_file("/srv/kt/random_seed", "seed", 0600);
  auto seed = PathPattern::parse("random_seed");
  ASSERT_TRUE(seed);
  const keydir::KeyDir dir("/srv/kt", DestLayout::link, {*seed});

  NodeOutcome outcome = verify_node(node, dir, manifest);
  EXPECT_EQ(outcome.status, NodeStatus::ok) << outcome.error;
  EXPECT_EQ(outcome.generation, std::nullopt);
  EXPECT_THAT(outcome.detail, HasSubstr("/srv/kt is a directory keyfleet does not manage"));
  EXPECT_THAT(outcome.detail, HasSubstr("unmanaged"));
  EXPECT_FALSE(node.exists("/srv/kt.generations")) << "verify writes nothing";

  // Without the runtime pattern, the service's file is a difference; so is an edited key.
  EXPECT_EQ(verify_node(node, keydir::KeyDir("/srv/kt", DestLayout::link), manifest).status,
            NodeStatus::mismatch);
  node.entries.at("/srv/kt/pubring.kbx").data = bytes("other ring!");
  outcome = verify_node(node, dir, manifest);
  EXPECT_EQ(outcome.status, NodeStatus::mismatch);
  EXPECT_THAT(outcome.error, HasSubstr("pubring.kbx (digest differs)"));
  EXPECT_THAT(outcome.error, HasSubstr("does not manage"));
}

// Without a manifest the unmanaged source does not vote; it is held to what most nodes hold.
TEST(FleetVerify, MajorityComparesAnUnmanagedDirectoryWithTheReference) {
  const std::vector<Spec> ring = {{"pubring.kbx", 0644, "public ring"}};
  std::vector<std::optional<NodeInstall>> installs;
  std::vector<NodeReport> reports;
  FakeRemote source("kms1");
  source.add_dir("/srv/kt", 0700);
  source.add_file("/srv/kt/pubring.kbx", "public ring", 0644);
  source.add_file("/srv/kt/.ssl/x.pem", "tls", 0600);
  auto read = read_install(source, keydir::KeyDir("/srv/kt", DestLayout::link));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_TRUE(read->unmanaged);
  installs.push_back(std::move(*read));
  reports.push_back({"kms1", "h", NodeStatus::ok, "read", "", {}, 0});
  for (int k = 2; k <= 3; ++k) {
    FakeRemote node("kms" + std::to_string(k));
    Manifest m = manifest_of(ring, 1);
    m.kind = std::string(kKindImported);
    m.exclude = {".ssl"};
    node.add_dir("/dest/generations/000001", 0700);
    node.add_file("/dest/generations/000001/pubring.kbx", "public ring", 0644);
    node.add_file("/dest/generations/000001/manifest.json", serialize(m), 0644);
    ASSERT_TRUE(node.symlink("generations/000001", "/dest/current"));
    auto got = read_install(node, keydir::KeyDir("/dest"));
    ASSERT_TRUE(got) << got.error().message;
    installs.push_back(std::move(*got));
    reports.push_back({node.node_name(), "h", NodeStatus::ok, "read", "", {}, 0});
  }
  EXPECT_EQ(judge_by_majority(reports, installs), 1u);
  EXPECT_EQ(reports[0].status, NodeStatus::ok) << reports[0].error;
  EXPECT_EQ(reports[0].generation, std::nullopt);
  EXPECT_THAT(reports[0].detail, HasSubstr("unmanaged"));
  EXPECT_EQ(reports[1].status, NodeStatus::ok);

  for (auto& f : installs[0]->files) {
    if (f.name == "pubring.kbx") f.sha256 = std::string(64, '0');
  }
  reports[0] = {"kms1", "h", NodeStatus::ok, "read", "", {}, 0};
  judge_by_majority(reports, installs);
  EXPECT_EQ(reports[0].status, NodeStatus::mismatch);
  EXPECT_THAT(reports[0].error, HasSubstr("pubring.kbx (digest differs)"));
}

}  // namespace
}  // namespace kf
