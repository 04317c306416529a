// Inventory `owner` and `group`: who owns the installed generations on the node.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "integration/push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::Fleet;
using test::nodes_of;

TEST(Owner, InstalledFilesBelongToTheInventorysOwnerAndAnUnknownOneFailsFirst) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown on the node needs the fleet to run as root";
  const passwd* nobody = ::getpwnam("nobody");
  const group* nogroup = ::getgrnam("nogroup");
  if (nobody == nullptr || nogroup == nullptr) GTEST_SKIP() << "no nobody:nogroup here";
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nogroup->gr_gid;

  Fleet fleet(2);
  Bundles bundles(fleet, 1);
  fs::path inventory = fleet.inventory_with(
      "owner.toml",
      {{1, "owner = \"nobody\"\ngroup = \"nogroup\""}, {2, "owner = \"no-such-kf\""}});
  auto before = test::tree(fleet.node(2).dest);

  auto planned = bundles.push(1, inventory, {"--dry-run"});
  EXPECT_EQ(planned.exit_code, 1) << planned.out << planned.err;
  auto nodes = nodes_of(planned);
  EXPECT_EQ(nodes["node1"]["status"], "would-install");
  EXPECT_EQ(nodes["node2"]["status"], "failed");
  EXPECT_EQ(nodes["node2"]["step"], "owner");

  auto pushed = bundles.push(1, inventory);
  EXPECT_EQ(pushed.exit_code, 1) << pushed.out << pushed.err;
  nodes = nodes_of(pushed);
  EXPECT_EQ(nodes["node1"]["status"], "ok") << pushed.out;
  EXPECT_EQ(nodes["node2"]["status"], "failed");
  EXPECT_EQ(nodes["node2"]["step"], "owner");
  EXPECT_NE(nodes["node2"]["error"].get<std::string>().find("owner 'no-such-kf' does not exist"),
            std::string::npos)
      << nodes["node2"];
  EXPECT_EQ(test::tree(fleet.node(2).dest), before);

  const fs::path generations = fs::path(fleet.node(1).dest) / "generations";
  struct stat st {};
  ASSERT_EQ(::stat(generations.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, gid);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  std::size_t files = 0;
  for (fs::recursive_directory_iterator it(generations / "000001"), end; it != end; ++it) {
    ASSERT_EQ(::lstat(it->path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, uid) << it->path();
    EXPECT_EQ(st.st_gid, gid) << it->path();
    ++files;
  }
  EXPECT_GE(files, 6u);
}

}  // namespace
}  // namespace kf
