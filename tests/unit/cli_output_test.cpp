#include "cli/output.hpp"

#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kf::cli
