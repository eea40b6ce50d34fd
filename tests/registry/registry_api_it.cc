// The registry's REST endpoints in process: a real ApiServer (auth, router) over the sqlite
// store, the registry component (health checks, DNS) and the HTTP client.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/api_server.h"
#include "api/registry_endpoints.h"
#include "core/http/client.h"
#include "core/http/testing/json_lines.h"
#include "core/json.h"
#include "harness/harness.h"
#include "registry/component.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::registry {
namespace {

using berth::testing::TempDir;
using berth::testing::WaitFor;
using namespace std::chrono_literals;

class RegistryApiIt : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.Sub("store.db"), {.durable = false}, clock_);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    tokens_ = std::make_unique<security::TokenService>(*store_, clock_);
    audit_ = std::make_unique<security::AuditLog>(*store_, clock_);
    auto t = tokens_->Create("test", {.role = security::Role::kAdmin}, "test");
    ASSERT_TRUE(t.has_value());
    token_ = t->secret;
    auto c = Component::Start(*store_, clock_, {.dns_address = "127.0.0.1:0"});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    component_ = std::move(*c);
    api::Router router;
    api::RegisterRegistryEndpoints(router, component_->registry(), component_->io(),
                                   component_->blocking());
    auto a = api::ApiServer::Start(
        {.address = "127.0.0.1:0", .threads = 2},
        {.tokens = tokens_.get(), .audit = audit_.get(), .clock = &clock_}, std::move(router));
    ASSERT_TRUE(a.has_value()) << a.error().message;
    api_ = std::move(*a);
    base_ = fmt::format("http://127.0.0.1:{}", api_->port());
  }
  void TearDown() override {
    if (api_) api_->Stop();
    api_.reset();
    component_.reset();
  }
  struct Reply {
    int status = 0;
    Json body;
  };
  Reply Call(std::string_view method, const std::string& path, std::string body = {}) {
    http::Headers h;
    h.Set("Authorization", "Bearer " + token_);
    if (!body.empty()) h.Set("Content-Type", "application/json");
    auto r = http::Fetch(method, base_ + path, std::move(body), h);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (!r) return {};
    auto j = ParseJson(r->body);
    return {r->status, j ? *j : Json()};
  }
  int64_t Rev() { return *store_->CurrentRevision(); }
  // `method target` (with the token, and `body` when there is one) as a stream: `on_open`
  // runs once a 200 has come, then `on_line` gets each JSON line until it returns false.
  // Returns the status (and the error body of a refused stream in *error).
  int StreamJson(const std::string& method, const std::string& target, const std::string& body,
                 const std::function<bool(const Json&)>& on_line, Json* error = nullptr,
                 const std::function<void()>& on_open = nullptr) {
    auto client = http::Client::Create(base_);
    EXPECT_TRUE(client.has_value());
    if (!client) return 0;
    http::Request req;
    req.method = method;
    req.target = target;
    req.headers.Set("Authorization", "Bearer " + token_);
    if (!body.empty()) req.headers.Set("Content-Type", "application/json");
    req.body = body;
    int status = 0;
    auto r = http::testing::StreamJsonLines(
        **client, req,
        [&](const Json& j) {
          if (status != 200) {
            if (error) *error = j;
            return false;
          }
          return on_line(j);
        },
        [&](const http::Response& head) {
          status = head.status;
          if (status == 200 && on_open) on_open();
        });
    EXPECT_TRUE(r.has_value() || r.error().message.find("stream line") == std::string::npos)
        << r.error().message;
    return status;
  }
  // POST /v1/registry:watch with `body`; see StreamJson.
  int MultiWatch(const std::string& body, const std::function<bool(const Json&)>& on_line,
                 Json* error = nullptr) {
    return StreamJson("POST", "/v1/registry:watch", body, on_line, error);
  }
  // Everything the registry holds (the audit log writes elsewhere in the store).
  std::vector<store::KeyValue> RegistryKeys() {
    return store_->Get("/registry/", {.prefix = true})->kvs;
  }

  SystemClock clock_;
  TempDir dir_{"berth-registry-api-it"};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<security::TokenService> tokens_;
  std::unique_ptr<security::AuditLog> audit_;
  std::unique_ptr<Component> component_;
  std::unique_ptr<api::ApiServer> api_;
  std::string token_;
  std::string base_;
};

