// The gateway's control side end to end: a real `berthd dev` (sqlite store, registry, the
// gateway fed by RegistryEndpointSource), real upstream processes on loopback, routes given
// through /v1/routes and `berth route`, endpoints through the registry.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {
namespace {

struct Upstream {
  std::string name;
  int port = 0;
  std::unique_ptr<Process> process;
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

class RoutesIt : public ::testing::Test {
 protected:
  void SetUp() override {
    api_port_ = FreePort();
    gw_port_ = FreePort();
    data_ = dir_.MakeSubdir("data");
    berthd_ = Process::Start("berthd", {BerthdPath(), "dev", "--data-dir", data_, "--api",
                                        "127.0.0.1:" + std::to_string(api_port_), "--dns", "none",
                                        "--gateway", "127.0.0.1:" + std::to_string(gw_port_),
                                        "--gateway-workers", "2", "--no-agent"});
    ASSERT_TRUE(berthd_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(api_port_, "/v1/health").has_value(); }))
        << "berthd never answered";
    std::ifstream in(data_ + "/admin.token");
    std::getline(in, token_);
    ASSERT_FALSE(token_.empty());
    ASSERT_TRUE(WaitForTcp(gw_port_));
  }

  Upstream& StartUpstream(const std::string& name) {
    auto u = std::make_unique<Upstream>();
    u->name = name;
    u->port = FreePort();
    std::string error;
    u->process = Process::Start(name,
                                {BinaryPath("tests/gateway/gateway_upstream_server"), "--port",
                                 std::to_string(u->port), "--name", name},
                                {}, &error);
    EXPECT_TRUE(u->process) << error;
    EXPECT_TRUE(WaitForTcp(u->port)) << name << " never listened";
    upstreams_.push_back(std::move(u));
    return *upstreams_.back();
  }

  // One API call with the admin token (or `token`).
  http::Response Api(std::string_view method, std::string_view path, std::string body = {},
                     std::string token = "\x01") {
    http::Headers h;
    if (token == "\x01") token = token_;
    if (!token.empty()) h.Set("Authorization", "Bearer " + token);
    auto r =
        http::Fetch(method, "http://127.0.0.1:" + std::to_string(api_port_) + std::string(path),
                    std::move(body), std::move(h));
    EXPECT_TRUE(r) << method << " " << path << ": " << (r ? "" : r.error().message);
    return r ? *r : http::Response{};
  }

  void Register(const std::string& service, const std::string& id, const Upstream& u,
                const std::string& extra = "") {
    auto r = Api("PUT", "/v1/registry/default/" + service + "/" + id,
                 R"({"address": "127.0.0.1", "port": )" + std::to_string(u.port) + extra + "}");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // GET through the gateway on a fresh connection: "<status> <upstream>".
  std::string Through(std::string_view path, std::string_view host = "test") {
    http::Headers h;
    h.Set("Host", std::string(host));
    auto r = http::Fetch("GET", "http://127.0.0.1:" + std::to_string(gw_port_) + std::string(path),
                         {}, std::move(h));
    if (!r) return "error " + r.error().message;
    return std::to_string(r->status) + " " +
           std::string(r->headers.Get("x-upstream").value_or("-"));
  }

  // Waits until `n` requests in a row answer `want` ("200 b"): the gateway has the new state.
  bool Settles(std::string_view path, const std::string& want, int n = 20) {
    int streak = 0;
    return WaitFor([&] {
      streak = Through(path) == want ? streak + 1 : 0;
      return streak >= n;
    });
  }

  // Who answered `n` requests: upstream -> count ("404 -" for no route, ...).
  std::map<std::string, int> Spread(std::string_view path, int n) {
    std::map<std::string, int> out;
    for (int i = 0; i < n; ++i) out[Through(path)]++;
    return out;
  }

  int64_t Revision() {
    auto j = ParseJson(Api("GET", "/v1/status").body);
    return j ? (*j)["store"].value("revision", int64_t{-1}) : -1;
  }

  TempDir dir_{"gateway-routes-it"};
  std::string data_;
  int api_port_ = 0;
  int gw_port_ = 0;
  std::string token_;
  std::unique_ptr<Process> berthd_;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
};

TEST_F(RoutesIt, RoutesFromTheApiReachPassingRegistryInstancesOnly) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  auto& c = StartUpstream("c");
  auto& a_health = StartUpstream("a-health");  // a's TCP check target; killing it fails a
  auto applied = Api("POST", "/v1/routes:apply", R"(
routes:
  - name: web
    match: {prefix: /web}
    rewrite: {prefix: /}
    service: web
)");
  ASSERT_EQ(applied.status, 200) << applied.body;
  // No instance yet: the route exists, its service has no endpoint.
  EXPECT_TRUE(Settles("/web/x", "503 -", 3));
  Register("web", "a", a,
           R"(, "check": {"tcp": ")" + a_health.addr() +
               R"(", "interval": "200ms", "timeout": "100ms", "rise": 1, "fall": 1})");
  Register("web", "b", b);
  ASSERT_TRUE(WaitFor([&] {
    auto s = Spread("/web/x", 10);
    return s["200 a"] > 0 && s["200 b"] > 0;
  })) << "both instances should get traffic";

  // a's check fails: a turns critical and stops getting traffic (a itself still answers).
  a_health.process->Kill(SIGKILL);
  ASSERT_TRUE(WaitFor([&] {
    auto j = ParseJson(Api("GET", "/v1/registry/default/web/a").body);
    return j && j->value("health", "") == "critical";
  })) << "a never turned critical";
  ASSERT_TRUE(Settles("/web/x", "200 b"));
  auto after_critical = Spread("/web/x", 60);
  EXPECT_EQ(after_critical["200 b"], 60) << "a is critical: only b";

  // c joins and b is deregistered: only c.
  Register("web", "c", c);
  ASSERT_EQ(Api("DELETE", "/v1/registry/default/web/b").status, 200);
  ASSERT_TRUE(Settles("/web/x", "200 c"));
  auto after_deregister = Spread("/web/x", 60);
  EXPECT_EQ(after_deregister["200 c"], 60) << "b is gone, a critical: only c";

  // Removing the route: 404 from the gateway.
  ASSERT_EQ(Api("DELETE", "/v1/routes/web").status, 200);
  EXPECT_TRUE(Settles("/web/x", "404 -", 5));
}

