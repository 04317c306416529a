// keyfleet push when nodes fail under it: down, stalled, killed mid-upload, out of disk space.
// Real sshd daemons on loopback; every failing node must end on the generation it had.
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::current_of;
using test::Fleet;
using test::nodes_of;

// A [[node]] table for a node outside the fleet (nothing listening, or a stalled listener).
std::string extra_node(const Fleet& fleet, const std::string& name, int port, int connect_timeout) {
  fs::path dir = fleet.dir() / name;
  return fmt::format(
      "\n[[node]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\nconnect_timeout = {}\n"
      "dest = \"{}/dest\"\nstaging = \"{}/staging\"\n",
      name, port, connect_timeout, dir.string(), dir.string());
}

TEST(PushFailure, DownAndStalledNodesFailWithinTheirConnectTimeoutWhileOthersInstall) {
  Fleet fleet(3);
  Bundles bundles(fleet, 1);
  test::SilentListener stalled;
  constexpr int kConnectTimeout = 2;
  fs::path inventory =
      fleet.inventory_with("down.toml", {},
                           extra_node(fleet, "ghost", test::unused_port(), kConnectTimeout) +
                               extra_node(fleet, "stalled", stalled.port(), kConnectTimeout));
  fleet.kill_node(2);

  auto result = bundles.push(1, inventory);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = nodes_of(result);
  ASSERT_EQ(nodes.size(), 5u) << result.out;
  EXPECT_EQ(nodes["node2"]["status"], "unreachable") << nodes["node2"];
  EXPECT_EQ(nodes["ghost"]["status"], "unreachable") << nodes["ghost"];
  EXPECT_EQ(nodes["ghost"]["step"], "connect") << nodes["ghost"];
  // The kernel completes the stalled peer's handshake, so TCP connects and SSH never answers.
  EXPECT_TRUE(nodes["stalled"]["status"] == "timeout" ||
              nodes["stalled"]["status"] == "unreachable")
      << nodes["stalled"];
  // Functional bound, not a speed target: the connect timeout holds, the 60 s node timeout
  // never comes into it.
  EXPECT_LT(nodes["stalled"]["seconds"].get<double>(), kConnectTimeout + 5) << nodes["stalled"];
  EXPECT_LT(nodes["ghost"]["seconds"].get<double>(), kConnectTimeout + 5) << nodes["ghost"];
  for (const std::string name : {"node2", "ghost", "stalled"}) {
    EXPECT_FALSE(nodes[name]["error"].get<std::string>().empty()) << nodes[name];
  }
  for (int k : {1, 3}) {
    EXPECT_EQ(nodes["node" + std::to_string(k)]["status"], "ok") << result.out;
    EXPECT_EQ(current_of(fleet.node(k)), "generations/000001") << k;
  }
  EXPECT_EQ(current_of(fleet.node(2)), "");
}

TEST(PushFailure, SshdKilledMidUploadLeavesTheOldGenerationAndARerunCompletes) {
  Fleet fleet(2);
  Bundles bundles(fleet, 2);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  // Node 2 takes in its SFTP stream at 4 KiB/s: the bundle's write request alone takes seconds,
  // so the staged file sits there, created and short, long enough to kill the node under it.
  fleet.throttle_uploads(2, "4k");
  const std::uint64_t bundle_size = fs::file_size(bundles.bundle(2));
  ASSERT_GT(bundle_size, 4096u) << "the bundle is too small to catch mid-upload";

  test::RunResult result;
  std::thread push([&] { result = bundles.push(2, fleet.inventory()); });
  bool caught = false;
  for (int i = 0; i < 600 && !caught; ++i) {  // at most 30 s
    for (const auto& file : test::staged_files(fleet.node(2))) {
      std::uint64_t size = fs::file_size(file);
      if (size < bundle_size) {
        fleet.kill_node(2);
        caught = true;
        break;
      }
    }
    if (!caught) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!caught) fleet.kill_node(2);  // let the push end either way
  push.join();
  ASSERT_TRUE(caught) << "no partial staged copy appeared on node2: " << result.out << result.err;

  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = nodes_of(result);
  EXPECT_EQ(nodes["node1"]["status"], "ok") << result.out;
  EXPECT_NE(nodes["node2"]["status"], "ok") << result.out;
  EXPECT_EQ(nodes["node2"]["step"], "upload") << nodes["node2"];
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000002");
  EXPECT_EQ(current_of(fleet.node(2)), "generations/000001");
  EXPECT_FALSE(fs::exists(fs::path(fleet.node(2).dest) / "generations" / "000002"));
  EXPECT_TRUE(test::temporary_generations(fleet.node(2)).empty());

  fleet.throttle_uploads(2, "off");  // starts node 2 again, at full speed
  auto rerun = bundles.push(2, fleet.inventory());
  EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  auto again = nodes_of(rerun);
  EXPECT_EQ(again["node1"]["status"], "unchanged");
  EXPECT_EQ(again["node2"]["status"], "ok");
  EXPECT_EQ(current_of(fleet.node(2)), "generations/000002");
  EXPECT_EQ(test::read_text(fs::path(fleet.node(2).dest) / "current" / "agent.key"),
            test::read_text(fs::path(fleet.node(1).dest) / "current" / "agent.key"));
}