TEST_F(RegistryApiIt, RegisterGetFilterHeartbeatDeregister) {
  auto r = Call("PUT", "/v1/registry/default/web/w1",
                R"({"address":"10.0.0.1","port":8080,"tags":["blue"],"ttl":"30s"})");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["health"], "passing");
  int64_t rev = r.body["revision"];
  auto again = Call("PUT", "/v1/registry/default/web/w1",
                    R"({"address":"10.0.0.1","port":8080,"tags":["blue"],"ttl":"30s"})");
  EXPECT_EQ(again.body["revision"], rev);  // idempotent
  ASSERT_EQ(
      Call("PUT", "/v1/registry/default/web/w2", R"({"address":"10.0.0.2","port":8080})").status,
      200);
  auto svc = Call("GET", "/v1/registry/default/web?tag=blue");
  ASSERT_EQ(svc.status, 200);
  ASSERT_EQ(svc.body["instances"].size(), 1u);
  EXPECT_EQ(svc.body["instances"][0]["id"], "w1");
  EXPECT_EQ(Call("GET", "/v1/registry/default/web?passing").body["instances"].size(), 2u);
  auto list = Call("GET", "/v1/registry/default");
  ASSERT_EQ(list.body["services"].size(), 1u);
  EXPECT_EQ(list.body["services"][0]["instances"], 2);
  EXPECT_EQ(Call("PUT", "/v1/registry/default/web/w1/heartbeat").status, 200);
  EXPECT_EQ(Call("PUT", "/v1/registry/default/web/w2/heartbeat").status, 409);  // no ttl
  EXPECT_EQ(Call("DELETE", "/v1/registry/default/web/w1").status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/registry/default/web/w1").status, 404);
  EXPECT_EQ(Call("GET", "/v1/registry/default/nope").status, 404);
}

// Registrations without a TTL are written from the HTTP worker with TxnAsync and answered
// from the store's writer thread; lost compare-and-swap races are retried from there.
TEST_F(RegistryApiIt, ConcurrentUpdatesOfOneInstanceAllSucceedAndTheStoredOneIsAnAnswer) {
  ASSERT_EQ(Call("PUT", "/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":1})").status,
            200);
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> revisions;
  std::set<int> ports;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        int port = 1000 + t * 10 + i;
        auto r = Call("PUT", "/v1/registry/default/web/w1",
                      fmt::format(R"({{"address":"10.0.0.1","port":{}}})", port));
        EXPECT_EQ(r.status, 200) << r.body.dump();
        std::lock_guard lock(mu);
        revisions.insert(r.body.value("revision", int64_t{0}));
        ports.insert(port);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(revisions.size(), 40u);  // every update was a write of its own
  auto got = Call("GET", "/v1/registry/default/web/w1");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["revision"], *revisions.rbegin());  // the last write is what is stored
  EXPECT_TRUE(ports.contains(got.body["port"].get<int>()));
  // Dropping the TTL of a leased instance needs lease work: the blocking path, same answer.
  ASSERT_EQ(
      Call("PUT", "/v1/registry/default/web/w2", R"({"address":"10.0.0.2","port":80,"ttl":"30s"})")
          .status,
      200);
  auto plain = Call("PUT", "/v1/registry/default/web/w2", R"({"address":"10.0.0.2","port":80})");
  ASSERT_EQ(plain.status, 200) << plain.body.dump();
  EXPECT_FALSE(plain.body.contains("lease"));
}

