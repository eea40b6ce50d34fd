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

// Per-namespace roles: a token bound to shop pushes and reads shop's streams only; a push
// naming another namespace is refused whole, nothing of it stored.
TEST_F(LokiApiTest, NamespacedTokensReadAndWriteOnlyTheirNamespaces) {
  ASSERT_EQ(Push(AccessLogBody("shop"))->status, 204);
  ASSERT_EQ(Push(AccessLogBody("billing"))->status, 204);
  auto token = [&](std::string_view body) {
    auto r = berthd_->Request("POST", "/v1/tokens", std::string(body));
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
    return r ? ParseJson(r->body).value().value("token", std::string()) : std::string();
  };
  std::string shop_op = token(R"({"name":"shop-op","role":"operator","namespaces":["shop"]})");
  std::string shop_viewer =
      token(R"({"name":"shop-ro","bindings":[{"namespace":"shop","role":"viewer"}]})");

  // Mixed push: shop may be written, billing not; the whole push is refused.
  Json mixed{{"streams",
              Json::array(
                  {Json{{"stream", {{"app", "mixed"}, {"namespace", "shop"}}},
                        {"values", Json::array({Json::array({std::to_string(NowNs()), "a"})})}},
                   Json{{"stream", {{"app", "mixed"}, {"namespace", "billing"}}},
                        {"values", Json::array({Json::array({std::to_string(NowNs()), "b"})})}}})}};
  auto refused = Push(mixed.dump(), shop_op);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_THAT(refused->body, HasSubstr("billing"));
  EXPECT_EQ(Get("/loki/api/v1/label/app/values")["data"], Json::array({"gw"}));
  EXPECT_EQ(Push(AccessLogBody("shop"), shop_viewer)->status, 403);  // a viewer writes nothing
  mixed["streams"].erase(1);
  EXPECT_EQ(Push(mixed.dump(), shop_op)->status, 204);

  // Reads: the viewer of shop sees shop's streams and label values, never billing's.
  auto get = [&](const std::string& path) {
    auto r = berthd_->Request("GET", path, {}, shop_viewer);
    EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : r.error().message);
    return r ? ParseJson(r->body).value_or(Json()) : Json();
  };
  Json q = get(fmt::format("/loki/api/v1/query_range?query={}&start={}&end={}&limit=5000",
                           Enc(R"({app="gw"})"), t0_ - kSec, NowNs()));
  ASSERT_EQ(q["data"]["result"].size(), 1u) << q.dump();
  EXPECT_EQ(q["data"]["result"][0]["stream"]["namespace"], "shop");
  Json count = get(fmt::format("/loki/api/v1/query?query={}&time={}",
                               Enc(R"(sum(count_over_time({app="gw"}[1h])))"), NowNs()));
  EXPECT_EQ(count["data"]["result"][0]["value"][1], "300");  // the admin would count 600
  EXPECT_EQ(get("/loki/api/v1/label/namespace/values")["data"], Json::array({"shop"}));
  Json series = get("/loki/api/v1/series?match[]=" + Enc(R"({app=~".+"})"));
  for (const auto& s : series["data"]) EXPECT_EQ(s["namespace"], "shop") << series.dump();
  EXPECT_EQ(series["data"].size(), 2u) << series.dump();  // gw and mixed
}

