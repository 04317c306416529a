// keyfleet rotate's library: its journal, what Rotation::open decides, and whole rotations over
// in-memory nodes (test::FakeRemote) with real key sets, real sealing and real node scripts'
// rules. The real sshd fleet: tests/integration/rotate_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include <fmt/format.h>

#include "fleet/push.hpp"
#include "fleet/rotate.hpp"
#include "fleet/rotation_journal.hpp"
#include "keydir/layout.hpp"
#include "pki/keyset.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using rotation::Mode;
using rotation::PhaseState;
using rotation::State;
using test::FakeRemote;
using test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kWorkFactor = 10;

bundle::SealKey seal_key() {
  return bundle::SealKey::with_passphrase("unit passphrase", kWorkFactor);
}

// A shell for hooks (`false` fails) and for cleanup's dd (zeroes nothing: the fake's file goes at
// the unlink that follows).
void give_shell(FakeRemote& node) {
  node.on_exec = [](std::string_view cmd, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    return ExecResult{cmd.find("( false )") != std::string_view::npos ? 1 : 0, "", ""};
  };
}

// N in-memory nodes reached through FleetRunOptions::connect, each the same FakeRemote every time.
struct FakeFleet {
  std::vector<NodeConfig> nodes;
  std::map<std::string, std::shared_ptr<FakeRemote>> remotes;
  std::set<std::string> down;  // unreachable
  std::atomic<int> connects = 0;
  std::mutex mutex;
  std::vector<std::string> connected;

  explicit FakeFleet(int n) {
    for (int i = 1; i <= n; ++i) {
      NodeConfig node;
      node.name = "node" + std::to_string(i);
      node.host = "10.0.0." + std::to_string(i);
      node.dest = "/keys";
      node.staging = "/stage";
      nodes.push_back(node);
      auto remote = std::make_shared<FakeRemote>(node.name);
      give_shell(*remote);
      remotes[node.name] = remote;
    }
  }
  FakeRemote& operator[](const std::string& name) { return *remotes.at(name); }

  FleetRunOptions run() {
    FleetRunOptions options;
    options.schedule.interrupted = [] { return false; };
    options.connect = [this](const NodeConfig& node) -> NodeResult<std::shared_ptr<Remote>> {
      ++connects;
      {
        std::lock_guard lock(mutex);
        connected.push_back(node.name);
      }
      if (down.contains(node.name)) {
        return node_fail(NodeStatus::unreachable, "connect", "{}: connection refused", node.name);
      }
      return std::shared_ptr<Remote>(remotes.at(node.name));
    };
    return options;
  }

  [[nodiscard]] std::string current(const std::string& name) const {
    auto it = remotes.at(name)->entries.find("/keys/current");
    return it == remotes.at(name)->entries.end() ? "" : it->second.target;
  }
};

// DIR with generation 1 made by create-keys for the fleet's nodes, installed on every node.
struct Keys {
  TempDir tmp;
  fs::path dir = tmp / "keys";

  explicit Keys(FakeFleet& fleet) {
    CreateKeysOptions o;
    o.out = dir;
    for (const auto& node : fleet.nodes) o.hosts.push_back(node.name);
    auto made = create_keyset(o);
    if (!made) throw std::runtime_error(made.error().message);
    auto keyset = bundle::load_keyset(dir, false);
    if (!keyset) throw std::runtime_error(keyset.error().message);
    auto sealed = bundle::seal_keyset(*keyset, seal_key());
    if (!sealed) throw std::runtime_error(sealed.error().message);
    for (const auto& node : fleet.nodes) {
      auto pushed =
          push_node(fleet[node.name], node, PushPayload{sealed->made.bytes, &sealed->opened}, {});
      if (pushed.status != NodeStatus::ok) throw std::runtime_error(pushed.error);
    }
  }

  [[nodiscard]] RotateRequest request(std::optional<Mode> mode) const {
    RotateRequest r;
    r.keys = dir;
    r.mode = mode;
    r.key_options.hosts = {"node1", "node2", "node3"};
    return r;
  }
  [[nodiscard]] Manifest manifest() const {
    auto m = parse_manifest(test::read_text(dir / "manifest.json"), "manifest.json");
    if (!m) throw std::runtime_error(m.error().message);
    return *m;
  }
};

