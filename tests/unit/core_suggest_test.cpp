#include <gtest/gtest.h>

#include "core/suggest.hpp"

namespace kf {
namespace {

TEST(Suggest, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("push", "push"), 0u);
  EXPECT_EQ(edit_distance("psuh", "push"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Suggest, ClosestMatch) {
  const std::string_view names[] = {"create-keys", "bundle", "push", "verify", "cleanup"};
  EXPECT_EQ(closest_match("creat-keys", names), "create-keys");
  EXPECT_EQ(closest_match("verfy", names), "verify");
  EXPECT_EQ(closest_match("bundel", names), "bundle");
  EXPECT_EQ(closest_match("clean", names), "cleanup");
  EXPECT_EQ(closest_match("frobnicate", names), std::nullopt);
}

}  // namespace
}  // namespace kf