// The analyses over pushed records: stack traces (one record each, as the agent ships them)
// grouped by type and frames, latency per route from gateway access records, templates.
TEST_F(LokiApiTest, AnalysesGroupExceptionsRankSlowRoutesAndMinePatterns) {
  Json streams = Json::array();
  for (int instance = 1; instance <= 2; ++instance) {
    Json values = Json::array();
    for (int i = 0; i < 5; ++i) {
      values.push_back(Json::array(
          {std::to_string(t0_ + (instance * 10 + i) * kSec),
           fmt::format("ERROR order {} failed\njava.lang.IllegalStateException: cart {} is "
                       "closed\n\tat com.shop.Cart.add(Cart.java:{})\n\tat "
                       "com.shop.Api.handle(Api.java:88)",
                       i, 100 + i, 40 + instance)}));
      values.push_back(Json::array({std::to_string(t0_ + (instance * 10 + i) * kSec + 1),
                                    fmt::format("served order {} to client {}", i, 3 + i)}));
    }
    streams.push_back(Json{
        {"stream",
         {{"app", "shop"}, {"namespace", "shop"}, {"instance", fmt::format("shop-{}", instance)}}},
        {"values", std::move(values)}});
  }
  Json access = Json::array();
  for (int i = 0; i < 100; ++i) {
    const bool slow = i % 2 == 0;
    access.push_back(Json::array(
        {std::to_string(t0_ + i * kSec), Json{{"route", slow ? "shop-search" : "shop-cart"},
                                              {"upstream", slow ? "10.0.0.9:80" : "10.0.0.8:80"},
                                              {"status", i == 0 ? 503 : 200},
                                              {"duration_ms", slow ? 40.0 + i : 2.0}}
                                             .dump()}));
  }
  streams.push_back(
      Json{{"stream", {{"app", "gateway"}, {"namespace", "shop"}}}, {"values", std::move(access)}});
  auto pushed = Push(Json{{"streams", std::move(streams)}}.dump());
  ASSERT_TRUE(pushed);
  ASSERT_EQ(pushed->status, 204) << pushed->body;
  const std::string since = "&since=1h";

  Json ex = Get("/v1/logs/exceptions?query=" + Enc(R"({app="shop"})") + since);
  ASSERT_EQ(ex["exceptions"].size(), 1u) << ex.dump(2);
  const Json& g = ex["exceptions"][0];
  EXPECT_EQ(g["type"], "java.lang.IllegalStateException");
  EXPECT_EQ(g["count"], 10);
  EXPECT_EQ(g["instances"], Json::array({"shop-1", "shop-2"}));
  EXPECT_EQ(g["frames"][0], "com.shop.Cart.add");
  EXPECT_EQ(g["first_seen_ms"], (t0_ + 10 * kSec) / 1'000'000);
  EXPECT_EQ(g["last_seen_ms"], (t0_ + 24 * kSec) / 1'000'000);
  EXPECT_EQ(ex["traces"], 10);

  Json slow = Get("/v1/logs/slow-routes?" + since.substr(1));  // default {app="gateway"}
  ASSERT_EQ(slow["routes"].size(), 2u) << slow.dump(2);
  EXPECT_EQ(slow["routes"][0]["route"], "shop-search");
  EXPECT_EQ(slow["routes"][0]["count"], 50);
  EXPECT_EQ(slow["routes"][0]["errors"], 1);
  EXPECT_EQ(slow["routes"][0]["p99_ms"], 138.0);  // 40 + 98: the 50th of 50 is the 99th %
  EXPECT_EQ(slow["routes"][0]["upstreams"][0]["upstream"], "10.0.0.9:80");
  EXPECT_EQ(slow["routes"][1]["p50_ms"], 2.0);

  Json patterns = Get("/v1/logs/patterns?query=" + Enc(R"({app="shop"} != "ERROR")") + since);
  ASSERT_EQ(patterns["patterns"].size(), 1u) << patterns.dump(2);
  EXPECT_EQ(patterns["patterns"][0]["template"], "served order <*> to client <*>");
  EXPECT_EQ(patterns["patterns"][0]["count"], 10);
  EXPECT_EQ(patterns["lines_scanned"], 10);

  // Bad input names what is wrong; a viewer of billing sees none of shop's.
  Json bad = Get("/v1/logs/exceptions?query=" + Enc(R"({app="shop")"), 400);
  EXPECT_THAT(bad.dump(), HasSubstr("col"));
  Get("/v1/logs/patterns?since=forever", 400);
  Get("/v1/logs/slow-routes?query=" + Enc(R"(count_over_time({app="x"}[1m]))"), 400);
  auto issued = berthd_->Request(
      "POST", "/v1/tokens", R"({"name":"b","bindings":[{"namespace":"billing","role":"viewer"}]})");
  ASSERT_TRUE(issued && issued->status == 201);
  std::string billing = ParseJson(issued->body).value().value("token", "");
  auto hidden =
      berthd_->Request("GET", "/v1/logs/exceptions?query=" + Enc(R"({app="shop"})"), {}, billing);
  ASSERT_TRUE(hidden && hidden->status == 200) << (hidden ? hidden->body : "");
  EXPECT_EQ(ParseJson(hidden->body).value()["exceptions"].size(), 0u);
}

// Error rate per service: a service whose errors jump from 1% to 30% in the last minute spikes
// against its own baseline; a steady one does not.
TEST_F(LokiApiTest, AnErrorSpikeAgainstTheServicesOwnBaselineIsReported) {
  Json streams = Json::array();
  for (std::string app : {"pay", "steady"}) {
    Json values = Json::array();
    for (int i = 0; i < 1000; ++i) {  // 100 lines a minute for ten minutes
      const bool last_minute = i >= 900;
      const bool error = app == "pay" && last_minute ? i % 10 < 3 : i % 100 == 0;  // 30% vs 1%
      values.push_back(
          Json::array({std::to_string(t0_ + i * 600 * kSec / 1000),
                       fmt::format("level={} msg=\"charge {}\"", error ? "error" : "info", i)}));
    }
    streams.push_back(
        Json{{"stream", {{"app", app}, {"namespace", "shop"}}}, {"values", std::move(values)}});
  }
  ASSERT_EQ(Push(Json{{"streams", std::move(streams)}}.dump())->status, 204);
  Json r = Get(fmt::format("/v1/logs/errors?query={}&start={}&end={}&buckets=10",
                           Enc(R"({namespace="shop"})"), t0_, t0_ + 600 * kSec));
  ASSERT_EQ(r["services"].size(), 2u) << r.dump(2);
  const Json& pay = r["services"][0];  // spiking first
  EXPECT_EQ(pay["service"], "pay");
  EXPECT_EQ(pay["namespace"], "shop");
  EXPECT_EQ(pay["lines"], 1000);
  EXPECT_EQ(pay["errors"], 9 + 30);
  ASSERT_TRUE(pay["spike"].is_object()) << pay.dump(2);
  EXPECT_EQ(pay["spike"]["errors"], 30);
  EXPECT_EQ(pay["spike"]["start_ms"], (t0_ + 540 * kSec) / 1'000'000);
  EXPECT_DOUBLE_EQ(pay["spike"]["baseline_rate"].get<double>(), 0.01);
  EXPECT_EQ(pay["errors_per_slice"], Json::array({1, 1, 1, 1, 1, 1, 1, 1, 1, 30}));
  const Json& steady = r["services"][1];
  EXPECT_EQ(steady["service"], "steady");
  EXPECT_EQ(steady["errors"], 10);
  EXPECT_TRUE(steady["spike"].is_null());
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