TEST_F(RoutesIt, RouteChangesThroughTheApiUnderLoadDropNoRequest) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  Register("web", "a", a);
  Register("web", "b", b);
  const std::string to_service = R"(
services:
  web: {lb: least_request}
routes:
  - {name: load, match: {prefix: /load}, service: web}
)";
  const std::string to_upstreams = R"(
routes:
  - {name: load, match: {prefix: /load}, upstreams: [")" +
                                   a.addr() +
                                   R"("], retry: {attempts: 1}}
  - {name: other, match: {prefix: /other}, service: web}
)";
  ASSERT_EQ(Api("POST", "/v1/routes:apply", to_service).status, 200);
  ASSERT_TRUE(WaitFor([&] { return Through("/load").starts_with("200 "); }));

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto client = http::Client::Create("http://127.0.0.1:" + std::to_string(gw_port_));
      if (!client) return;
      for (int i = 0; !stop; ++i) {
        if (i % 50 == 49)
          client = http::Client::Create("http://127.0.0.1:" + std::to_string(gw_port_));
        http::Request req;
        req.method = "GET";
        req.target = "/load?t=" + std::to_string(t);
        auto r = (*client)->Send(req);
        if (r && r->status == 200) {
          ok++;
        } else {
          failed++;
          std::lock_guard lock(mu);
          failures.push_back(r ? std::to_string(r->status) + " " + r->body : r.error().message);
        }
      }
    });
  }
  // 40 route replacements through the API, plus registry churn, while the clients run.
  auto& c = StartUpstream("c");
  for (int i = 0; i < 40; ++i) {
    auto r = Api("POST", "/v1/routes:apply", i % 2 ? to_service : to_upstreams);
    EXPECT_EQ(r.status, 200) << r.body;
    if (i % 10 == 5) Register("web", "c", c);
    if (i % 10 == 9) Api("DELETE", "/v1/registry/default/web/c");
  }
  // And the requests keep flowing after the last change.
  const int before = ok.load();
  ASSERT_TRUE(WaitFor([&] { return ok.load() > before + 50; }));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures.front());
  EXPECT_GT(ok.load(), 100);
}

