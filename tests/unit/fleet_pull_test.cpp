// pull's logic against this machine as the node (LocalRemote: real files, real sha256sum) and
// against an in-memory node whose sha256sum lies, for the mismatch no real node gives on cue.
#include "fleet/pull.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <boost/filesystem/operations.hpp>

#include "keydir/local_remote.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;
namespace fs = boost::filesystem;

Connector local_node() {
  return [](const NodeConfig& node) -> NodeResult<std::shared_ptr<Remote>> {
    return std::make_shared<keydir::LocalRemote>(node.name);
  };
}

NodeConfig node1() {
  NodeConfig node;
  node.name = "node1";
  return node;
}

void make_source(const fs::path& src) {
  fs::create_directories(src / ".ssl");
  fs::create_directories(src / "private-keys-v1.d");
  ::chmod(src.c_str(), 0700);
  ::chmod((src / "private-keys-v1.d").c_str(), 0700);
  test::write_text(src / "secring.gpg", "ring", 0600);
  test::write_text(src / "pubring.gpg", "pub", 0644);
  test::write_text(src / ".ssl" / "ssl.key", "tls", 0600);
  test::write_text(src / "private-keys-v1.d" / "A.key", "key", 0600);
}

TEST(Pull, ReadsTheTreeChecksDigestsOnTheNodeAndWritesTheNextGeneration) {
  TempDir tmp;
  make_source(tmp / "src");
  PullOptions options{(tmp / "src").string(), tmp / "keys", {".ssl"}, false};
  auto pulled = pull_keyset(node1(), options, local_node());
  ASSERT_TRUE(pulled) << pulled.error().message;
  const Manifest& m = pulled->created.manifest;
  EXPECT_TRUE(m.imported());
  EXPECT_EQ(m.exclude, (std::vector<std::string>{".ssl"}));
  EXPECT_EQ(pulled->created.excluded, (std::vector<std::string>{".ssl"}));
  std::vector<std::string> names;
  for (const auto& f : m.files) names.push_back(f.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"private-keys-v1.d/A.key", "pubring.gpg", "secring.gpg"}));
  EXPECT_EQ(m.find("pubring.gpg")->mode, 0644u);  // the node's mode, in the manifest
  EXPECT_EQ(test::file_mode(tmp / "keys" / "pubring.gpg"), 0600u);
  EXPECT_EQ(test::file_mode(tmp / "keys" / "private-keys-v1.d"), 0700u);
  EXPECT_FALSE(fs::exists(tmp / "keys" / ".ssl"));

  // Again: refused without --force, the next generation of the same lineage with it.
  auto again = pull_keyset(node1(), options, local_node());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ExitCode::refused);
  options.force = true;
  auto second = pull_keyset(node1(), options, local_node());
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->created.manifest.generation, 2u);
  EXPECT_EQ(second->created.manifest.keyset, m.keyset);
}

TEST(Pull, RefusesSymlinksAndOtherTypesNamingThem) {
  TempDir tmp;
  make_source(tmp / "src");
  fs::create_symlink("/etc/passwd", tmp / "src" / "private-keys-v1.d" / "evil");
  PullOptions options{(tmp / "src").string(), tmp / "keys", {}, false};
  auto pulled = pull_keyset(node1(), options, local_node());
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, ExitCode::usage);
  EXPECT_NE(pulled.error().message.find("node1:" + (tmp / "src").string() +
                                        ": 'private-keys-v1.d/evil' is a symbolic link"),
            std::string::npos)
      << pulled.error().message;
  EXPECT_FALSE(fs::exists(tmp / "keys" / "manifest.json"));

  // The top directory itself as a symlink: refused too.
  fs::create_directory_symlink(tmp / "src", tmp / "link");
  auto linked =
      pull_keyset(node1(), {(tmp / "link").string(), tmp / "keys2", {}, false}, local_node());
  ASSERT_FALSE(linked);
  EXPECT_NE(linked.error().message.find("a symbolic link on the node"), std::string::npos)
      << linked.error().message;
}

