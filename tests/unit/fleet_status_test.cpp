// status's per-node logic and its outputs, and the probe's verdict, against an in-memory node
// holding real certificates.
#include "fleet/status.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include <fmt/format.h>

#include "core/secret.hpp"
#include "core/time.hpp"
#include "keydir/pending.hpp"
#include "pki/cert.hpp"
#include "pki/key.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;
using ::testing::HasSubstr;

constexpr std::time_t kNow = 1'800'000'000;  // 2027-01-15
constexpr std::time_t kDay = 86400;

struct Pki {
  ossl::PkeyPtr ca_key;
  ossl::X509Ptr ca;
  ossl::PkeyPtr agent_key;
  ossl::X509Ptr agent;

  std::string ca_pem() const { return *cert_pem(*ca); }
  std::string agent_pem() const { return *cert_pem(*agent); }
};

// A CA valid `ca_days` and an agent certificate for 127.0.0.1 valid `days`, both from kNow.
Pki make_pki(int days, int ca_days = 3650) {
  Pki pki;
  pki.ca_key = std::move(*generate_key(KeyType::ec_p256));
  pki.ca = std::move(*make_ca_cert(*pki.ca_key, {"test CA", "", kNow, ca_days}));
  pki.agent_key = std::move(*generate_key(KeyType::ec_p256));
  pki.agent = std::move(*make_agent_cert(
      *pki.agent_key, {{"127.0.0.1", "node1.example.com"}, "agent", "", kNow, days}, *pki.ca,
      *pki.ca_key));
  return pki;
}

// DEST=/dest holding generation `generation` of `pki` (ca.crt: `ca_pem`, default the CA's) with
// `current` on it.
void install(FakeRemote& node, std::uint64_t generation, const Pki& pki,
             const std::string& ca_pem = "") {
  if (!node.exists("/dest")) node.add_dir("/dest", 0700);
  if (!node.exists("/dest/generations")) node.add_dir("/dest/generations", 0700);
  const std::string dir = "/dest/generations/" + generation_name(generation);
  node.add_dir(dir, 0700);
  const std::map<std::string, std::pair<std::string, mode_t>> files = {
      {"agent.crt", {pki.agent_pem(), 0644}},
      {"agent.key", {"not really a key", 0600}},
      {"ca.crt", {ca_pem.empty() ? pki.ca_pem() : ca_pem, 0644}},
  };
  Manifest m;
  m.keyset = std::string(32, 'e');
  m.generation = generation;
  m.created = "2027-01-15T08:00:00Z";
  m.key_type = "ec-p256";
  m.hosts = {"127.0.0.1"};
  m.not_after = rfc3339_utc(*not_after(*pki.agent));
  m.ca_fingerprint = fingerprint(*pki.ca);
  m.agent_fingerprint = fingerprint(*pki.agent);
  for (const auto& [name, file] : files) {
    node.add_file(dir + "/" + name, file.first, file.second);
    m.files.push_back({name, file.first.size(), file.second, sha256_hex(as_bytes(file.first))});
  }
  node.add_file(dir + "/manifest.json", serialize(m), 0644);
  node.entries.erase("/dest/current");
  node.entries["/dest/current"] = {
      FileType::symlink, 0777, {}, "generations/" + generation_name(generation)};
}

NodeConfig config(std::string name = "node1") {
  NodeConfig node;
  node.name = std::move(name);
  node.host = "127.0.0.1";
  node.dest = "/dest";
  return node;
}

StatusOptions at(std::time_t now, int warn_days = 30) {
  StatusOptions options;
  options.now = now;
  options.warn_days = warn_days;
  options.prober = {};
  return options;
}

TEST(StatusNode, HealthyNodeGivesItsKeySet) {
  FakeRemote node("node1");
  Pki pki = make_pki(365);
  install(node, 3, pki);
  std::optional<NodeKeyStatus> keys;
  NodeOutcome outcome = status_node(node, config(), at(kNow), keys);
  EXPECT_EQ(outcome.status, NodeStatus::ok) << outcome.error;
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->generation, 3u);
  EXPECT_EQ(keys->keyset, std::string(32, 'e'));
  ASSERT_EQ(keys->certificates.size(), 2u);
  EXPECT_EQ(keys->certificates[0].cert, "agent");
  EXPECT_EQ(keys->certificates[0].sha256, fingerprint(*pki.agent));
  EXPECT_EQ(keys->certificates[0].days_left, 365);
  EXPECT_EQ(keys->certificates[1].cert, "ca");
  EXPECT_EQ(keys->certificates[1].days_left, 3650);
  EXPECT_EQ(keys->generations_kept, 1u);
  // Read-only: nothing was written, no command run.
  for (const auto& call : node.log) {
    EXPECT_FALSE(call.starts_with("upload") || call.starts_with("exec") ||
                 call.starts_with("mkdir") || call.starts_with("rename"))
        << call;
  }
}

