#include "gateway/router/config.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "core/input.h"
#include "core/json.h"
#include "gateway/filters/factory.h"
#include "gateway/grpc_status.h"

namespace berth::gateway::router {
namespace {

using input::Node;
using input::Object;

// An integer in [0, max].
input::Int Uint(int64_t max) { return input::Int(0, max); }
const input::Number kPercent(0, 100);

Result<std::string> AbsolutePath(const Node& n) { return input::NonEmptyString(n); }

Result<std::shared_ptr<const re2::RE2>> Regex(const Node& n) {
  const std::string pattern = BERTH_TRY(input::String(n));
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, opts);
  if (!re->ok()) return n.Fail("invalid regex: " + re->error());
  return re;
}

Result<std::string> PathStartingWithSlash(const Node& n) {
  std::string s = BERTH_TRY(input::String(n));
  if (!s.starts_with('/')) return n.Fail("must start with '/'");
  return s;
}

// host:port with an IPv4 literal, "localhost" or a bracketed IPv6 literal.
Result<Endpoint> ReadEndpoint(const Node& n) {
  Endpoint e;
  if (n.IsScalar()) {
    e.address = BERTH_TRY(input::String(n));
  } else {
    Object o(n);
    o.Required("address", e.address).Optional("weight", e.weight, input::Int(1, 1'000'000));
    BERTH_TRY(o.Done());
  }
  const auto colon = e.address.rfind(':');
  if (colon == std::string::npos || colon + 1 == e.address.size()) {
    return n.Fail(fmt::format("address \"{}\" must be host:port", e.address));
  }
  std::string host = e.address.substr(0, colon);
  const std::string port = e.address.substr(colon + 1);
  int port_num = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_num);
  if (ec != std::errc() || p != port.data() + port.size() || port_num < 1 || port_num > 65535) {
    return n.Fail(fmt::format("address \"{}\": bad port", e.address));
  }
  if (host == "localhost") {
    e.address = "127.0.0.1:" + port;
  } else {
    unsigned char buf[16];
    const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
    if (v6 ? inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1
           : inet_pton(AF_INET, host.c_str(), buf) != 1) {
      return n.Fail(
          fmt::format("address \"{}\": host must be an IP literal or localhost", e.address));
    }
  }
  return e;
}

// lb: a policy name or {policy: name}.
Result<lb::Policy> ReadPolicy(const Node& n) {
  const Node* name = &n;
  if (n.IsMap()) {
    Object o(n);
    name = o.Take("policy");
    BERTH_TRY(o.Done());
    if (name == nullptr) return n.Fail("must be a policy name or {policy: name}");
  }
  if (!name->IsScalar()) return n.Fail("must be a policy name or {policy: name}");
  auto p = lb::ParsePolicy(name->text());
  if (!p) {
    return name->Fail(
        fmt::format("unknown policy \"{}\" (round_robin, weighted_round_robin, "
                    "least_request, ring_hash, maglev, random)",
                    name->text()));
  }
  return *p;
}

Result<lb::OutlierConfig> ReadOutlier(const Node& n, lb::OutlierConfig c) {
  Object o(n);
  int64_t base_ms = c.base_ejection_time.count(), max_ms = c.max_ejection_time.count();
  o.Optional("consecutive_5xx", c.consecutive_5xx, Uint(1'000'000))
      .Optional("consecutive_connect_failures", c.consecutive_connect_failures, Uint(1'000'000))
      .Optional("base_ejection_ms", base_ms, Uint(86'400'000))
      .Optional("max_ejection_ms", max_ms, Uint(86'400'000))
      .Optional("max_ejection_percent", c.max_ejection_percent, kPercent);
  BERTH_TRY(o.Done());
  c.base_ejection_time = std::chrono::milliseconds(base_ms);
  c.max_ejection_time = std::chrono::milliseconds(max_ms);
  return c;
}

Result<CircuitBreakers> ReadCircuitBreakers(const Node& n) {
  CircuitBreakers cb;
  Object o(n);
  o.Optional("max_connections", cb.max_connections, Uint(1'000'000))
      .Optional("max_pending_requests", cb.max_pending_requests, Uint(1'000'000))
      .Optional("max_requests", cb.max_requests, Uint(1'000'000));
  BERTH_TRY(o.Done());
  return cb;
}

