// The depth check on untrusted JSON (common/json_bounds.h).
#include "common/json_bounds.h"

#include <gtest/gtest.h>

#include <string>

namespace ovl {
namespace {

std::string nested(size_t levels, char open = '[', char close = ']') {
  return std::string(levels, open) + std::string(levels, close);
}

TEST(JsonBounds, DepthUpToTheLimitPassesOneMoreDoesNot) {
  EXPECT_FALSE(checkJsonDepth(nested(kMaxJsonDepth)).exceeded);
  auto over = checkJsonDepth(nested(kMaxJsonDepth + 1));
  EXPECT_TRUE(over.exceeded);
  EXPECT_EQ(over.member, "");
  EXPECT_FALSE(checkJsonDepth(R"({"a":{"b":[1,2,{"c":null}]}})").exceeded);
  EXPECT_TRUE(checkJsonDepth(R"({"a":{"b":[1]}})", 2).exceeded);
  EXPECT_FALSE(checkJsonDepth(R"({"a":{"b":[1]}})", 3).exceeded);
}

TEST(JsonBounds, NamesTheTopLevelMemberAndKeepsItsShortStrings) {
  // 100,000 levels: the scan must neither recurse nor keep them.
  const std::string text =
      R"({"cniVersion":"1.0.0","name":"n","prevResult":)" + nested(100000, '[', ']') + "}";
  auto r = checkJsonDepth(text);
  EXPECT_TRUE(r.exceeded);
  EXPECT_EQ(r.member, "prevResult");
  EXPECT_EQ(r.topStrings.at("cniVersion"), "1.0.0");
  EXPECT_EQ(r.topStrings.at("name"), "n");

  std::string objects;
  for (int i = 0; i < 100000; ++i) {
    objects += R"({"a":)";
  }
  objects += "1" + std::string(100000, '}');
  r = checkJsonDepth(R"({"runtimeConfig":)" + objects + "}");
  EXPECT_TRUE(r.exceeded);
  EXPECT_EQ(r.member, "runtimeConfig");
}

TEST(JsonBounds, BracketsInStringsAreNotLevels) {
  EXPECT_FALSE(checkJsonDepth(R"({"k":")" + std::string(1000, '[') + R"("})").exceeded);
  auto bad = checkJsonDepth(R"({"k":[1,}])");
  EXPECT_TRUE(bad.malformed);
  EXPECT_FALSE(bad.exceeded);
}

}  // namespace
}  // namespace ovl
