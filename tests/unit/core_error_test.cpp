#include <cerrno>

#include <gtest/gtest.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/error.hpp"

namespace kf {
namespace {

Result<int> parse_positive(int value) {
  if (value <= 0) return fail(ExitCode::usage, "--days {} must be positive", value);
  return value;
}

Result<int> doubled(int value) {
  KF_TRY_ASSIGN(int checked, parse_positive(value));
  return checked * 2;
}

Result<void> check_both(int a, int b) {
  KF_CHECK(parse_positive(a));
  KF_CHECK(parse_positive(b));
  return {};
}

TEST(Error, FailFormatsTheMessageAndKeepsTheCode) {
  auto error = parse_positive(-3);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code, ExitCode::usage);
  EXPECT_EQ(error.error().message, "--days -3 must be positive");
}

TEST(Error, TryAndCheckPassValuesOnAndErrorsUpUnchanged) {
  EXPECT_EQ(doubled(4).value(), 8);
  auto error = doubled(0);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code, ExitCode::usage);
  EXPECT_EQ(error.error().message, "--days 0 must be positive");
  EXPECT_TRUE(check_both(1, 2));
  auto second = check_both(1, -2);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "--days -2 must be positive");
}

TEST(Error, FailErrnoAppendsTheSystemsReason) {
  auto error = fail_errno("cannot open /x/y", ENOENT);
  EXPECT_EQ(error.error().code, ExitCode::failure);
  EXPECT_EQ(error.error().message, "cannot open /x/y: No such file or directory");
  auto refused = fail_errno(ExitCode::refused, "cannot create /x/y", EEXIST);
  EXPECT_EQ(refused.error().code, ExitCode::refused);
  EXPECT_EQ(refused.error().message, "cannot create /x/y: File exists");
}

TEST(Error, WithContextPrefixesWhatWeWereDoingAndKeepsTheCode) {
  Error error{ExitCode::integrity, "header MAC mismatch"};
  Error wrapped = with_context(error, "bundle /tmp/b.age");
  EXPECT_EQ(wrapped.code, ExitCode::integrity);
  EXPECT_EQ(wrapped.message, "bundle /tmp/b.age: header MAC mismatch");
}

TEST(Error, OpensslErrorReadsAndEmptiesTheQueue) {
  ERR_clear_error();
  EXPECT_EQ(openssl_error(), "unknown OpenSSL error");
  // Ask OpenSSL for an algorithm it does not have: it leaves a reason in the queue.
  EVP_MD* md = EVP_MD_fetch(nullptr, "no-such-digest", nullptr);
  ASSERT_EQ(md, nullptr);
  std::string reason = openssl_error();
  EXPECT_NE(reason, "unknown OpenSSL error");
  EXPECT_NE(reason.find("error:"), std::string::npos) << reason;
  EXPECT_EQ(ERR_peek_error(), 0u) << "the queue was left with errors in it";
  auto failed = fail_openssl(ExitCode::failure, "cannot generate the CA key");
  EXPECT_EQ(failed.error().message, "cannot generate the CA key: unknown OpenSSL error");
}

}  // namespace
}  // namespace kf