const input::Enum<UpstreamProtocol> kUpstreamProtocol{{"http1", UpstreamProtocol::kHttp1},
                                                      {"h2", UpstreamProtocol::kH2},
                                                      {"h2c", UpstreamProtocol::kH2c}};

// upstream_tls: {ca_file, server_name}; a relative ca_file is under `base_dir`.
Result<UpstreamTls> ReadUpstreamTls(const Node& n, std::string_view base_dir) {
  UpstreamTls t;
  Object o(n);
  o.Optional("ca_file", t.ca_file, input::NonEmptyString).Optional("server_name", t.server_name);
  BERTH_TRY(o.Done());
  if (!t.ca_file.empty() && t.ca_file[0] != '/' && !base_dir.empty()) {
    t.ca_file = fmt::format("{}/{}", base_dir, t.ca_file);
  }
  return t;
}

// The cluster settings a route (for its inline upstreams) or a service may carry.
void ReadClusterSettings(Object& o, Cluster& c, std::string_view base_dir) {
  int64_t connect_ms = c.connect_timeout.count();
  o.Optional("lb", c.policy, ReadPolicy)
      .Optional("outlier", c.outlier, [&](const Node& n) { return ReadOutlier(n, c.outlier); })
      .Optional("panic_threshold", c.panic_threshold_percent, kPercent)
      .Optional("circuit_breakers", c.circuit_breakers, ReadCircuitBreakers)
      .Optional("connect_timeout_ms", connect_ms, Uint(600'000))
      .Optional("max_idle_connections", c.max_idle_connections, Uint(100'000))
      .Optional("upstream_protocol", c.protocol, kUpstreamProtocol)
      .Optional("upstream_tls", c.tls, [&](const Node& n) { return ReadUpstreamTls(n, base_dir); });
  c.connect_timeout = std::chrono::milliseconds(connect_ms);
}

Result<std::string> ReadMethod(const Node& n) {
  std::string s = BERTH_TRY(input::String(n));
  if (s.empty() ||
      !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
    return n.Fail(fmt::format("\"{}\" is not an upper-case method", s));
  }
  return s;
}

Result<HeaderMatcher> ReadHeaderMatcher(const Node& n) {
  HeaderMatcher hm;
  Object o(n);
  o.Required("name", hm.name).AtMostOneOf({"exact", "regex"}).Optional("invert", hm.invert);
  if (o.Has("exact")) hm.kind = HeaderMatcher::Kind::kExact;
  if (o.Has("regex")) hm.kind = HeaderMatcher::Kind::kRegex;
  o.Optional("exact", hm.value).Optional("regex", hm.regex, Regex);
  if (const Node* present = o.Take("present")) {
    auto v = input::Bool(*present);
    if (!v || !*v) o.Fail(present->Invalid("must be true (use invert for absence)"));
  }
  BERTH_TRY(o.Done());
  return hm;
}

Result<void> ReadMatch(const Node& n, Route& r) {
  Object o(n);
  o.AtMostOneOf({"prefix", "exact", "regex"});
  r.path = PathMatcher{PathMatcher::Kind::kPrefix, "/", nullptr};
  if (o.Has("exact")) r.path.kind = PathMatcher::Kind::kExact;
  if (o.Has("regex")) r.path.kind = PathMatcher::Kind::kRegex;
  o.Optional("prefix", r.path.value, PathStartingWithSlash)
      .Optional("exact", r.path.value, PathStartingWithSlash)
      .Optional("regex", r.path.regex, Regex)
      .Optional("methods", r.methods, input::ListOf(ReadMethod))
      .Optional("headers", r.headers, input::ListOf(ReadHeaderMatcher));
  if (r.path.regex) r.path.value = r.path.regex->pattern();
  return o.Done();
}

Result<std::string> ReadHost(const Node& n) {
  const std::string s = BERTH_TRY(input::String(n));
  std::string host = s;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (host.empty() || (host.find('*') != std::string::npos && host != "*" &&
                       !(host.starts_with("*.") && host.find('*', 1) == std::string::npos))) {
    return n.Fail(fmt::format("\"{}\": wildcards only as \"*\" or \"*.suffix\"", s));
  }
  return host;
}

Result<HashPolicy> ReadHashOn(const Node& n) {
  HashPolicy h;
  Object o(n);
  o.ExactlyOneOf({"header", "cookie", "client_ip"});
  if (o.Has("header")) h.kind = HashPolicy::Kind::kHeader;
  if (o.Has("cookie")) h.kind = HashPolicy::Kind::kCookie;
  o.Optional("header", h.name).Optional("cookie", h.name);
  if (const Node* ip = o.Take("client_ip")) {
    auto v = input::Bool(*ip);
    if (!v || !*v) o.Fail(ip->Invalid("must be true"));
    h.kind = HashPolicy::Kind::kClientIp;
  }
  BERTH_TRY(o.Done());
  return h;
}

// retry.on: connect_failure, 5xx statuses or gRPC status names.
Result<void> ReadRetryOn(const Node& n, RetryPolicy& r) {
  if (!n.IsList()) return n.Fail("must be a list");
  r.on_connect_failure = false;
  for (const Node* x : n.items()) {
    int64_t status = 0;
    std::optional<int> grpc;
    if (x->IsScalar() && x->text() == "connect_failure") {
      r.on_connect_failure = true;
    } else if (auto v = input::Int(500, 599)(*x); v && (status = *v) != 0) {
      r.on_statuses.push_back(static_cast<int>(status));
    } else if (x->IsScalar() && (grpc = GrpcStatusFromName(x->text())) && *grpc != kGrpcOk) {
      r.on_grpc_statuses.push_back(*grpc);
    } else {
      return x->Fail(
          "entries are connect_failure, a 5xx status or a gRPC status name (unavailable, "
          "resource_exhausted, ...)");
    }
  }
  return {};
}

Result<RetryPolicy> ReadRetry(const Node& n) {
  RetryPolicy r;
  Object o(n);
  o.Optional("attempts", r.attempts, Uint(10))
      .Optional("budget_percent", r.budget_percent, kPercent)
      .Optional("min_retry_concurrency", r.min_retry_concurrency, Uint(100'000));
  if (const Node* on = o.Take("on")) o.Check(ReadRetryOn(*on, r));
  BERTH_TRY(o.Done());
  return r;
}

Result<Timeouts> ReadTimeouts(const Node& n) {
  Timeouts t;
  int64_t request_ms = t.request.count(), idle_ms = t.idle.count();
  Object o(n);
  o.Optional("request_ms", request_ms, Uint(86'400'000))
      .Optional("idle_ms", idle_ms, Uint(86'400'000));
  BERTH_TRY(o.Done());
  t.request = std::chrono::milliseconds(request_ms);
  t.idle = std::chrono::milliseconds(idle_ms);
  return t;
}

// websocket: {max_connections, idle_timeout_ms}.
Result<WebSocketPolicy> ReadWebSocket(const Node& n) {
  WebSocketPolicy w;
  int64_t idle_ms = w.idle.count();
  Object o(n);
  o.Optional("max_connections", w.max_connections, Uint(1'000'000))
      .Optional("idle_timeout_ms", idle_ms, Uint(86'400'000));
  BERTH_TRY(o.Done());
  w.idle = std::chrono::milliseconds(idle_ms);
  return w;
}

Result<std::string> ReadTag(const Node& n) {
  std::string v = BERTH_TRY(input::String(n));
  if (v.empty() || v.find_first_of(",[]") != std::string::npos) {
    return n.Fail(fmt::format("\"{}\" is not a tag (non-empty, no ',', '[' or ']')", v));
  }
  return v;
}

Result<std::string> ReadName(const Node& n) {
  std::string v = BERTH_TRY(input::String(n));
  if (v.empty() || v.find('/') != std::string::npos) {
    return n.Fail("must be a non-empty name without '/'");
  }
  return v;
}

class Parser {
 public:
  explicit Parser(std::string_view base_dir) : base_dir_(base_dir) {}

  void set_registry_selectors(bool allowed) { registry_selectors_ = allowed; }

  Result<SnapshotPtr> Parse(const Node& root);
  // One route entry alone (see ReadRouteEntry); `name` when it has none ("": required).
  Result<RouteEntry> ParseOneRoute(const Node& n, std::string_view name);
  // One `services:` entry for cluster `name`.
  Result<std::shared_ptr<Cluster>> ParseService(const Node& n, const std::string& name,
                                                bool allow_endpoints);

 private:
  std::string Path(const std::string& p) const {
    if (p.empty() || p[0] == '/') return p;
    return std::string(base_dir_) + "/" + p;
  }
  // A route target's fields, from an entry of `targets:` or from the route itself.
  struct TargetFields {
    const Node* service = nullptr;
    const Node* ns = nullptr;
    const Node* tags = nullptr;
    const Node* port = nullptr;
    const Node* upstreams = nullptr;
    const Node* weight = nullptr;
  };
  Result<std::shared_ptr<const Route>> ParseRoute(const Node& n, size_t index,
                                                  std::string_view default_name = "");
  // The targets of route `r` (`service`, `upstreams` or `targets`, read from the route's
  // Object `o`, which this finishes), their clusters registered.
  Result<void> ParseTargets(Object& o, const Cluster& inline_settings, Route& r);
  Result<WeightedCluster> ParseTarget(const Node& at, const TargetFields& f,
                                      const Cluster& inline_settings, const std::string& route,
                                      size_t index);
  Result<std::vector<filters::FilterFactoryPtr>> ParseFilters(const Node& n,
                                                              const std::string& route);
  Result<ListenerTls> ParseTls(const Node& n);

  std::string base_dir_;
  // `tags:` and `port:` in service targets: only where a registry fills endpoints (stored
  // routes), not in a static file whose `services:` hold fixed endpoints.
  bool registry_selectors_ = true;
  std::map<std::string, std::shared_ptr<Cluster>> clusters_;
  std::vector<std::string> route_names_;
};

Result<WeightedCluster> Parser::ParseTarget(const Node& at, const TargetFields& f,
                                            const Cluster& inline_settings,
                                            const std::string& route, size_t index) {
  if ((f.service != nullptr) == (f.upstreams != nullptr)) {
    return at.Fail("needs one of service, upstreams");
  }
  for (const Node* x : {f.ns, f.tags, f.port}) {
    if (x != nullptr && f.service == nullptr) return x->Fail("goes with service");
  }
  if ((f.tags || f.port) && !registry_selectors_) {
    return at.Fail(
        "tags and port select registry instances: they work in routes stored with berth "
        "route apply, not in a gateway configuration file");
  }
  WeightedCluster wc;
  if (f.weight) wc.weight = static_cast<uint32_t>(BERTH_TRY(Uint(1'000'000)(*f.weight)));
  if (f.upstreams) {
    if (!f.upstreams->IsList() || f.upstreams->items().empty()) {
      return f.upstreams->Fail("must be a non-empty list");
    }
    auto c = std::make_shared<Cluster>(inline_settings);
    c->name = fmt::format("{}#{}", route, index);
    c->endpoints = BERTH_TRY(input::ListOf(ReadEndpoint)(*f.upstreams));
    wc.cluster = c->name;
    clusters_[c->name] = c;
    return wc;
  }
  const std::string service = BERTH_TRY(ReadName(*f.service));
  const std::string ns = f.ns ? BERTH_TRY(ReadName(*f.ns)) : "default";
  std::vector<std::string> tags;
  if (f.tags) {
    if (!f.tags->IsList() || f.tags->items().empty()) {
      return f.tags->Fail("must be a non-empty list of tags (\"deploy=<hash>\")");
    }
    tags = BERTH_TRY(input::ListOf(ReadTag)(*f.tags));
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  }
  const auto port = f.port ? static_cast<uint32_t>(BERTH_TRY(input::Int(1, 65535)(*f.port))) : 0;
  wc.cluster = ServiceClusterName(ns, service, tags, port);
  if (!clusters_.count(wc.cluster)) {  // a registry service: endpoints from the registry
    auto c = std::make_shared<Cluster>();
    c->name = wc.cluster;
    c->service_namespace = ns;
    c->service_name = service;
    c->service_tags = std::move(tags);
    c->service_port = port;
    clusters_[wc.cluster] = c;
  }
  return wc;
}

Result<void> Parser::ParseTargets(Object& o, const Cluster& inline_settings, Route& r) {
  // `service` (and `namespace`) or `upstreams` at the route's level are one target.
  TargetFields route_level{
      .service = o.Take("service"), .ns = o.Take("namespace"), .upstreams = o.Take("upstreams")};
  const Node* targets = o.Take("targets");
  o.ExactlyOneOf({"service", "upstreams", "targets"});
  if (route_level.ns && !route_level.service) {
    o.Fail(route_level.ns->Invalid("goes with service (or inside each of targets)"));
  }
  BERTH_TRY(o.Done());  // the route's own fields first
  if (!targets) {
    r.targets.push_back(BERTH_TRY(ParseTarget(o.node(), route_level, inline_settings, r.name, 0)));
  } else if (!targets->IsList() || targets->items().empty()) {
    return targets->Fail("must be a non-empty list");
  }
  for (size_t i = 0; targets && i < targets->items().size(); ++i) {
    const Node& t = *targets->items()[i];
    Object to(t);
    TargetFields f{.service = to.Take("service"),
                   .ns = to.Take("namespace"),
                   .tags = to.Take("tags"),
                   .port = to.Take("port"),
                   .upstreams = to.Take("upstreams"),
                   .weight = to.Take("weight")};
    BERTH_TRY(to.Done());
    r.targets.push_back(BERTH_TRY(ParseTarget(t, f, inline_settings, r.name, i)));
  }
  for (const auto& t : r.targets) r.total_weight += t.weight;
  if (r.total_weight == 0) return (targets ? *targets : o.node()).Fail("weights add up to 0");
  return {};
}

Result<std::vector<filters::FilterFactoryPtr>> Parser::ParseFilters(const Node& n,
                                                                    const std::string& route) {
  if (!n.IsList()) return n.Fail("must be a list");
  std::vector<filters::FilterFactoryPtr> out;
  for (const Node* f : n.items()) {
    if (!f->IsMap() || f->entries().size() != 1) {
      return f->Fail("must be a mapping with one key: the filter's kind");
    }
    const input::Entry& e = f->entries().front();
    out.push_back(BERTH_TRY(filters::CreateFilterFactory(e.key, *e.value, base_dir_, route)));
  }
  return out;
}

Result<std::shared_ptr<const Route>> Parser::ParseRoute(const Node& n, size_t index,
                                                        std::string_view default_name) {
  auto r = std::make_shared<Route>();
  Object o(n);
  o.Optional("name", r->name, input::NonEmptyString);
  if (!o.ok()) BERTH_TRY(o.Done());  // not a map, or a bad name: Done() says which
  if (r->name.empty()) r->name = default_name;
  if (r->name.empty()) r->name = fmt::format("route{}", index);
  if (std::find(route_names_.begin(), route_names_.end(), r->name) != route_names_.end()) {
    return n.Fail(fmt::format("duplicate route name \"{}\"", r->name));
  }
  route_names_.push_back(r->name);
  std::string owner;
  o.Optional("owner", owner)
      .Optional("hosts", r->hosts, [](const Node& h) -> Result<std::vector<std::string>> {
        if (!h.IsList() || h.items().empty()) return h.Fail("must be a non-empty list");
        return input::ListOf(ReadHost)(h);
      });
  if (r->hosts.empty()) r->hosts.push_back("*");
  r->path = PathMatcher{PathMatcher::Kind::kPrefix, "/", nullptr};
  if (const Node* m = o.Take("match")) o.Check(ReadMatch(*m, *r));
  if (const Node* rw = o.Take("rewrite")) {
    Object ro(*rw);
    if (r->path.kind != PathMatcher::Kind::kPrefix) ro.Fail(rw->Invalid("needs a prefix match"));
    std::string prefix;
    ro.Optional("prefix", prefix);
    if (ro.Has("prefix")) r->prefix_rewrite = prefix;
    o.Check(ro.Done());
  }
  // Settings for this route's inline upstream clusters.
  Cluster inline_settings;
  ReadClusterSettings(o, inline_settings, base_dir_);
  if (o.Has("upstream_protocol")) r->upstream_protocol = inline_settings.protocol;
  o.Optional("websocket", r->websocket, ReadWebSocket)
      .Optional("hash_on", r->hash, ReadHashOn)
      .Optional("retry", r->retry, ReadRetry)
      .Optional("timeouts", r->timeouts, ReadTimeouts)
      .Optional("filters", r->filters, [&](const Node& f) { return ParseFilters(f, r->name); });
  BERTH_TRY(ParseTargets(o, inline_settings, *r));
  return std::shared_ptr<const Route>(std::move(r));
}

Result<std::shared_ptr<Cluster>> Parser::ParseService(const Node& n, const std::string& name,
                                                      bool allow_endpoints) {
  auto c = std::make_shared<Cluster>();
  // "users" (default namespace) or "shop/users".
  const auto slash = name.find('/');
  c->service_namespace = slash == std::string::npos ? "default" : name.substr(0, slash);
  c->service_name = slash == std::string::npos ? name : name.substr(slash + 1);
  if (name.empty() || c->service_namespace.empty() || c->service_name.empty() ||
      c->service_name.find('/') != std::string::npos) {
    return n.Fail("a service is named \"service\" or \"namespace/service\"");
  }
  c->name = ServiceClusterName(c->service_namespace, c->service_name);
  Object o(n);
  if (const Node* eps = o.Take("endpoints")) {
    if (!allow_endpoints) {
      o.Fail(eps->Invalid(
          "endpoints of a stored service come from the registry (use upstreams: in a route for "
          "fixed addresses)"));
    }
    o.Optional("endpoints", c->endpoints, input::ListOf(ReadEndpoint));
  }
  ReadClusterSettings(o, *c, base_dir_);
  BERTH_TRY(o.Done());
  return c;
}

Result<RouteEntry> Parser::ParseOneRoute(const Node& n, std::string_view name) {
  if (!n.IsMap()) return n.Fail("must be a mapping");
  if (name.empty() && !n.Find("name")) return n.Fail("\"name\" is required");
  RouteEntry out;
  out.route = BERTH_TRY(ParseRoute(n, 0, name));
  for (auto& [name, c] : clusters_) out.clusters.push_back(c);
  if (const Node* owner = n.Find("owner")) out.owner = owner->text();
  return out;
}

Result<ListenerTls> Parser::ParseTls(const Node& n) {
  ListenerTls tls;
  Object o(n);
  std::string cert, key;
  o.Required("cert", cert, AbsolutePath).Required("key", key, AbsolutePath);
  if (const Node* sni = o.Take("sni")) {
    auto read = [&](const Node& s) -> Result<ListenerTls::Sni> {
      ListenerTls::Sni out;
      Object so(s);
      so.Required("names", out.names, input::ListOf(input::String))
          .Required("cert", out.cert_file, AbsolutePath)
          .Required("key", out.key_file, AbsolutePath);
      BERTH_TRY(so.Done());
      out.cert_file = Path(out.cert_file);
      out.key_file = Path(out.key_file);
      return out;
    };
    auto list = input::ListOf(read)(*sni);
    if (list) tls.sni = std::move(*list);
    if (!list) o.Fail(std::move(list.error()));
  }
  BERTH_TRY(o.Done());
  tls.cert_file = Path(cert);
  tls.key_file = Path(key);
  return tls;
}

Result<SnapshotPtr> Parser::Parse(const Node& root) {
  if (root.IsNull()) return root.Fail("empty configuration");
  auto snap = std::make_shared<Snapshot>();
  Object o(root);
  if (const Node* services = o.Take("services")) {
    if (!services->IsMap()) {
      o.Fail(services->Invalid("must be a mapping of name to service"));
    } else {
      for (const input::Entry& e : services->entries()) {
        auto c = ParseService(*e.value, e.key, true);
        if (!c) {
          o.Fail(std::move(c.error()));
          break;
        }
        clusters_[(*c)->name] = *c;
      }
    }
  }
  if (const Node* routes = o.Take("routes"); routes && o.ok()) {
    if (!routes->IsList()) {
      o.Fail(routes->Invalid("must be a list"));
    } else {
      for (size_t i = 0; i < routes->items().size(); ++i) {
        auto route = ParseRoute(*routes->items()[i], i);
        if (!route) {
          o.Fail(std::move(route.error()));
          break;
        }
        snap->routes.push_back(std::move(*route));
      }
    }
  }
  o.Optional("tls", snap->tls, [&](const Node& t) { return ParseTls(t); });
  std::string access_log;
  o.Optional("access_log", access_log);
  BERTH_TRY(o.Done());
  if (!access_log.empty()) snap->access_log_path = Path(access_log);
  for (auto& [name, c] : clusters_) snap->clusters[name] = c;
  return SnapshotPtr(std::move(snap));
}

Result<input::Document> ParseText(std::string_view text, std::string_view origin) {
  return input::Parse(text, origin);
}

}  // namespace

std::string ServiceClusterName(std::string_view ns, std::string_view service) {
  if (ns.empty() || ns == "default") return std::string(service);
  return fmt::format("{}/{}", ns, service);
}

std::string ServiceClusterName(std::string_view ns, std::string_view service,
                               const std::vector<std::string>& tags, uint32_t port) {
  std::string name = ServiceClusterName(ns, service);
  if (!tags.empty()) {
    name += '[';
    for (size_t i = 0; i < tags.size(); ++i) {
      if (i) name += ',';
      name += tags[i];
    }
    name += ']';
  }
  if (port != 0) name += fmt::format(":{}", port);
  return name;
}

Result<SnapshotPtr> ParseConfig(std::string_view text, std::string_view origin,
                                std::string_view base_dir) {
  const input::Document doc = BERTH_TRY(ParseText(text, origin));
  Parser parser(base_dir);
  parser.set_registry_selectors(false);
  return parser.Parse(doc.root());
}

Result<RouteEntry> ParseRouteEntry(std::string_view text, std::string_view origin,
                                   std::string_view base_dir) {
  const input::Document doc = BERTH_TRY(ParseText(text, origin));
  return ReadRouteEntry(doc.root(), "", base_dir);
}

Result<RouteEntry> ReadRouteEntry(const input::Node& entry, std::string_view name,
                                  std::string_view base_dir) {
  Parser parser(base_dir);
  return parser.ParseOneRoute(entry, name);
}

Result<std::shared_ptr<const Cluster>> ParseServiceSettings(std::string_view text,
                                                            std::string_view cluster_name,
                                                            std::string_view origin,
                                                            bool allow_endpoints) {
  const input::Document doc = BERTH_TRY(ParseText(text, origin));
  return ReadServiceSettings(doc.root(), cluster_name, allow_endpoints);
}

Result<std::shared_ptr<const Cluster>> ReadServiceSettings(const input::Node& settings,
                                                           std::string_view cluster_name,
                                                           bool allow_endpoints) {
  // An empty document is a service with every setting at its default.
  const input::Document empty = input::FromJson(Json::object(), settings.source());
  const input::Node& root = settings.IsNull() ? empty.root() : settings;
  Parser parser(".");
  auto c = BERTH_TRY(parser.ParseService(root, std::string(cluster_name), allow_endpoints));
  return std::shared_ptr<const Cluster>(std::move(c));
}

Result<ConfigEntries> SplitConfig(std::string_view text, std::string_view origin,
                                  std::string_view base_dir) {
  const input::Document doc = BERTH_TRY(ParseText(text, origin));
  Parser parser(base_dir);
  BERTH_TRY(parser.Parse(doc.root()));
  const input::Node& root = doc.root();
  ConfigEntries out;
  out.has_tls = root.Find("tls") != nullptr;
  out.has_access_log = root.Find("access_log") != nullptr;
  if (const input::Node* routes = root.Find("routes")) {
    for (size_t i = 0; i < routes->items().size(); ++i) {
      const input::Node& r = *routes->items()[i];
      ConfigEntries::Entry e;
      const input::Node* name = r.Find("name");
      e.named = name != nullptr;
      e.name = e.named ? name->text() : fmt::format("route{}", i);
      e.json = input::ToJson(r).dump();
      out.routes.push_back(std::move(e));
    }
  }
  if (const input::Node* services = root.Find("services")) {
    // In key order, as the store lists them.
    std::map<std::string, std::string> sorted;
    for (const input::Entry& e : services->entries())
      sorted[e.key] = input::ToJson(*e.value).dump();
    for (auto& [name, json] : sorted) out.services.push_back({name, std::move(json), true});
  }
  return out;
}

Result<SnapshotPtr> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, fmt::format("{}: cannot open", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = path.substr(0, slash);
  if (dir.empty()) dir = "/";
  return ParseConfig(ss.str(), path, dir);
}

}  // namespace berth::gateway::router
