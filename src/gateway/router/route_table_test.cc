#include "gateway/router/route_table.h"

#include <gtest/gtest.h>

#include <map>

#include "gateway/router/config.h"

namespace berth::gateway::router {
namespace {

SnapshotPtr MustParse(std::string_view yaml) {
  auto s = ParseConfig(yaml, "routes.yaml");
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? *s : nullptr;
}

std::string MatchName(const RouteTable& t, std::string_view host, std::string_view method,
                      std::string_view path, std::map<std::string, std::string> headers = {}) {
  MatchInput in{host, method, path, [&](std::string_view n) -> std::optional<std::string_view> {
                  auto it = headers.find(std::string(n));
                  if (it == headers.end()) return std::nullopt;
                  return std::string_view(it->second);
                }};
  const Route* r = t.Match(in);
  return r ? r->name : "<none>";
}

constexpr std::string_view kConfig = R"(
services:
  users:
    endpoints: ["127.0.0.1:9001", {address: "127.0.0.1:9002", weight: 3}]
    lb: least_request
    outlier: {consecutive_5xx: 3, base_ejection_ms: 1000}
routes:
  - name: exact-host
    hosts: [api.example.com]
    match: {prefix: /v1/}
    service: users
  - name: wildcard
    hosts: ["*.example.com"]
    match: {prefix: /}
    upstreams: ["127.0.0.1:9100"]
  - name: deep-wildcard
    hosts: ["*.eu.example.com"]
    upstreams: ["127.0.0.1:9101"]
  - name: exact-path
    match: {exact: /healthz, methods: [GET, HEAD]}
    upstreams: ["127.0.0.1:9200"]
  - name: regex
    match: {regex: "/items/[0-9]+"}
    upstreams: ["127.0.0.1:9300"]
  - name: canary
    match:
      prefix: /shop
      headers: [{name: x-canary, exact: "1"}]
    targets:
      - {service: shop-v2, weight: 1}
  - name: shop
    match: {prefix: /shop}
    rewrite: {prefix: /}
    targets:
      - {service: shop, weight: 90}
      - {upstreams: ["127.0.0.1:9400"], weight: 10}
    hash_on: {header: x-user}
    retry: {attempts: 2, on: [connect_failure, 503]}
  - name: no-bots
    match:
      prefix: /
      headers: [{name: user-agent, regex: ".*bot.*", invert: true}]
    upstreams: ["localhost:9500"]
)";

TEST(RouteTableTest, MatchesHostsExactThenWildcardThenAny) {
  auto snap = MustParse(kConfig);
  ASSERT_TRUE(snap);
  RouteTable t(snap);
  EXPECT_EQ(MatchName(t, "api.example.com", "GET", "/v1/users"), "exact-host");
  // Exact host without a matching route falls through to the wildcard.
  EXPECT_EQ(MatchName(t, "api.example.com", "GET", "/v2"), "wildcard");
  EXPECT_EQ(MatchName(t, "www.example.com", "GET", "/"), "wildcard");
  EXPECT_EQ(MatchName(t, "a.eu.example.com", "GET", "/"), "deep-wildcard");  // longest suffix
  EXPECT_EQ(MatchName(t, "example.com", "GET", "/healthz"), "exact-path");
}

TEST(RouteTableTest, MatchesPathMethodAndHeaders) {
  RouteTable t(MustParse(kConfig));
  EXPECT_EQ(MatchName(t, "other", "GET", "/healthz"), "exact-path");
  EXPECT_EQ(MatchName(t, "other", "POST", "/healthz"), "no-bots");
  EXPECT_EQ(MatchName(t, "other", "GET", "/healthz/x"), "no-bots");
  EXPECT_EQ(MatchName(t, "other", "GET", "/items/42"), "regex");
  EXPECT_EQ(MatchName(t, "other", "GET", "/items/4a"), "no-bots");
  EXPECT_EQ(MatchName(t, "other", "GET", "/shop/cart", {{"x-canary", "1"}}), "canary");
  EXPECT_EQ(MatchName(t, "other", "GET", "/shop/cart", {{"x-canary", "0"}}), "shop");
  EXPECT_EQ(MatchName(t, "other", "GET", "/x", {{"user-agent", "googlebot"}}), "<none>");
}

TEST(RouteTableTest, RewritesPrefix) {
  auto snap = MustParse(kConfig);
  RouteTable t(snap);
  const Route* shop = nullptr;
  for (const auto& r : snap->routes) {
    if (r->name == "shop") shop = r.get();
  }
  ASSERT_TRUE(shop);
  EXPECT_EQ(RouteTable::RewritePath(*shop, "/shop/cart?x=1"), "/cart?x=1");
  EXPECT_EQ(RouteTable::RewritePath(*shop, "/shop"), "/");
  EXPECT_EQ(RouteTable::RewritePath(*shop, "/shopping"), "/ping");
}

TEST(ConfigTest, BuildsClustersForServicesAndInlineUpstreams) {
  auto snap = MustParse(kConfig);
  ASSERT_TRUE(snap);
  const auto& users = *snap->clusters.at("users");
  EXPECT_EQ(users.policy, lb::Policy::kLeastRequest);
  ASSERT_EQ(users.endpoints.size(), 2u);
  EXPECT_EQ(users.endpoints[1].weight, 3u);
  EXPECT_EQ(users.outlier.consecutive_5xx, 3u);
  EXPECT_TRUE(snap->clusters.at("shop")->endpoints.empty());  // from the registry
  EXPECT_EQ(snap->clusters.at("shop#1")->endpoints[0].address, "127.0.0.1:9400");
  EXPECT_EQ(snap->clusters.at("no-bots#0")->endpoints[0].address, "127.0.0.1:9500");
  const Route& shop = *snap->routes[6];
  EXPECT_EQ(shop.total_weight, 100u);
  EXPECT_EQ(shop.hash.kind, HashPolicy::Kind::kHeader);
  EXPECT_EQ(shop.retry.attempts, 2u);
  EXPECT_EQ(shop.retry.on_statuses, std::vector<int>{503});
}

TEST(ConfigTest, ReadsUpstreamProtocolsGrpcRetriesAndWebSocketSettings) {
  auto snap = ParseConfig(R"(
services:
  orders: {endpoints: ["127.0.0.1:9000"], upstream_protocol: h2, upstream_tls: {ca_file: ca.pem, server_name: orders.internal}}
routes:
  - {name: grpc, match: {prefix: /shop.Orders/}, service: orders, retry: {attempts: 2, on: [unavailable, 503, resource_exhausted]}}
  - {name: h2c, match: {prefix: /h2c}, upstreams: ["127.0.0.1:9001"], upstream_protocol: h2c}
  - {name: ws, match: {prefix: /ws}, upstreams: ["127.0.0.1:9002"], websocket: {max_connections: 7, idle_timeout_ms: 1500}}
)",
                          "routes.yaml", "/etc/berth");
  ASSERT_TRUE(snap) << snap.error().message;
  const Cluster& orders = *(*snap)->clusters.at("orders");
  EXPECT_EQ(orders.protocol, UpstreamProtocol::kH2);
  EXPECT_EQ(orders.tls.ca_file, "/etc/berth/ca.pem");  // relative to the file
  EXPECT_EQ(orders.tls.server_name, "orders.internal");
  const Route& grpc = *(*snap)->routes[0];
  EXPECT_EQ(grpc.retry.on_grpc_statuses, (std::vector<int>{14, 8}));
  EXPECT_EQ(grpc.retry.on_statuses, std::vector<int>{503});
  EXPECT_FALSE(grpc.upstream_protocol);  // the service's protocol applies
  EXPECT_EQ(EffectiveProtocol(grpc, orders), UpstreamProtocol::kH2);
  const Route& h2c = *(*snap)->routes[1];
  EXPECT_EQ(h2c.upstream_protocol, UpstreamProtocol::kH2c);
  EXPECT_EQ((*snap)->clusters.at("h2c#0")->protocol, UpstreamProtocol::kH2c);
  const Route& ws = *(*snap)->routes[2];
  EXPECT_EQ(ws.websocket.max_connections, 7u);
  EXPECT_EQ(ws.websocket.idle, std::chrono::milliseconds(1500));
}

