// --json of the fleet commands on real sshd daemons, success and failure, against
// docs/keyfleet-output.schema.json (the local commands: tests/unit/cli_json_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::Fleet;
using test::keyfleet;
using test::RunResult;

// One valid document whose exit code is the process's; returns it.
nlohmann::json document(const RunResult& r, int exit_code) {
  EXPECT_EQ(r.exit_code, exit_code) << r.out << r.err;
  EXPECT_EQ(test::json_schema_errors(r.out), "") << r.out;
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (!doc.is_object()) return nlohmann::json::object();
  EXPECT_EQ(doc["exit_code"], r.exit_code);
  return doc;
}

TEST(JsonOutput, FleetCommandsSucceedAndFail) {
  Fleet fleet(3);
  Bundles bundles(fleet, 2);
  const std::string inv = fleet.inventory().string();
  const std::string pass = bundles.pass().string();

  auto planned = document(bundles.push(1, fleet.inventory(), {"--dry-run"}), 0);
  EXPECT_EQ(planned["summary"]["would-install"], 3);
  auto pushed = document(bundles.push(1, fleet.inventory()), 0);
  EXPECT_EQ(pushed["command"], "push");
  EXPECT_EQ(pushed["generation"], 1);
  EXPECT_EQ(pushed["summary"]["ok"], 3);
  EXPECT_EQ(pushed["summary"]["total"], 3);
  EXPECT_TRUE(pushed["error"].is_null());

  // One node refuses the host key (exit 3); one is down (exit 1 without it).
  fleet.corrupt_known_host(2);
  auto hostkey = document(bundles.push(2, fleet.inventory()), 3);
  EXPECT_EQ(hostkey["summary"]["hostkey"], 1);
  fleet.restore_known_hosts();
  fs::path down = fleet.inventory_with(
      "down.toml", {},
      fmt::format("[[node]]\nname = \"node9\"\nhost = \"127.0.0.1\"\nport = {}\n",
                  test::unused_port()));
  auto unreachable = document(bundles.push(2, down), 1);
  EXPECT_EQ(unreachable["summary"]["unreachable"], 1);
  EXPECT_EQ(unreachable["summary"]["ok"], 1);  // node2, refused before
  EXPECT_EQ(unreachable["summary"]["unchanged"], 2);

  // A passphrase that does not open the bundle: the nodes are skipped beside the error.
  fs::path wrong = bundles.dir() / "wrong";
  test::write_text(wrong, "not the passphrase\n", 0600);
  auto unopened = document(keyfleet({"push", bundles.bundle(2).string(), "--inventory", inv,
                                     "--passphrase-file", wrong.string(), "--yes", "--json"}),
                           3);
  EXPECT_EQ(unopened["summary"]["skipped"], 3);
  EXPECT_THAT(unopened["error"]["message"].get<std::string>(), ::testing::HasSubstr("passphrase"));

  auto verified =
      document(keyfleet({"verify", "--inventory", inv, "--bundle", bundles.bundle(2).string(),
                         "--passphrase-file", pass, "--json"}),
               0);
  EXPECT_EQ(verified["generation"], 2);
  EXPECT_EQ(verified["bundle_sha256"].get<std::string>().size(), 64u);
  auto status = document(keyfleet({"status", "--inventory", inv, "--json"}), 0);
  EXPECT_EQ(status["summary"]["ok"], 3);
  EXPECT_EQ(status["nodes"][0]["certificates"].size(), 2u);
  auto rolled = document(keyfleet({"rollback", "--inventory", inv, "--yes", "--json"}), 0);
  EXPECT_EQ(rolled["summary"]["ok"], 3);
  document(keyfleet({"status", "--inventory", down.string(), "--json"}), 1);
  auto stale = document(keyfleet({"verify", "--inventory", inv, "--bundle",
                                  bundles.bundle(2).string(), "--passphrase-file", pass, "--json"}),
                        1);
  EXPECT_EQ(stale["summary"]["stale"], 3);

  fs::path local = bundles.dir() / "copy.kfb";
  fs::copy_file(bundles.bundle(1), local);
  auto cleaned =
      document(keyfleet({"cleanup", "--inventory", inv, "--bundle", local.string(), "--json"}), 0);
  EXPECT_EQ(cleaned["local"]["wiped"], true);
  auto plain = document(keyfleet({"cleanup", "--inventory", inv, "--json"}), 0);
  EXPECT_TRUE(plain["local"].is_null());
  // Run again, the bundle is gone already: it counts as wiped, so a rerun finishes the job.
  auto again =
      document(keyfleet({"cleanup", "--inventory", inv, "--bundle", local.string(), "--json"}), 0);
  EXPECT_EQ(again["local"]["already_gone"], true);
  EXPECT_EQ(cleaned["local"]["already_gone"], false);
  // A --bundle that is not a regular file is a usage error, and still one document.
  document(keyfleet({"cleanup", "--inventory", inv, "--bundle", bundles.dir().string(), "--json"}),
           2);

  // The audit log of all of the above, each record typed by the schema: fleet records carry
  // their nodes, and cleanup the key set the nodes agree on.
  auto audit = document(keyfleet({"audit", "show", "--json"}), 0);
  const nlohmann::json* last_cleanup = nullptr;
  for (const auto& record : audit["records"]) {
    if (record["command"] == "cleanup" && record["exit_code"] == 0) last_cleanup = &record;
  }
  ASSERT_NE(last_cleanup, nullptr) << audit.dump();
  ASSERT_TRUE(status["nodes"][0]["keyset"].is_string()) << status.dump();
  EXPECT_EQ((*last_cleanup)["keyset"], status["nodes"][0]["keyset"]);
  EXPECT_EQ((*last_cleanup)["nodes"].size(), 3u);
}

}  // namespace
}  // namespace kf