RotationOutcome rotate(FakeFleet& fleet, const RotateRequest& request) {
  auto opened = Rotation::open(request);
  if (!opened) {
    ADD_FAILURE() << opened.error().message;
    return {};
  }
  return opened->run(fleet.nodes, seal_key(), fleet.run());
}

std::map<std::string, NodeReport> by_name(const PhaseRun& phase) {
  std::map<std::string, NodeReport> out;
  for (const auto& n : phase.nodes) out[n.name] = n;
  return out;
}

TEST(RotationJournal, RoundTripsAndRefusesWhatItCannotRead) {
  Manifest current;
  current.generation = 3;
  current.keyset = std::string(32, 'a');
  rotation::Journal j = rotation::plan(Mode::new_ca, current, 4, "root@deploy", 1700000000);
  ASSERT_EQ(j.phases.size(), 3u);
  EXPECT_EQ(j.phases[0].name, "trust");
  EXPECT_EQ(j.phases[0].generation, 4u);
  EXPECT_EQ(j.phases[2].name, "retire");
  EXPECT_EQ(j.phases[2].generation, 6u);
  EXPECT_EQ(j.from_generation, 3u);
  EXPECT_EQ(j.id.size(), 16u);
  j.nodes = {"node1", "node2"};
  j.phases[0].state = PhaseState::done;
  j.phases[0].nodes["node1"] = {true, NodeStatus::ok, "cleanup", "", 4, "2026-01-01T00:00:00Z"};
  j.phases[0].nodes["node2"] = {false, NodeStatus::rolled_back, "check", "node2: check failed",
                                3,     "2026-01-01T00:00:01Z"};
  EXPECT_EQ(j.not_done(j.phases[0]), std::vector<std::string>{"node2"});
  EXPECT_EQ(j.next_phase(), &j.phases[1]);

  const std::string text = rotation::to_json(j).dump(2);
  auto back = rotation::parse_journal(text, "rotation.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(rotation::to_json(*back).dump(2), text);

  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& words) {
    auto doc = nlohmann::json::parse(text);
    edit(doc);
    auto parsed = rotation::parse_journal(doc.dump(), "DIR/rotation.json");
    ASSERT_FALSE(parsed) << words;
    EXPECT_EQ(parsed.error().code, ExitCode::usage);
    EXPECT_THAT(parsed.error().message, HasSubstr("DIR/rotation.json: " + words));
  };
  refused([](auto& d) { d["format"] = "keyfleet-rotation/2"; }, "\"format\" is not");
  refused([](auto& d) { d["mode"] = "new-cas"; }, "\"mode\" must be");
  refused([](auto& d) { d["state"] = "done"; }, "\"state\" must be");
  refused([](auto& d) { d["phases"].erase(2); }, "a new-ca rotation has 3 phases");
  refused([](auto& d) { std::swap(d["phases"][0], d["phases"][1]); },
          "phase 1 of a new-ca rotation is \"trust\"");
  refused([](auto& d) { d["phases"][0]["nodes"][0]["status"] = "fine"; },
          "phase trust: node node1: unknown status");
  refused([](auto& d) { d.erase("from_generation"); }, "\"from_generation\" must be");
  EXPECT_FALSE(rotation::parse_journal("[]", "x"));
}

TEST(RotationJournal, IsWritten0600AndReadBack) {
  TempDir tmp;
  auto none = rotation::read_journal(tmp.path());
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  rotation::Journal j = rotation::plan(Mode::keep_ca, Manifest{}, 2, "me@here", 1700000000);
  ASSERT_TRUE(rotation::write_journal(tmp.path(), j));
  EXPECT_EQ(test::file_mode(tmp / "rotation.json"), 0600u);
  auto read = rotation::read_journal(tmp.path());
  ASSERT_TRUE(read && *read);
  EXPECT_EQ((*read)->id, j.id);
  EXPECT_THAT(rotation::describe(**read), HasSubstr("(--keep-ca, started "));
  // Nothing but the journal: no temporary file left beside it.
  EXPECT_EQ(test::snapshot(tmp.path()).size(), 1u);
}

