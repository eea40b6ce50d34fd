// The log center's Loki API on a real `berthd dev`: pushes in JSON and snappy protobuf,
// the requests Grafana's Loki data source sends (recorded in its format: Grafana is not a
// Debian package), errors that name what is wrong, roles, limits, a restart, live tail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <snappy-c.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"
#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSec = 1'000'000'000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Enc(std::string_view s) { return http::PercentEncode(s); }

class LokiApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.Sub("data"),
                                       std::vector<std::string>{"--logs-max-streams", "50"});
    ASSERT_TRUE(berthd_->Start());
    t0_ = NowNs() - 600 * kSec;
  }

  Result<http::Response> Push(const std::string& body, std::string token = "\x01",
                              std::string type = "application/json") {
    http::Headers h;
    h.Set("Authorization", "Bearer " + (token == "\x01" ? berthd_->admin_token() : token));
    h.Set("Content-Type", type);
    return http::Fetch("POST", berthd_->base() + "/loki/api/v1/push", body, std::move(h));
  }

  // 300 lines of an access log over five minutes, every 10th a 500.
  std::string AccessLogBody(std::string_view ns) {
    Json values = Json::array();
    for (int i = 0; i < 300; ++i) {
      values.push_back(
          Json::array({std::to_string(t0_ + i * kSec),
                       fmt::format("level=info method=GET route=/api/items status={} duration={}ms",
                                   i % 10 == 0 ? 500 : 200, i % 50)}));
    }
    Json body{{"streams", Json::array({Json{{"stream", {{"app", "gw"}, {"namespace", ns}}},
                                            {"values", values}}})}};
    return body.dump();
  }

  Json Get(std::string_view path, int want = 200) {
    auto r = berthd_->Request("GET", path);
    EXPECT_TRUE(r) << r.error().message;
    if (!r) return {};
    EXPECT_EQ(r->status, want) << path << "\n" << r->body;
    auto j = ParseJson(r->body);
    return j ? *j : Json(r->body);
  }

  TempDir dir_{"berth-logs-api"};
  std::unique_ptr<Berthd> berthd_;
  int64_t t0_ = 0;
};

TEST_F(LokiApiTest, GrafanasRecordedRequestsGetLokiShapedAnswers) {
  auto pushed = Push(AccessLogBody("shop"));
  ASSERT_TRUE(pushed);
  ASSERT_EQ(pushed->status, 204) << pushed->body;

  // Data source health check (Grafana 10): an instant query of vector(1)+vector(1).
  Json health =
      Get(fmt::format("/loki/api/v1/query?query={}&time={}", Enc("vector(1)+vector(1)"), NowNs()));
  EXPECT_EQ(health["status"], "success");
  EXPECT_EQ(health["data"]["resultType"], "vector");
  EXPECT_EQ(health["data"]["result"][0]["value"][1], "2");

  // Explore, logs panel: query_range, backward, limit 1000, step as Go prints durations.
  std::string logs_q = R"({app="gw", namespace="shop"} |= "status=500")";
  Json logs = Get(fmt::format(
      "/loki/api/v1/query_range?direction=backward&end={}&limit=1000&query={}&start={}&step=1m0s",
      NowNs(), Enc(logs_q), t0_ - 60 * kSec));
  ASSERT_EQ(logs["data"]["resultType"], "streams");
  ASSERT_EQ(logs["data"]["result"].size(), 1u);
  const Json& values = logs["data"]["result"][0]["values"];
  ASSERT_EQ(values.size(), 30u);
  EXPECT_EQ(values[0][0], std::to_string(t0_ + 290 * kSec));  // newest first, ns as a string
  EXPECT_THAT(values[0][1].get<std::string>(), HasSubstr("status=500"));
  EXPECT_EQ(logs["data"]["result"][0]["stream"]["app"], "gw");
  EXPECT_TRUE(logs["data"]["stats"]["summary"].contains("totalLinesProcessed"));

  // A graph panel: a metric range query with a step in Go's duration form.
  std::string rate_q = R"(sum by (status) (count_over_time({app="gw"} | logfmt [1m])))";
  Json matrix = Get(fmt::format("/loki/api/v1/query_range?query={}&start={}&end={}&step=60s",
                                Enc(rate_q), t0_, t0_ + 300 * kSec));
  ASSERT_EQ(matrix["data"]["resultType"], "matrix");
  ASSERT_EQ(matrix["data"]["result"].size(), 2u);
  EXPECT_EQ(matrix["data"]["result"][1]["metric"]["status"], "500");
  EXPECT_EQ(matrix["data"]["result"][1]["values"][1][1], "6");  // six 500s a minute
  EXPECT_TRUE(matrix["data"]["result"][1]["values"][1][0].is_number());

  // Label browser: names, values, series.
  Json labels = Get(fmt::format("/loki/api/v1/labels?start={}&end={}", t0_, NowNs()));
  EXPECT_EQ(labels["data"], Json::array({"app", "namespace"}));
  Json apps = Get("/loki/api/v1/label/app/values");
  EXPECT_EQ(apps["data"], Json::array({"gw"}));
  Json series = Get("/loki/api/v1/series?match[]=" + Enc(R"({app="gw"})"));
  ASSERT_EQ(series["data"].size(), 1u);
  EXPECT_EQ(series["data"][0]["namespace"], "shop");
}

