// `keyfleet status`, the served-certificate probe (status, verify --served, push) and the audit
// log, on a real sshd fleet whose nodes run `openssl s_server` on their installed keys.
#include <ctime>
#include <regex>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "push_support.hpp"
#include "support/tls_server.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::Fleet;
using test::TlsServer;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

nlohmann::json json_of(const test::RunResult& result) {
  auto doc = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << result.out << result.err;
  return doc;
}

std::map<std::string, nlohmann::json> status_nodes(const test::RunResult& result) {
  std::map<std::string, nlohmann::json> out;
  auto doc = json_of(result);
  if (doc.is_discarded()) return out;
  for (const auto& node : doc["nodes"]) out[node["name"].get<std::string>()] = node;
  return out;
}

test::RunResult run_status(const fs::path& inventory, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"status", "--inventory", inventory.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::keyfleet(args);
}

// One s_server per node, serving what DEST/current holds when it (re)starts.
std::vector<std::unique_ptr<TlsServer>> agents(const Fleet& fleet) {
  std::vector<std::unique_ptr<TlsServer>> out;
  for (int k = 1; k <= fleet.size(); ++k) {
    std::string current = fleet.node(k).dest + "/current/";
    out.push_back(std::make_unique<TlsServer>(fleet.node_dir(k) / "agent", current + "agent.crt",
                                              current + "agent.key"));
  }
  return out;
}

// The fleet's inventory with each node's probe on its agent's port and `more` lines per node.
fs::path with_probes(const Fleet& fleet, const std::vector<std::unique_ptr<TlsServer>>& servers,
                     const std::string& name, const std::string& more = "") {
  std::map<int, std::string> extra;
  for (int k = 1; k <= fleet.size(); ++k) {
    extra[k] = "probe = \":" + std::to_string(servers[k - 1]->port()) + "\"" +
               (more.empty() ? "" : "\n" + more);
  }
  return fleet.inventory_with(name, extra);
}

TEST(Status, HealthyFleetIsOkWithEveryField) {
  Fleet fleet(3);
  Bundles bundles(fleet, 1);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);

  auto result = run_status(fleet.inventory(), {"--json"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  auto doc = json_of(result);
  EXPECT_EQ(doc["command"], "status");
  EXPECT_EQ(doc["warn_days"], 30);
  auto nodes = status_nodes(result);
  ASSERT_EQ(nodes.size(), 3u);
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  const std::regex fingerprint("sha256:[0-9a-f]{64}");
  std::set<std::string> agents_seen;
  for (const auto& [name, node] : nodes) {
    EXPECT_EQ(node["status"], "ok") << name;
    ASSERT_TRUE(node["generation"].is_number_integer()) << node.dump();
    EXPECT_EQ(node["generation"], 1);
    EXPECT_TRUE(std::regex_match(node["keyset"].get<std::string>(), std::regex("[0-9a-f]{32}")));
    ASSERT_EQ(node["certificates"].size(), 2u) << node.dump();
    EXPECT_EQ(node["certificates"][0]["cert"], "agent");
    EXPECT_EQ(node["certificates"][1]["cert"], "ca");
    for (const auto& cert : node["certificates"]) {
      EXPECT_TRUE(std::regex_match(cert["sha256"].get<std::string>(), fingerprint)) << cert;
      EXPECT_TRUE(std::regex_match(cert["not_after"].get<std::string>(), rfc3339)) << cert;
      EXPECT_GT(cert["days_left"].get<long>(), 300) << cert;
    }
    agents_seen.insert(node["certificates"][0]["sha256"].get<std::string>());
    EXPECT_EQ(node["generations_kept"], 1);
    EXPECT_TRUE(node["leftovers"].empty());
    EXPECT_TRUE(node["pending_hooks"].empty());
    EXPECT_TRUE(node["served"].is_null());
  }
  EXPECT_EQ(agents_seen.size(), 1u);  // one agent certificate for the whole fleet

  // For people: the identical nodes share one row.
  auto table = run_status(fleet.inventory());
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("node[1-3]"));
  EXPECT_THAT(table.out, HasSubstr("AGENT EXPIRES"));
  EXPECT_THAT(table.out, HasSubstr("status: 3 nodes: 3 ok"));
}

