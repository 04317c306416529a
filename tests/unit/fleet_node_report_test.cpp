#include "fleet/node_report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fleet/scheduler.hpp"

namespace kf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

NodeReport report(std::string name, NodeStatus status, std::string step = {},
                  std::string error = {}, std::optional<std::uint64_t> generation = {}) {
  return NodeReport{name,       "host-" + name, status, std::move(step), std::move(error),
                    generation, 1.23456};
}

FleetReport sample() {
  FleetReport r;
  r.command = "push";
  r.generation = 7;
  r.bundle_sha256 = "ab12";
  r.nodes = {
      report("node1", NodeStatus::ok, "done", {}, 7),
      report("node2", NodeStatus::hostkey, "hostkey", "node2: host key of [h]:22 does not match"),
      report("node3", NodeStatus::ok, "done", {}, 7),
      report("node4", NodeStatus::unchanged, "compare", {}, 8),
      report("node5", NodeStatus::unreachable, "connect", "node5: cannot connect: refused"),
      report("node6", NodeStatus::skipped, {}, "not started: interrupted (Ctrl-C)"),
      report("node7", NodeStatus::skipped, {}, "not started: interrupted (Ctrl-C)"),
  };
  return r;
}

TEST(FleetNodeReport, TallyCountsEachStatusInDeclarationOrder) {
  auto t = tally(sample().nodes);
  std::vector<std::pair<NodeStatus, std::size_t>> expected{{NodeStatus::ok, 2},
                                                           {NodeStatus::unchanged, 1},
                                                           {NodeStatus::unreachable, 1},
                                                           {NodeStatus::hostkey, 1},
                                                           {NodeStatus::skipped, 2}};
  EXPECT_EQ(t, expected);
}

// 3 for a host key or authentication failure, else 4 for a refusal, else 1 for any failure.
TEST(FleetNodeReport, ExitCodeFollowsTheOneRule) {
  std::vector<NodeReport> good{report("a", NodeStatus::ok), report("b", NodeStatus::unchanged)};
  EXPECT_TRUE(all_succeeded(good));
  EXPECT_EQ(fleet_exit_code(good, false), ExitCode::ok);
  EXPECT_EQ(fleet_exit_code(sample().nodes, false), ExitCode::integrity);  // it has a hostkey
  std::vector<NodeReport> refused{report("a", NodeStatus::failed),
                                  report("b", NodeStatus::refused)};
  EXPECT_EQ(fleet_exit_code(refused, false), ExitCode::refused);
  refused.push_back(report("c", NodeStatus::auth));
  EXPECT_EQ(fleet_exit_code(refused, false), ExitCode::integrity);
  std::vector<NodeReport> failed{report("a", NodeStatus::ok), report("b", NodeStatus::timeout)};
  EXPECT_EQ(fleet_exit_code(failed, false), ExitCode::failure);
  EXPECT_EQ(fleet_exit_code(good, true), ExitCode::interrupted);
  std::vector<NodeReport> stale{report("a", NodeStatus::ok), report("b", NodeStatus::stale)};
  EXPECT_FALSE(all_succeeded(stale));
  EXPECT_EQ(fleet_exit_code({}, false), ExitCode::ok);
}

TEST(FleetNodeReport, JsonDocumentHasTheDocumentedShape) {
  auto j = to_json(sample());
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"interrupted", "generation", "bundle_sha256", "summary",
                                            "inventory_nodes", "nodes"}));
  EXPECT_EQ(j["interrupted"], false);
  EXPECT_EQ(j["generation"], 7);
  EXPECT_EQ(j["bundle_sha256"], "ab12");
  // Every status in declaration order, zeros included, then the total.
  std::vector<std::string> summary_keys;
  for (const auto& [key, value] : j["summary"].items()) summary_keys.push_back(key);
  std::vector<std::string> expected_keys;
  for (NodeStatus status : all_node_statuses()) expected_keys.emplace_back(to_string(status));
  expected_keys.emplace_back("total");
  EXPECT_EQ(summary_keys, expected_keys);
  EXPECT_EQ(j["summary"]["ok"], 2);
  EXPECT_EQ(j["summary"]["unchanged"], 1);
  EXPECT_EQ(j["summary"]["unreachable"], 1);
  EXPECT_EQ(j["summary"]["hostkey"], 1);
  EXPECT_EQ(j["summary"]["skipped"], 2);
  EXPECT_EQ(j["summary"]["failed"], 0);
  // Unset, the inventory had the nodes reported; with --limit, more.
  EXPECT_EQ(j["inventory_nodes"], j["summary"]["total"]);
  FleetReport limited = sample();
  limited.inventory_nodes = 40;
  EXPECT_EQ(to_json(limited)["inventory_nodes"], 40);
  EXPECT_EQ(j["summary"]["total"], 7);
  ASSERT_EQ(j["nodes"].size(), 7u);
  const auto& first = j["nodes"][0];
  std::vector<std::string> node_keys;
  for (const auto& [key, value] : first.items()) node_keys.push_back(key);
  EXPECT_EQ(node_keys, (std::vector<std::string>{"name", "host", "status", "step", "error",
                                                 "generation", "seconds", "detail"}));
  EXPECT_EQ(first["name"], "node1");
  EXPECT_EQ(first["host"], "host-node1");
  EXPECT_EQ(first["status"], "ok");
  EXPECT_EQ(first["step"], "done");
  EXPECT_TRUE(first["error"].is_null());
  EXPECT_EQ(first["generation"], 7);
  EXPECT_DOUBLE_EQ(first["seconds"].get<double>(), 1.235);
  const auto& failed = j["nodes"][1];
  EXPECT_EQ(failed["status"], "hostkey");
  EXPECT_EQ(failed["error"], "node2: host key of [h]:22 does not match");
  EXPECT_TRUE(failed["generation"].is_null());
  EXPECT_TRUE(j["nodes"][5]["step"].is_null());
  EXPECT_TRUE(j["nodes"][5]["detail"].is_null());
}