TEST(StatusNode, ExpiringAndExpiredCertificatesAreNamed) {
  FakeRemote node("node1");
  install(node, 1, make_pki(10));
  std::optional<NodeKeyStatus> keys;
  NodeOutcome soon = status_node(node, config(), at(kNow), keys);
  EXPECT_EQ(soon.status, NodeStatus::expiring);
  EXPECT_THAT(soon.error, HasSubstr("agent certificate expires in 10 days"));
  EXPECT_THAT(soon.error, HasSubstr("--warn-days 30"));
  EXPECT_EQ(status_node(node, config(), at(kNow, 10), keys).status, NodeStatus::ok);
  EXPECT_EQ(status_node(node, config(), at(kNow, 11), keys).status, NodeStatus::expiring);

  NodeOutcome past = status_node(node, config(), at(kNow + 12 * kDay), keys);
  EXPECT_EQ(past.status, NodeStatus::expired);
  EXPECT_THAT(past.error, HasSubstr("agent certificate expired 2 days ago"));
  EXPECT_EQ(exit_code_of(past.status), ExitCode::failure);
}

TEST(StatusNode, EveryCaOfCaCrtCounts) {
  FakeRemote node("node1");
  Pki pki = make_pki(365, 3650);
  Pki old = make_pki(365, 20);  // the CA being replaced, about to expire
  install(node, 1, pki, pki.ca_pem() + old.ca_pem());
  std::optional<NodeKeyStatus> keys;
  NodeOutcome outcome = status_node(node, config(), at(kNow), keys);
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->certificates.size(), 3u);
  EXPECT_EQ(keys->certificates[2].cert, "ca-2");
  EXPECT_EQ(keys->certificates[2].days_left, 20);
  EXPECT_EQ(outcome.status, NodeStatus::expiring);
  EXPECT_THAT(outcome.error, HasSubstr("ca-2 certificate expires in 20 days"));
}

TEST(StatusNode, BrokenInstallsAreMissingOrDamaged) {
  FakeRemote empty("node1");
  std::optional<NodeKeyStatus> keys;
  EXPECT_EQ(status_node(empty, config(), at(kNow), keys).status, NodeStatus::missing);
  EXPECT_FALSE(keys);

  FakeRemote edited("node1");
  install(edited, 1, make_pki(365));
  edited.entries["/dest/generations/000001/ca.crt"].data.push_back('x');
  NodeOutcome outcome = status_node(edited, config(), at(kNow), keys);
  EXPECT_EQ(outcome.status, NodeStatus::damaged);
  EXPECT_THAT(outcome.error, HasSubstr("ca.crt"));

  FakeRemote garbage("node1");
  Pki pki = make_pki(365);
  install(garbage, 1, pki, "not a certificate\n");
  outcome = status_node(garbage, config(), at(kNow), keys);
  EXPECT_EQ(outcome.status, NodeStatus::damaged);
  EXPECT_THAT(outcome.error, HasSubstr("ca.crt: no PEM certificate"));
}

TEST(StatusNode, OwedHooksAndLeftoversAreReported) {
  FakeRemote node("node1");
  install(node, 2, make_pki(365));
  node.add_file("/dest/.pending",
                keydir::serialize(keydir::PendingHooks{2, {"post", "check"}, "push"}), 0600);
  node.add_dir("/dest/generations/.tmp-abc", 0700);
  std::optional<NodeKeyStatus> keys;
  NodeOutcome outcome = status_node(node, config(), at(kNow), keys);
  EXPECT_EQ(outcome.status, NodeStatus::pending_hooks);
  EXPECT_THAT(outcome.error, HasSubstr("post and check hooks"));
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->pending_hooks, (std::vector<std::string>{"post", "check"}));
  EXPECT_EQ(keys->leftovers, (std::vector<std::string>{"/dest/generations/.tmp-abc"}));
}

// A prober that hands back what a server would have sent.
Prober serving(const X509* leaf) {
  return
      [leaf](const NodeConfig& node, const ClientCredentials* client) -> NodeResult<ServedChain> {
        EXPECT_EQ(client, nullptr) << "status offers no client certificate";
        if (leaf == nullptr) {
          return node_fail(NodeStatus::served_down, "probe", "{}: probe: connection refused",
                           node.name);
        }
        ServedChain chain;
        X509_up_ref(const_cast<X509*>(leaf));
        chain.certs.emplace_back(const_cast<X509*>(leaf));
        return chain;
      };
}