TEST(Rotate, OpenRefusesWhatItCannotDoBeforeWritingAnything) {
  FakeFleet fleet(1);
  Keys keys(fleet);
  auto before = test::snapshot(keys.dir);
  auto expect = [&](const RotateRequest& r, ExitCode code, const std::string& words) {
    auto opened = Rotation::open(r);
    ASSERT_FALSE(opened) << words;
    EXPECT_EQ(opened.error().code, code) << opened.error().message;
    EXPECT_THAT(opened.error().message, HasSubstr(words));
  };
  expect(keys.request(std::nullopt), ExitCode::usage, "--keep-ca (a host name changed)");
  auto until = keys.request(Mode::keep_ca);
  until.until = CaPhase::trust;
  expect(until, ExitCode::usage, "--until applies to --new-ca only");
  auto abandon = keys.request(std::nullopt);
  abandon.abandon = true;
  expect(abandon, ExitCode::usage, "no unfinished rotation to give up");
  auto empty = keys.request(Mode::keep_ca);
  empty.keys = keys.tmp / "empty";
  fs::create_directories(empty.keys);
  fs::permissions(empty.keys, fs::owner_all);
  expect(empty, ExitCode::usage, "holds no key set");
  {
    auto first = Rotation::open(keys.request(Mode::keep_ca));
    ASSERT_TRUE(first) << first.error().message;
    expect(keys.request(Mode::keep_ca), ExitCode::refused, "another keyfleet rotate");
  }
  EXPECT_EQ(test::snapshot(keys.dir), before);
}

TEST(Rotate, AnEmergencyPlanSaysWhatItPurgesBeforeTheQuestion) {
  FakeFleet fleet(1);
  Keys keys(fleet);
  {
    auto keep_ca = Rotation::open(keys.request(Mode::keep_ca));
    ASSERT_TRUE(keep_ca) << keep_ca.error().message;
    EXPECT_THAT(keep_ca->describe_plan(2), Not(HasSubstr("purge")));
  }
  auto emergency = Rotation::open(keys.request(Mode::emergency));
  ASSERT_TRUE(emergency) << emergency.error().message;
  const std::string plan = emergency->describe_plan(2);
  EXPECT_THAT(plan, HasSubstr("(--emergency) on 2 nodes"));
  EXPECT_THAT(plan, HasSubstr(", then purge on every node every older generation"));
  EXPECT_THAT(plan, HasSubstr("the directories push --adopt kept"));
}

TEST(Rotate, OpenContinuesTheSameRotationAndRefusesAnotherUnlessAbandoned) {
  FakeFleet fleet(1);
  Keys keys(fleet);
  rotation::Journal j = rotation::plan(Mode::new_ca, keys.manifest(), 2, "me@here", 1700000000);
  ASSERT_TRUE(rotation::write_journal(keys.dir, j));

  auto other = Rotation::open(keys.request(Mode::keep_ca));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ExitCode::refused);
  EXPECT_THAT(other.error().message, HasSubstr("rotation " + j.id));
  EXPECT_THAT(other.error().message, HasSubstr("run rotate --new-ca to finish it"));
  EXPECT_THAT(other.error().message, HasSubstr("--abandon"));

  {
    auto same = Rotation::open(keys.request(Mode::new_ca));
    ASSERT_TRUE(same) << same.error().message;
    EXPECT_TRUE(same->resumed());
    EXPECT_EQ(same->journal().id, j.id);
    EXPECT_THAT(same->describe_plan(3),
                HasSubstr("Continue rotation " + j.id + " of " + keys.dir.string()));
  }
  auto request = keys.request(Mode::keep_ca);
  request.abandon = true;
  auto abandoning = Rotation::open(request);
  ASSERT_TRUE(abandoning) << abandoning.error().message;
  EXPECT_TRUE(abandoning->abandons());
  EXPECT_FALSE(abandoning->resumed());
  EXPECT_THAT(abandoning->describe_plan(1),
              HasSubstr("Abandon rotation " + j.id + " (--new-ca, started"));
  EXPECT_THAT(abandoning->describe_plan(1), HasSubstr(", then rotate "));
  auto outcome = abandoning->run(fleet.nodes, seal_key(), fleet.run());
  ASSERT_FALSE(outcome.error) << outcome.error->message;
  EXPECT_EQ(outcome.journal.state, State::finished);
  auto old = rotation::parse_journal(
      test::read_text(keys.dir / "archive" / "rotations" / (j.id + ".json")), "old");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->state, State::abandoned);
  EXPECT_FALSE(old->abandoned.empty());
}