TEST(FleetNodeReport, JsonWithoutBundleOrGenerationUsesNull) {
  FleetReport r;
  r.command = "verify";
  auto j = to_json(r);
  EXPECT_TRUE(j["generation"].is_null());
  EXPECT_TRUE(j["bundle_sha256"].is_null());
  EXPECT_TRUE(j["summary"].is_object());
  EXPECT_EQ(j["summary"].size(), all_node_statuses().size() + 1);
  for (const auto& [key, value] : j["summary"].items()) EXPECT_EQ(value, 0) << key;
  EXPECT_TRUE(j["nodes"].is_array());
  EXPECT_TRUE(j["nodes"].empty());
}

TEST(FleetNodeReport, SummaryGroupsNodesByOutcome) {
  std::string s = format_summary(sample());
  EXPECT_THAT(s, HasSubstr("ok (2): node[1,3] at generation 7\n"));
  EXPECT_THAT(s, HasSubstr("unchanged (1): node4 at generation 8\n"));
  EXPECT_THAT(s, HasSubstr("hostkey (1):\n  node2 [hostkey]: host key of [h]:22 does not match\n"));
  EXPECT_THAT(s, HasSubstr("unreachable (1):\n  node5 [connect]: cannot connect: refused\n"));
  EXPECT_THAT(s, HasSubstr("skipped (2): node[6-7]: not started: interrupted (Ctrl-C)\n"));
  // The node's name is not repeated inside its own line.
  EXPECT_THAT(s, Not(HasSubstr("node2: node2")));
  // Problems come after successes, and the tally comes last.
  EXPECT_LT(s.find("ok (2)"), s.find("hostkey (1)"));
  EXPECT_THAT(s, ::testing::EndsWith(
                     "push: 7 nodes: 2 ok, 1 unchanged, 1 unreachable, 1 hostkey, 2 skipped\n"));
}

TEST(FleetNodeReport, FoldNamesMakesRanges) {
  EXPECT_EQ(fold_names({}), "");
  EXPECT_EQ(fold_names({"node1"}), "node1");
  EXPECT_EQ(fold_names({"node1", "node2", "node3", "node5", "node7", "node8"}), "node[1-3,5,7-8]");
  EXPECT_EQ(fold_names({"node3", "node1", "node2"}), "node[1-3]");
  EXPECT_EQ(fold_names({"web01", "web02", "web10", "db", "web03"}), "web[01-03,10],db");
  EXPECT_EQ(fold_names({"a1", "b1", "a2"}), "a[1-2],b1");
  EXPECT_EQ(fold_names({"10.0.0.1", "10.0.0.2"}), "10.0.0.[1-2]");
  // Different widths are different names: node1 and node01 stay apart.
  EXPECT_EQ(fold_names({"node1", "node01", "node2", "node02"}), "node[1-2],node[01-02]");
  EXPECT_EQ(fold_names({"node9", "node10", "node11"}), "node[9-11]");
  EXPECT_EQ(fold_names({"x", "x"}), "x");
  EXPECT_EQ(fold_names({"n1", "n1"}), "n1");
  EXPECT_EQ(fold_names({"n12345678901234567890"}), "n12345678901234567890");
}

TEST(FleetNodeReport, RenderedFieldsAddDetailsAndTheLocalStep) {
  ReportOutput output{.local_note = "local: wiped b.age\n"};
  output.node_detail = [](std::size_t i, const NodeReport&) {
    return i == 1 ? std::string("removed 2 files") : std::string();
  };
  output.local_json = {{"bundle", "b.age"}, {"wiped", true}};
  FleetReport r = sample();
  r.nodes[3].detail = "found a dangling current";
  auto rendered = render_fleet_report(r, output);
  auto expected = to_json(r);
  expected["nodes"][1]["detail"] = "removed 2 files";
  expected["local"] = {{"bundle", "b.age"}, {"wiped", true}};
  EXPECT_EQ(rendered.fields, expected);
  EXPECT_TRUE(rendered.fields["nodes"][0]["detail"].is_null());
  EXPECT_EQ(rendered.fields["nodes"][3]["detail"], "found a dangling current");
}

