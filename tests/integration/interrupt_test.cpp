// Ctrl-C during a fleet command, on real sshd daemons: a node's pre hook sleeps while SIGINT is
// sent to the keyfleet process.
#include <signal.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "push_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::Bundles;
using test::current_of;
using test::Fleet;
using ::testing::EndsWith;
using ::testing::HasSubstr;

// Node 1's pre hook: writes its pid to `pidfile`, then becomes `sleep SECONDS`.
fs::path slow_inventory(const Fleet& fleet, const fs::path& pidfile, int seconds) {
  return fleet.inventory_with(
      "slow.toml",
      {{1, fmt::format("pre = 'echo $$ > {} && exec sleep {}'", pidfile.string(), seconds)}});
}

// The hook's sleep, killed when the test ends (a second Ctrl-C leaves it running on the node).
class HookSleep {
 public:
  explicit HookSleep(fs::path pidfile) : pidfile_(std::move(pidfile)) {}
  HookSleep(const HookSleep&) = delete;
  HookSleep& operator=(const HookSleep&) = delete;
  ~HookSleep() { kill(); }

  // Waits (bounded) until the hook has written its pid: node 1 is in its pre hook.
  [[nodiscard]] bool started() const {
    for (int i = 0; i < 1500; ++i) {
      if (pid() > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void kill() {
    pid_t p = pid();
    // Only a sleep: the pid may have been reused once the hook ended.
    if (p > 0 && test::read_text(fmt::format("/proc/{}/cmdline", p)).starts_with("sleep")) {
      ::kill(p, SIGKILL);
    }
    boost::system::error_code ec;
    fs::remove(pidfile_, ec);
  }

 private:
  [[nodiscard]] pid_t pid() const {
    std::string text = test::read_text(pidfile_);
    if (text.empty() || text.back() != '\n') return 0;
    return static_cast<pid_t>(std::stol(text));
  }

  fs::path pidfile_;
};

// Every run of these tests appends its audit record to `log`, read back by audit_records.
test::RunOptions audited_by(const fs::path& log) {
  test::RunOptions options;
  options.env["KEYFLEET_AUDIT_LOG"] = log.string();
  return options;
}

nlohmann::json audit_records(const fs::path& log) {
  auto shown = test::keyfleet({"audit", "show", "--json", log.string()});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  return nlohmann::json::parse(shown.out)["records"];
}

std::vector<std::string> push_args(const Bundles& bundles, int g, const fs::path& inventory,
                                   bool json) {
  std::vector<std::string> args = {test::keyfleet_bin(),
                                   "push",
                                   bundles.bundle(g).string(),
                                   "--inventory",
                                   inventory.string(),
                                   "--passphrase-file",
                                   bundles.pass().string(),
                                   "--yes",
                                   "--parallel",
                                   "1"};
  if (json) args.emplace_back("--json");
  return args;
}

// The first Ctrl-C: node 1, running, is named and waited for; nodes 2 and 3 are never started.
TEST(Interrupt, FirstCtrlCWaitsForTheRunningNodeAndSkipsTheRest) {
  Fleet fleet(3);
  Bundles bundles(fleet, 2);
  HookSleep hook(fleet.dir() / "hook.pid");
  fs::path inventory = slow_inventory(fleet, fleet.dir() / "hook.pid", 2);
  const fs::path log = fleet.dir() / "audit.jsonl";

  test::Spawned json_push(push_args(bundles, 1, inventory, true), audited_by(log));
  ASSERT_TRUE(hook.started());
  json_push.signal(SIGINT);
  auto r = json_push.finish();
  EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
  EXPECT_EQ(test::json_schema_errors(r.out), "") << r.out;
  EXPECT_THAT(r.err, HasSubstr("keyfleet: interrupted: waiting for 1 running node: node1 (2 not "
                               "started, skipped; Ctrl-C again stops at once"));
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["interrupted"], true);
  EXPECT_EQ(doc["nodes"][0]["status"], "ok") << doc["nodes"][0];
  for (int i : {1, 2}) {
    EXPECT_EQ(doc["nodes"][i]["status"], "skipped");
    EXPECT_THAT(doc["nodes"][i]["error"].get<std::string>(), HasSubstr("interrupted"));
  }
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000001");
  for (int k : {2, 3}) EXPECT_TRUE(fs::is_empty(fleet.node(k).dest)) << k;
  // The audit log says so too.
  auto records = audit_records(log);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["command"], "push");
  EXPECT_EQ(records[0]["exit_code"], 130);
  EXPECT_EQ(records[0]["interrupted"], true);
  ASSERT_EQ(records[0]["nodes"].size(), 3u);
  EXPECT_EQ(records[0]["nodes"][0]["status"], "ok");
  EXPECT_EQ(records[0]["nodes"][2]["status"], "skipped");

  // For people: the summary, and a last line, with its newline, that says so.
  hook.kill();
  test::Spawned text_push(push_args(bundles, 2, inventory, false), audited_by(log));
  ASSERT_TRUE(hook.started());
  text_push.signal(SIGINT);
  r = text_push.finish();
  EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok (1): node1 at generation 2\n"));
  EXPECT_THAT(r.out, HasSubstr("skipped (2): node[2-3]: not started: interrupted (Ctrl-C)\n"));
  EXPECT_THAT(r.out, EndsWith("push: interrupted (Ctrl-C): 2 not started (skipped); the running "
                              "nodes were waited for\n"));
  EXPECT_EQ(current_of(fleet.node(1)), "generations/000002");
}

// The second Ctrl-C: exit 130 at once with the report so far, node 1 abandoned mid-hook.
TEST(Interrupt, SecondCtrlCExitsAtOnceWithTheReportSoFar) {
  Fleet fleet(3);
  Bundles bundles(fleet, 1);
  HookSleep hook(fleet.dir() / "hook.pid");
  // Never waited out: the test ends it.
  fs::path inventory = slow_inventory(fleet, fleet.dir() / "hook.pid", 30);
  const fs::path log = fleet.dir() / "audit.jsonl";

  for (bool json : {true, false}) {
    SCOPED_TRACE(json ? "--json" : "text");
    test::Spawned push(push_args(bundles, 1, inventory, json), audited_by(log));
    ASSERT_TRUE(hook.started());
    push.signal(SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    push.signal(SIGINT);
    auto r = push.finish();
    hook.kill();
    EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("keyfleet: interrupted: waiting for 1 running node: node1"));
    if (json) {
      EXPECT_EQ(test::json_schema_errors(r.out), "") << r.out;
      auto doc = nlohmann::json::parse(r.out);
      EXPECT_EQ(doc["exit_code"], 130);
      EXPECT_EQ(doc["interrupted"], true);
      EXPECT_EQ(doc["nodes"][0]["status"], "failed");
      EXPECT_EQ(doc["nodes"][0]["step"], "interrupted");
      EXPECT_THAT(doc["nodes"][0]["error"].get<std::string>(), HasSubstr("state is unknown"));
      EXPECT_EQ(doc["nodes"][1]["status"], "skipped");
      EXPECT_EQ(doc["nodes"][2]["status"], "skipped");
    } else {
      EXPECT_THAT(r.out, HasSubstr("failed (1):\n  node1 [interrupted]: abandoned while running"));
      EXPECT_THAT(r.out, EndsWith("push: interrupted (Ctrl-C): 2 not started (skipped); 1 "
                                  "abandoned while running, state unknown: run keyfleet verify\n"));
    }
    // Its pre hook never finished: nothing was installed anywhere.
    for (int k = 1; k <= 3; ++k) EXPECT_EQ(current_of(fleet.node(k)), "") << k;
  }
  // Stopped at once, each run still left its record, the abandoned node's state unknown.
  auto records = audit_records(log);
  ASSERT_EQ(records.size(), 2u);
  for (const auto& record : records) {
    EXPECT_EQ(record["exit_code"], 130);
    EXPECT_EQ(record["interrupted"], true);
    ASSERT_EQ(record["nodes"].size(), 3u) << record;
    EXPECT_EQ(record["nodes"][0]["status"], "failed");
  }
}

}  // namespace
}  // namespace kf