TEST_F(RegistryApiIt, BadInputGets400WithAClearMessageAndChangesNothing) {
  ASSERT_EQ(
      Call("PUT", "/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80})").status,
      200);
  auto before = RegistryKeys();
  int64_t leases = static_cast<int64_t>(store_->Leases()->size());
  std::string huge = R"({"address":"10.0.0.1","port":80,"metadata":{)";
  for (int i = 0; i < 500; ++i)
    huge += fmt::format("{}\"k{}\":\"{}\"", i ? "," : "", i, std::string(100, 'v'));
  huge += "}}";
  struct Case {
    std::string path, body, message;
  };
  std::vector<Case> cases = {
      {"/v1/registry/Bad_NS/web/w1", R"({"address":"10.0.0.1","port":80})", "namespace \"Bad_NS\""},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":0})",
       "port: must be an integer from 1 to 65535, got 0"},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":70000})",
       "registration:1:30: port: must be an integer from 1 to 65535, got 70000"},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80,"ttl":"0s"})",
       "ttl: must be at least 1s"},
      {"/v1/registry/default/web/w1",
       R"({"address":"10.0.0.1","port":80,"check":{"http":"file:///etc/passwd"}})",
       "must be an http:// or https:// URL"},
      {"/v1/registry/default/web/w1", huge, "metadata: has 500 entries; at most 64"},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80,"colour":"red"})",
       "colour: unknown field"},
  };
  for (const auto& c : cases) {
    auto r = Call("PUT", c.path, c.body);
    EXPECT_EQ(r.status, 400) << c.path;
    std::string msg = r.body["error"]["message"];
    EXPECT_NE(msg.find(c.message), std::string::npos) << msg;
  }
  EXPECT_EQ(RegistryKeys(), before);
  EXPECT_EQ(static_cast<int64_t>(store_->Leases()->size()), leases);
  EXPECT_EQ(Call("GET", "/v1/registry/default/web/w1").body["port"], 80);
}

TEST_F(RegistryApiIt, BlockingQueryAnswersOnChangeOrTimeout) {
  auto r = Call("PUT", "/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80})");
  int64_t index = Call("GET", "/v1/registry/default/web").body["index"];
  // Nothing changes: answered after `wait` with the same index.
  auto idle = Call("GET", fmt::format("/v1/registry/default/web?index={}&wait=200ms", index));
  ASSERT_EQ(idle.status, 200);
  EXPECT_EQ(idle.body["index"], index);
  // A change to this service wakes it.
  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);
    Call("PUT", "/v1/registry/default/other/x", R"({"address":"10.0.0.9","port":1})");
    Call("PUT", "/v1/registry/default/web/w2", R"({"address":"10.0.0.2","port":80})");
  });
  auto woke = Call("GET", fmt::format("/v1/registry/default/web?index={}&wait=60s", index));
  writer.join();
  ASSERT_EQ(woke.status, 200);
  EXPECT_EQ(woke.body["instances"].size(), 2u);
  EXPECT_GT(woke.body["index"].get<int64_t>(), index);
}

TEST_F(RegistryApiIt, WatchStreamResumesAfterADisconnectWithoutLosingChanges) {
  std::vector<int64_t> expected;
  int64_t start = Rev() + 1;
  for (int i = 0; i < 5; ++i) {
    auto r = Call("PUT", fmt::format("/v1/registry/default/web/i{}", i),
                  fmt::format(R"({{"address":"10.0.0.1","port":{}}})", 8000 + i));
    expected.push_back(r.body["revision"]);
  }
  std::vector<int64_t> got;
  auto stream = [&](int64_t from, size_t stop_after) {
    size_t seen = 0;
    int status = StreamJson("GET", fmt::format("/v1/registry/default/web?watch&revision={}", from),
                            "", [&](const Json& j) {
                              got.push_back(j["revision"]);
                              return ++seen != stop_after;  // then the client goes away
                            });
    EXPECT_EQ(status, 200);
  };
  stream(start, 3);  // sees 3, then disconnects
  ASSERT_EQ(got.size(), 3u);
  // Changes while disconnected.
  expected.push_back(Call("DELETE", "/v1/registry/default/web/i0").body["revision"]);
  expected.push_back(Call("DELETE", "/v1/registry/default/web/i1").body["revision"]);
  stream(got.back() + 1, expected.size() - 3);
  EXPECT_EQ(got, expected);
}