TEST(Rotate, KeepCaInstallsVerifiesAndCleansUpEveryNodeOverOneConnection) {
  FakeFleet fleet(2);
  Keys keys(fleet);
  const std::string ca = test::read_text(keys.dir / "ca.crt");
  fleet.connects = 0;
  for (const auto& node : fleet.nodes) fleet[node.name].log.clear();
  RotationOutcome out = rotate(fleet, keys.request(Mode::keep_ca));
  ASSERT_FALSE(out.error) << out.error->message;
  ASSERT_EQ(out.phases.size(), 1u);
  for (const auto& node : out.phases[0].nodes) {
    EXPECT_EQ(node.status, NodeStatus::ok) << node.name << ": " << node.error;
    EXPECT_EQ(node.generation, 2u);
  }
  EXPECT_EQ(fleet.connects, 2);
  EXPECT_EQ(out.journal.state, State::finished);
  EXPECT_EQ(out.journal.phases[0].state, PhaseState::done);
  EXPECT_EQ(keys.manifest().generation, 2u);
  EXPECT_EQ(test::read_text(keys.dir / "ca.crt"), ca);
  EXPECT_FALSE(fs::exists(keys.dir / "rotation-000002.kfb"));
  for (const auto& node : fleet.nodes) {
    EXPECT_EQ(fleet.current(node.name), "generations/000002");
    EXPECT_EQ(fleet[node.name].text("/keys/generations/000002/ca.crt"), ca);
    // Every staged copy wiped: the one of generation 1's push too.
    for (const auto& [path, entry] : fleet[node.name].entries) {
      EXPECT_FALSE(path.ends_with("bundle.kfb")) << node.name << ": " << path;
    }
    // One DEST/.lock holder for the node's whole turn, which also wipes and writes the history:
    // every command the node ran was one of its requests.
    const auto& log = fleet[node.name].log;
    auto count = [&](std::string_view prefix) {
      return std::count_if(log.begin(), log.end(),
                           [&](const std::string& line) { return line.starts_with(prefix); });
    };
    EXPECT_EQ(count("lock "), 1) << fmt::format("{}", fmt::join(log, "\n"));
    EXPECT_EQ(count("request wipe "), 2);
    EXPECT_EQ(count("request append /keys/history.log"), 1);
    for (std::size_t i = 0; i < log.size(); ++i) {
      if (log[i].starts_with("exec ")) {
        EXPECT_TRUE(i > 0 && log[i - 1].starts_with("request ")) << log[i];
      }
    }
  }
  ASSERT_TRUE(out.phases[0].receipts[0]);
  EXPECT_EQ(out.phases[0].receipts[0]->wiped.size(), 2u);
}

// Each lookup is a command on the node: the turn resolves the inventory's owner once, for the
// lock's group and the install's chown alike.
TEST(Rotate, TheOwnerIsLookedUpOnceANodeTurn) {
  FakeFleet fleet(1);
  Keys keys(fleet);
  fleet.nodes[0].owner = "svc";
  int lookups = 0;
  fleet["node1"].on_exec = [&](std::string_view cmd,
                               std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
    if (cmd == "id -u -- 'svc'" || cmd == "id -g -- 'svc'") {
      ++lookups;
      return ExecResult{0, "1001\n", ""};
    }
    return ExecResult{0, "", ""};
  };
  RotationOutcome out = rotate(fleet, keys.request(Mode::keep_ca));
  ASSERT_FALSE(out.error) << out.error->message;
  ASSERT_EQ(out.phases.size(), 1u);
  EXPECT_EQ(out.phases[0].nodes[0].status, NodeStatus::ok) << out.phases[0].nodes[0].error;
  EXPECT_EQ(lookups, 2);  // id -u, id -g
  const auto owned = fleet["node1"].owners.find("/keys/generations/000002/agent.key");
  ASSERT_NE(owned, fleet["node1"].owners.end());
  EXPECT_EQ(owned->second, 1001u);
  EXPECT_EQ(fleet["node1"].groups.at("/keys/generations/000002/agent.key"), 1001u);
}

