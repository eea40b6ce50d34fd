#include "config/formats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ErrorOf(Format f, std::string_view text) {
  auto r = ValidateContent(f, text, "shop/app");
  return r ? "" : r.error().message;
}

TEST(FormatsTest, YamlSyntaxErrorNamesItsLine) {
  EXPECT_EQ(ErrorOf(Format::kYaml, "a: 1\nb: [2, 3]\n"), "");
  std::string e = ErrorOf(Format::kYaml, "a: 1\nb: 2\n  c: 3\n");
  EXPECT_THAT(e, HasSubstr("shop/app:3:"));
}

TEST(FormatsTest, YamlDuplicateKeyIsRefused) {
  EXPECT_THAT(ErrorOf(Format::kYaml, "a: 1\nb: 2\na: 3\n"), HasSubstr("shop/app:3:"));
}

TEST(FormatsTest, JsonErrorsNameLineAndColumn) {
  EXPECT_EQ(ErrorOf(Format::kJson, "{\"a\": [1, 2]}"), "");
  EXPECT_THAT(ErrorOf(Format::kJson, "{\n  \"a\": 1,\n  \"b\": }\n"),
              AllOf(HasSubstr("shop/app"), HasSubstr("line 3, column 8")));
  EXPECT_THAT(ErrorOf(Format::kJson, "{\"a\": 1} trailing"),
              AllOf(HasSubstr("shop/app"), HasSubstr("line 1, column 12")));
}

TEST(FormatsTest, TomlErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf(Format::kToml, "[server]\nport = 8080\nhosts = [\"a\", \"b\"]\n"), "");
  std::string e = ErrorOf(Format::kToml, "[server]\nport = 8080\nport = 9090\n");
  EXPECT_THAT(e, HasSubstr("shop/app:3:"));
  EXPECT_THAT(ErrorOf(Format::kToml, "a = \"unterminated\n"), HasSubstr("shop/app:1:"));
}

TEST(FormatsTest, PropertiesAcceptJavaSyntax) {
  EXPECT_EQ(ErrorOf(Format::kProperties,
                    "# comment\n! also\nkey=value\nkey2 : value\nkey3 value\n"
                    "multi = one \\\n   two\nunicode=\\u00e9\nempty\nescaped\\=key=x\n"),
            "");
}

TEST(FormatsTest, PropertiesRefuseBadEscapesAndDuplicates) {
  EXPECT_THAT(ErrorOf(Format::kProperties, "a=1\nb=\\u12g4\n"),
              HasSubstr("shop/app:2: properties: malformed \\uxxxx"));
  EXPECT_THAT(ErrorOf(Format::kProperties, "a=1\nb=2\n a = 3\n"),
              HasSubstr("shop/app:3: properties: key \"a\" is given twice (first on line 1)"));
  // A continuation line is part of its key's line: no duplicate there.
  EXPECT_EQ(ErrorOf(Format::kProperties, "a=1 \\\n  a=2\n"), "");
}

TEST(FormatsTest, TextTakesAnythingButIllFormedUtf8) {
  EXPECT_EQ(ErrorOf(Format::kText, "any {{ thing }}\n\tat all: é\n"), "");
  std::string e = ErrorOf(Format::kText, "line one\nab\xff\n");
  EXPECT_THAT(e, HasSubstr("shop/app:2:3: not UTF-8 (byte 0xff at offset 11)"));
}

TEST(FormatsTest, FirstInvalidUtf8FindsOverlongsAndSurrogates) {
  EXPECT_EQ(FirstInvalidUtf8("plain é 😀"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("ab\xc0\xaf"), 2u);         // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);      // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("x\xf4\x90\x80\x80"), 1u);  // past U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("x\xe2\x82"), 1u);          // cut short
}

}  // namespace
}  // namespace berth::config