// Many watches on one multiplexed stream (POST /v1/registry:watch): each gets its created
// line first, then exactly the events it covers, in revision order, tagged with its id.
TEST_F(RegistryApiIt, MultiplexedStreamGivesEachWatchExactlyItsOwnEventsInOrder) {
  constexpr int kServices = 5, kWatchesPerService = 20, kChanges = 6;
  Json watches = Json::array();
  for (int s = 0; s < kServices; ++s) {
    for (int k = 0; k < kWatchesPerService; ++k) {
      Json w{{"id", 1000 + s * kWatchesPerService + k},
             {"namespace", "default"},
             {"service", fmt::format("svc{}", s)}};
      if (k == 0) w["filters"] = Json::array({"nodelete"});
      watches.push_back(w);
    }
  }
  watches.push_back(Json{{"id", 7}, {"namespace", "other"}});  // sees nothing below
  std::map<int64_t, std::vector<int64_t>> want;                // watch id -> revisions
  std::map<int64_t, std::vector<int64_t>> got;
  std::map<int64_t, int64_t> created;
  std::atomic<bool> ready{false};
  size_t want_lines = 0;
  std::thread writer([&] {
    ASSERT_TRUE(WaitFor([&] { return ready.load(); }));
    for (int c = 0; c < kChanges; ++c) {
      for (int s = 0; s < kServices; ++s) {
        bool remove = c == kChanges - 1;
        auto r = remove ? Call("DELETE", fmt::format("/v1/registry/default/svc{}/i{}", s, 0))
                        : Call("PUT", fmt::format("/v1/registry/default/svc{}/i{}", s, c % 2),
                               fmt::format(R"({{"address":"10.0.0.{}","port":{}}})", s, 80 + c));
        ASSERT_EQ(r.status, 200) << r.body.dump();
        for (int k = 0; k < kWatchesPerService; ++k) {
          if (remove && k == 0) continue;  // nodelete
          want[1000 + s * kWatchesPerService + k].push_back(r.body["revision"]);
          ++want_lines;
        }
      }
    }
  });
  size_t lines = 0;
  std::atomic<size_t> expected_total{
      static_cast<size_t>(kServices * kWatchesPerService * kChanges - kServices)};
  int status = MultiWatch(Json{{"watches", watches}}.dump(), [&](const Json& line) {
    if (!line.contains("watch_id")) return true;  // progress
    int64_t id = line["watch_id"];
    std::string type = line["type"];
    if (type == "created") {
      EXPECT_FALSE(got.contains(id)) << "created after an event of watch " << id;
      created[id] = line["start_revision"];
      if (created.size() == watches.size()) ready = true;
      return true;
    }
    EXPECT_TRUE(created.contains(id)) << "event before created on watch " << id;
    EXPECT_NE(type, "canceled") << line.dump();
    EXPECT_EQ(line["service"], fmt::format("svc{}", (id - 1000) / kWatchesPerService));
    got[id].push_back(line["revision"]);
    return ++lines < expected_total;
  });
  writer.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(lines, want_lines);
  EXPECT_EQ(got, want);
  EXPECT_FALSE(got.contains(7));
}

// A client that drops the stream and comes back with each watch's last revision + 1 loses
// nothing and sees nothing twice.
TEST_F(RegistryApiIt, MultiplexedStreamResumesAfterADisconnectWithoutLosingChanges) {
  int64_t start = Rev() + 1;
  std::map<int64_t, std::vector<int64_t>> want;
  auto change = [&](const std::string& svc, int i) {
    auto r = Call("PUT", fmt::format("/v1/registry/default/{}/i{}", svc, i),
                  fmt::format(R"({{"address":"10.0.0.1","port":{}}})", 8000 + i));
    want[svc == "web" ? 1 : 2].push_back(r.body["revision"]);
  };
  for (int i = 0; i < 4; ++i) {
    change("web", i);
    change("api", i);
  }
  std::map<int64_t, std::vector<int64_t>> got;
  auto stream = [&](int64_t web_from, int64_t api_from, size_t stop_after) {
    size_t seen = 0;
    Json body{
        {"watches",
         {{{"id", 1}, {"namespace", "default"}, {"service", "web"}, {"revision", web_from}},
          {{"id", 2}, {"namespace", "default"}, {"service", "api"}, {"revision", api_from}}}}};
    return MultiWatch(body.dump(), [&](const Json& line) {
      if (!line.contains("revision") || line.value("type", "") == "created" ||
          !line.contains("watch_id")) {
        return true;
      }
      got[line["watch_id"]].push_back(line["revision"]);
      return ++seen < stop_after;
    });
  };
  EXPECT_EQ(stream(start, start, 5), 200);  // then the client goes away
  // Changes while disconnected.
  change("web", 9);
  change("api", 9);
  size_t remaining = want[1].size() + want[2].size() - 5;
  EXPECT_EQ(stream(got[1].back() + 1, got[2].back() + 1, remaining), 200);
  EXPECT_EQ(got, want);
  // A start revision that was compacted answers 410 before streaming.
  ASSERT_TRUE(store_->Compact(Rev()).has_value());
  Json error;
  EXPECT_EQ(
      MultiWatch(
          fmt::format(R"({{"watches":[{{"id":5,"namespace":"default","revision":{}}}]}})", start),
          [](const Json&) { return false; }, &error),
      410);
  EXPECT_NE(error["error"]["message"].get<std::string>().find("watch 5: revision"),
            std::string::npos)
      << error.dump();
}