TEST(Status, ExpiryWithinWarnDaysNamesEveryNodeAndExitsOne) {
  Fleet fleet(3);
  test::TempDir work;
  test::write_text(work / "pass", "integration passphrase\n", 0600);
  auto made = test::keyfleet({"create-keys", "--out", (work / "keys").string(), "--inventory",
                              fleet.inventory().string(), "--days", "10"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto sealed = test::keyfleet({"bundle", "--keys", (work / "keys").string(), "--out",
                                (work / "b.kfb").string(), "--passphrase-file",
                                (work / "pass").string(), "--work-factor", "10"});
  ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
  auto pushed =
      test::keyfleet({"push", (work / "b.kfb").string(), "--inventory", fleet.inventory().string(),
                      "--passphrase-file", (work / "pass").string(), "--yes"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;

  auto result = run_status(fleet.inventory(), {"--warn-days", "30"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_THAT(result.out, HasSubstr("node" + std::to_string(k) + " expiring"));
  }
  // 10 days from creation: 10 left when status runs within the same second, 9 after that.
  EXPECT_THAT(result.out, ContainsRegex("agent certificate expires in (9|10) days"));
  auto nodes = status_nodes(run_status(fleet.inventory(), {"--warn-days", "30", "--json"}));
  for (const auto& [name, node] : nodes) {
    EXPECT_EQ(node["status"], "expiring") << name;
    int days_left = node["certificates"][0]["days_left"];
    EXPECT_TRUE(days_left == 9 || days_left == 10) << name << ": " << days_left;
  }
  EXPECT_EQ(run_status(fleet.inventory(), {"--warn-days", "5"}).exit_code, 0);
}

TEST(Status, UnreachableNodeFailsAloneAndThePrometheusFileSaysSo) {
  Fleet fleet(3);
  Bundles bundles(fleet, 1);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  const std::string down = "[[node]]\nname = \"node4\"\nhost = \"127.0.0.1\"\nport = " +
                           std::to_string(test::unused_port()) +
                           "\ndest = \"/nonexistent/dest\"\nconnect_timeout = 1\n";
  fs::path inventory = fleet.inventory_with("down.toml", {}, down);
  fs::path prom = fleet.dir() / "metrics" / "keyfleet.prom";
  fs::create_directories(prom.parent_path());

  auto result = run_status(inventory, {"--json", "--prometheus", prom.string()});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = status_nodes(result);
  EXPECT_EQ(nodes["node4"]["status"], "unreachable");
  EXPECT_EQ(nodes["node1"]["status"], "ok");

  // The textfile, parsed back: every line is a comment or a sample of the exposition format,
  // every node has every metric.
  EXPECT_EQ(test::file_mode(prom), 0644u);
  const std::regex sample(R"(([a-z_]+)(\{([a-z]+="[^"\\\n]*")(,[a-z]+="[^"\\\n]*")*\})? (-?\d+))");
  std::map<std::string, std::map<std::string, long long>> metrics;  // name -> labels -> value
  std::set<std::string> typed;
  std::istringstream lines(test::read_text(prom));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# TYPE ")) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      EXPECT_TRUE(line.ends_with(" gauge")) << line;
      continue;
    }
    if (line.starts_with("# HELP ")) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "not a sample: " << line;
    EXPECT_TRUE(typed.contains(m[1])) << "sample before its TYPE: " << line;
    metrics[m[1]][m[2]] = std::stoll(m[5]);
  }
  for (int k = 1; k <= 3; ++k) {
    std::string node = "node=\"node" + std::to_string(k) + "\"";
    EXPECT_EQ(metrics["keyfleet_node_up"]["{" + node + "}"], 1);
    EXPECT_EQ(metrics["keyfleet_generation"]["{" + node + "}"], 1);
    EXPECT_GT(metrics["keyfleet_cert_not_after_seconds"]["{" + node + ",cert=\"agent\"}"],
              std::time(nullptr));
    EXPECT_GT(metrics["keyfleet_cert_not_after_seconds"]["{" + node + ",cert=\"ca\"}"],
              std::time(nullptr));
  }
  EXPECT_EQ(metrics["keyfleet_node_up"].at("{node=\"node4\"}"), 0);
  EXPECT_FALSE(metrics["keyfleet_generation"].contains("{node=\"node4\"}"));
  EXPECT_NEAR(static_cast<double>(metrics["keyfleet_status_timestamp_seconds"][""]),
              static_cast<double>(std::time(nullptr)), 120);
}

// A node whose host key does not match known_hosts is not read at all, and exit 3 outranks the
// other nodes' problems (an unreachable one's 1), as for every fleet command.
TEST(Status, AHostKeyFailureExitsThree) {
  Fleet fleet(2);
  Bundles bundles(fleet, 1);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  const std::string down = "[[node]]\nname = \"node3\"\nhost = \"127.0.0.1\"\nport = " +
                           std::to_string(test::unused_port()) +
                           "\ndest = \"/nonexistent/dest\"\nconnect_timeout = 1\n";
  fs::path inventory = fleet.inventory_with("down.toml", {}, down);
  fleet.corrupt_known_host(2);

  auto result = run_status(inventory, {"--json"});
  EXPECT_EQ(result.exit_code, 3) << result.out << result.err;
  EXPECT_EQ(test::json_schema_errors(result.out), "") << result.out;
  auto nodes = status_nodes(result);
  EXPECT_EQ(nodes["node1"]["status"], "ok") << nodes["node1"].dump();
  EXPECT_EQ(nodes["node2"]["status"], "hostkey") << nodes["node2"].dump();
  EXPECT_FALSE(nodes["node2"].contains("certificates")) << nodes["node2"].dump();
  EXPECT_EQ(nodes["node3"]["status"], "unreachable") << nodes["node3"].dump();
  auto table = run_status(inventory);
  EXPECT_EQ(table.exit_code, 3) << table.out << table.err;
  EXPECT_THAT(table.out, HasSubstr("node2 hostkey"));

  fleet.restore_known_hosts();
  EXPECT_EQ(run_status(fleet.inventory()).exit_code, 0);
}

TEST(Status, ProbeSeesWhatTheAgentServes) {
  Fleet fleet(2);
  Bundles bundles(fleet, 2);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  auto servers = agents(fleet);
  fs::path inventory = with_probes(fleet, servers, "probe.toml");

  auto served = run_status(inventory, {"--json"});
  EXPECT_EQ(served.exit_code, 0) << served.out << served.err;
  for (const auto& [name, node] : status_nodes(served)) {
    EXPECT_EQ(node["served"]["status"], "served-ok") << node.dump();
    EXPECT_EQ(node["served"]["sha256"], node["certificates"][0]["sha256"]);
  }
  auto verified = test::keyfleet({"verify", "--inventory", inventory.string(), "--served"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("served-ok (2)"));

  // Generation 2 installed, the agents not restarted: they serve generation 1's certificate.
  ASSERT_EQ(bundles.push(2, fleet.inventory()).exit_code, 0);
  auto stale = run_status(inventory, {"--json"});
  EXPECT_EQ(stale.exit_code, 1) << stale.out;
  for (const auto& [name, node] : status_nodes(stale)) {
    EXPECT_EQ(node["status"], "served-stale") << node.dump();
    EXPECT_EQ(node["served"]["matches_generation"], 1);
    EXPECT_THAT(node["error"].get<std::string>(), HasSubstr("generation 000001's"));
  }

  // A probe pointing at a server with a certificate no generation has.
  test::TempDir other;
  auto made =
      test::keyfleet({"create-keys", "--out", (other / "keys").string(), "--host", "127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  TlsServer stranger(other / "agent", (other / "keys" / "agent.crt").string(),
                     (other / "keys" / "agent.key").string());
  fs::path wrong = fleet.inventory_with(
      "wrong.toml", {{1, "probe = \"127.0.0.1:" + std::to_string(stranger.port()) + "\""}});
  auto foreign = run_status(wrong, {"--json"});
  EXPECT_EQ(foreign.exit_code, 1);
  auto node1 = status_nodes(foreign)["node1"];
  EXPECT_EQ(node1["status"], "served-stale") << node1.dump();
  EXPECT_TRUE(node1["served"]["matches_generation"].is_null());
  EXPECT_THAT(node1["error"].get<std::string>(), HasSubstr("no generation on the node has it"));

  // Nothing listening: served-unreachable.
  servers[1]->stop();
  auto gone = run_status(inventory, {"--json"});
  EXPECT_EQ(status_nodes(gone)["node2"]["status"], "served-unreachable");
}

// The probe asks for its host name by TLS SNI, as a client of the agent would: an agent that
// serves its certificate only to clients asking for its name (and another one to the rest) is
// judged by the certificate those clients get. A probe by address gets the other one.
TEST(Status, TheProbeAsksForItsHostNameBySni) {
  Fleet fleet(1);
  // The node's certificate names localhost too, so that a probe by that name can trust it.
  test::TempDir work;
  const std::string keys = (work / "keys").string();
  const std::string bundle = (work / "gen1.kfb").string();
  const std::string pass = (work / "pass").string();
  test::write_text(pass, "integration passphrase\n", 0600);
  for (const std::vector<std::string>& step : std::vector<std::vector<std::string>>{
           {"create-keys", "--out", keys, "--inventory", fleet.inventory().string(), "--host",
            "localhost"},
           {"bundle", "--keys", keys, "--out", bundle, "--passphrase-file", pass, "--work-factor",
            "10"},
           {"push", bundle, "--inventory", fleet.inventory().string(), "--passphrase-file", pass,
            "--yes"}}) {
    auto ran = test::keyfleet(step);
    ASSERT_EQ(ran.exit_code, 0) << step[0] << ": " << ran.out << ran.err;
  }
  test::TempDir other;
  auto made =
      test::keyfleet({"create-keys", "--out", (other / "keys").string(), "--host", "127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string current = fleet.node(1).dest + "/current/";
  TlsServer agent(other / "agent", (other / "keys" / "agent.crt").string(),
                  (other / "keys" / "agent.key").string(), "",
                  {"localhost", current + "agent.crt", current + "agent.key"});
  const std::string port = std::to_string(agent.port());

  fs::path by_name =
      fleet.inventory_with("by-name.toml", {{1, "probe = \"localhost:" + port + "\""}});
  auto named = run_status(by_name, {"--json"});
  EXPECT_EQ(named.exit_code, 0) << named.out << named.err;
  auto node1 = status_nodes(named)["node1"];
  EXPECT_EQ(node1["served"]["status"], "served-ok") << node1.dump();

  fs::path by_address =
      fleet.inventory_with("by-address.toml", {{1, "probe = \"127.0.0.1:" + port + "\""}});
  auto addressed = run_status(by_address, {"--json"});
  EXPECT_EQ(addressed.exit_code, 1) << addressed.out;
  node1 = status_nodes(addressed)["node1"];
  EXPECT_EQ(node1["status"], "served-stale") << node1.dump();
  EXPECT_THAT(node1["error"].get<std::string>(), HasSubstr("no generation on the node has it"));
}

// A node behind a jump host has its agent probed through it too: the bastion forwards to node 1's
// agent only, so node 2's probe fails there although its agent answers this machine directly.
TEST(Status, TheProbeGoesThroughTheNodesJumpHost) {
  Fleet fleet(2);
  Bundles bundles(fleet, 1);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  auto servers = agents(fleet);
  const int bastion = fleet.start_bastion({servers[0]->port()});
  std::map<int, std::string> extra;
  for (int k = 1; k <= 2; ++k) {
    extra[k] = "probe = \":" + std::to_string(servers[k - 1]->port()) + "\"\njump = \"" +
               fleet.node(k).user + "@127.0.0.1:" + std::to_string(bastion) + "\"";
  }
  fs::path inventory = fleet.inventory_with("jump-probe.toml", extra);

  auto result = run_status(inventory, {"--json"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  auto nodes = status_nodes(result);
  EXPECT_EQ(nodes["node1"]["status"], "ok") << nodes["node1"].dump();
  EXPECT_EQ(nodes["node1"]["served"]["status"], "served-ok") << nodes["node1"].dump();
  EXPECT_EQ(nodes["node2"]["status"], "served-unreachable") << nodes["node2"].dump();
  EXPECT_THAT(nodes["node2"]["error"].get<std::string>(), HasSubstr("jump host"));
  const std::string log = test::read_text(fleet.bastion_log());
  EXPECT_THAT(log, HasSubstr("port " + std::to_string(servers[0]->port())));
  // One login for the command: the nodes' sessions and the probes share the bastion's session.
  const std::string login = "Accepted publickey for";
  ASSERT_NE(log.find(login), std::string::npos) << log;
  EXPECT_EQ(log.find(login), log.rfind(login)) << log;
}

// An agent that requires a client certificate: keyfleet offers one only where it holds the key
// set (verify --served --bundle, push); status, holding none, cannot complete the handshake.
TEST(Status, AClientCertificateIsOfferedOnlyWhereKeyfleetHoldsTheKeySet) {
  Fleet fleet(1);
  Bundles bundles(fleet, 1);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  const std::string current = fleet.node(1).dest + "/current/";
  TlsServer agent(fleet.node_dir(1) / "agent", current + "agent.crt", current + "agent.key",
                  current + "ca.crt");
  fs::path inventory =
      fleet.inventory_with("mtls.toml", {{1, "probe = \":" + std::to_string(agent.port()) + "\""}});

  auto with_bundle = test::keyfleet({"verify", "--inventory", inventory.string(), "--served",
                                     "--bundle", bundles.bundle(1).string(), "--passphrase-file",
                                     bundles.pass().string(), "--json"});
  EXPECT_EQ(with_bundle.exit_code, 0) << with_bundle.out << with_bundle.err;
  EXPECT_EQ(status_nodes(with_bundle)["node1"]["status"], "served-ok") << with_bundle.out;

  auto without =
      test::keyfleet({"verify", "--inventory", inventory.string(), "--served", "--json"});
  EXPECT_EQ(without.exit_code, 1) << without.out;
  EXPECT_EQ(status_nodes(without)["node1"]["status"], "served-unreachable") << without.out;

  auto status = run_status(inventory, {"--json"});
  EXPECT_EQ(status.exit_code, 1) << status.out;
  EXPECT_EQ(status_nodes(status)["node1"]["status"], "served-unreachable") << status.out;
}

TEST(Status, PushWaitsForTheAgentToServeTheNewCertificate) {
  Fleet fleet(2);
  Bundles bundles(fleet, 2);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  auto servers = agents(fleet);
  std::map<int, std::string> extra;
  for (int k = 1; k <= 2; ++k) {
    extra[k] = "probe = \":" + std::to_string(servers[k - 1]->port()) + "\"\npost = \"" +
               servers[k - 1]->restart_command() + "\"";
  }
  fs::path inventory = fleet.inventory_with("restart.toml", extra);

  auto pushed = bundles.push(2, inventory);
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  for (const auto& [name, node] : test::nodes_of(pushed)) EXPECT_EQ(node["status"], "ok") << name;
  auto served = run_status(inventory, {"--json"});
  EXPECT_EQ(served.exit_code, 0) << served.out;
}

TEST(Status, PushWhoseAgentServesTheOldCertificateRollsBackAndStopsRolling) {
  Fleet fleet(3);
  Bundles bundles(fleet, 2);
  ASSERT_EQ(bundles.push(1, fleet.inventory()).exit_code, 0);
  auto servers = agents(fleet);
  // post does nothing: the agent keeps serving generation 1. connect_timeout bounds the wait.
  fs::path inventory =
      with_probes(fleet, servers, "stale.toml", "post = \"true\"\nconnect_timeout = 3");

  auto pushed = bundles.push(2, inventory, {"--rolling"});
  EXPECT_EQ(pushed.exit_code, 1) << pushed.out << pushed.err;
  auto nodes = test::nodes_of(pushed);
  EXPECT_EQ(nodes["node1"]["status"], "rolled-back") << nodes["node1"].dump();
  EXPECT_EQ(nodes["node1"]["step"], "probe");
  EXPECT_THAT(nodes["node1"]["error"].get<std::string>(), HasSubstr("served-stale"));
  EXPECT_THAT(nodes["node1"]["error"].get<std::string>(), HasSubstr("generation 000001's"));
  EXPECT_EQ(nodes["node2"]["status"], "skipped");
  EXPECT_EQ(nodes["node3"]["status"], "skipped");
  EXPECT_EQ(test::current_of(fleet.node(1)), "generations/000001");
  EXPECT_EQ(test::current_of(fleet.node(2)), "generations/000001");
  // The node's own history says what happened.
  std::string history = test::read_text(fs::path(fleet.node(1).dest) / "history.log");
  EXPECT_THAT(history, HasSubstr("\"action\":\"install\""));
  EXPECT_THAT(history, HasSubstr("\"action\":\"rolled-back\""));
}

TEST(Status, AuditRecordsSuccessAndFailureWithoutSecretsAndDetectsEdits) {
  Fleet fleet(2);
  test::TempDir work;
  const fs::path log = work / "state" / "audit.jsonl";
  test::RunOptions audited;
  audited.env["KEYFLEET_AUDIT_LOG"] = log.string();
  const std::string passphrase = "correct horse battery staple 4711";
  test::write_text(work / "pass", passphrase + "\n", 0600);
  test::write_text(work / "wrong", "not the passphrase\n", 0600);
  auto run = [&](std::vector<std::string> args) { return test::keyfleet(args, audited); };
  ASSERT_EQ(run({"create-keys", "--out", (work / "keys").string(), "--inventory",
                 fleet.inventory().string()})
                .exit_code,
            0);
  ASSERT_EQ(run({"bundle", "--keys", (work / "keys").string(), "--out", (work / "b.kfb").string(),
                 "--passphrase-file", (work / "pass").string(), "--work-factor", "10"})
                .exit_code,
            0);
  auto pushed = run({"push", (work / "b.kfb").string(), "--inventory", fleet.inventory().string(),
                     "--passphrase-file", (work / "pass").string(), "--yes"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  auto refused = run({"push", (work / "b.kfb").string(), "--inventory", fleet.inventory().string(),
                      "--passphrase-file", (work / "wrong").string(), "--yes"});
  ASSERT_EQ(refused.exit_code, 3) << refused.err;
  auto skipped =
      run({"rollback", "--inventory", fleet.inventory().string(), "--yes", "--no-audit-log"});
  EXPECT_EQ(skipped.exit_code, 1);  // nothing to go back to; and no record

  EXPECT_EQ(test::file_mode(log), 0600u);
  auto shown = test::keyfleet({"audit", "show", "--json", log.string()});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  auto records = json_of(shown)["records"];
  ASSERT_EQ(records.size(), 4u) << shown.out;
  EXPECT_EQ(records[0]["command"], "create-keys");
  EXPECT_EQ(records[1]["command"], "bundle");
  EXPECT_EQ(records[2]["command"], "push");
  EXPECT_EQ(records[3]["command"], "push");
  const std::string keyset = records[0]["keyset"];
  EXPECT_EQ(keyset.size(), 32u);
  EXPECT_EQ(
      records[0]["inventory"]["sha256"],
      test::shell("sha256sum " + fleet.inventory().string() + " | cut -c1-64").out.substr(0, 64));
  EXPECT_EQ(records[1]["bundle"]["sha256"], records[2]["bundle"]["sha256"]);
  EXPECT_EQ(records[2]["keyset"], keyset);
  EXPECT_EQ(records[2]["generation"], 1);
  EXPECT_EQ(records[2]["exit_code"], 0);
  ASSERT_EQ(records[2]["nodes"].size(), 2u);
  EXPECT_EQ(records[2]["nodes"][0]["status"], "ok");
  EXPECT_EQ(records[3]["exit_code"], 3);
  EXPECT_THAT(records[3]["error"].get<std::string>(), Not(HasSubstr(passphrase)));
  EXPECT_TRUE(records[3]["user"].is_string());
  EXPECT_TRUE(records[3]["host"].is_string());
  EXPECT_EQ(records[3]["argv"][1], "push");

  // No passphrase or storepass bytes anywhere in the log.
  const std::string text = test::read_text(log);
  const std::string storepass = test::read_text(work / "keys" / "storepass");
  EXPECT_THAT(text, Not(HasSubstr(passphrase)));
  ASSERT_GE(storepass.size(), 8u);
  EXPECT_THAT(text, Not(HasSubstr(storepass.substr(0, storepass.find('\n')))));

  auto intact = test::keyfleet({"audit", "verify", log.string()});
  EXPECT_EQ(intact.exit_code, 0) << intact.err;
  EXPECT_THAT(intact.out, HasSubstr("4 records, chain intact"));

  // An edited record: exit 3, naming its line.
  std::string edited = text;
  auto at = edited.find("\"exit_code\":3");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, 13, "\"exit_code\":0");
  test::write_text(log, edited, 0600);
  auto broken = test::keyfleet({"audit", "verify", log.string()});
  EXPECT_EQ(broken.exit_code, 3);
  EXPECT_THAT(broken.err, HasSubstr(log.string() + ":4:"));
}

}  // namespace
}  // namespace kf
