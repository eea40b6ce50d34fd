#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <string>

#include "core/json.h"

namespace berth {
namespace {

TEST(JsonWriter, WritesNestedValuesWithCommas) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Key("a").Int(-1).Key("b").BeginArray().String("x").Uint(2).Bool(true).Null();
  w.BeginObject().EndObject().BeginArray().EndArray().EndArray();
  w.Key("c").Fixed(1.23456, 3).Key("d").Raw(R"({"e":1})").EndObject();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(out, R"({"a":-1,"b":["x",2,true,null,{},[]],"c":1.235,"d":{"e":1}})");
  EXPECT_EQ(Json::parse(out)["d"]["e"], 1);
}

TEST(JsonWriter, EscapesStringsAsJsonDumpDoes) {
  const std::string inputs[] = {"plain",
                                "q\"b\\s",
                                "\b\f\n\r\t",
                                std::string("\x01\x1f\0", 3),
                                "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                "\x7f"};
  for (const auto& s : inputs) {
    std::string out;
    JsonWriter w(out);
    w.String(s);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(out, Json(s).dump()) << s;
  }
}

TEST(JsonWriter, FailsOnIllFormedUtf8OrReplacesItAsJsonDoes) {
  const std::string inputs[] = {"a\x80z", "\xc3", "\xe2\x82z", "\xed\xa0\x80", "\xf8", "\xc0\xaf"};
  for (const auto& s : inputs) {
    std::string strict;
    JsonWriter w(strict);
    w.String(s);
    EXPECT_FALSE(w.ok()) << s;
    std::string replaced;
    JsonWriter r(replaced, JsonWriter::Utf8::kReplace);
    r.String(s);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(replaced, Json(s).dump(-1, ' ', false, Json::error_handler_t::replace)) << s;
  }
}

}  // namespace
}  // namespace berth
