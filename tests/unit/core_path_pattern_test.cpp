#include <gtest/gtest.h>

#include "core/path_pattern.hpp"

namespace kf {
namespace {

bool match(std::string_view pattern, std::string_view path, bool dir = false) {
  auto p = PathPattern::parse(pattern);
  EXPECT_TRUE(p) << p.error().message;
  return p && p->matches(path, dir);
}

TEST(PathPattern, AnameWithoutSlashMatchesTheLastComponentAtAnyDepth) {
  EXPECT_TRUE(match(".ssl", ".ssl", true));
  EXPECT_TRUE(match(".ssl", "a/b/.ssl", true));
  EXPECT_TRUE(match(".ssl", "a/.ssl"));
  EXPECT_FALSE(match(".ssl", ".ssl2"));
  EXPECT_FALSE(match(".ssl", "x.ssl"));
  EXPECT_FALSE(match(".ssl", ".ssl/x"));  // the file below: excluded() walks the parents
}

TEST(PathPattern, StarStopsAtSlashesDoubleStarDoesNot) {
  EXPECT_TRUE(match("*.bak", "secring.gpg.bak"));
  EXPECT_TRUE(match("*.bak", "a/b/c.bak"));
  EXPECT_FALSE(match("*.bak", "c.bak.1"));
  EXPECT_TRUE(match("a/*.lock", "a/x.lock"));
  EXPECT_TRUE(match("a/*.lock", "top/a/x.lock"));
  EXPECT_FALSE(match("a/*.lock", "a/b/x.lock"));
  EXPECT_TRUE(match("a/**.lock", "a/b/x.lock"));
  EXPECT_TRUE(match("**/trustdb.gpg", "x/y/trustdb.gpg"));
  EXPECT_FALSE(match("a/*.lock", "ba/x.lock"));  // only at a component boundary
}

TEST(PathPattern, LeadingSlashAnchorsAtTheTop) {
  EXPECT_TRUE(match("/x", "x"));
  EXPECT_FALSE(match("/x", "a/x"));
  EXPECT_TRUE(match("/a/x", "a/x"));
  EXPECT_FALSE(match("/a/x", "b/a/x"));
}

TEST(PathPattern, TrailingSlashMatchesOnlyDirectories) {
  EXPECT_TRUE(match("cache/", "cache", true));
  EXPECT_FALSE(match("cache/", "cache", false));
  EXPECT_TRUE(match("cache/", "a/cache", true));
  EXPECT_TRUE(match("/cache/", "cache", true));
  EXPECT_FALSE(match("/cache/", "a/cache", true));
}

TEST(PathPattern, QuestionMarkClassesAndEscapes) {
  EXPECT_TRUE(match("S.gpg-agent?", "S.gpg-agentX"));
  EXPECT_FALSE(match("S.gpg-agent?", "S.gpg-agent"));
  EXPECT_TRUE(match("[abc].txt", "b.txt"));
  EXPECT_FALSE(match("[abc].txt", "d.txt"));
  EXPECT_TRUE(match("[!abc].txt", "d.txt"));
  EXPECT_TRUE(match("[^a-c].txt", "z.txt"));
  EXPECT_FALSE(match("[a-c].txt", "z.txt"));
  EXPECT_TRUE(match("[]x]", "]"));
  EXPECT_TRUE(match("\\*", "*"));
  EXPECT_FALSE(match("\\*", "a"));
  EXPECT_TRUE(match(".#lk*", ".#lk0x55.host.123"));
}

TEST(PathPattern, ManyStarsStayFast) {
  std::string path(2000, 'a');
  EXPECT_FALSE(match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", path));
  EXPECT_FALSE(match("**a**a**a**a**a**a**a**a**b", path));
}

TEST(PathPattern, BadPatternsAreUsageErrorsNamingThePattern) {
  for (std::string_view bad : {"", "/", "//", "[abc", "a\\"}) {
    auto p = PathPattern::parse(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, ExitCode::usage);
  }
  std::vector<std::string> texts = {".ssl", "[x"};
  auto parsed = parse_patterns(texts, "--exclude-path");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("--exclude-path: pattern '[x'"), std::string::npos)
      << parsed.error().message;
}

TEST(PathPattern, ExcludedCoversEverythingBelowAnExcludedDirectory) {
  std::vector<std::string> texts = {".ssl", "*.bak", "/top-only"};
  auto patterns = parse_patterns(texts, "--exclude-path");
  ASSERT_TRUE(patterns);
  EXPECT_TRUE(excluded(*patterns, ".ssl/ca.pem", false));
  EXPECT_TRUE(excluded(*patterns, "a/.ssl/deep/x", false));
  EXPECT_TRUE(excluded(*patterns, "x.bak", false));
  EXPECT_TRUE(excluded(*patterns, "top-only/x", false));
  EXPECT_FALSE(excluded(*patterns, "a/top-only", false));
  EXPECT_FALSE(excluded(*patterns, "secring.gpg", false));
  EXPECT_FALSE(excluded({}, "anything", false));
}

}  // namespace
}  // namespace kf