TEST(Rotate, LeafIsRefusedWhileANodeIsNotOnTrustAndNoKeySetIsMade) {
  FakeFleet fleet(3);
  Keys keys(fleet);
  auto request = keys.request(Mode::new_ca);
  request.until = CaPhase::trust;
  RotationOutcome trust = rotate(fleet, request);
  ASSERT_FALSE(trust.error) << trust.error->message;
  EXPECT_TRUE(trust.paused);
  EXPECT_EQ(trust.journal.state, State::paused);
  // node2 goes back to generation 1 behind rotate's back; node3 cannot be reached.
  FakeRemote& node2 = fleet["node2"];
  ASSERT_TRUE(node2.unlink("/keys/current"));
  ASSERT_TRUE(node2.symlink("generations/000001", "/keys/current"));
  fleet.down.insert("node3");
  auto before = test::snapshot(keys.dir);

  RotationOutcome leaf = rotate(fleet, keys.request(Mode::new_ca));
  ASSERT_FALSE(leaf.error) << leaf.error->message;
  ASSERT_EQ(leaf.phases.size(), 1u);
  EXPECT_TRUE(leaf.phases[0].refused);
  auto nodes = by_name(leaf.phases[0]);
  EXPECT_EQ(nodes["node1"].status, NodeStatus::skipped);
  EXPECT_THAT(nodes["node1"].error, HasSubstr("leaf refused: node[2-3] not on trust"));
  EXPECT_EQ(nodes["node2"].status, NodeStatus::refused);
  EXPECT_THAT(nodes["node2"].error, HasSubstr("node2: current is generation 000001, not trust "
                                              "(generation 000002)"));
  EXPECT_EQ(nodes["node3"].status, NodeStatus::refused);
  EXPECT_THAT(nodes["node3"].error, HasSubstr("connection refused (it counts as not on trust"));
  EXPECT_EQ(fleet_exit_code(leaf.phases[0].nodes, false), ExitCode::refused);
  // The refusal came first: no leaf key set, the journal untouched but for its time.
  auto after = test::snapshot(keys.dir);
  EXPECT_EQ(after.size(), before.size());
  EXPECT_EQ(after.at("manifest.json"), before.at("manifest.json"));
  EXPECT_EQ(fleet.current("node1"), "generations/000002");
}

// --until a phase already done: nothing runs, the rotation stays paused; a new --new-ca over a
// key set left in the middle of an abandoned CA rotation is refused before any plan is written.
TEST(Rotate, UntilAPhaseAlreadyDoneRunsNothingAndAnAbandonedCaPhaseIsNotRestarted) {
  FakeFleet fleet(1);
  Keys keys(fleet);
  auto request = keys.request(Mode::new_ca);
  request.until = CaPhase::leaf;
  ASSERT_FALSE(rotate(fleet, request).error);
  request.until = CaPhase::trust;
  RotationOutcome again = rotate(fleet, request);
  ASSERT_FALSE(again.error) << again.error->message;
  EXPECT_TRUE(again.phases.empty());
  EXPECT_TRUE(again.paused);
  EXPECT_EQ(keys.manifest().generation, 3u);

  auto abandon = keys.request(std::nullopt);
  abandon.abandon = true;
  ASSERT_FALSE(rotate(fleet, abandon).error);
  auto before = test::snapshot(keys.dir);
  auto restart = Rotation::open(keys.request(Mode::new_ca));
  ASSERT_FALSE(restart);
  EXPECT_EQ(restart.error().code, ExitCode::refused);
  EXPECT_THAT(restart.error().message,
              HasSubstr("generation 3 is the leaf phase of a CA rotation"));
  EXPECT_THAT(restart.error().message, HasSubstr("rotate --emergency"));
  EXPECT_EQ(test::snapshot(keys.dir), before);
  // A clean start from there: --emergency, then --new-ca again.
  ASSERT_FALSE(rotate(fleet, keys.request(Mode::emergency)).error);
  RotationOutcome fresh = rotate(fleet, keys.request(Mode::new_ca));
  ASSERT_FALSE(fresh.error) << fresh.error->message;
  EXPECT_EQ(fresh.journal.state, State::finished);
  EXPECT_EQ(keys.manifest().generation, 7u);
}

