// Printing one way for every command: a View's table, wide table and names, and PrintList /
// PrintObject in each -o format.
#include "cli/output.h"

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

namespace berth::cli {
namespace {

// Captures what std::cout and std::cerr get while it lives.
class Captured {
 public:
  Captured() : out_old_(std::cout.rdbuf(out_.rdbuf())), err_old_(std::cerr.rdbuf(err_.rdbuf())) {}
  ~Captured() {
    std::cout.rdbuf(out_old_);
    std::cerr.rdbuf(err_old_);
  }
  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

 private:
  std::ostringstream out_, err_;
  std::streambuf* out_old_;
  std::streambuf* err_old_;
};

View Pets() {
  return View{
      .kind = "pet",
      .columns = {Field("NAME", "name"), Field("AGE", "age"), Field("OWNER", "owner", true)},
      .namespaced = true};
}

const Json kDoc = Json::parse(R"({"pets":[{"name":"rex","age":3,"owner":"ann"},
                                         {"name":"tom","age":12}],"revision":7})");

std::string Print(const std::string& output, const Json& doc = kDoc) {
  Context ctx;
  ctx.output = output;
  ctx.ns = "zoo";
  Captured c;
  PrintList(ctx, Pets(), doc, doc["pets"]);
  return c.out() + c.err();
}

TEST(OutputTest, TableShowsTheNarrowColumns) {
  EXPECT_EQ(Print("table"),
            "NAME   AGE\n"
            "rex    3\n"
            "tom    12\n");
}

TEST(OutputTest, WideAddsTheWideColumnsAndDashesEmptyCells) {
  EXPECT_EQ(Print("wide"),
            "NAME   AGE   OWNER\n"
            "rex    3     ann\n"
            "tom    12    -\n");
}

TEST(OutputTest, NamePrintsKindSlashNameALine) { EXPECT_EQ(Print("name"), "pet/rex\npet/tom\n"); }

TEST(OutputTest, JsonAndYamlPrintTheAnswerAsItCame) {
  EXPECT_EQ(Json::parse(Print("json")), kDoc);
  std::string yaml = Print("yaml");
  EXPECT_NE(yaml.find("revision: 7"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("name: rex"), std::string::npos) << yaml;
}

TEST(OutputTest, AnEmptyListSaysSoNamingTheNamespace) {
  const Json empty = Json::parse(R"({"pets":[]})");
  EXPECT_EQ(Print("table", empty), "no pets in namespace zoo (-A lists every namespace)\n");
  EXPECT_EQ(Print("name", empty), "");
}

TEST(OutputTest, PrintObjectUsesTheTextOnlyForTables) {
  for (auto [output, want] : {std::pair{"table", "made rex\n"}, std::pair{"wide", "made rex\n"},
                              std::pair{"name", "pet/rex\n"}}) {
    Context ctx;
    ctx.output = output;
    Captured c;
    PrintObject(ctx, Json{{"name", "rex"}}, "pet", "rex", [] { std::cout << "made rex\n"; });
    EXPECT_EQ(c.out(), want) << output;
  }
  Context ctx;
  ctx.output = "json";
  Captured c;
  PrintObject(ctx, Json{{"name", "rex"}}, "pet", "rex", [] { std::cout << "made rex\n"; });
  EXPECT_EQ(Json::parse(c.out()), (Json{{"name", "rex"}}));
}

TEST(OutputTest, NamesOfKeysDropTheirLeadingSlash) {
  View keys{.kind = "key", .name = [](const Json& j) { return j.value("key", ""); }};
  EXPECT_EQ(keys.NameOf(Json{{"key", "/apps/x"}}), "key/apps/x");
}

TEST(OutputTest, CellsStayOnOneLine) {
  View v{.kind = "x", .columns = {Field("MSG", "msg")}};
  EXPECT_EQ(v.Row(Json{{"msg", "a\nb\tc"}}, Format::kTable), std::vector<std::string>{"a b c"});
}

}  // namespace
}  // namespace berth::cli