// A canary by hand: one service, two versions told apart by a registry tag, a weighted
// split between the two tag-selected targets. 400 requests, weights 3:1; a binomial(400,
// 1/4) count lies in [40, 170] with probability 1 - 1e-12, so the margins are wide.
TEST_F(RoutesIt, WeightedSplitAcrossTagSelectedTargetsFollowsTheWeights) {
  auto& stable = StartUpstream("stable");
  auto& canary = StartUpstream("canary");
  auto& other = StartUpstream("other");
  Register("web", "s1", stable, R"(, "tags": ["app=shop", "deploy=v1"])");
  Register("web", "c1", canary, R"(, "tags": ["app=shop", "deploy=v2"])");
  Register("web", "o1", other, R"(, "tags": ["deploy=v3"])");  // in neither target
  auto applied = Api("POST", "/v1/routes:apply", R"(
routes:
  - name: web
    match: {prefix: /}
    targets:
      - {service: web, tags: [deploy=v1], weight: 75}
      - {service: web, tags: [deploy=v2, app=shop], weight: 25}
)");
  ASSERT_EQ(applied.status, 200) << applied.body;
  ASSERT_TRUE(WaitFor([&] {
    auto s = Spread("/x", 20);
    return s["200 stable"] > 0 && s["200 canary"] > 0;
  })) << "both versions should get traffic";
  auto spread = Spread("/x", 400);
  EXPECT_EQ(spread["200 stable"] + spread["200 canary"], 400) << "only the two versions answer";
  EXPECT_EQ(spread["200 other"], 0);
  EXPECT_GE(spread["200 canary"], 40);
  EXPECT_LE(spread["200 canary"], 170);

  // All on the new version: the route names its tag alone.
  ASSERT_EQ(
      Api("PUT", "/v1/routes/web",
          R"({"match": {"prefix": "/"}, "targets": [{"service": "web", "tags": ["deploy=v2"]}]})")
          .status,
      200);
  ASSERT_TRUE(Settles("/x", "200 canary"));
  EXPECT_EQ(Spread("/x", 50)["200 canary"], 50);
}

