// `berth logs query|tail` against a real berthd: lines pushed through Loki's API come back
// newest first (or oldest with --forward), as a table, wide with their streams, as Loki's
// JSON; metric queries print samples; a bad query is one error line naming the position; a
// tail prints lines as they arrive; a namespaced token sees only its namespaces.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include <fmt/format.h>

#include "core/json.h"
#include "harness/harness.h"
#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kSec = 1'000'000'000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class CliLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"));
    ASSERT_TRUE(berthd_->Start());
  }

  std::vector<std::pair<std::string, std::string>> Env(const std::string& token) {
    return {{"BERTH_ADDR", berthd_->base()},
            {"BERTH_TOKEN", token},
            {"XDG_CONFIG_HOME", dir_.Sub("config")},
            {"HOME", dir_.path()}};
  }

  ToolResult Berth(std::vector<std::string> args, std::string token = "\x01") {
    if (token == "\x01") token = berthd_->admin_token();
    return RunBerth(std::move(args), Env(token),
                    dir_.Sub("cli-" + std::to_string(counter_++) + ".log"));
  }

  // Pushes `lines` into stream {app, namespace}, one second apart, ending `ago` before now.
  void Push(const std::string& ns, const std::string& app, const std::vector<std::string>& lines,
            int64_t ago = 60 * kSec) {
    Json values = Json::array();
    const int64_t t0 = NowNs() - ago - static_cast<int64_t>(lines.size()) * kSec;
    for (size_t i = 0; i < lines.size(); ++i) {
      values.push_back(
          Json::array({std::to_string(t0 + static_cast<int64_t>(i + 1) * kSec), lines[i]}));
    }
    Json body{{"streams", Json::array({Json{{"stream", {{"app", app}, {"namespace", ns}}},
                                            {"values", values}}})}};
    auto r = berthd_->Request("POST", "/loki/api/v1/push", body.dump());
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : r.error().message);
  }

  TempDir dir_{"berth-cli-logs"};
  std::unique_ptr<Berthd> berthd_;
  int counter_ = 0;
};

TEST_F(CliLogsTest, QueryPrintsLinesNewestFirstOrForwardInEveryFormat) {
  Push("shop", "web", {"first line", "second error line", "third line"});
  auto table = Berth({"logs", "query", R"({app="web"})"});
  ASSERT_EQ(table.code, 0) << table.text;
  EXPECT_THAT(table.text, HasSubstr("TIME"));
  const size_t first = table.text.find("first line"), third = table.text.find("third line");
  ASSERT_NE(first, std::string::npos) << table.text;
  ASSERT_NE(third, std::string::npos) << table.text;
  EXPECT_LT(third, first) << "newest first:\n" << table.text;
  EXPECT_THAT(table.text, Not(HasSubstr("namespace=")));  // streams only with -o wide

  auto forward = Berth({"logs", "query", R"({app="web"})", "--forward", "-o", "wide"});
  ASSERT_EQ(forward.code, 0) << forward.text;
  EXPECT_LT(forward.text.find("first line"), forward.text.find("third line")) << forward.text;
  EXPECT_THAT(forward.text, HasSubstr(R"({app="web", namespace="shop"})"));

  auto filtered = Berth({"logs", "query", R"({app="web"} |= "error")", "--limit", "5"});
  EXPECT_THAT(filtered.text, HasSubstr("second error line"));
  EXPECT_THAT(filtered.text, Not(HasSubstr("first line")));
  auto one = Berth({"logs", "query", R"({app="web"})", "--limit", "1"});
  EXPECT_THAT(one.text, HasSubstr("third line"));
  EXPECT_THAT(one.text, Not(HasSubstr("second")));

  auto json = Berth({"logs", "query", R"({app="web"})", "-o", "json"});
  ASSERT_EQ(json.code, 0) << json.text;
  auto j = ParseJson(json.text);
  ASSERT_TRUE(j.has_value()) << json.text;
  EXPECT_EQ((*j)["data"]["resultType"], "streams");
  EXPECT_EQ((*j)["data"]["result"][0]["values"].size(), 3u);

  // Nothing in the range: said on stderr, exit 0.
  auto old = Berth({"logs", "query", R"({app="web"})", "--since", "10s"});
  EXPECT_EQ(old.code, 0) << old.text;
  EXPECT_THAT(old.text, HasSubstr("no entries"));
}

TEST_F(CliLogsTest, MetricQueriesPrintSamples) {
  Push("shop", "web", {"a", "b", "c"});
  auto r = Berth({"logs", "query", R"(sum by (app) (count_over_time({app="web"}[1h])))", "--since",
                  "10m", "--step", "5m"});
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_THAT(r.text, HasSubstr("METRIC"));
  // The sample at the end of the range counts all three lines.
  EXPECT_THAT(r.text, ::testing::ContainsRegex(R"(\{app="web"\} +[0-9T:.Z-]+ +3)")) << r.text;
}

