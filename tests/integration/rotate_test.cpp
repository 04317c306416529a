// keyfleet rotate on a real sshd fleet: each mode end to end, the CA phases checked with the
// openssl CLI (chains, and mutual TLS between a node on trust and one on leaf), the refusals,
// the journal and resuming after SIGKILL, --canary, the lock, and the passphrase read once.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::current_of;
using test::Fleet;
using test::keyfleet;
using test::nodes_of;
using ::testing::HasSubstr;

constexpr const char* kPassphrase = "rotation passphrase\n";

// A key directory whose generation 1 every node of `fleet` holds, and rotate run on it.
class Rotating {
 public:
  explicit Rotating(const Fleet& fleet) : fleet_(fleet) {
    test::write_text(pass(), kPassphrase, 0600);
    auto made =
        keyfleet({"create-keys", "--out", keys().string(), "--inventory", inventory().string()});
    if (made.exit_code != 0) throw std::runtime_error("create-keys: " + made.err);
    auto sealed =
        keyfleet({"bundle", "--keys", keys().string(), "--out", (dir() / "g1.kfb").string(),
                  "--passphrase-file", pass().string(), "--work-factor", "10"});
    if (sealed.exit_code != 0) throw std::runtime_error("bundle: " + sealed.err);
    auto pushed = keyfleet({"push", (dir() / "g1.kfb").string(), "--inventory",
                            inventory().string(), "--passphrase-file", pass().string(), "--yes"});
    if (pushed.exit_code != 0) throw std::runtime_error("push: " + pushed.out + pushed.err);
  }

  [[nodiscard]] const fs::path& dir() const { return work_.path(); }
  [[nodiscard]] fs::path keys() const { return dir() / "keys"; }
  [[nodiscard]] fs::path pass() const { return dir() / "pass"; }
  [[nodiscard]] fs::path inventory() const { return fleet_.inventory(); }

  [[nodiscard]] std::vector<std::string> args(const std::vector<std::string>& extra,
                                              const fs::path& inventory = {}) const {
    std::vector<std::string> out = {"rotate",
                                    "--inventory",
                                    (inventory.empty() ? this->inventory() : inventory).string(),
                                    "--keys",
                                    keys().string(),
                                    "--passphrase-file",
                                    pass().string(),
                                    "--work-factor",
                                    "10",
                                    "--yes",
                                    "--json"};
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }
  // keyfleet rotate ... --json EXTRA; its document must be valid whatever it says.
  test::RunResult rotate(const std::vector<std::string>& extra, const fs::path& inventory = {}) {
    auto r = keyfleet(args(extra, inventory));
    EXPECT_EQ(test::json_schema_errors(r.out), "") << r.out << r.err;
    return r;
  }

  [[nodiscard]] nlohmann::json journal() const {
    return nlohmann::json::parse(test::read_text(keys() / "rotation.json"));
  }

 private:
  const Fleet& fleet_;
  test::TempDir work_;
};

nlohmann::json doc_of(const test::RunResult& r) {
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
  return doc;
}

fs::path current_dir(const NodeConfig& node) {
  return fs::path(node.dest) / "current";
}

// openssl verify -CAfile CA -purpose sslserver CERT
bool verifies(const fs::path& ca, const fs::path& cert) {
  return test::run(
             {"openssl", "verify", "-CAfile", ca.string(), "-purpose", "sslserver", cert.string()})
             .exit_code == 0;
}

int certificates_in(const fs::path& pem) {
  std::string text = test::read_text(pem);
  int n = 0;
  for (std::size_t at = 0; (at = text.find("BEGIN CERTIFICATE", at)) != std::string::npos; ++at) {
    ++n;
  }
  return n;
}

