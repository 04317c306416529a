// keyfleet push against real sshd daemons on loopback.
#include <gtest/gtest.h>

#include "support/fleet_fixture.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;
using test::keyfleet;

TEST(Push, InstallsEverywhereThenRerunIsUnchangedAndBadHostKeyReceivesNothing) {
  Fleet fleet(5);
  test::TempDir work;
  std::string inv = fleet.inventory().string();
  fs::path pass = work / "pass";
  test::write_text(pass, "integration passphrase\n");
  fs::permissions(pass, fs::owner_read | fs::owner_write);
  ASSERT_EQ(
      keyfleet({"create-keys", "--out", (work / "keys").string(), "--inventory", inv}).exit_code,
      0);
  auto made =
      keyfleet({"bundle", "--keys", (work / "keys").string(), "--out", (work / "b.kfb").string(),
                "--passphrase-file", pass.string(), "--work-factor", "10"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::vector<std::string> push = {"push", (work / "b.kfb").string(), "--inventory",
                                   inv,    "--passphrase-file",       pass.string()};

  EXPECT_EQ(keyfleet(push).exit_code, 4);  // no terminal, no --yes
  EXPECT_FALSE(fs::exists(fs::path(fleet.node(1).dest) / "current"));

  fleet.corrupt_known_host(2);
  push.push_back("--yes");
  auto first = keyfleet(push);
  EXPECT_EQ(first.exit_code, 1) << first.out << first.err;
  EXPECT_NE(first.out.find("hostkey"), std::string::npos) << first.out;
  EXPECT_TRUE(!fs::exists(fleet.node(2).staging) || fs::is_empty(fleet.node(2).staging));
  EXPECT_FALSE(fs::exists(fs::path(fleet.node(2).dest) / "current"));
  for (int k : {1, 3, 4, 5}) {
    fs::path current = fs::path(fleet.node(k).dest) / "current";
    EXPECT_EQ(fs::read_symlink(current).string(), "generations/000001") << k;
    EXPECT_EQ(test::read_text(current / "agent.key"), test::read_text(work / "keys" / "agent.key"));
    EXPECT_EQ(test::read_text(current / "keystore.p12"),
              test::read_text(work / "keys" / "keystore.p12"));
    EXPECT_FALSE(fs::exists(current / "ca.key"));  // bundles leave the CA key at home
  }
  fleet.restore_known_hosts();
  EXPECT_EQ(keyfleet(push).exit_code, 0);  // node2 now installed, the others unchanged
  push.push_back("--json");
  auto again = keyfleet(push);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("\"unchanged\": 5"), std::string::npos) << again.out;
}

}  // namespace
}  // namespace kf