TEST_F(RoutesIt, BadRouteInputGets400AndChangesNothing) {
  auto& a = StartUpstream("a");
  ASSERT_EQ(Api("PUT", "/v1/routes/good",
                R"({"match": {"prefix": "/"}, "upstreams": [")" + a.addr() + R"("]})")
                .status,
            200);
  ASSERT_TRUE(Settles("/", "200 a", 3));
  const int64_t revision = Revision();
  auto routes = [&] {
    auto j = ParseJson(Api("GET", "/v1/routes").body);
    return j ? (*j)["routes"].dump() : std::string("unreadable");
  };
  const std::string before = routes();

  struct Case {
    std::string method, path, body, want;
  };
  const std::vector<Case> cases = {
      {"PUT", "/v1/routes/good", R"({"match": {"prefix": "no-slash"}, "service": "web"})",
       "body of route \"good\":1:22: match.prefix: must start with '/'"},
      {"PUT", "/v1/routes/good", R"({"service": "web", "retry": {"attempts": 99}})",
       "retry.attempts: must be an integer from 0 to 10, got 99"},
      {"PUT", "/v1/routes/good", R"({"service": "web", "typo": 1})", "typo: unknown field"},
      {"PUT", "/v1/routes/good", "{not json", "body"},
      {"PUT", "/v1/routes/bad%20name", R"({"service": "web"})", "route name"},
      {"POST", "/v1/routes:apply",
       "routes:\n  - {name: x, service: web}\n  - {name: y, match: {regex: \"((\"}, service: "
       "web}\n",
       "apply:3:30: routes[1].match.regex: invalid regex"},
      {"POST", "/v1/routes:apply", "routes:\n  - {name: good, upstreams: [\"10.0.0.1:0\"]}\n",
       "apply:2:30: routes[0].upstreams[0]: address \"10.0.0.1:0\": bad port"},
      {"POST", "/v1/routes:apply", "routes: [{name: x, service: web}\n", "apply:2:1: invalid YAML"},
  };
  for (const auto& c : cases) {
    auto r = Api(c.method, c.path, c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    auto j = ParseJson(r.body);
    ASSERT_TRUE(j) << r.body;
    EXPECT_NE((*j)["error"].value("message", "").find(c.want), std::string::npos)
        << c.body << " -> " << r.body;
  }
  // A viewer may read, not write.
  auto viewer = ParseJson(Api("POST", "/v1/tokens", R"({"name": "v", "role": "viewer"})").body);
  ASSERT_TRUE(viewer && viewer->contains("token")) << (viewer ? viewer->dump() : "");
  const std::string vt = (*viewer)["token"].get<std::string>();
  EXPECT_EQ(Api("GET", "/v1/routes", "", vt).status, 200);
  EXPECT_EQ(Api("PUT", "/v1/routes/good", R"({"service": "web"})", vt).status, 403);
  EXPECT_EQ(Api("DELETE", "/v1/routes/good", "", vt).status, 403);

  const int64_t after_tokens = Revision();  // the viewer token and audit records
  EXPECT_GT(after_tokens, revision);
  EXPECT_EQ(routes(), before) << "the stored routes are unchanged";
  auto spread = Spread("/", 10);
  EXPECT_EQ(spread["200 a"], 10) << "the gateway still routes as before";
}

TEST_F(RoutesIt, CliRoundTrip) {
  auto& a = StartUpstream("a");
  Register("api", "a1", a);
  const std::string file = dir_.Sub("routes.yaml");
  std::ofstream(file) << R"(
services:
  api: {lb: round_robin}
routes:
  - name: api
    hosts: [api.test]
    match: {prefix: /api}
    service: api
)";
  auto berth = [&](std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions o;
    o.env = {{"BERTH_ADDR", "127.0.0.1:" + std::to_string(api_port_)},
             {"BERTH_TOKEN", token_},
             {"XDG_CONFIG_HOME", dir_.Sub("config")},
             {"HOME", dir_.path()}};
    o.log_path = dir_.Sub("cli.log");
    std::ofstream(o.log_path, std::ios::trunc).close();
    auto p = Process::Start("berth", args, o);
    std::pair<int, std::string> out{-1, ""};
    if (!p) return out;
    auto status = p->Wait();
    out.first = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    std::string log = p->Logs();
    std::string text;
    for (size_t pos = 0; pos < log.size();) {
      size_t nl = log.find('\n', pos);
      size_t end = nl == std::string::npos ? log.size() : nl + 1;
      if (log.compare(pos, 12, "=== harness:") != 0) text.append(log, pos, end - pos);
      pos = end;
    }
    out.second = text;
    return out;
  };
  auto applied = berth({"route", "apply", "-f", file});
  EXPECT_EQ(applied.first, 0) << applied.second;
  EXPECT_NE(applied.second.find("route/api created"), std::string::npos) << applied.second;
  EXPECT_NE(applied.second.find("service/default/api created"), std::string::npos);
  auto again = berth({"route", "apply", "-f", file});
  EXPECT_NE(again.second.find("route/api unchanged"), std::string::npos) << again.second;

  auto ls = berth({"route", "ls"});
  EXPECT_EQ(ls.first, 0);
  EXPECT_NE(ls.second.find("NAME"), std::string::npos) << ls.second;
  EXPECT_NE(ls.second.find("api.test"), std::string::npos) << ls.second;
  EXPECT_NE(ls.second.find("default/api"), std::string::npos) << ls.second;

  auto get = berth({"route", "get", "api", "-o", "json"});
  EXPECT_EQ(get.first, 0) << get.second;
  auto j = ParseJson(get.second);
  ASSERT_TRUE(j) << get.second;
  EXPECT_EQ((*j)["route"]["match"]["prefix"], "/api");
  EXPECT_EQ((*j)["route"]["hosts"][0], "api.test");
  auto yaml = berth({"-o", "yaml", "route", "get", "api"});
  EXPECT_NE(yaml.second.find("prefix: /api"), std::string::npos) << yaml.second;

  // Traffic follows the route the CLI stored.
  ASSERT_TRUE(WaitFor([&] { return Through("/api/x", "api.test") == "200 a"; }));
  EXPECT_EQ(Through("/api/x", "other.test"), "404 -");

  // Targets that select part of a service show their tags and port.
  std::ofstream(dir_.Sub("tagged.yaml"))
      << "routes:\n  - name: tagged\n    match: {prefix: /tagged}\n    targets:\n"
         "      - {service: api, tags: [deploy=v1], weight: 3}\n"
         "      - {service: api, tags: [deploy=v2], port: 9090, weight: 1}\n";
  auto tagged = berth({"route", "apply", "-f", dir_.Sub("tagged.yaml")});
  EXPECT_EQ(tagged.first, 0) << tagged.second;
  ls = berth({"route", "ls"});
  EXPECT_NE(ls.second.find("default/api[deploy=v1](3) default/api[deploy=v2]:9090(1)"),
            std::string::npos)
      << ls.second;
  EXPECT_EQ(berth({"route", "rm", "tagged"}).first, 0);

  // A bad file: one error line, exit 1, nothing stored.
  std::ofstream(dir_.Sub("bad.yaml")) << "routes:\n  - {name: api, service: api, lb: fastest}\n";
  auto bad = berth({"route", "apply", "-f", dir_.Sub("bad.yaml")});
  EXPECT_EQ(bad.first, 1);
  EXPECT_EQ(
      bad.second.rfind("error: HTTP 400: apply:2:35: routes[0].lb: unknown policy \"fastest\"", 0),
      0u)
      << bad.second;

  auto rm = berth({"route", "rm", "api"});
  EXPECT_EQ(rm.first, 0) << rm.second;
  EXPECT_EQ(rm.second, "route api removed\n");
  auto gone = berth({"route", "get", "api"});
  EXPECT_EQ(gone.first, 1);
  EXPECT_EQ(gone.second, "error: HTTP 404: no route \"api\"\n");
  EXPECT_TRUE(WaitFor([&] { return Through("/api/x", "api.test") == "404 -"; }));
}