TEST_F(LokiApiTest, BadQueriesAnswer400NamingThePosition) {
  auto bad =
      berthd_->Request("GET", "/loki/api/v1/query_range?query=" + Enc(R"({app="gw" |= "x")"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("parse error at line 1, col 11"));
  auto re =
      berthd_->Request("GET", "/loki/api/v1/query?query=" + Enc(R"({app="gw"} |~ "(unclosed")"));
  ASSERT_TRUE(re);
  EXPECT_EQ(re->status, 400);
  EXPECT_THAT(re->body, HasSubstr("line 1, col 15: regex string \"(unclosed\" does not compile"));
  auto time = berthd_->Request(
      "GET", "/loki/api/v1/query_range?query=" + Enc(R"({app="gw"})") + "&start=yesterday");
  ASSERT_TRUE(time);
  EXPECT_EQ(time->status, 400);
  EXPECT_THAT(time->body, HasSubstr("invalid parameter start: \"yesterday\""));
}

TEST_F(LokiApiTest, BadPushesAreRefusedNamingTheElementAndLoseNothingStored) {
  ASSERT_EQ(Push(AccessLogBody("shop"))->status, 204);
  auto bad_ts = Push(R"({"streams":[{"stream":{"app":"x"},"values":[["1","ok"],["12x","bad"]]}]})");
  ASSERT_TRUE(bad_ts);
  EXPECT_EQ(bad_ts->status, 400);
  EXPECT_THAT(bad_ts->body,
              HasSubstr("streams[0].values[1][0]: timestamp \"12x\" is not an integer"));
  auto bad_label = Push(R"({"streams":[{"stream":{"app-name":"x"},"values":[]}]})");
  EXPECT_EQ(bad_label->status, 400);
  EXPECT_THAT(bad_label->body,
              HasSubstr("streams[0].stream: label name \"app-name\" is not valid"));
  auto not_json = Push("{\"streams\": [");
  EXPECT_EQ(not_json->status, 400);
  EXPECT_THAT(not_json->body, HasSubstr("push body:"));
  // Hostile label values are stored and come back byte for byte.
  Json hostile{
      {"streams",
       Json::array({Json{{"stream", {{"app", "x\"}\n{evil=\"1"}, {"namespace", "shop"}}},
                         {"values", Json::array({Json::array({std::to_string(t0_), "hi"})})}}})}};
  ASSERT_EQ(Push(hostile.dump())->status, 204);
  Json back = Get("/loki/api/v1/label/app/values");
  EXPECT_EQ(back["data"], Json::array({"gw", "x\"}\n{evil=\"1"}));
  Json count = Get(fmt::format("/loki/api/v1/query?query={}&time={}",
                               Enc(R"(sum(count_over_time({namespace="shop"}[1h])))"), NowNs()));
  EXPECT_EQ(count["data"]["result"][0]["value"][1], "301");
}

TEST_F(LokiApiTest, TheStreamLimitAnswers429NamingTheLabel) {
  Json streams = Json::array();
  for (int i = 0; i < 60; ++i) {
    streams.push_back(
        Json{{"stream", {{"app", "api"}, {"namespace", "shop"}, {"request_id", std::to_string(i)}}},
             {"values", Json::array({Json::array({std::to_string(t0_ + i), "x"})})}});
  }
  auto r = Push(Json{{"streams", streams}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_THAT(r->body, HasSubstr("50 entries stored, 10 refused"));
  EXPECT_THAT(r->body, HasSubstr("Label \"request_id\" has 50 values"));
}

TEST_F(LokiApiTest, SnappyProtobufPushesAsPromtailSends) {
  // logproto.PushRequest{streams: [{labels, entries: [{timestamp{seconds,nanos}, line}]}]}
  auto varint = [](std::string& out, uint64_t v) {
    while (v >= 0x80) {
      out += static_cast<char>(v | 0x80);
      v >>= 7;
    }
    out += static_cast<char>(v);
  };
  auto field = [&](std::string& out, int number, const std::string& bytes) {
    varint(out, static_cast<uint64_t>(number) << 3 | 2);
    varint(out, bytes.size());
    out += bytes;
  };
  std::string stream;
  field(stream, 1, R"({app="promtail", namespace="ops"})");
  for (int i = 0; i < 3; ++i) {
    std::string ts, entry;
    varint(ts, 1 << 3);
    varint(ts, static_cast<uint64_t>(t0_ / kSec + i));
    varint(ts, 2 << 3);
    varint(ts, 5);
    field(entry, 1, ts);
    field(entry, 2, "protobuf line " + std::to_string(i));
    field(stream, 2, entry);
  }
  std::string req;
  field(req, 1, stream);
  size_t n = snappy_max_compressed_length(req.size());
  std::string body(n, '\0');
  ASSERT_EQ(snappy_compress(req.data(), req.size(), body.data(), &n), SNAPPY_OK);
  body.resize(n);
  auto r = Push(body, "\x01", "application/x-protobuf");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  Json got = Get(fmt::format("/loki/api/v1/query_range?query={}&start={}&end={}&direction=forward",
                             Enc(R"({app="promtail"})"), t0_ - kSec, NowNs()));
  ASSERT_EQ(got["data"]["result"].size(), 1u);
  EXPECT_EQ(got["data"]["result"][0]["values"][0][0], std::to_string((t0_ / kSec) * kSec + 5));
  EXPECT_EQ(got["data"]["result"][0]["values"][2][1], "protobuf line 2");
  auto corrupt = Push("not snappy at all", "\x01", "application/x-protobuf");
  EXPECT_EQ(corrupt->status, 400);
  EXPECT_THAT(corrupt->body, HasSubstr("snappy"));
}

TEST_F(LokiApiTest, ViewersQueryButMayNotPush) {
  auto issued = berthd_->Request("POST", "/v1/tokens", R"({"name":"grafana","role":"viewer"})");
  ASSERT_TRUE(issued);
  ASSERT_LT(issued->status, 300) << issued->body;
  std::string viewer = (*ParseJson(issued->body))["token"];
  auto push = Push(AccessLogBody("shop"), viewer);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->status, 403);
  auto q = berthd_->Request("GET", "/loki/api/v1/labels", {}, viewer);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 200);
  auto anon = berthd_->Request("GET", "/loki/api/v1/labels", {}, "");
  EXPECT_EQ(anon->status, 401);
}

TEST_F(LokiApiTest, EverythingAcknowledgedSurvivesARestart) {
  ASSERT_EQ(Push(AccessLogBody("shop"))->status, 204);
  berthd_->process().Kill(SIGKILL);
  berthd_->Reset();
  ASSERT_TRUE(berthd_->Start());
  Json count = Get(fmt::format("/loki/api/v1/query?query={}&time={}",
                               Enc(R"(sum(count_over_time({app="gw"}[1h])))"), NowNs()));
  EXPECT_EQ(count["data"]["result"][0]["value"][1], "300");
}

TEST_F(LokiApiTest, TailStreamsNewLinesAsTheyArrive) {
  http::Headers h;
  h.Set("Authorization", "Bearer " + berthd_->admin_token());
  std::mutex mu;
  std::string received;
  std::atomic<bool> done{false};
  auto client = http::Client::Create(berthd_->base(), {.timeout = std::chrono::seconds(120)});
  ASSERT_TRUE(client);
  std::thread reader([&] {
    http::Request req;
    req.method = "GET";
    req.target = "/loki/api/v1/tail?query=" + Enc(R"({app="live"} |= "keep")");
    req.headers = h;
    (void)(*client)->Stream(
        req, [](const http::Response&) {},
        [&](std::string_view chunk) {
          std::lock_guard lock(mu);
          received += chunk;
          return !done.load();
        });
  });
  // Lines pushed until the tail has shown one: the tail may subscribe after the first push.
  bool seen = WaitFor(
      [&] {
        Json body{
            {"streams",
             Json::array({Json{
                 {"stream", {{"app", "live"}}},
                 {"values", Json::array({Json::array({std::to_string(NowNs()), "keep me"}),
                                         Json::array({std::to_string(NowNs()), "drop me"})})}}})}};
        EXPECT_EQ(Push(body.dump())->status, 204);
        std::lock_guard lock(mu);
        return received.find("keep me") != std::string::npos;
      },
      kDefaultTimeout, 200ms);
  done = true;
  (*client)->Shutdown();
  reader.join();
  EXPECT_TRUE(seen);
  EXPECT_EQ(received.find("drop me"), std::string::npos);
  EXPECT_THAT(received, HasSubstr(R"("stream":{"app":"live","namespace":"default"})"));
}

}  // namespace
}  // namespace berth::testing