TEST(FleetNodeReport, RenderedWithoutDetailsOrLocalStepIsToJson) {
  EXPECT_EQ(render_fleet_report(sample(), {}).fields, to_json(sample()));
}

TEST(FleetNodeReport, RendersTheSummaryForPeople) {
  std::string text = render_fleet_report(sample(), {}).text;
  EXPECT_EQ(text, format_summary(sample()));
  EXPECT_THAT(text, HasSubstr("ok (2): node[1,3] at generation 7\n"));
  EXPECT_THAT(text, HasSubstr("hostkey (1):\n  node2 [hostkey]: host key of [h]:22"));
}

// After Ctrl-C the report says so: a line for people, "interrupted" in JSON, exit 130.
TEST(FleetNodeReport, AnInterruptedReportSaysSo) {
  FleetReport r = sample();
  r.interrupted = true;
  auto rendered = render_fleet_report(r, {});
  EXPECT_EQ(rendered.code, ExitCode::interrupted);
  EXPECT_EQ(rendered.fields["interrupted"], true);
  EXPECT_THAT(rendered.text,
              ::testing::EndsWith("push: interrupted (Ctrl-C): 2 not started (skipped); the "
                                  "running nodes were waited for\n"));
  r.nodes[4] = report("node5", NodeStatus::failed, std::string(kAbandonedStep),
                      "node5: abandoned while running at a second Ctrl-C");
  EXPECT_THAT(format_summary(r),
              ::testing::EndsWith("push: interrupted (Ctrl-C): 2 not started (skipped); 1 "
                                  "abandoned while running, state unknown: run keyfleet verify\n"));
  EXPECT_THAT(format_summary(sample()), Not(HasSubstr("interrupted (Ctrl-C):")));
}

TEST(FleetNodeReport, NodeDetailsAndLocalNoteComeBeforeTheSummary) {
  FleetReport r = sample();
  std::vector<std::size_t> asked;
  ReportOutput output{.local_note = "local: wiped keys.age\n"};
  output.node_detail = [&](std::size_t i, const NodeReport& node) {
    asked.push_back(i);
    EXPECT_EQ(&node, &r.nodes[i]);
    return node.status == NodeStatus::ok ? fmt::format("cleaned {}", i) : std::string();
  };
  std::string text = render_fleet_report(r, output).text;
  EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(text,
            "node1: cleaned 0\nnode3: cleaned 2\nlocal: wiped keys.age\n" + format_summary(r));
}

TEST(FleetNodeReport, PrintedExitCodeFollowsNodesInterruptAndLocalStep) {
  FleetReport good;
  good.command = "rollback";
  good.nodes = {report("a", NodeStatus::ok), report("b", NodeStatus::unchanged)};
  FleetReport bad = good;
  bad.nodes.push_back(report("c", NodeStatus::timeout, "connect", "c: timed out"));
  FleetReport empty;
  empty.command = "cleanup";

  auto code = [](FleetReport r, bool interrupted, bool local_failed) {
    r.interrupted = interrupted;
    return render_fleet_report(r, {.local_failed = local_failed}).code;
  };
  EXPECT_EQ(code(good, false, false), ExitCode::ok);
  EXPECT_EQ(code(empty, false, false), ExitCode::ok);
  EXPECT_EQ(code(bad, false, false), ExitCode::failure);
  EXPECT_EQ(code(good, true, false), ExitCode::interrupted);
  EXPECT_EQ(code(bad, true, false), ExitCode::interrupted);
  EXPECT_EQ(code(good, false, true), ExitCode::failure);
  EXPECT_EQ(code(bad, false, true), ExitCode::failure);
  EXPECT_EQ(code(good, true, true), ExitCode::interrupted);
}

std::string drain(int fd) {
  std::string out;
  char buf[256];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

TEST(FleetNodeReport, ProgressLineRedrawsInPlaceOnlyWhenEnabled) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  {
    ProgressLine line("push", fds[1], true);
    line.update(FleetProgress{100, 12, 1, 32, std::chrono::milliseconds(4200)});
    line.clear();
    line.clear();  // once is enough
  }
  EXPECT_EQ(drain(fds[0]), "\r\033[Kpush: 12/100 done, 1 failed, 32 running, 4s\r\033[K");
  {
    ProgressLine off("push", fds[1], false);
    off.update(FleetProgress{1, 0, 0, 1, {}});
  }
  EXPECT_EQ(drain(fds[0]), "");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace kf