// `berthd gateway` alone over etcd, beside a `berthd server` on the same etcd: routes and
// instances given to the server reach the separate gateway process.
TEST(GatewayRoleIt, SeparateGatewayFollowsTheSharedStore) {
  EtcdCluster etcd;
  ASSERT_TRUE(etcd.Start(1)) << etcd.error();
  TempDir dir("gateway-role-it");
  const std::string store = "etcd://" + etcd.ClientHostPorts();
  const int api_port = FreePort(), gw_port = FreePort(), admin_port = FreePort();
  const std::string data = dir.MakeSubdir("server");
  auto server = Process::Start(
      "berthd-server", {BerthdPath(), "server", "--data-dir", data, "--store", store, "--api",
                        "127.0.0.1:" + std::to_string(api_port), "--dns", "none"});
  ASSERT_TRUE(server);
  ASSERT_TRUE(WaitFor([&] { return HttpGet(api_port, "/v1/health").has_value(); }));
  // sqlite is refused for the gateway role: it is not shared between processes.
  auto refused = Process::Start("berthd-gateway-sqlite", {BerthdPath(), "gateway", "--listen",
                                                          "127.0.0.1:0", "--admin", "none"});
  ASSERT_TRUE(refused);
  auto refused_status = refused->Wait();
  ASSERT_TRUE(refused_status);
  EXPECT_EQ(WEXITSTATUS(*refused_status), 2);
  EXPECT_NE(refused->Logs().find("etcd://"), std::string::npos);

  auto gateway =
      Process::Start("berthd-gateway", {BerthdPath(), "gateway", "--store", store, "--listen",
                                        "127.0.0.1:" + std::to_string(gw_port), "--admin",
                                        "127.0.0.1:" + std::to_string(admin_port), "--workers", "1",
                                        "--data-dir", dir.MakeSubdir("gateway")});
  ASSERT_TRUE(gateway);
  ASSERT_TRUE(WaitForTcp(gw_port));
  std::string token;
  std::getline(std::ifstream(data + "/admin.token"), token);
  auto api = [&](std::string_view method, std::string_view path, std::string body) {
    http::Headers h;
    h.Set("Authorization", "Bearer " + token);
    auto r = http::Fetch(method, "http://127.0.0.1:" + std::to_string(api_port) + std::string(path),
                         std::move(body), std::move(h));
    return r ? r->status : -1;
  };
  Upstream u;
  u.port = FreePort();
  u.process = Process::Start("u", {BinaryPath("tests/gateway/gateway_upstream_server"), "--port",
                                   std::to_string(u.port), "--name", "u"});
  ASSERT_TRUE(u.process && WaitForTcp(u.port));
  EXPECT_EQ(api("POST", "/v1/routes:apply",
                "routes: [{name: shop.web, match: {prefix: /}, service: web, namespace: shop}]"),
            200);
  EXPECT_EQ(api("PUT", "/v1/registry/shop/web/w1",
                R"({"address": "127.0.0.1", "port": )" + std::to_string(u.port) + "}"),
            200);
  auto through = [&] {
    auto r = http::Fetch("GET", "http://127.0.0.1:" + std::to_string(gw_port) + "/x");
    return r ? std::to_string(r->status) + " " +
                   std::string(r->headers.Get("x-upstream").value_or("-"))
             : "error";
  };
  EXPECT_TRUE(WaitFor([&] { return through() == "200 u"; })) << through();
  auto metrics = HttpGet(admin_port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("berth_gateway_route_requests_total{route=\"shop.web\",class=\"2xx\"}"),
            std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("berth_gateway_upstream_latency_ms_count{upstream=\"shop/web\"}"),
            std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("berth_gateway_source_routes 1\n"), std::string::npos) << *metrics;
  EXPECT_EQ(api("DELETE", "/v1/registry/shop/web/w1", ""), 200);
  EXPECT_TRUE(WaitFor([&] { return through() == "503 -"; })) << through();
  // SIGTERM drains and exits cleanly.
  EXPECT_EQ(gateway->Stop(), 0);
}

}  // namespace
}  // namespace berth::testing
