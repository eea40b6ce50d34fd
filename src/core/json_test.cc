#include "core/json.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(ParseJson, AcceptsOneValue) {
  auto j = ParseJson(R"({"a": [1, 2, {"b": null}]})");
  ASSERT_TRUE(j.has_value()) << j.error().message;
  EXPECT_EQ((*j)["a"][1], 2);
}

TEST(ParseJson, RejectsTrailingGarbageNamingThePosition) {
  auto j = ParseJson(R"({"a":1} x)");
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(j.error().message.find("column"), std::string::npos) << j.error().message;
}

TEST(ParseJson, RejectsDuplicateKeys) {
  auto j = ParseJson(R"({"a":1,"b":{"c":1,"c":2}})");
  ASSERT_FALSE(j.has_value());
  EXPECT_NE(j.error().message.find("duplicate key \"c\""), std::string::npos);
}

TEST(ParseJson, RejectsDeepNesting) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto j = ParseJson(deep, {.max_bytes = 1 << 20, .max_depth = 32});
  ASSERT_FALSE(j.has_value());
  EXPECT_NE(j.error().message.find("nesting"), std::string::npos);
}

TEST(ParseJson, RejectsOversizedBody) {
  auto j = ParseJson(std::string(100, ' '), {.max_bytes = 10, .max_depth = 8});
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code, ErrorCode::kPayloadTooLarge);
}

TEST(RejectUnknownFields, NamesTheUnknownField) {
  auto j = ParseJson(R"({"key":"a","colour":"red"})");
  ASSERT_TRUE(j.has_value());
  auto r = RejectUnknownFields(*j, {"key", "value"}, "kv put body");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "unknown field \"colour\" in kv put body");
}

}  // namespace
}  // namespace berth
