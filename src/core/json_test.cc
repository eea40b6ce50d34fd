#include "core/json.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

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

// What Json's own dump makes of `text`, or nullopt when it throws (ill-formed UTF-8).
std::optional<std::string> DumpOf(const std::string& text) {
  try {
    return Json(text).dump();
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

void ExpectSameAsDump(const std::string& text) {
  std::string out;
  bool ok = AppendJsonString(out, text);
  auto want = DumpOf(text);
  ASSERT_EQ(ok, want.has_value()) << "text of " << text.size() << " bytes";
  if (ok) {
    EXPECT_EQ(out, *want);
  }
}

TEST(AppendJsonString, WritesEveryAsciiByteAsDumpDoes) {
  for (int c = 0; c < 0x80; ++c) {
    ExpectSameAsDump(std::string(1, static_cast<char>(c)));
    ExpectSameAsDump("a" + std::string(1, static_cast<char>(c)) + "b\"c\\d");
  }
  ExpectSameAsDump("");
  ExpectSameAsDump("zone \"a\"\n\t\\ / \x01\x1f\x7f end");
}

TEST(AppendJsonString, KeepsWellFormedUtf8AndRefusesTheRest) {
  for (const char* s : {"caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x9a\xa2 ship", "\xed\x9f\xbf",
                        "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}) {
    std::string out;
    EXPECT_TRUE(AppendJsonString(out, s)) << s;
    ExpectSameAsDump(s);
  }
  // Overlong, surrogate, above U+10FFFF, truncated, stray continuation bytes.
  for (const char* s : {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3",
                        "a\xe2\x82", "\x80", "\xf8\x88\x80\x80\x80", "\xff"}) {
    std::string out;
    EXPECT_FALSE(AppendJsonString(out, s)) << s;
    ExpectSameAsDump(s);
  }
}

TEST(AppendJsonString, AgreesWithDumpOnRandomBytes) {
  uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  for (int n = 0; n < 20000; ++n) {
    std::string s(next() % 12, '\0');
    for (auto& c : s) {
      // Mostly bytes that start or continue UTF-8 sequences, so that some are well-formed.
      unsigned r = next();
      c = static_cast<char>(r % 4 == 0 ? r % 0x80 : 0x80 + (r >> 2) % 0x80);
    }
    ExpectSameAsDump(s);
  }
}

}  // namespace
}  // namespace berth