TEST_F(RegistryApiIt, BadMultiplexedWatchRequestsGet400AndChangeNothing) {
  ASSERT_EQ(
      Call("PUT", "/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80})").status,
      200);
  auto before = RegistryKeys();
  // The health checker (once it holds the lease) has a watch of its own.
  ASSERT_TRUE(WaitFor([&] { return component_->registry().stats().watchers.load() == 1; }));
  std::string many = R"({"watches":[)";
  for (int i = 0; i < 10001; ++i) many += fmt::format("{}{{\"id\":{}}}", i ? "," : "", i);
  many += "]}";
  struct Case {
    std::string body, message;
  };
  std::vector<Case> cases = {
      {"", "request body is empty"},
      {"{", "JSON"},
      {R"({"watches":[]})", "request body:1:12: watches: must be a non-empty array"},
      {R"({"watches":{}})", "watches: must be a non-empty array"},
      {R"({"watches":[{"namespace":"default"}],"colour":1})", "colour: unknown field"},
      {R"({"watches":[{"namespace":"default","colour":1}]})", "watches[0].colour: unknown field"},
      {R"({"watches":[{"id":-1}]})", "watches[0].id: must be a non-negative integer, got -1"},
      {R"({"watches":[{"id":"x"}]})", "watches[0].id: must be a non-negative integer, got \"x\""},
      {R"({"watches":[{"id":1},{"id":1}]})", "watch id 1 is given twice"},
      {R"({"watches":[{"id":3,"namespace":"Bad_NS"}]})", "watch 3: namespace \"Bad_NS\""},
      {R"({"watches":[{"id":4,"service":"web"}]})",
       "watch 4: a service or service_prefix watch needs its namespace"},
      {R"({"watches":[{"namespace":"default","revision":-5}]})",
       "watches[0].revision: must be a non-negative integer, got -5"},
      {R"({"watches":[{"namespace":"default","filters":["noput","nodelete"]}]})",
       "leave nothing to watch"},
      {R"({"watches":[{"namespace":"default","filters":["nope"]}]})",
       "watches[0].filters[0]: must be one of noput or nodelete, got \"nope\""},
      {R"({"watches":[{"namespace":"default","service":7}]})",
       "watches[0].service: must be a string, got 7"},
      {R"({"watches":[{"namespace":"default"}],"progress_interval":"1ms"})",
       "progress_interval: must be 0s (none) or at least 100ms"},
      {many, "10001 watches on one stream; the limit is 10000"},
  };
  for (const auto& c : cases) {
    Json error;
    int status = MultiWatch(
        c.body, [](const Json&) { return false; }, &error);
    EXPECT_EQ(status, 400) << c.body.substr(0, 80);
    std::string msg = error["error"].value("message", "");
    EXPECT_NE(msg.find(c.message), std::string::npos) << msg;
  }
  EXPECT_EQ(RegistryKeys(), before);
  EXPECT_EQ(component_->registry().stats().watchers.load(), 1);
}