TEST(Pull, ADigestThatDiffersOnTheNodeIsExit3AndWritesNothing) {
  TempDir tmp;
  auto fake = std::make_shared<test::FakeRemote>("node1");
  fake->add_dir("/kt", 0700);
  fake->add_file("/kt/secring.gpg", "ring", 0600);
  fake->add_dir("/kt/sub", 0750);
  fake->add_file("/kt/sub/x", "x", 0640);
  std::vector<std::string> commands;
  std::string answer;
  fake->on_exec = [&](std::string_view command, std::span<const std::uint8_t>) {
    commands.emplace_back(command);
    return NodeResult<ExecResult>(ExecResult{0, answer, ""});
  };
  Connector connect = [&](const NodeConfig&) -> NodeResult<std::shared_ptr<Remote>> {
    return fake;
  };
  auto digest = [](std::string_view text) { return sha256_hex(as_bytes(text)); };
  answer = digest("ring") + "  secring.gpg\n" + std::string(64, '0') + "  sub/x\n";
  auto pulled = pull_keyset(node1(), {"/kt", tmp / "keys", {}, false}, connect);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, ExitCode::integrity);
  EXPECT_NE(pulled.error().message.find("node1:/kt: 'sub/x' has SHA-256 " + std::string(64, '0') +
                                        " on the node"),
            std::string::npos)
      << pulled.error().message;
  EXPECT_FALSE(fs::exists(tmp / "keys"));
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0], "cd -- '/kt' && sha256sum -- 'secring.gpg' 'sub/x'");

  // A sha256sum that fails is no match either.
  fake->on_exec = [](std::string_view, std::span<const std::uint8_t>) {
    return NodeResult<ExecResult>(ExecResult{1, "", "sha256sum: sub/x: Permission denied\n"});
  };
  auto failed = pull_keyset(node1(), {"/kt", tmp / "keys", {}, false}, connect);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ExitCode::integrity);

  // The truth: written, with the node's modes in the manifest.
  answer = digest("ring") + "  secring.gpg\n" + digest("x") + "  sub/x\n";
  fake->on_exec = [&](std::string_view, std::span<const std::uint8_t>) {
    return NodeResult<ExecResult>(ExecResult{0, answer, ""});
  };
  auto ok = pull_keyset(node1(), {"/kt", tmp / "keys", {}, false}, connect);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->created.manifest.find("sub/x")->mode, 0640u);
  EXPECT_EQ(ok->created.manifest.find_directory("sub")->mode, 0750u);
}

// /var/lib -> /data/var/lib is common and legitimate: links above --path are followed, once,
// as the node resolves them, and everything is read under the real path, which pull names. The
// directory itself must be real: a link there is refused, as inside the tree.
TEST(Pull, FollowsLinksAboveThePathOnceAndNamesTheRealDirectory) {
  TempDir tmp;
  make_source(tmp / "data" / "var" / "lib" / "kt");
  fs::create_directories(tmp / "var");
  fs::create_symlink("../data/var/lib", tmp / "var" / "lib");
  const std::string given = (tmp / "var" / "lib" / "kt").string();
  const std::string real = fs::canonical(tmp / "data" / "var" / "lib" / "kt").string();
  keydir::LocalRemote remote("node1");
  auto resolved = resolve_parents(remote, given);
  ASSERT_TRUE(resolved) << resolved.error().message;
  EXPECT_EQ(*resolved, real);

  PullOptions options{given, tmp / "keys", {".ssl"}, false};
  auto pulled = pull_keyset(node1(), options, local_node());
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(pulled->path, given);
  EXPECT_EQ(pulled->resolved, real);
  EXPECT_EQ(test::read_text(tmp / "keys" / "secring.gpg"), "ring");

  // The last component a link: refused, nothing written.
  fs::create_symlink(real, tmp / "kt-link");
  options = {(tmp / "kt-link").string(), tmp / "keys2", {}, false};
  auto refused = pull_keyset(node1(), options, local_node());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ExitCode::usage);
  EXPECT_NE(refused.error().message.find("a symbolic link on the node"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(fs::exists(tmp / "keys2"));

  // A missing or non-directory component above is named; a loop ends.
  auto missing = resolve_parents(remote, (tmp / "nope" / "kt").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("does not exist on the node"), std::string::npos);
  test::write_text(tmp / "file", "x");
  auto file = resolve_parents(remote, (tmp / "file" / "kt").string());
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("is not a directory"), std::string::npos);
  fs::create_symlink("loop", tmp / "loop");
  auto loop = resolve_parents(remote, (tmp / "loop" / "kt").string());
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.error().message.find("more than 40 symbolic links"), std::string::npos);
}

TEST(Pull, PathChecks) {
  EXPECT_EQ(check_pull_path("/var/lib//keytrustee/.keytrustee/").value(),
            "/var/lib/keytrustee/.keytrustee");
  for (std::string_view bad : {"relative", "/", "/a/../b", "/a/./b", "/a\nb", ""}) {
    auto r = check_pull_path(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ExitCode::usage);
  }
}

}  // namespace
}  // namespace kf