TEST(ConfigTest, AcceptsJson) {
  auto snap = ParseConfig(R"({"routes": [{"name": "a", "upstreams": ["127.0.0.1:1"]}]})");
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_EQ((*snap)->routes[0]->name, "a");
}

TEST(ConfigTest, StoredRouteTargetsSelectRegistryInstancesByTagAndPort) {
  auto e = ParseRouteEntry(R"({"name": "web", "targets": [
      {"service": "web", "namespace": "shop", "tags": ["deploy=b", "app=shop"], "weight": 90},
      {"service": "web", "namespace": "shop", "tags": ["deploy=c"], "port": 9090, "weight": 10},
      {"service": "web", "namespace": "shop"}]})");
  ASSERT_TRUE(e) << e.error().message;
  const Route& r = *e->route;
  ASSERT_EQ(r.targets.size(), 3u);
  EXPECT_EQ(r.targets[0].cluster, "shop/web[app=shop,deploy=b]");  // tags sorted
  EXPECT_EQ(r.targets[1].cluster, "shop/web[deploy=c]:9090");
  EXPECT_EQ(r.targets[2].cluster, "shop/web");
  EXPECT_EQ(r.total_weight, 101u);
  std::map<std::string, const Cluster*> by_name;
  for (const auto& c : e->clusters) by_name[c->name] = c.get();
  ASSERT_EQ(by_name.size(), 3u);
  const Cluster* tagged = by_name.at("shop/web[app=shop,deploy=b]");
  EXPECT_EQ(tagged->service_namespace, "shop");
  EXPECT_EQ(tagged->service_name, "web");
  EXPECT_EQ(tagged->service_tags, (std::vector<std::string>{"app=shop", "deploy=b"}));
  EXPECT_EQ(tagged->service_port, 0u);
  EXPECT_EQ(by_name.at("shop/web[deploy=c]:9090")->service_port, 9090u);
  EXPECT_TRUE(by_name.at("shop/web")->service_tags.empty());

  auto bad = [](std::string_view json) {
    auto r = ParseRouteEntry(json, "route");
    return r ? std::string("parsed") : r.error().message;
  };
  EXPECT_NE(bad(R"({"name": "a", "targets": [{"upstreams": ["127.0.0.1:1"], "tags": ["x"]}]})")
                .find("targets[0].tags: goes with service"),
            std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "targets": [{"service": "s", "tags": "deploy=1"}]})")
                .find("targets[0].tags: must be a non-empty list"),
            std::string::npos);
  EXPECT_NE(
      bad(R"({"name": "a", "targets": [{"service": "s", "tags": ["a,b"]}]})").find("is not a tag"),
      std::string::npos);
  EXPECT_NE(bad(R"({"name": "a", "targets": [{"service": "s", "port": 0}]})")
                .find("targets[0].port: must be an integer from 1 to 65535"),
            std::string::npos);
  EXPECT_NE(
      bad(R"({"name": "a", "targets": [{"service": "s", "port": 70000}]})").find("targets[0].port"),
      std::string::npos);
  // A document for `berth route apply` may use them too.
  EXPECT_TRUE(SplitConfig("routes: [{name: a, targets: [{service: s, tags: [deploy=1]}]}]"));
}

