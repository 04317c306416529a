// A command that throws still leaves its audit record: main's one catch appends it.
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/audit.hpp"
#include "support/test_support.hpp"

namespace kf::cli {
namespace {

// In a child process: the running audit is process-wide state, written once.
[[noreturn]] void run_a_command_that_throws(const std::string& log) {
  ::setenv("KEYFLEET_AUDIT_LOG", log.c_str(), 1);
  std::string name = "keyfleet";
  std::string command = "push";
  char* argv[] = {name.data(), command.data(), nullptr};
  try {
    (void)run_audited("push", 2, argv, []() -> Result<int> { throw std::runtime_error("boom"); });
  } catch (const std::exception& e) {
    audit_after_throw(std::string("internal error: ") + e.what());
  }
  // A second call writes nothing: one record per run.
  audit_after_throw("internal error: again");
  ::_exit(0);
}

TEST(CliAuditDeathTest, ACommandThatThrowsIsOnTheRecord) {
  test::TempDir dir;
  const std::string log = (dir / "audit.jsonl").string();
  EXPECT_EXIT(run_a_command_that_throws(log), ::testing::ExitedWithCode(0), "");
  const std::string text = test::read_text(log);
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  auto record = nlohmann::json::parse(text);
  EXPECT_EQ(record["command"], "push");
  EXPECT_EQ(record["exit_code"], 1);
  EXPECT_EQ(record["error"], "internal error: boom");
}

}  // namespace
}  // namespace kf::cli