// Every node: on `generation`, no staged copy left, no hook owed.
void expect_all_on(const Fleet& fleet, int generation) {
  for (const auto& node : fleet.nodes()) {
    EXPECT_EQ(current_of(node), fmt::format("generations/{:06}", generation)) << node.name;
    EXPECT_TRUE(test::staged_files(node).empty()) << node.name;
    EXPECT_FALSE(fs::exists(fs::path(node.dest) / ".pending")) << node.name;
  }
}

// Whether something listens on 127.0.0.1:PORT, from /proc/net/tcp (a test connection would be the
// one connection s_server -naccept 1 takes).
bool listening(int port) {
  const std::string local = fmt::format("0100007F:{:04X}", port);
  std::istringstream table(test::read_text("/proc/net/tcp"));
  std::string line;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, here, there, state;
    fields >> slot >> here >> there >> state;
    if (here == local && state == "0A") return true;
  }
  return false;
}

// A TLS 1.2 handshake in which each side presents DEST/current/agent.crt and checks the other's
// against its own DEST/current/ca.crt: the server requires a client certificate (-Verify) and
// both stop at a verification error.
bool mutual_tls(const fs::path& server, const fs::path& client, const fs::path& work) {
  const int port = test::unused_port();
  const fs::path log = work / fmt::format("s_server-{}.log", port);
  auto started = test::shell(
      fmt::format("setsid openssl s_server -accept 127.0.0.1:{} -tls1_2 -cert {}/agent.crt -key "
                  "{}/agent.key -CAfile {}/ca.crt -Verify 1 -verify_return_error -naccept 1 -quiet "
                  "</dev/null >{} 2>&1 & echo $!",
                  port, server.string(), server.string(), server.string(), log.string()));
  const std::string pid = started.out.substr(0, started.out.find('\n'));
  for (int i = 0; i < 200; ++i) {
    if (listening(port)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  auto client_run = test::shell(
      fmt::format("echo | openssl s_client -connect 127.0.0.1:{} -tls1_2 -cert {}/agent.crt -key "
                  "{}/agent.key -CAfile {}/ca.crt -verify_return_error -brief",
                  port, client.string(), client.string(), client.string()));
  test::shell("kill " + pid + " 2>/dev/null; true");
  return client_run.exit_code == 0;
}

TEST(Rotate, KeepCaGivesEveryNodeANewAgentCertificateWithTheNewNamesAndTheSameCa) {
  Fleet fleet(3);
  Rotating r(fleet);
  const std::string old_ca = test::read_text(r.keys() / "ca.crt");
  const std::string old_agent = test::read_text(r.keys() / "agent.crt");
  // A host name change: node1 gains a name.
  fs::path renamed = fleet.inventory_with("renamed.toml", {{1, "sans = [\"node1.new.example\"]"}});
  auto run = r.rotate({"--keep-ca"}, renamed);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto doc = doc_of(run);
  EXPECT_EQ(doc["mode"], "keep-ca");
  EXPECT_EQ(doc["phase"], "keep-ca");
  EXPECT_EQ(doc["generation"], 2);
  EXPECT_EQ(doc["resumed"], false);
  EXPECT_EQ(doc["summary"]["ok"], 3);
  EXPECT_EQ(doc["rotation"]["state"], "finished");
  expect_all_on(fleet, 2);
  for (const auto& node : fleet.nodes()) {
    EXPECT_EQ(test::read_text(current_dir(node) / "ca.crt"), old_ca) << node.name;
    EXPECT_EQ(test::read_text(current_dir(node) / "agent.crt"),
              test::read_text(r.keys() / "agent.crt"));
    EXPECT_NE(test::read_text(current_dir(node) / "agent.crt"), old_agent);
  }
  auto san = test::run({"openssl", "x509", "-in", (r.keys() / "agent.crt").string(), "-noout",
                        "-ext", "subjectAltName"});
  EXPECT_THAT(san.out, HasSubstr("node1.new.example"));
  // The key directory: generation 2, the old one archived, the bundle wiped, the journal 0600.
  EXPECT_TRUE(fs::exists(r.keys() / "archive/000001/manifest.json"));
  EXPECT_FALSE(fs::exists(r.keys() / "rotation-000002.kfb"));
  EXPECT_EQ(test::file_mode(r.keys() / "rotation.json"), 0600u);
  EXPECT_EQ(r.journal()["phases"][0]["nodes"].size(), 3u);
  EXPECT_EQ(r.journal()["nodes"], nlohmann::json({"node1", "node2", "node3"}));
  // The receipt of each node's cleanup, as cleanup gives it.
  for (const auto& node : doc["nodes"]) EXPECT_TRUE(node.contains("wiped")) << node;
}

TEST(Rotate, NewCaGoesThroughTrustLeafAndRetireAndTheFleetKeepsTalking) {
  Fleet fleet(3);
  Rotating r(fleet);
  const fs::path g1 = r.keys() / "archive" / "000001";
  const fs::path old_agent = r.dir() / "g1-agent.crt";
  fs::copy_file(r.keys() / "agent.crt", old_agent);

  auto trust = r.rotate({"--new-ca", "--until", "trust"});
  ASSERT_EQ(trust.exit_code, 0) << trust.out << trust.err;
  EXPECT_EQ(doc_of(trust)["rotation"]["state"], "paused");
  EXPECT_EQ(doc_of(trust)["phase"], "trust");
  expect_all_on(fleet, 2);
  for (const auto& node : fleet.nodes()) {
    fs::path current = current_dir(node);
    EXPECT_EQ(certificates_in(current / "ca.crt"), 2) << node.name;
    EXPECT_EQ(test::read_text(current / "agent.crt"), test::read_text(old_agent));
    EXPECT_TRUE(verifies(current / "ca.crt", old_agent)) << node.name;
  }
  EXPECT_FALSE(fs::exists(r.keys() / "rotation-000002.kfb"));

  // Leaf on node1 alone: node1 on leaf, the others on trust, and they still talk both ways.
  auto one = r.rotate({"--new-ca", "--limit", "node1"});
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;
  EXPECT_EQ(doc_of(one)["rotation"]["state"], "running");  // leaf waits for node2 and node3
  EXPECT_EQ(doc_of(one)["rotation"]["phases"][1]["state"], "running");
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000003");
  EXPECT_EQ(current_of(fleet.node(2)), "generations/000002");
  const fs::path leaf1 = current_dir(fleet.node(1));
  const fs::path trust2 = current_dir(fleet.node(2));
  EXPECT_TRUE(mutual_tls(leaf1, trust2, r.dir()));
  EXPECT_TRUE(mutual_tls(trust2, leaf1, r.dir()));
  // The control: a node still on generation 1 does not trust the new CA.
  EXPECT_FALSE(mutual_tls(leaf1, g1, r.dir()));

  auto rest = r.rotate({"--new-ca", "--until", "leaf"});
  ASSERT_EQ(rest.exit_code, 0) << rest.out << rest.err;
  auto rest_nodes = nodes_of(rest);
  EXPECT_EQ(rest_nodes["node1"]["status"], "unchanged");
  EXPECT_EQ(rest_nodes["node1"]["detail"], "done in an earlier run");
  EXPECT_EQ(rest_nodes["node2"]["status"], "ok");
  expect_all_on(fleet, 3);
  const fs::path new_agent = r.keys() / "agent.crt";
  for (const auto& node : fleet.nodes()) {
    EXPECT_TRUE(verifies(current_dir(node) / "ca.crt", old_agent)) << node.name;
    EXPECT_TRUE(verifies(current_dir(node) / "ca.crt", new_agent)) << node.name;
  }
  EXPECT_TRUE(verifies(r.keys() / "archive/000002/ca.crt", new_agent));  // trust trusts it too

  auto retire = r.rotate({"--new-ca"});
  ASSERT_EQ(retire.exit_code, 0) << retire.out << retire.err;
  EXPECT_EQ(doc_of(retire)["rotation"]["state"], "finished");
  expect_all_on(fleet, 4);
  for (const auto& node : fleet.nodes()) {
    EXPECT_EQ(certificates_in(current_dir(node) / "ca.crt"), 1) << node.name;
    EXPECT_FALSE(verifies(current_dir(node) / "ca.crt", old_agent)) << node.name;
    EXPECT_TRUE(verifies(current_dir(node) / "ca.crt", new_agent)) << node.name;
  }
  auto manifest = nlohmann::json::parse(test::read_text(r.keys() / "manifest.json"));
  EXPECT_EQ(manifest["ca_phase"], "retire");
  EXPECT_EQ(manifest["trusted_cas"].size(), 1u);
}

TEST(Rotate, RetireIsRefusedWhileANodeIsStillOnTrust) {
  Fleet fleet(3);
  Rotating r(fleet);
  ASSERT_EQ(r.rotate({"--new-ca", "--until", "leaf"}).exit_code, 0);
  expect_all_on(fleet, 3);
  auto back =
      keyfleet({"rollback", "--inventory", r.inventory().string(), "--limit", "node2", "--yes"});
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  ASSERT_EQ(current_of(fleet.node(2)), "generations/000002");
  auto before = test::node_trees(fleet);
  auto keys_before = test::snapshot(r.keys());
  keys_before.erase("rotation.json");

  auto refused = r.rotate({"--new-ca"});
  EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
  auto doc = doc_of(refused);
  EXPECT_EQ(doc["phase"], "retire");
  auto nodes = nodes_of(refused);
  EXPECT_EQ(nodes["node2"]["status"], "refused");
  EXPECT_THAT(nodes["node2"]["error"].get<std::string>(),
              HasSubstr("current is generation 000002, not leaf"));
  EXPECT_EQ(nodes["node1"]["status"], "skipped");
  EXPECT_THAT(nodes["node1"]["error"].get<std::string>(), HasSubstr("retire refused: node2"));
  EXPECT_EQ(test::node_trees(fleet), before);
  auto keys_after = test::snapshot(r.keys());
  keys_after.erase("rotation.json");
  EXPECT_EQ(keys_after, keys_before);  // the refusal came first: no retire key set
  EXPECT_EQ(r.journal()["state"], "running");
  EXPECT_EQ(r.journal()["phases"][2]["state"], "pending");
  EXPECT_TRUE(r.journal()["phases"][2]["manifest_sha256"].is_null());

  // Once node2 is on leaf again, retire goes ahead.
  auto leaf = keyfleet({"rollback", "--inventory", r.inventory().string(), "--limit", "node2",
                        "--to", "3", "--yes"});
  ASSERT_EQ(leaf.exit_code, 0) << leaf.out << leaf.err;
  ASSERT_EQ(r.rotate({"--new-ca"}).exit_code, 0);
  expect_all_on(fleet, 4);
}

TEST(Rotate, EmergencyReplacesEverythingAndPurgesEveryOlderGeneration) {
  Fleet fleet(3);
  Rotating r(fleet);
  ASSERT_EQ(r.rotate({"--keep-ca"}).exit_code, 0);
  const std::string old_ca = test::read_text(r.keys() / "ca.crt");
  auto run = r.rotate({"--emergency"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_all_on(fleet, 3);
  EXPECT_NE(test::read_text(r.keys() / "ca.crt"), old_ca);
  for (const auto& node : fleet.nodes()) {
    std::vector<std::string> kept;
    for (fs::directory_iterator it(fs::path(node.dest) / "generations"), end; it != end; ++it) {
      kept.push_back(it->path().filename().string());
    }
    EXPECT_EQ(kept, std::vector<std::string>{"000003"}) << node.name;
    EXPECT_EQ(test::read_text(current_dir(node) / "ca.crt"), test::read_text(r.keys() / "ca.crt"));
  }
  for (const auto& [name, node] : nodes_of(run)) {
    ASSERT_TRUE(node.contains("removed")) << node;
    std::vector<int> removed;
    for (const auto& g : node["removed"]) removed.push_back(g["generation"].get<int>());
    EXPECT_EQ(removed, (std::vector<int>{1, 2})) << name;
  }
  auto history = test::read_text(fs::path(fleet.node(1).dest) / "history.log");
  EXPECT_THAT(history, HasSubstr("\"purge\""));
}

// node2's post hook: says it started, then waits for `release` (bounded: 60 s).
fs::path blocking_inventory(const Fleet& fleet, const fs::path& started, const fs::path& release) {
  return fleet.inventory_with(
      "blocking.toml",
      {{2, fmt::format("post = 'touch {}; i=0; while [ ! -e {} ] && [ $i -lt 600 ]; do sleep 0.1; "
                       "i=$((i+1)); done'",
                       started.string(), release.string())}});
}

bool wait_for(const fs::path& path) {
  for (int i = 0; i < 1500; ++i) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<std::string> with_bin(std::vector<std::string> args) {
  args.insert(args.begin(), test::keyfleet_bin());
  return args;
}

TEST(Rotate, KilledMidPhaseItResumesToTheSameGenerationAndLeavesNoStagedCopy) {
  Fleet fleet(3);
  Rotating r(fleet);
  const fs::path started = fleet.dir() / "post-started";
  const fs::path release = fleet.dir() / "post-release";
  const fs::path inventory = blocking_inventory(fleet, started, release);
  {
    test::Spawned killed(with_bin(r.args({"--keep-ca"}, inventory)));
    ASSERT_TRUE(wait_for(started));
    killed.signal(SIGKILL);
    EXPECT_EQ(killed.finish().exit_code, 128 + SIGKILL);
  }
  test::write_text(release, "");
  EXPECT_EQ(r.journal()["state"], "running");
  EXPECT_EQ(r.journal()["phases"][0]["generation"], 2);
  EXPECT_EQ(current_of(fleet.node(2)), "generations/000002");  // switched, its hooks owed

  auto resumed = r.rotate({"--keep-ca"}, inventory);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  auto doc = doc_of(resumed);
  EXPECT_EQ(doc["resumed"], true);
  EXPECT_EQ(doc["generation"], 2);
  EXPECT_EQ(doc["rotation"]["state"], "finished");
  expect_all_on(fleet, 2);
  auto manifest = nlohmann::json::parse(test::read_text(r.keys() / "manifest.json"));
  EXPECT_EQ(manifest["generation"], 2);
  EXPECT_FALSE(fs::exists(r.keys() / "archive/000002"));
  EXPECT_FALSE(fs::exists(r.keys() / "rotation-000002.kfb"));
}

// Killed at each of rotate's own steps (keydir/crash_point.hpp), then run again: the generation
// the plan named, every node on it, nothing staged, the bundle wiped.
TEST(Rotate, KilledAtAnyStepItEndsOnThePlannedGeneration) {
  Fleet fleet(2);
  Rotating r(fleet);
  int generation = 1;
  for (const char* step :
       {"rotate-planned", "rotate-keyset-made", "rotate-sealed", "rotate-phase-done"}) {
    SCOPED_TRACE(step);
    ++generation;
    test::RunOptions crash;
    crash.env["KEYFLEET_TEST_CRASH_AT"] = step;
    auto killed = keyfleet(r.args({"--keep-ca"}), crash);
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
    EXPECT_EQ(r.journal()["phases"][0]["generation"], generation);
    auto resumed = r.rotate({"--keep-ca"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_EQ(doc_of(resumed)["resumed"], true);
    EXPECT_EQ(doc_of(resumed)["rotation"]["state"], "finished");
    expect_all_on(fleet, generation);
    EXPECT_EQ(nlohmann::json::parse(test::read_text(r.keys() / "manifest.json"))["generation"],
              generation);
    EXPECT_FALSE(fs::exists(r.keys() / fmt::format("rotation-{:06}.kfb", generation)));
  }
}

TEST(Rotate, ACanaryWhoseCheckFailsLeavesEveryOtherNodeUntouched) {
  Fleet fleet(3);
  Rotating r(fleet);
  fs::path failing = fleet.inventory_with("failing.toml", {{1, "check = 'false'"}});
  std::vector<std::map<std::string, std::string>> before = test::node_trees(fleet);
  before.erase(before.begin(), before.begin() + 2);  // node1's own trees change
  auto run = r.rotate({"--keep-ca", "--canary", "1"}, failing);
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  auto nodes = nodes_of(run);
  EXPECT_EQ(nodes["node1"]["status"], "rolled-back");
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000001");
  for (const char* name : {"node2", "node3"}) {
    EXPECT_EQ(nodes[name]["status"], "skipped");
    EXPECT_THAT(nodes[name]["error"].get<std::string>(), HasSubstr("the canary node1 failed"));
  }
  auto after = test::node_trees(fleet);
  after.erase(after.begin(), after.begin() + 2);
  EXPECT_EQ(after, before);
  EXPECT_EQ(r.journal()["state"], "running");
}

// The passphrase comes from a pipe that holds it once: three phases, three bundles, one read.
TEST(Rotate, ThePassphraseIsReadOnce) {
  Fleet fleet(2);
  Rotating r(fleet);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], kPassphrase, std::strlen(kPassphrase)),
            static_cast<ssize_t>(std::strlen(kPassphrase)));
  ::close(fds[1]);
  std::vector<std::string> args = r.args({"--new-ca"});
  auto file = std::find(args.begin(), args.end(), "--passphrase-file");
  *file = "--passphrase-fd";
  *(file + 1) = std::to_string(fds[0]);
  test::RunOptions options;
  options.pass_fds = {fds[0]};
  auto run = keyfleet(args, options);
  ::close(fds[0]);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_all_on(fleet, 4);
}

// Sealed to an age recipient: no passphrase is read (there is none to read here), the bundle
// opens with the identity alone, and a passphrase beside recipients is refused before anything.
TEST(Rotate, SealsToRecipientsWithoutReadingAPassphrase) {
  Fleet fleet(2);
  Rotating r(fleet);
  const fs::path identity = r.dir() / "identity";
  auto made = keyfleet({"keygen", "--out", identity.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string recipient = made.out.substr(0, made.out.find('\n'));
  ASSERT_EQ(recipient.rfind("age1", 0), 0u) << made.out;
  std::vector<std::string> args = r.args({"--keep-ca", "--recipient", recipient});
  for (const char* option : {"--passphrase-file", "--work-factor"}) {
    auto at = std::find(args.begin(), args.end(), option);
    ASSERT_NE(at, args.end());
    args.erase(at, at + 2);
  }

  auto mixed = r.rotate({"--keep-ca", "--recipient", recipient});
  EXPECT_EQ(mixed.exit_code, 2) << mixed.out << mixed.err;
  EXPECT_THAT(doc_of(mixed)["error"]["message"].get<std::string>(),
              HasSubstr("cannot be used together"));
  EXPECT_FALSE(fs::exists(r.keys() / "rotation.json"));
  std::vector<std::string> malformed = args;
  *std::find(malformed.begin(), malformed.end(), recipient) = "age1notarecipient";
  auto bad = keyfleet(malformed);
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_THAT(doc_of(bad)["error"]["message"].get<std::string>(), HasSubstr("--recipient"));
  EXPECT_FALSE(fs::exists(r.keys() / "rotation.json"));
  EXPECT_FALSE(fs::exists(r.keys() / "archive/000001"));

  // Stopped right after sealing, the bundle is still in DIR: the identity opens it.
  test::RunOptions crash;
  crash.env["KEYFLEET_TEST_CRASH_AT"] = "rotate-sealed";
  auto killed = keyfleet(args, crash);
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
  const fs::path sealed = r.keys() / "rotation-000002.kfb";
  auto opened = keyfleet({"inspect", sealed.string(), "--identity", identity.string()});
  EXPECT_EQ(opened.exit_code, 0) << opened.out << opened.err;
  auto with_passphrase =
      keyfleet({"inspect", sealed.string(), "--passphrase-file", r.pass().string()});
  EXPECT_EQ(with_passphrase.exit_code, 2) << with_passphrase.err;

  auto resumed = keyfleet(args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(test::json_schema_errors(resumed.out), "");
  EXPECT_EQ(doc_of(resumed)["rotation"]["state"], "finished");
  expect_all_on(fleet, 2);
  EXPECT_FALSE(fs::exists(sealed));
}

TEST(RotateLock, ASecondRotateOnTheSameDirectoryIsRefusedAtOnce) {
  Fleet fleet(3);
  Rotating r(fleet);
  const fs::path started = fleet.dir() / "post-started";
  const fs::path release = fleet.dir() / "post-release";
  const fs::path inventory = blocking_inventory(fleet, started, release);
  test::Spawned first(with_bin(r.args({"--keep-ca"}, inventory)));
  ASSERT_TRUE(wait_for(started));
  auto t0 = std::chrono::steady_clock::now();
  auto second = r.rotate({"--keep-ca"});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(second.exit_code, 4) << second.out << second.err;
  EXPECT_THAT(second.err, HasSubstr("is locked: another keyfleet rotate"));
  // create-keys is refused as well while the rotation holds the directory.
  EXPECT_EQ(
      keyfleet({"create-keys", "--out", r.keys().string(), "--hosts", "x", "--force"}).exit_code,
      4);
  test::write_text(release, "");
  auto done = first.finish();
  EXPECT_EQ(done.exit_code, 0) << done.out << done.err;
  expect_all_on(fleet, 2);
}

TEST(Rotate, AnotherRotationWhileOneIsUnfinishedIsRefusedUntilAbandoned) {
  Fleet fleet(2);
  Rotating r(fleet);
  ASSERT_EQ(r.rotate({"--new-ca", "--until", "trust"}).exit_code, 0);
  const std::string id = r.journal()["id"];

  auto status = keyfleet({"status", "--keys", r.keys().string(), "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_EQ(test::json_schema_errors(status.out), "") << status.out;
  EXPECT_EQ(doc_of(status)["rotation"]["state"], "paused");
  auto text = keyfleet({"status", "--keys", r.keys().string()});
  EXPECT_THAT(text.out, HasSubstr("rotation " + id + " (--new-ca"));
  EXPECT_THAT(text.out, HasSubstr("is paused"));
  EXPECT_THAT(text.out, HasSubstr("trust     generation 000002  done"));
  EXPECT_THAT(text.out, HasSubstr("leaf      generation 000003  pending"));

  auto other = r.rotate({"--keep-ca"});
  EXPECT_EQ(other.exit_code, 4) << other.out << other.err;
  EXPECT_THAT(other.err, HasSubstr("rotation " + id));
  EXPECT_THAT(other.err, HasSubstr("--abandon"));
  expect_all_on(fleet, 2);

  auto abandoned = r.rotate({"--keep-ca", "--abandon"});
  ASSERT_EQ(abandoned.exit_code, 0) << abandoned.out << abandoned.err;
  expect_all_on(fleet, 3);
  auto old =
      nlohmann::json::parse(test::read_text(r.keys() / "archive" / "rotations" / (id + ".json")));
  EXPECT_EQ(old["state"], "abandoned");
  EXPECT_FALSE(old["abandoned"].is_null());
  EXPECT_NE(r.journal()["id"], id);
  EXPECT_EQ(r.journal()["state"], "finished");
}

}  // namespace
}  // namespace kf