struct BadCase {
  std::string yaml;
  std::string error_contains;
};

class ConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesWhatIsWrong) {
  auto snap = ParseConfig(GetParam().yaml, "routes.yaml");
  ASSERT_FALSE(snap.has_value());
  EXPECT_NE(snap.error().message.find(GetParam().error_contains), std::string::npos)
      << snap.error().message;
  EXPECT_TRUE(snap.error().message.starts_with("routes.yaml")) << snap.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrorTest,
    ::testing::Values(
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:1\"], colour: red}]",
                "routes.yaml:1:48: routes[0].colour: unknown field"},
        BadCase{"routes: [{name: a, match: {regex: \"(\"}, upstreams: [\"127.0.0.1:1\"]}]",
                "routes[0].match.regex: invalid regex"},
        BadCase{"routes: [{name: a, upstreams: [\"nohost\"]}]", "must be host:port"},
        BadCase{"routes: [{name: a, upstreams: [\"example.com:80\"]}]", "IP literal"},
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:99999\"]}]", "bad port"},
        BadCase{"routes: [{name: a}]", "routes[0]: needs one of service, upstreams or targets"},
        BadCase{"routes: [{name: a, service: s}, {name: a, service: s}]", "duplicate route name"},
        BadCase{"routes: [{name: a, service: s, lb: fastest}]", "unknown policy \"fastest\""},
        BadCase{"routes: [{name: a, service: s, hosts: [\"a*.com\"]}]", "wildcards only"},
        BadCase{"routes: [{name: a, service: s, match: {prefix: nope}}]", "must start with '/'"},
        BadCase{"routes: [{name: a, service: s, filters: [{magic: {}}]}]", "unknown filter"},
        BadCase{"routes: [{name: a, service: s, filters: [{rate_limit: {burst: 3}}]}]",
                "requests_per_second"},
        BadCase{"routes: [{name: a, service: s, filters: [{jwt: {jwks_file: /nonexistent}}]}]",
                "cannot open"},
        BadCase{"routes: [{name: a, service: s, retry: {on: [404]}}]", "5xx status"},
        BadCase{"routes: [{name: a, service: s, targets: []}]",
                "takes only one of service, upstreams or targets; got service and targets"},
        BadCase{"routes: [{name: a, targets: [{service: s, weight: 0}]}]", "weights add up to 0"},
        BadCase{"routes: [{name: a, targets: [{service: s, tags: [deploy=1]}]}]",
                "tags and port select registry instances"},
        BadCase{"routes: {name: a}", "routes: must be a list"},
        BadCase{"routes: [", "routes.yaml:1:1: invalid YAML: end of sequence flow not found"},
        BadCase{"", "empty configuration"},
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:1\"], upstream_protocol: h3}]",
                "routes[0].upstream_protocol: must be one of http1, h2 or h2c"},
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:1\"], retry: {on: [unavailabel]}}]",
                "a gRPC status name"},
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:1\"], retry: {on: [ok]}}]",
                "a gRPC status name"},
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:1\"], websocket: {max_conns: 1}}]",
                "websocket.max_conns: unknown field"},
        BadCase{"routes: [{name: a, upstreams: [\"127.0.0.1:1\"], upstream_tls: {ca_file: \"\"}}]",
                "upstream_tls.ca_file"}));

}  // namespace
}  // namespace berth::gateway::router