// A tmpfs mounted for one test, unmounted when the test ends however it ends.
class TinyFilesystem {
 public:
  TinyFilesystem(const fs::path& where, const std::string& size) : path_(where) {
    fs::create_directories(where);
    std::string options = "size=" + size + ",mode=0700";
    mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  TinyFilesystem(const TinyFilesystem&) = delete;
  TinyFilesystem& operator=(const TinyFilesystem&) = delete;
  ~TinyFilesystem() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] const std::string& why() const { return why_; }

 private:
  fs::path path_;
  bool mounted_ = false;
  std::string why_;
};

TEST(PushFailure, FullFilesystemUnderDestFailsAtInstallOnTheOldGeneration) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (CI runs the tests as root)";
  Fleet fleet(3);
  fs::path tiny_dir = fleet.node_dir(2) / "tiny";
  TinyFilesystem tiny(tiny_dir, "512k");
  if (!tiny.mounted()) GTEST_SKIP() << "cannot mount a tmpfs on " << tiny_dir << ": " << tiny.why();
  fs::path inventory =
      fleet.inventory_with("tiny.toml", {{2, "dest = \"" + (tiny_dir / "dest").string() + "\""}});
  NodeConfig node2 = fleet.node(2);
  node2.dest = (tiny_dir / "dest").string();

  Bundles bundles(fleet, 2);
  auto first = bundles.push(1, inventory);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_EQ(current_of(node2), "generations/000001");
  // Fill what is left: dd stops at ENOSPC.
  test::shell("dd if=/dev/zero of=" + (tiny_dir / "filler").string() + " bs=4k 2>/dev/null");
  ASSERT_EQ(
      std::stoul(test::shell("df --output=avail -B1 " + tiny_dir.string() + " | tail -n 1").out),
      0u);
  auto before = test::tree(fs::path(node2.dest) / "generations" / "000001");

  auto result = bundles.push(2, inventory);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = nodes_of(result);
  EXPECT_EQ(nodes["node2"]["status"], "failed") << nodes["node2"];
  EXPECT_EQ(nodes["node2"]["step"], "install") << nodes["node2"];
  EXPECT_NE(nodes["node2"]["error"].get<std::string>().find("node2"), std::string::npos);
  EXPECT_EQ(nodes["node2"]["generation"], 1) << nodes["node2"];
  EXPECT_EQ(current_of(node2), "generations/000001");
  EXPECT_EQ(test::tree(fs::path(node2.dest) / "generations" / "000001"), before);
  EXPECT_FALSE(fs::exists(fs::path(node2.dest) / "generations" / "000002"));
  EXPECT_TRUE(test::temporary_generations(node2).empty());
  for (int k : {1, 3}) {
    EXPECT_EQ(nodes["node" + std::to_string(k)]["status"], "ok") << result.out;
    EXPECT_EQ(current_of(fleet.node(k)), "generations/000002");
  }
}

}  // namespace
}  // namespace kf