TEST(Rotate, ANodeDoneInAnEarlierRunIsOnlyReadAgain) {
  FakeFleet fleet(2);
  Keys keys(fleet);
  fleet.down.insert("node2");
  RotationOutcome first = rotate(fleet, keys.request(Mode::keep_ca));
  ASSERT_FALSE(first.error) << first.error->message;
  EXPECT_EQ(by_name(first.phases[0])["node2"].status, NodeStatus::unreachable);
  EXPECT_EQ(first.journal.state, State::running);
  EXPECT_EQ(first.journal.not_done(first.journal.phases[0]), std::vector<std::string>{"node2"});
  EXPECT_TRUE(fs::exists(keys.dir / "rotation-000002.kfb"));  // kept while the phase runs

  fleet.down.clear();
  fleet["node1"].log.clear();
  auto opened = Rotation::open(keys.request(Mode::keep_ca));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(opened->resumed());
  RotationOutcome second = opened->run(fleet.nodes, seal_key(), fleet.run());
  ASSERT_FALSE(second.error) << second.error->message;
  auto nodes = by_name(second.phases[0]);
  EXPECT_EQ(nodes["node1"].status, NodeStatus::unchanged);
  EXPECT_EQ(nodes["node1"].detail, "done in an earlier run");
  EXPECT_EQ(nodes["node2"].status, NodeStatus::ok);
  for (const auto& line : fleet["node1"].log) {
    EXPECT_FALSE(line.starts_with("upload") || line.starts_with("lock")) << line;
  }
  EXPECT_EQ(second.journal.state, State::finished);
  EXPECT_EQ(keys.manifest().generation, 2u);  // the same generation, not a third
  EXPECT_FALSE(fs::exists(keys.dir / "rotation-000002.kfb"));
}

TEST(Rotate, ACanaryThatFailsItsCheckIsTheOnlyNodeTouched) {
  FakeFleet fleet(3);
  Keys keys(fleet);
  fleet.nodes[0].check = "false";
  fleet.connected.clear();
  auto request = keys.request(Mode::keep_ca);
  request.canary = 1;
  RotationOutcome out = rotate(fleet, request);
  ASSERT_FALSE(out.error) << out.error->message;
  auto nodes = by_name(out.phases[0]);
  EXPECT_EQ(nodes["node1"].status, NodeStatus::rolled_back);
  EXPECT_EQ(fleet.current("node1"), "generations/000001");
  for (const char* name : {"node2", "node3"}) {
    EXPECT_EQ(nodes[name].status, NodeStatus::skipped);
    EXPECT_THAT(nodes[name].error, HasSubstr("the canary node1 failed (--canary 1)"));
  }
  EXPECT_EQ(fleet.connected, std::vector<std::string>{"node1"});
  EXPECT_EQ(out.journal.state, State::running);
}

TEST(Rotate, EmergencyPurgesEveryOlderGeneration) {
  FakeFleet fleet(1);
  Keys keys(fleet);
  ASSERT_FALSE(rotate(fleet, keys.request(Mode::keep_ca)).error);
  const std::string old_ca = test::read_text(keys.dir / "ca.crt");
  RotationOutcome out = rotate(fleet, keys.request(Mode::emergency));
  ASSERT_FALSE(out.error) << out.error->message;
  EXPECT_EQ(out.phases[0].nodes[0].status, NodeStatus::ok) << out.phases[0].nodes[0].error;
  EXPECT_NE(test::read_text(keys.dir / "ca.crt"), old_ca);
  ASSERT_TRUE(out.phases[0].receipts[0]);
  std::vector<std::uint64_t> removed;
  for (const auto& r : out.phases[0].receipts[0]->removed) removed.push_back(r.generation);
  EXPECT_EQ(removed, (std::vector<std::uint64_t>{1, 2}));
  std::vector<std::string> kept;
  for (const auto& [path, entry] : fleet["node1"].entries) {
    if (path.starts_with("/keys/generations/") && path.find('/', 18) == std::string::npos) {
      kept.push_back(path);
    }
  }
  EXPECT_EQ(kept, std::vector<std::string>{"/keys/generations/000003"});
}

}  // namespace
}  // namespace kf