// A stream whose client stops reading piles up on its own connection only: another stream
// gets every change meanwhile, and the slow one, read at last, has lost nothing.
TEST_F(RegistryApiIt, ASlowMultiplexedReaderDoesNotHoldUpOtherStreams) {
  constexpr int kWatches = 10, kChanges = 60;
  // ~30 KB per event (a big metadata map) times 10 watches: ~18 MB for the slow reader,
  // far more than the socket buffers hold.
  std::string meta;
  for (int i = 0; i < 60; ++i)
    meta += fmt::format("{}\"k{}\":\"{}\"", i ? "," : "", i, std::string(500, 'm'));
  Json watches = Json::array();
  for (int k = 0; k < kWatches; ++k) {
    watches.push_back(Json{{"id", k}, {"namespace", "default"}, {"service", "big"}});
  }
  std::string body = Json{{"watches", watches}}.dump();
  // The health checker (once it holds the lease) has a watch of its own.
  ASSERT_TRUE(WaitFor([&] { return component_->registry().stats().watchers.load() == 1; }));
  // The slow reader: a raw socket that sends its request and reads nothing for now.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(api_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string req = fmt::format(
      "POST /v1/registry:watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n"
      "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
      token_, body.size(), body);
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  ASSERT_TRUE(
      WaitFor([&] { return component_->registry().stats().watchers.load() == kWatches + 1; }));
  std::vector<int64_t> want;
  std::atomic<int> created{0};
  std::thread writer([&] {
    ASSERT_TRUE(WaitFor([&] { return created.load() == 1; }));
    for (int i = 0; i < kChanges; ++i) {
      auto r = Call(
          "PUT", fmt::format("/v1/registry/default/big/i{}", i),
          fmt::format(R"({{"address":"10.0.0.1","port":{},"metadata":{{{}}}}})", 80 + i, meta));
      ASSERT_EQ(r.status, 200) << r.body.dump().substr(0, 200);
      want.push_back(r.body["revision"]);
    }
  });
  std::vector<int64_t> fast;
  EXPECT_EQ(MultiWatch(R"({"watches":[{"id":1,"namespace":"default","service":"big"}]})",
                       [&](const Json& line) {
                         if (line.value("type", "") == "created") {
                           ++created;
                           return true;
                         }
                         if (!line.contains("watch_id")) return true;
                         fast.push_back(line["revision"]);
                         return fast.size() < static_cast<size_t>(kChanges);
                       }),
            200);
  writer.join();
  EXPECT_EQ(fast, want);
  // Now read the slow one: every watch has every change, in order.
  std::map<int64_t, std::vector<int64_t>> slow;
  std::string data;
  size_t events = 0;
  char buf[65536];
  size_t pos = 0;
  while (events < static_cast<size_t>(kWatches * kChanges)) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0) << "the slow stream ended after " << events << " events";
    data.append(buf, static_cast<size_t>(n));
    // Lines start with '{'; chunk-size lines do not (each chunk holds whole lines).
    size_t nl;
    while ((nl = data.find('\n', pos)) != std::string::npos) {
      std::string_view line(data.data() + pos, nl - pos);
      pos = nl + 1;
      if (!line.starts_with("{\"watch_id\"")) continue;
      auto j = ParseJson(line);
      ASSERT_TRUE(j.has_value());
      if ((*j)["type"] == "created") continue;
      slow[(*j)["watch_id"]].push_back((*j)["revision"]);
      ++events;
    }
    data.erase(0, pos);
    pos = 0;
  }
  ::close(fd);
  for (int k = 0; k < kWatches; ++k) EXPECT_EQ(slow[k], want) << "watch " << k;
}

