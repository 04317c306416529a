#include "cli/output.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/fleet_options.hpp"
#include "core/interrupt.hpp"
#include "support/test_support.hpp"

namespace kf::cli {
namespace {

// Standard output captured for the life of the object.
class CapturedStdout {
 public:
  CapturedStdout() : old_(std::cout.rdbuf(buffer_.rdbuf())) {}
  CapturedStdout(const CapturedStdout&) = delete;
  CapturedStdout& operator=(const CapturedStdout&) = delete;
  ~CapturedStdout() { std::cout.rdbuf(old_); }
  [[nodiscard]] std::string text() const { return buffer_.str(); }

 private:
  std::ostringstream buffer_;
  std::streambuf* old_;
};

std::vector<std::string> keys_of(const nlohmann::ordered_json& doc) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc.items()) keys.push_back(key);
  return keys;
}

TEST(CliOutput, TheEnvelopeComesFirstThenTheFieldsInSkeletonOrder) {
  Output out("keygen", true, {{"file", nullptr}, {"recipient", nullptr}});
  out.set({{"recipient", "age1x"}});
  out.set({{"file", "/id"}});
  auto doc = out.document(0, nullptr);
  EXPECT_EQ(keys_of(doc),
            (std::vector<std::string>{"command", "exit_code", "error", "file", "recipient"}));
  EXPECT_EQ(doc["command"], "keygen");
  EXPECT_EQ(doc["exit_code"], 0);
  EXPECT_TRUE(doc["error"].is_null());
  EXPECT_EQ(doc["file"], "/id");

  Error error{ExitCode::refused, "/id already exists"};
  auto failed = out.document(4, &error);
  EXPECT_EQ(failed["error"], nlohmann::ordered_json({{"message", "/id already exists"}}));
  EXPECT_EQ(failed["exit_code"], 4);
  EXPECT_TRUE(Output("", true, nullptr).document(2, &error)["command"].is_null());
}

TEST(CliOutput, JsonPrintsOneDocumentOnceAndNoText) {
  CapturedStdout captured;
  Output out("bundle", true, {{"path", nullptr}});
  out.text() << "Wrote a bundle\n";
  out.finish(0, nullptr);
  Error error{ExitCode::failure, "late"};
  out.finish(1, &error);  // a second finish (a second Ctrl-C's) prints nothing more
  auto doc = nlohmann::ordered_json::parse(captured.text());
  EXPECT_EQ(doc["command"], "bundle");
  EXPECT_EQ(doc["exit_code"], 0);
  EXPECT_EQ(captured.text(), doc.dump(2) + "\n");
}

TEST(CliOutput, PeopleGetTheTextAndNoDocument) {
  CapturedStdout captured;
  Output out("bundle", false, {{"path", nullptr}});
  out.text() << "Wrote a bundle\n";
  out.finish(0, nullptr);
  EXPECT_EQ(captured.text(), "Wrote a bundle\n");
}

TEST(CliOutput, InvalidUtf8FromANodeDoesNotLoseTheDocument) {
  CapturedStdout captured;
  Output out("verify", true, {{"detail", nullptr}});
  out.set({{"detail", "caf\xc3"}});
  out.finish(1, nullptr);
  auto doc = nlohmann::ordered_json::parse(captured.text());
  EXPECT_EQ(doc["detail"], "caf\xef\xbf\xbd");  // U+FFFD
}

TEST(CliOutput, JsonIsRequestedByTheFlagBeforeAnyDoubleDash) {
  auto requested = [](std::vector<const char*> args) {
    args.insert(args.begin(), "keyfleet");
    return json_requested(static_cast<int>(args.size()), args.data());
  };
  EXPECT_TRUE(requested({"push", "b.kfb", "--json"}));
  EXPECT_TRUE(requested({"--json"}));
  EXPECT_FALSE(requested({"push", "b.kfb"}));
  EXPECT_FALSE(requested({"inspect", "--", "--json"}));
  EXPECT_FALSE(requested({"push", "--jsonx"}));
}

int g_out[2];

// A second Ctrl-C before the command printed anything: the skeleton, exit 130, one document.
TEST(CliOutput, ASecondCtrlCBeforeTheReportPrintsTheSkeleton) {
  ASSERT_EQ(::pipe(g_out), 0);
  int status = test::wait_status_of_child([] {
    ::dup2(g_out[1], STDOUT_FILENO);
    install_interrupt_handler();
    Output out("verify", true,
               {{"interrupted", false}, {"nodes", nlohmann::ordered_json::array()}});
    ::raise(SIGINT);
    ::raise(SIGINT);
    ::_exit(5);  // not reached
  });
  ::close(g_out[1]);
  std::string text;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(g_out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(g_out[0]);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto doc = nlohmann::ordered_json::parse(text);
  EXPECT_EQ(doc["command"], "verify");
  EXPECT_EQ(doc["exit_code"], 130);
  EXPECT_EQ(doc["error"]["message"], "interrupted (Ctrl-C)");
  EXPECT_EQ(doc["interrupted"], true);
  EXPECT_EQ(doc["nodes"], nlohmann::ordered_json::array());
}

TEST(CliOutput, TheInterruptNoticeNamesTheRunningNodes) {
  EXPECT_EQ(interrupt_notice({"node3", "node5", "node4"}, 7),
            "keyfleet: interrupted: waiting for 3 running nodes: node[3-5] (7 not started, "
            "skipped; Ctrl-C again stops at once, leaving them in an unknown state)\n");
  EXPECT_EQ(interrupt_notice({"web1"}, 0),
            "keyfleet: interrupted: waiting for 1 running node: web1 (0 not started, skipped; "
            "Ctrl-C again stops at once, leaving it in an unknown state)\n");
}

}  // namespace
}  // namespace kf::cli
