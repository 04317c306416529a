#include "keydir/remote.hpp"

#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace kf {
namespace {

// shell_quote's output, given to a real /bin/sh, comes back as the same single word.
TEST(FleetRemote, ShellQuoteSurvivesARealShell) {
  for (std::string text : {"plain", "", "with space", "it's", "'", "''", "$HOME `id` $(id)", "a\"b",
                           "back\\slash", "new\nline", "*?[a]", "-n", "; rm -rf /"}) {
    auto r = test::shell("printf '%s' " + shell_quote(text));
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, text) << shell_quote(text);
  }
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace kf