// The check stream of node n1 (GET /v1/nodes/n1/checks?watch=1, what n1's agent reads)
// carries n1's exec checks and, as deletes, only the departures of instances it holds: an
// instance moved to another node or deregistered. Changes of other nodes' instances and of
// instances without an exec check never reach it; they still advance its progress revision.
TEST_F(RegistryApiIt, NodeCheckStreamCarriesOnlyItsOwnNodesChecksAndTheirDepartures) {
  auto exec = [](const std::string& node, int port) {
    return fmt::format(
        R"({{"address":"10.0.0.1","port":{},"metadata":{{"berth.container":"c","berth.node":"{}"}},)"
        R"("check":{{"exec":["true"],"interval":"5s"}}}})",
        port, node);
  };
  auto put = [&](const std::string& id, const std::string& body) {
    auto r = Call("PUT", "/v1/registry/default/app/" + id, body);
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body.value("revision", int64_t{0});
  };
  auto del = [&](const std::string& id) {
    auto r = Call("DELETE", "/v1/registry/default/app/" + id);
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body.value("revision", int64_t{0});
  };
  put("a1", exec("n1", 1));
  put("b1", exec("n2", 2));
  auto list = Call("GET", "/v1/nodes/n1/checks");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["instances"].size(), 1u) << list.body.dump();
  const int64_t from = list.body["revision"].get<int64_t>() + 1;

  // Streams n1's checks from `revision`; `changes` runs once the stream has answered. Lines
  // come back as "type id@revision" (progress lines apart) until `done` says stop.
  struct Seen {
    std::vector<std::string> lines;
    std::vector<int64_t> progress;  // the revisions of progress lines
  };
  auto stream = [&](int64_t revision, const std::function<void()>& changes,
                    const std::function<bool(const Seen&)>& done) {
    Seen seen;
    std::thread writer;
    int status = StreamJson(
        "GET", fmt::format("/v1/nodes/n1/checks?watch=1&revision={}", revision), "",
        [&](const Json& j) {
          std::string type = j.value("type", "");
          if (type == "progress") {
            seen.progress.push_back(j.value("revision", int64_t{0}));
          } else {
            EXPECT_TRUE(type == "put" || type == "delete") << j.dump();
            std::string id = type == "put" ? j["instance"].value("id", "") : j.value("id", "");
            seen.lines.push_back(fmt::format("{} {}@{}", type, id, j.value("revision", 0)));
          }
          return !done(seen);
        },
        nullptr, [&] { writer = std::thread(changes); });
    EXPECT_EQ(status, 200);
    if (writer.joinable()) writer.join();
    return seen;
  };

  std::vector<std::string> want;
  std::atomic<int64_t> last_change{0};
  std::atomic<bool> changed{false};
  auto live = stream(
      from,
      [&] {
        put("b2", exec("n2", 3));                         // another node's: not sent
        put("w1", R"({"address":"10.0.0.1","port":4})");  // no exec check: not sent
        want.push_back(fmt::format("put a1@{}", put("a1", exec("n1", 5))));
        want.push_back(fmt::format("put a2@{}", put("a2", exec("n1", 6))));
        want.push_back(fmt::format("delete a1@{}", put("a1", exec("n2", 7))));  // moved off n1
        put("a1", exec("n2", 8));  // n2's now: not sent again
        del("b1");
        del("w1");
        want.push_back(fmt::format("delete a2@{}", del("a2")));
        want.push_back(fmt::format("put a3@{}", put("a3", exec("n1", 9))));
        last_change = put("b3", exec("n2", 10));  // not sent; the progress line covers it
        changed = true;
      },
      [&](const Seen& s) {
        // Until a progress line covers the last change (one comes every 5 s); a progress
        // revision that never gets there stops after a minute of them and fails below.
        if (!changed || s.progress.empty()) return false;
        return s.progress.back() >= last_change || s.progress.size() > 12;
      });
  EXPECT_EQ(live.lines, want);
  ASSERT_FALSE(live.progress.empty());
  EXPECT_GE(live.progress.back(), last_change.load());

  // Resumed from the same revision after all that: up to the revision the server lists at,
  // every change is replayed (an instance n1's agent had may have left in between: a delete
  // for each change that is not an n1 check); after it, only n1's again.
  std::atomic<bool> resumed{false};
  auto replay = stream(
      from,
      [&] {
        put("b4", exec("n2", 11));
        del("a3");
        resumed = true;
      },
      [&](const Seen& s) { return !s.lines.empty() && s.lines.back().starts_with("delete a3@"); });
  size_t next = 0;  // `want` in order within the replay
  for (const auto& line : replay.lines) {
    if (next < want.size() && line == want[next]) ++next;
    EXPECT_EQ(line.find(" b4@"), std::string::npos) << line;
  }
  EXPECT_EQ(next, want.size()) << fmt::format("{}", fmt::join(replay.lines, ", "));
  EXPECT_TRUE(resumed);
}

TEST_F(RegistryApiIt, DigAnswersForInstancesRegisteredOverRest) {
  ASSERT_EQ(
      Call("PUT", "/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":8081})").status,
      200);
  std::string cmd = fmt::format("dig @127.0.0.1 -p {} +time=5 +short web.service.berth SRV 2>&1",
                                component_->dns_port());
  FILE* f = ::popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[1024] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  ::pclose(f);
  EXPECT_EQ(std::string(buf, n), "1 1 8081 0a000001.addr.berth.\n");
  EXPECT_NE(component_->RenderMetrics().find("berth_dns_queries_total 1"), std::string::npos);
}

}  // namespace
}  // namespace berth::registry
