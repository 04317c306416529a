// keyfleet rollback against real sshd daemons on loopback.
#include <gtest/gtest.h>

#include "support/fleet_fixture.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::keyfleet;

TEST(Rollback, RestoresThePreviousGenerationEverywhere) {
  test::Fleet fleet(2);
  test::TempDir work;
  std::string inv = fleet.inventory().string();
  std::string keys = (work / "keys").string();
  fs::path pass = work / "pass";
  test::write_text(pass, "integration passphrase\n");
  for (std::string gen : {"1", "2"}) {
    std::vector<std::string> create = {"create-keys", "--out", keys, "--inventory", inv};
    if (gen == "2") create.push_back("--force");
    ASSERT_EQ(keyfleet(create).exit_code, 0);
    std::string b = (work / ("b" + gen)).string();
    ASSERT_EQ(keyfleet({"bundle", "--keys", keys, "--out", b, "--passphrase-file", pass.string(),
                        "--work-factor", "10"})
                  .exit_code,
              0);
    auto pushed =
        keyfleet({"push", b, "--inventory", inv, "--passphrase-file", pass.string(), "--yes"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  }
  auto current = [&](int k) {
    return fs::read_symlink(fs::path(fleet.node(k).dest) / "current").string();
  };
  EXPECT_EQ(current(1), "generations/000002");
  EXPECT_EQ(keyfleet({"rollback", "--inventory", inv}).exit_code, 4);  // no terminal, no --yes
  auto back = keyfleet({"rollback", "--inventory", inv, "--yes"});
  EXPECT_EQ(back.exit_code, 0) << back.out << back.err;
  for (int k : {1, 2}) EXPECT_EQ(current(k), "generations/000001");
  auto none = keyfleet({"rollback", "--inventory", inv, "--yes"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.out.find("no complete generation older"), std::string::npos) << none.out;
  for (int k : {1, 2}) EXPECT_EQ(current(k), "generations/000001");
  EXPECT_EQ(keyfleet({"rollback", "--inventory", inv, "--to", "2", "--yes"}).exit_code, 0);
  for (int k : {1, 2}) EXPECT_EQ(current(k), "generations/000002");
}

}  // namespace
}  // namespace kf