TEST_F(CliLogsTest, BadInputIsOneErrorLineNamingWhatIsWrong) {
  auto bad = Berth({"logs", "query", R"({app="web")"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.text, HasSubstr("error: HTTP 400: parse error at line 1, col")) << bad.text;
  auto since = Berth({"logs", "query", R"({app="web"})", "--since", "forever"});
  EXPECT_EQ(since.code, 1);
  EXPECT_THAT(since.text, HasSubstr("--since")) << since.text;
  auto metric_tail = Berth({"logs", "tail", R"(count_over_time({app="web"}[1m]))"});
  EXPECT_EQ(metric_tail.code, 1);
  EXPECT_THAT(metric_tail.text, HasSubstr("not a metric query")) << metric_tail.text;
  auto nothing = Berth({"logs"});
  EXPECT_EQ(nothing.code, 1);
  EXPECT_THAT(nothing.text, HasSubstr("query, tail, patterns")) << nothing.text;
}

TEST_F(CliLogsTest, TailPrintsTheNewestLinesThenNewOnesAsTheyArrive) {
  Push("shop", "live", {"old one", "old two"});
  ProcessOptions opts;
  opts.env = Env(berthd_->admin_token());
  opts.log_path = dir_.Sub("tail.log");
  auto tail = Process::Start(
      "berth-tail",
      {BinaryPath("src/cmd/berth"), "logs", "tail", R"({app="live"} != "skip")", "--limit", "1"},
      std::move(opts));
  ASSERT_TRUE(tail);
  // First what is stored: the newest line only (--limit 1).
  ASSERT_TRUE(WaitFor([&] { return tail->Logs().find("old two") != std::string::npos; }))
      << tail->Logs();
  // Then what arrives, through the query's pipeline.
  bool seen = WaitFor(
      [&] {
        Push("shop", "live", {"skip me", "new line"}, 0);
        return tail->Logs().find("new line") != std::string::npos;
      },
      kDefaultTimeout, std::chrono::milliseconds(200));
  const std::string out = tail->Logs();
  tail->Stop();
  EXPECT_TRUE(seen) << out;
  EXPECT_THAT(out, Not(HasSubstr("old one")));  // older than the newest --limit lines
  EXPECT_THAT(out, Not(HasSubstr("skip me")));
  EXPECT_LT(out.find("old two"), out.find("new line"));
}

TEST_F(CliLogsTest, ANamespacedTokenQueriesOnlyItsNamespaces) {
  Push("shop", "web", {"shop line"});
  Push("billing", "web", {"billing line"});
  auto made = Berth({"token", "create", "--role", "viewer", "-n", "billing", "--name", "b"});
  ASSERT_EQ(made.code, 0) << made.text;
  std::string billing = made.text.substr(0, made.text.find('\n'));
  auto r = Berth({"logs", "query", R"({app="web"})"}, billing);
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_THAT(r.text, HasSubstr("billing line"));
  EXPECT_THAT(r.text, Not(HasSubstr("shop line")));
}

TEST_F(CliLogsTest, AnalysesPrintAsTables) {
  Push("shop", "web",
       {"level=error msg=\"db down\"", "level=info msg=ok",
        "ERROR failed\njava.lang.IllegalStateException: x\n\tat com.shop.A.b(A.java:1)"});
  auto errors = Berth({"logs", "errors", "-o", "wide"});
  ASSERT_EQ(errors.code, 0) << errors.text;
  EXPECT_THAT(errors.text, HasSubstr("ERRORS PER SLICE"));
  EXPECT_THAT(errors.text, ::testing::ContainsRegex("shop +web +3 +2 +66.7%")) << errors.text;
  auto ex = Berth({"logs", "exceptions"});
  ASSERT_EQ(ex.code, 0) << ex.text;
  EXPECT_THAT(ex.text, ::testing::ContainsRegex("1 +java.lang.IllegalStateException")) << ex.text;
  auto patterns = Berth({"logs", "patterns", R"({app="web"})", "-o", "json"});
  ASSERT_EQ(patterns.code, 0) << patterns.text;
  EXPECT_EQ(ParseJson(patterns.text).value()["lines_scanned"], 3) << patterns.text;
}

TEST_F(CliLogsTest, DashNNarrowsToOneNamespace) {
  Push("shop", "web", {"shop line"});
  Push("billing", "web", {"billing line"});
  auto all = Berth({"logs", "query", R"({app="web"})"});
  EXPECT_THAT(all.text, HasSubstr("shop line"));
  EXPECT_THAT(all.text, HasSubstr("billing line"));
  auto shop = Berth({"logs", "-n", "shop", "query", R"({app="web"})"});
  ASSERT_EQ(shop.code, 0) << shop.text;
  EXPECT_THAT(shop.text, HasSubstr("shop line"));
  EXPECT_THAT(shop.text, Not(HasSubstr("billing line")));
}

}  // namespace
}  // namespace berth::testing