TEST(StatusNode, TheProbeJudgesTheServedCertificate) {
  FakeRemote node("node1");
  Pki one = make_pki(365);
  Pki two = make_pki(365);
  install(node, 1, one);
  install(node, 2, two);
  NodeConfig probed = config();
  probed.probe = ProbeEndpoint{"127.0.0.1", 8443};
  std::optional<NodeKeyStatus> keys;

  StatusOptions options = at(kNow);
  options.prober = serving(two.agent.get());
  EXPECT_EQ(status_node(node, probed, options, keys).status, NodeStatus::ok);
  ASSERT_TRUE(keys && keys->served);
  EXPECT_EQ(keys->served->status, NodeStatus::served_ok);
  EXPECT_EQ(keys->served->endpoint, "127.0.0.1:8443");

  options.prober = serving(one.agent.get());
  NodeOutcome stale = status_node(node, probed, options, keys);
  EXPECT_EQ(stale.status, NodeStatus::served_stale);
  EXPECT_EQ(keys->served->matches_generation, 1u);
  EXPECT_THAT(stale.error, HasSubstr("it is generation 000001's"));

  options.prober = serving(nullptr);
  EXPECT_EQ(status_node(node, probed, options, keys).status, NodeStatus::served_down);
  EXPECT_EQ(to_string(NodeStatus::served_down), "served-unreachable");

  // The installed agent certificate, but the name probed is not among its SANs.
  probed.probe = ProbeEndpoint{"other.example.com", 8443};
  options.prober = serving(two.agent.get());
  NodeOutcome untrusted = status_node(node, probed, options, keys);
  EXPECT_EQ(untrusted.status, NodeStatus::served_untrusted);
  EXPECT_THAT(untrusted.error, HasSubstr("does not name other.example.com"));

  // Chained to a CA the node does not hold.
  FakeRemote foreign("node1");
  install(foreign, 1, two, one.ca_pem());
  probed.probe = ProbeEndpoint{"127.0.0.1", 8443};
  NodeOutcome chain = status_node(foreign, probed, options, keys);
  EXPECT_EQ(chain.status, NodeStatus::served_untrusted);
  EXPECT_THAT(chain.error, HasSubstr("does not verify against ca.crt"));
}

FleetStatus fleet_of(const std::vector<std::pair<std::string, int>>& nodes) {
  FleetStatus status;
  for (const auto& [name, days] : nodes) {
    FakeRemote node(name);
    install(node, 4, make_pki(days));
    std::optional<NodeKeyStatus> keys;
    NodeOutcome outcome = status_node(node, config(name), at(kNow), keys);
    status.nodes.push_back(
        {name, "127.0.0.1", outcome.status, outcome.step, outcome.error, outcome.generation});
    status.keys.push_back(std::move(keys));
  }
  return status;
}

TEST(StatusOutput, TableFoldsIdenticalRowsExpiringFirst) {
  // One key set per node here, so the rows differ by fingerprint; make two share one.
  FleetStatus status = fleet_of({{"node1", 365}, {"node2", 5}});
  status.nodes.push_back(status.nodes[0]);
  status.nodes.back().name = "node3";
  status.keys.push_back(status.keys[0]);
  status.nodes.push_back({"node4", "127.0.0.1", NodeStatus::unreachable, "connect",
                          "node4: cannot connect to 127.0.0.1 port 22: Connection refused",
                          std::nullopt});
  status.keys.emplace_back();
  std::string table = format_status_table(status, 30);
  auto node2 = table.find("\nnode2 ");
  auto folded = table.find("\nnode[1,3] ");
  ASSERT_NE(node2, std::string::npos) << table;
  ASSERT_NE(folded, std::string::npos) << table;
  EXPECT_LT(node2, folded) << table;
  EXPECT_THAT(table, HasSubstr("node4 unreachable [connect]: cannot connect"));
  EXPECT_THAT(table, HasSubstr("node2 expiring [status]: agent certificate expires in 5 days"));
  EXPECT_THAT(table,
              HasSubstr("status: 4 nodes: 2 ok, 1 expiring, 1 unreachable (--warn-days 30)"));
}

TEST(StatusOutput, JsonAndPrometheus) {
  FleetStatus status = fleet_of({{"node1", 365}});
  status.nodes.push_back({"node\"2", "h", NodeStatus::auth, "auth", "refused", std::nullopt});
  status.keys.emplace_back();
  auto doc = status_json(*status.keys[0]);
  EXPECT_EQ(doc["keyset"], std::string(32, 'e'));
  EXPECT_EQ(doc["certificates"][0]["not_after"], rfc3339_utc(kNow + 365 * kDay));
  EXPECT_EQ(doc["certificates"][0]["days_left"], 365);
  EXPECT_TRUE(doc["served"].is_null());

  std::string text = prometheus_text(status, kNow);
  EXPECT_THAT(text, HasSubstr(fmt::format(
                        "keyfleet_cert_not_after_seconds{{node=\"node1\",cert=\"agent\"}} {}\n",
                        kNow + 365 * kDay)));
  EXPECT_THAT(text, HasSubstr("keyfleet_generation{node=\"node1\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("keyfleet_node_up{node=\"node1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("keyfleet_node_up{node=\"node\\\"2\"} 0\n"));
  EXPECT_THAT(text, HasSubstr(fmt::format("keyfleet_status_timestamp_seconds {}\n", kNow)));
  EXPECT_THAT(text, HasSubstr("# TYPE keyfleet_generation gauge\n"));
}

}  // namespace
}  // namespace kf
