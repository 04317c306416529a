// The audit log: append, the hash chain, edits found, writers taking turns.
#include "core/audit_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::TempDir;
using ::testing::HasSubstr;

nlohmann::ordered_json record(int n) {
  return {{"command", "push"}, {"n", n}, {"text", "é\"\\ \n"}};
}

Result<std::size_t> verify(const fs::path& path) {
  KF_TRY_ASSIGN(auto lines, audit::read_lines(path));
  return audit::verify_chain(lines, path.string());
}

TEST(AuditLog, AppendsAChainOfPrivateRecords) {
  TempDir tmp;
  const fs::path log = tmp / "state" / "keyfleet" / "audit.jsonl";
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(audit::append(log, record(n)));
  EXPECT_EQ(test::file_mode(log), 0600u);
  EXPECT_EQ(test::file_mode(log.parent_path()), 0700u);
  auto lines = audit::read_lines(log);
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 3u);
  auto first = nlohmann::json::parse((*lines)[0].text);
  EXPECT_EQ(first["prev"], std::string(audit::kGenesis));
  EXPECT_EQ(first["n"], 0);
  EXPECT_EQ(first["text"], "é\"\\ \n");
  auto second = nlohmann::json::parse((*lines)[1].text);
  EXPECT_EQ(second["prev"], audit::sha256_text((*lines)[0].text));
  EXPECT_TRUE((*lines)[2].text.ends_with("\"}"));
  auto checked = verify(log);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(*checked, 3u);
}

TEST(AuditLog, EditsRemovalsAndInsertionsNameTheirLine) {
  TempDir tmp;
  const fs::path log = tmp / "audit.jsonl";
  for (int n = 0; n < 4; ++n) ASSERT_TRUE(audit::append(log, record(n)));
  const std::string good = test::read_text(log);
  auto lines_of = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  auto join = [](const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  };
  auto expect_broken = [&](const std::string& text, const std::string& where) {
    test::write_text(log, text, 0600);
    auto checked = verify(log);
    ASSERT_FALSE(checked) << where;
    EXPECT_EQ(checked.error().code, ExitCode::integrity);
    EXPECT_THAT(checked.error().message, HasSubstr(log.string() + ":" + where + ":"));
  };
  auto lines = lines_of(good);
  auto edited = lines;
  edited[1].replace(edited[1].find("\"n\":1"), 5, "\"n\":7");
  expect_broken(join(edited), "2");  // its own hash no longer matches
  auto last = lines;
  last[3].replace(last[3].find("\"n\":3"), 5, "\"n\":8");
  expect_broken(join(last), "4");  // the last record too
  auto removed = lines;
  removed.erase(removed.begin() + 1);
  expect_broken(join(removed), "2");  // line 2 (was 3) does not follow line 1
  auto headless = lines;
  headless.erase(headless.begin());
  expect_broken(join(headless), "1");
  expect_broken(good + "not json\n", "5");
  test::write_text(log, good, 0600);
  EXPECT_TRUE(verify(log));
}

TEST(AuditLog, ConcurrentWritersKeepTheChain) {
  TempDir tmp;
  const fs::path log = tmp / "audit.jsonl";
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int n = 0; n < 10; ++n) EXPECT_TRUE(audit::append(log, record(t * 100 + n)));
    });
  }
  for (auto& w : writers) w.join();
  auto checked = verify(log);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(*checked, 40u);
}

TEST(AuditLog, RefusesASymlinkAndFollowsTheEnvironment) {
  TempDir tmp;
  const fs::path target = tmp / "elsewhere";
  test::write_text(target, "", 0600);
  fs::create_symlink(target, tmp / "audit.jsonl");
  auto refused = audit::prepare(tmp / "audit.jsonl");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ExitCode::usage);

  ::setenv("KEYFLEET_AUDIT_LOG", "/x/audit.jsonl", 1);
  EXPECT_EQ(audit::default_path(), "/x/audit.jsonl");
  ::unsetenv("KEYFLEET_AUDIT_LOG");
  ::setenv("XDG_STATE_HOME", "/state", 1);
  EXPECT_EQ(audit::default_path(), "/state/keyfleet/audit.jsonl");
  ::setenv("XDG_STATE_HOME", "relative", 1);  // not absolute: ignored, as the spec says
  EXPECT_TRUE(audit::default_path().string().ends_with("/.local/state/keyfleet/audit.jsonl"));
  ::unsetenv("XDG_STATE_HOME");
}

}  // namespace
}  // namespace kf
