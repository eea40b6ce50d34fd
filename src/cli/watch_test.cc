// What --watch prints as a list changes: an EVENT column in tables, {"type","object"} lines in
// JSON, names; only what the format shows counts as a change.
#include "cli/watch.h"

#include <gtest/gtest.h>

#include <sstream>

namespace berth::cli {
namespace {

View Pets() { return View{.kind = "pet", .columns = {Field("NAME", "name"), Field("AGE", "age")}}; }

Json Items(const char* text) { return Json::parse(text); }

TEST(WatchPrinterTest, TablePrintsEventsUnderAnEventColumn) {
  Context ctx;
  View view = Pets();
  std::ostringstream out;
  WatchPrinter p(ctx, view, out);
  p.First(Items(R"([{"name":"rex","age":3}])"));
  p.Next(Items(R"([{"name":"rex","age":3,"fed":true}])"));  // no column changed: nothing
  p.Next(Items(R"([{"name":"rex","age":4},{"name":"tom","age":1}])"));
  p.Next(Items(R"([{"name":"tom","age":1}])"));
  EXPECT_EQ(out.str(),
            "EVENT      NAME       AGE\n"
            "ADDED      rex        3\n"
            "MODIFIED   rex        4\n"
            "ADDED      tom        1\n"
            "DELETED    rex        4\n");
}

TEST(WatchPrinterTest, JsonPrintsOneEventALineAndSeesEveryFieldChange) {
  Context ctx;
  ctx.output = "json";
  View view = Pets();
  std::ostringstream out;
  WatchPrinter p(ctx, view, out);
  p.First(Items(R"([{"name":"rex","age":3}])"));
  p.Next(Items(R"([{"name":"rex","age":3,"fed":true}])"));
  p.Next(Items(R"([])"));
  EXPECT_EQ(out.str(), R"({"object":{"age":3,"name":"rex"},"type":"ADDED"})"
                       "\n"
                       R"({"object":{"age":3,"fed":true,"name":"rex"},"type":"MODIFIED"})"
                       "\n"
                       R"({"object":{"age":3,"fed":true,"name":"rex"},"type":"DELETED"})"
                       "\n");
}

TEST(WatchPrinterTest, NamePrintsTheNamesOfWhatChanged) {
  Context ctx;
  ctx.output = "name";
  View view = Pets();
  std::ostringstream out;
  WatchPrinter p(ctx, view, out);
  p.First(Items(R"([{"name":"rex","age":3}])"));
  p.Next(Items(R"([{"name":"rex","age":3},{"name":"tom","age":1}])"));
  EXPECT_EQ(out.str(), "pet/rex\npet/tom\n");
}

TEST(WatchPrinterTest, SameNameInTwoNamespacesIsTwoObjects) {
  Context ctx;
  ctx.output = "name";
  View view = Pets();
  std::ostringstream out;
  WatchPrinter p(ctx, view, out);
  p.First(Items(R"([{"name":"rex","namespace":"a"}])"));
  p.Next(Items(R"([{"name":"rex","namespace":"a"},{"name":"rex","namespace":"b"}])"));
  EXPECT_EQ(out.str(), "pet/rex\npet/rex\n");
}

}  // namespace
}  // namespace berth::cli
