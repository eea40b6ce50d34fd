// The registry's REST endpoints in process: a real ApiServer (auth, router) over the sqlite
// store, the registry component (health checks, DNS) and the HTTP client.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "api/api_server.h"
#include "api/registry_endpoints.h"
#include "core/http/client.h"
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
    auto t = tokens_->Create("test", security::Role::kAdmin, "test");
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
       "port 0 is out of range"},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":70000})", "port 70000"},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80,"ttl":"0s"})", "ttl 0s"},
      {"/v1/registry/default/web/w1",
       R"({"address":"10.0.0.1","port":80,"check":{"http":"file:///etc/passwd"}})",
       "must be an http:// or https:// URL"},
      {"/v1/registry/default/web/w1", huge, "metadata has 500 entries"},
      {"/v1/registry/default/web/w1", R"({"address":"10.0.0.1","port":80,"colour":"red"})",
       "unknown field \"colour\""},
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
    auto client = http::Client::Create(base_);
    ASSERT_TRUE(client.has_value());
    http::Request req;
    req.method = "GET";
    req.target = fmt::format("/v1/registry/default/web?watch&revision={}", from);
    req.headers.Set("Authorization", "Bearer " + token_);
    std::string buf;
    size_t seen = 0;
    auto r = (*client)->Stream(
        req, [](const http::Response&) {},
        [&](std::string_view data) {
          buf.append(data);
          size_t nl;
          while ((nl = buf.find('\n')) != std::string::npos) {
            auto j = ParseJson(buf.substr(0, nl));
            buf.erase(0, nl + 1);
            if (!j) continue;
            got.push_back((*j)["revision"]);
            if (++seen == stop_after) return false;  // the client goes away
          }
          return true;
        });
    (void)r;
  };
  stream(start, 3);  // sees 3, then disconnects
  ASSERT_EQ(got.size(), 3u);
  // Changes while disconnected.
  expected.push_back(Call("DELETE", "/v1/registry/default/web/i0").body["revision"]);
  expected.push_back(Call("DELETE", "/v1/registry/default/web/i1").body["revision"]);
  stream(got.back() + 1, expected.size() - 3);
  EXPECT_EQ(got, expected);
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
