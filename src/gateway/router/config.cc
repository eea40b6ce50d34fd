#include "gateway/router/config.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "gateway/filters/factory.h"
#include "gateway/grpc_status.h"

namespace berth::gateway::router {
namespace {

// YAML to JSON, typing plain scalars (ints, floats, booleans, null) as YAML 1.2 core does;
// quoted scalars stay strings.
Result<Json> YamlToJson(const YAML::Node& node, int depth = 0) {
  if (depth > 64) return Fail(ErrorCode::kInvalidArgument, "nesting deeper than 64");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) {
        auto v = YamlToJson(item, depth + 1);
        if (!v) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return Fail(ErrorCode::kInvalidArgument, "non-scalar map key");
        const std::string key = kv.first.Scalar();
        if (out.contains(key)) {
          return Fail(ErrorCode::kInvalidArgument, fmt::format("duplicate key \"{}\"", key));
        }
        auto v = YamlToJson(kv.second, depth + 1);
        if (!v) return v;
        out[key] = std::move(*v);
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return Json(s);  // quoted
      if (s == "true" || s == "True" || s == "TRUE") return Json(true);
      if (s == "false" || s == "False" || s == "FALSE") return Json(false);
      if (s == "null" || s == "~" || s.empty()) return Json(nullptr);
      int64_t i = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec == std::errc() && p == s.data() + s.size()) return Json(i);
      double d = 0;
      auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec2 == std::errc() && p2 == s.data() + s.size()) return Json(d);
      return Json(s);
    }
  }
  return Json(nullptr);
}

class Parser {
 public:
  Parser(std::string_view origin, std::string_view base_dir)
      : origin_(origin), base_dir_(base_dir) {}

  void set_registry_selectors(bool allowed) { registry_selectors_ = allowed; }

  Result<SnapshotPtr> Parse(const Json& root);
  // One route entry alone (see ParseRouteEntry).
  Result<RouteEntry> ParseOneRoute(const Json& j);
  // One `services:` entry for cluster `name`.
  Result<std::shared_ptr<Cluster>> ParseService(const Json& j, const std::string& name,
                                                bool allow_endpoints);

 private:
  std::unexpected<Error> Bad(const std::string& where, const std::string& what) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}: {}", origin_, where, what));
  }
  std::string Path(const std::string& p) const {
    if (p.empty() || p[0] == '/') return p;
    return std::string(base_dir_) + "/" + p;
  }
  Result<std::string> String(const Json& j, const std::string& where) {
    if (!j.is_string()) return Bad(where, "must be a string");
    return j.get<std::string>();
  }
  Result<uint64_t> Uint(const Json& j, const std::string& where, uint64_t max) {
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<uint64_t>() > max) {
      return Bad(where, fmt::format("must be an integer in [0, {}]", max));
    }
    return j.get<uint64_t>();
  }
  Result<double> Percent(const Json& j, const std::string& where) {
    if (!j.is_number() || j.get<double>() < 0 || j.get<double>() > 100) {
      return Bad(where, "must be a number in [0, 100]");
    }
    return j.get<double>();
  }
  Result<void> Fields(const Json& j, std::initializer_list<std::string_view> allowed,
                      const std::string& where) {
    if (!j.is_object()) return Bad(where, "must be a mapping");
    auto r = RejectUnknownFields(j, allowed, where);
    if (!r)
      return std::unexpected(
          Error(ErrorCode::kInvalidArgument, origin_ + ": " + r.error().message));
    return {};
  }

  Result<Endpoint> ParseEndpoint(const Json& j, const std::string& where);
  Result<void> ParseClusterSettings(const Json& j, const std::string& where, Cluster* c,
                                    bool service_level);
  Result<std::shared_ptr<const Route>> ParseRoute(const Json& j, size_t index);
  // upstream_protocol and upstream_tls (a route's or a service's).
  Result<void> ParseUpstreamSettings(const Json& j, const std::string& where, Cluster* c);
  Result<void> ParseWebSocket(const Json& ws, const std::string& where, Route* r);
  Result<void> ParseMatch(const Json& j, const std::string& where, Route* r);
  Result<std::shared_ptr<const re2::RE2>> Regex(const Json& j, const std::string& where);

  std::string origin_;
  std::string base_dir_;
  // `tags:` and `port:` in service targets: only where a registry fills endpoints (stored
  // routes), not in a static file whose `services:` hold fixed endpoints.
  bool registry_selectors_ = true;
  std::map<std::string, std::shared_ptr<Cluster>> clusters_;
  std::vector<std::string> route_names_;
};

Result<std::shared_ptr<const re2::RE2>> Parser::Regex(const Json& j, const std::string& where) {
  auto s = String(j, where);
  if (!s) return std::unexpected(s.error());
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(*s, opts);
  if (!re->ok()) return Bad(where, "invalid regex: " + re->error());
  return re;
}

Result<Endpoint> Parser::ParseEndpoint(const Json& j, const std::string& where) {
  Endpoint e;
  if (j.is_string()) {
    e.address = j.get<std::string>();
  } else {
    if (auto r = Fields(j, {"address", "weight"}, where); !r) return std::unexpected(r.error());
    if (!j.contains("address")) return Bad(where, "missing address");
    auto a = String(j["address"], where + ".address");
    if (!a) return std::unexpected(a.error());
    e.address = *a;
    if (j.contains("weight")) {
      auto w = Uint(j["weight"], where + ".weight", 1'000'000);
      if (!w) return std::unexpected(w.error());
      if (*w == 0) return Bad(where + ".weight", "must be at least 1");
      e.weight = static_cast<uint32_t>(*w);
    }
  }
  // host:port with an IPv4 literal, "localhost" or a bracketed IPv6 literal.
  const auto colon = e.address.rfind(':');
  if (colon == std::string::npos || colon + 1 == e.address.size()) {
    return Bad(where, fmt::format("address \"{}\" must be host:port", e.address));
  }
  std::string host = e.address.substr(0, colon);
  const std::string port = e.address.substr(colon + 1);
  int port_num = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_num);
  if (ec != std::errc() || p != port.data() + port.size() || port_num < 1 || port_num > 65535) {
    return Bad(where, fmt::format("address \"{}\": bad port", e.address));
  }
  if (host == "localhost") {
    e.address = "127.0.0.1:" + port;
  } else {
    unsigned char buf[16];
    const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
    if (v6 ? inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1
           : inet_pton(AF_INET, host.c_str(), buf) != 1) {
      return Bad(where,
                 fmt::format("address \"{}\": host must be an IP literal or localhost", e.address));
    }
  }
  return e;
}

Result<void> Parser::ParseClusterSettings(const Json& j, const std::string& where, Cluster* c,
                                          bool service_level) {
  if (j.contains("lb")) {
    const Json& lbj = j["lb"];
    std::string policy;
    if (lbj.is_string()) {
      policy = lbj.get<std::string>();
    } else if (lbj.is_object() && lbj.contains("policy") && lbj["policy"].is_string()) {
      policy = lbj["policy"].get<std::string>();
    } else {
      return Bad(where + ".lb", "must be a policy name or {policy: name}");
    }
    auto p = lb::ParsePolicy(policy);
    if (!p) {
      return Bad(where + ".lb", fmt::format("unknown policy \"{}\" (round_robin, "
                                            "weighted_round_robin, least_request, ring_hash, "
                                            "maglev, random)",
                                            policy));
    }
    c->policy = *p;
  }
  if (j.contains("outlier")) {
    const Json& o = j["outlier"];
    const std::string w = where + ".outlier";
    if (auto r = Fields(o,
                        {"consecutive_5xx", "consecutive_connect_failures", "base_ejection_ms",
                         "max_ejection_ms", "max_ejection_percent"},
                        w);
        !r) {
      return r;
    }
    if (o.contains("consecutive_5xx")) {
      auto v = Uint(o["consecutive_5xx"], w + ".consecutive_5xx", 1'000'000);
      if (!v) return std::unexpected(v.error());
      c->outlier.consecutive_5xx = *v;
    }
    if (o.contains("consecutive_connect_failures")) {
      auto v =
          Uint(o["consecutive_connect_failures"], w + ".consecutive_connect_failures", 1'000'000);
      if (!v) return std::unexpected(v.error());
      c->outlier.consecutive_connect_failures = *v;
    }
    if (o.contains("base_ejection_ms")) {
      auto v = Uint(o["base_ejection_ms"], w + ".base_ejection_ms", 86'400'000);
      if (!v) return std::unexpected(v.error());
      c->outlier.base_ejection_time = std::chrono::milliseconds(*v);
    }
    if (o.contains("max_ejection_ms")) {
      auto v = Uint(o["max_ejection_ms"], w + ".max_ejection_ms", 86'400'000);
      if (!v) return std::unexpected(v.error());
      c->outlier.max_ejection_time = std::chrono::milliseconds(*v);
    }
    if (o.contains("max_ejection_percent")) {
      auto v = Percent(o["max_ejection_percent"], w + ".max_ejection_percent");
      if (!v) return std::unexpected(v.error());
      c->outlier.max_ejection_percent = *v;
    }
  }
  if (j.contains("panic_threshold")) {
    auto v = Percent(j["panic_threshold"], where + ".panic_threshold");
    if (!v) return std::unexpected(v.error());
    c->panic_threshold_percent = *v;
  }
  if (j.contains("circuit_breakers")) {
    const Json& cb = j["circuit_breakers"];
    const std::string w = where + ".circuit_breakers";
    if (auto r = Fields(cb, {"max_connections", "max_pending_requests", "max_requests"}, w); !r) {
      return r;
    }
    for (auto [key, field] :
         {std::pair{"max_connections", &c->circuit_breakers.max_connections},
          std::pair{"max_pending_requests", &c->circuit_breakers.max_pending_requests},
          std::pair{"max_requests", &c->circuit_breakers.max_requests}}) {
      if (!cb.contains(key)) continue;
      auto v = Uint(cb[key], w + "." + key, 1'000'000);
      if (!v) return std::unexpected(v.error());
      *field = static_cast<uint32_t>(*v);
    }
  }
  if (j.contains("connect_timeout_ms")) {
    auto v = Uint(j["connect_timeout_ms"], where + ".connect_timeout_ms", 600'000);
    if (!v) return std::unexpected(v.error());
    c->connect_timeout = std::chrono::milliseconds(*v);
  }
  if (j.contains("max_idle_connections")) {
    auto v = Uint(j["max_idle_connections"], where + ".max_idle_connections", 100'000);
    if (!v) return std::unexpected(v.error());
    c->max_idle_connections = static_cast<uint32_t>(*v);
  }
  (void)service_level;
  return ParseUpstreamSettings(j, where, c);
}

Result<void> Parser::ParseUpstreamSettings(const Json& j, const std::string& where, Cluster* c) {
  if (j.contains("upstream_protocol")) {
    auto s = String(j["upstream_protocol"], where + ".upstream_protocol");
    if (!s) return std::unexpected(s.error());
    auto p = ParseUpstreamProtocol(*s);
    if (!p) return Bad(where + ".upstream_protocol", fmt::format("\"{}\": use http1, h2 or h2c", *s));
    c->protocol = *p;
  }
  if (j.contains("upstream_tls")) {
    const Json& t = j["upstream_tls"];
    const std::string w = where + ".upstream_tls";
    if (auto f = Fields(t, {"ca_file", "server_name"}, w); !f) return f;
    if (t.contains("ca_file")) {
      auto s = String(t["ca_file"], w + ".ca_file");
      if (!s) return std::unexpected(s.error());
      c->tls.ca_file = Path(*s);
    }
    if (t.contains("server_name")) {
      auto s = String(t["server_name"], w + ".server_name");
      if (!s) return std::unexpected(s.error());
      c->tls.server_name = *s;
    }
  }
  return {};
}

Result<void> Parser::ParseWebSocket(const Json& ws, const std::string& where, Route* r) {
  if (auto f = Fields(ws, {"max_connections", "idle_timeout_ms"}, where); !f) return f;
  if (ws.contains("max_connections")) {
    auto v = Uint(ws["max_connections"], where + ".max_connections", 1'000'000);
    if (!v) return std::unexpected(v.error());
    r->websocket.max_connections = static_cast<uint32_t>(*v);
  }
  if (ws.contains("idle_timeout_ms")) {
    auto v = Uint(ws["idle_timeout_ms"], where + ".idle_timeout_ms", 86'400'000);
    if (!v) return std::unexpected(v.error());
    r->websocket.idle = std::chrono::milliseconds(*v);
  }
  return {};
}

Result<void> Parser::ParseMatch(const Json& m, const std::string& where, Route* r) {
  if (auto f = Fields(m, {"prefix", "exact", "regex", "methods", "headers"}, where); !f) return f;
  const int kinds = m.contains("prefix") + m.contains("exact") + m.contains("regex");
  if (kinds > 1) return Bad(where, "use one of prefix, exact, regex");
  if (m.contains("exact")) {
    auto s = String(m["exact"], where + ".exact");
    if (!s) return std::unexpected(s.error());
    if (!s->starts_with('/')) return Bad(where + ".exact", "must start with '/'");
    r->path = PathMatcher{PathMatcher::Kind::kExact, *s, nullptr};
  } else if (m.contains("regex")) {
    auto re = Regex(m["regex"], where + ".regex");
    if (!re) return std::unexpected(re.error());
    r->path = PathMatcher{PathMatcher::Kind::kRegex, (*re)->pattern(), *re};
  } else if (m.contains("prefix")) {
    auto s = String(m["prefix"], where + ".prefix");
    if (!s) return std::unexpected(s.error());
    if (!s->starts_with('/')) return Bad(where + ".prefix", "must start with '/'");
    r->path = PathMatcher{PathMatcher::Kind::kPrefix, *s, nullptr};
  } else {
    r->path = PathMatcher{PathMatcher::Kind::kPrefix, "/", nullptr};
  }
  if (m.contains("methods")) {
    if (!m["methods"].is_array()) return Bad(where + ".methods", "must be a list");
    for (const auto& x : m["methods"]) {
      auto s = String(x, where + ".methods");
      if (!s) return std::unexpected(s.error());
      if (s->empty() ||
          !std::all_of(s->begin(), s->end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
        return Bad(where + ".methods", fmt::format("\"{}\" is not an upper-case method", *s));
      }
      r->methods.push_back(*s);
    }
  }
  if (m.contains("headers")) {
    if (!m["headers"].is_array()) return Bad(where + ".headers", "must be a list");
    size_t i = 0;
    for (const auto& h : m["headers"]) {
      const std::string w = fmt::format("{}.headers[{}]", where, i++);
      if (auto f = Fields(h, {"name", "exact", "regex", "present", "invert"}, w); !f) return f;
      if (!h.contains("name")) return Bad(w, "missing name");
      HeaderMatcher hm;
      auto n = String(h["name"], w + ".name");
      if (!n) return std::unexpected(n.error());
      hm.name = *n;
      if (h.contains("exact") + h.contains("regex") > 1) return Bad(w, "use one of exact, regex");
      if (h.contains("exact")) {
        auto s = String(h["exact"], w + ".exact");
        if (!s) return std::unexpected(s.error());
        hm.kind = HeaderMatcher::Kind::kExact;
        hm.value = *s;
      } else if (h.contains("regex")) {
        auto re = Regex(h["regex"], w + ".regex");
        if (!re) return std::unexpected(re.error());
        hm.kind = HeaderMatcher::Kind::kRegex;
        hm.regex = *re;
      }
      if (h.contains("invert")) {
        if (!h["invert"].is_boolean()) return Bad(w + ".invert", "must be true or false");
        hm.invert = h["invert"].get<bool>();
      }
      if (h.contains("present") && !(h["present"].is_boolean() && h["present"].get<bool>())) {
        return Bad(w + ".present", "must be true (use invert for absence)");
      }
      r->headers.push_back(std::move(hm));
    }
  }
  return {};
}

Result<std::shared_ptr<const Route>> Parser::ParseRoute(const Json& j, size_t index) {
  std::string where = fmt::format("routes[{}]", index);
  if (auto f =
          Fields(j,
                 {"name", "owner", "hosts", "match", "rewrite", "service", "namespace", "upstreams",
                  "targets", "lb", "hash_on", "outlier", "panic_threshold", "circuit_breakers",
                  "connect_timeout_ms", "max_idle_connections", "retry", "timeouts", "filters",
                  "upstream_protocol", "upstream_tls", "websocket"},
                 where);
      !f) {
    return std::unexpected(f.error());
  }
  auto r = std::make_shared<Route>();
  if (j.contains("name")) {
    auto n = String(j["name"], where + ".name");
    if (!n) return std::unexpected(n.error());
    if (n->empty()) return Bad(where + ".name", "must not be empty");
    r->name = *n;
    where = fmt::format("route \"{}\"", r->name);
  } else {
    r->name = fmt::format("route{}", index);
  }
  if (std::find(route_names_.begin(), route_names_.end(), r->name) != route_names_.end()) {
    return Bad(where, "duplicate route name");
  }
  route_names_.push_back(r->name);
  if (j.contains("owner")) {
    auto o = String(j["owner"], where + ".owner");
    if (!o) return std::unexpected(o.error());
  }

  if (j.contains("hosts")) {
    if (!j["hosts"].is_array() || j["hosts"].empty())
      return Bad(where + ".hosts", "must be a non-empty list");
    for (const auto& h : j["hosts"]) {
      auto s = String(h, where + ".hosts");
      if (!s) return std::unexpected(s.error());
      std::string host = *s;
      std::transform(host.begin(), host.end(), host.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (host.empty() || (host.find('*') != std::string::npos && host != "*" &&
                           !(host.starts_with("*.") && host.find('*', 1) == std::string::npos))) {
        return Bad(where + ".hosts",
                   fmt::format("\"{}\": wildcards only as \"*\" or \"*.suffix\"", *s));
      }
      r->hosts.push_back(host);
    }
  } else {
    r->hosts.push_back("*");
  }
  if (j.contains("match")) {
    if (auto m = ParseMatch(j["match"], where + ".match", r.get()); !m)
      return std::unexpected(m.error());
  } else {
    r->path = PathMatcher{PathMatcher::Kind::kPrefix, "/", nullptr};
  }
  if (j.contains("rewrite")) {
    const Json& rw = j["rewrite"];
    if (auto f = Fields(rw, {"prefix"}, where + ".rewrite"); !f) return std::unexpected(f.error());
    if (r->path.kind != PathMatcher::Kind::kPrefix)
      return Bad(where + ".rewrite", "needs a prefix match");
    if (rw.contains("prefix")) {
      auto s = String(rw["prefix"], where + ".rewrite.prefix");
      if (!s) return std::unexpected(s.error());
      r->prefix_rewrite = *s;
    }
  }

  // Settings for this route's inline upstream clusters.
  Cluster inline_settings;
  if (auto s = ParseClusterSettings(j, where, &inline_settings, false); !s)
    return std::unexpected(s.error());
  if (j.contains("upstream_protocol")) r->upstream_protocol = inline_settings.protocol;
  if (j.contains("websocket")) {
    if (auto s = ParseWebSocket(j["websocket"], where + ".websocket", r.get()); !s)
      return std::unexpected(s.error());
  }

  // Targets: `service`, `upstreams`, or `targets` (a weighted list of either).
  Json targets = Json::array();
  const int forms = j.contains("service") + j.contains("upstreams") + j.contains("targets");
  if (forms != 1) return Bad(where, "needs exactly one of service, upstreams, targets");
  if (j.contains("namespace") && !j.contains("service"))
    return Bad(where + ".namespace", "goes with service (or inside each of targets)");
  if (j.contains("targets")) {
    if (!j["targets"].is_array() || j["targets"].empty())
      return Bad(where + ".targets", "must be a non-empty list");
    targets = j["targets"];
  } else if (j.contains("service")) {
    targets.push_back(Json{{"service", j["service"]}});
    if (j.contains("namespace")) targets.back()["namespace"] = j["namespace"];
  } else {
    targets.push_back(Json{{"upstreams", j["upstreams"]}});
  }
  size_t ti = 0;
  for (const auto& t : targets) {
    const std::string w = fmt::format("{}.targets[{}]", where, ti);
    if (auto f = Fields(t, {"service", "namespace", "tags", "port", "upstreams", "weight"}, w); !f)
      return std::unexpected(f.error());
    for (const char* k : {"namespace", "tags", "port"}) {
      if (t.contains(k) && !t.contains("service")) return Bad(w + "." + k, "goes with service");
    }
    WeightedCluster wc;
    if (t.contains("weight")) {
      auto v = Uint(t["weight"], w + ".weight", 1'000'000);
      if (!v) return std::unexpected(v.error());
      wc.weight = static_cast<uint32_t>(*v);
    }
    if (t.contains("service") == t.contains("upstreams"))
      return Bad(w, "needs one of service, upstreams");
    if (t.contains("service")) {
      auto s = String(t["service"], w + ".service");
      if (!s) return std::unexpected(s.error());
      if (s->empty() || s->find('/') != std::string::npos)
        return Bad(w + ".service", "must be a non-empty name without '/'");
      std::string ns = "default";
      if (t.contains("namespace")) {
        auto n = String(t["namespace"], w + ".namespace");
        if (!n) return std::unexpected(n.error());
        if (n->empty() || n->find('/') != std::string::npos)
          return Bad(w + ".namespace", "must be a non-empty name without '/'");
        ns = *n;
      }
      std::vector<std::string> tags;
      uint32_t port = 0;
      if ((t.contains("tags") || t.contains("port")) && !registry_selectors_) {
        return Bad(w,
                   "tags and port select registry instances: they work in routes stored "
                   "with berth route apply, not in a gateway configuration file");
      }
      if (t.contains("tags")) {
        if (!t["tags"].is_array() || t["tags"].empty())
          return Bad(w + ".tags", "must be a non-empty list of tags (\"deploy=<hash>\")");
        for (const auto& tag : t["tags"]) {
          auto v = String(tag, w + ".tags");
          if (!v) return std::unexpected(v.error());
          if (v->empty() || v->find_first_of(",[]") != std::string::npos)
            return Bad(w + ".tags", fmt::format("\"{}\" is not a tag (non-empty, no ',', '[' "
                                                "or ']')",
                                                *v));
          tags.push_back(*v);
        }
        std::sort(tags.begin(), tags.end());
        tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
      }
      if (t.contains("port")) {
        auto v = Uint(t["port"], w + ".port", 65535);
        if (!v) return std::unexpected(v.error());
        if (*v == 0) return Bad(w + ".port", "must be in [1, 65535]");
        port = static_cast<uint32_t>(*v);
      }
      wc.cluster = ServiceClusterName(ns, *s, tags, port);
      if (!clusters_.count(wc.cluster)) {  // a registry service: endpoints from the registry
        auto c = std::make_shared<Cluster>();
        c->name = wc.cluster;
        c->service_namespace = ns;
        c->service_name = *s;
        c->service_tags = std::move(tags);
        c->service_port = port;
        clusters_[wc.cluster] = c;
      }
    } else {
      if (!t["upstreams"].is_array() || t["upstreams"].empty())
        return Bad(w + ".upstreams", "must be a non-empty list");
      auto c = std::make_shared<Cluster>(inline_settings);
      c->name = fmt::format("{}#{}", r->name, ti);
      size_t ei = 0;
      for (const auto& e : t["upstreams"]) {
        auto ep = ParseEndpoint(e, fmt::format("{}.upstreams[{}]", w, ei++));
        if (!ep) return std::unexpected(ep.error());
        c->endpoints.push_back(*ep);
      }
      wc.cluster = c->name;
      clusters_[c->name] = c;
    }
    r->total_weight += wc.weight;
    r->targets.push_back(wc);
    ++ti;
  }
  if (r->total_weight == 0) return Bad(where + ".targets", "weights add up to 0");

  if (j.contains("hash_on")) {
    const Json& h = j["hash_on"];
    const std::string w = where + ".hash_on";
    if (auto f = Fields(h, {"header", "cookie", "client_ip"}, w); !f)
      return std::unexpected(f.error());
    if (h.size() != 1) return Bad(w, "needs exactly one of header, cookie, client_ip");
    if (h.contains("header")) {
      auto s = String(h["header"], w + ".header");
      if (!s) return std::unexpected(s.error());
      r->hash = HashPolicy{HashPolicy::Kind::kHeader, *s};
    } else if (h.contains("cookie")) {
      auto s = String(h["cookie"], w + ".cookie");
      if (!s) return std::unexpected(s.error());
      r->hash = HashPolicy{HashPolicy::Kind::kCookie, *s};
    } else {
      if (!h["client_ip"].is_boolean() || !h["client_ip"].get<bool>())
        return Bad(w + ".client_ip", "must be true");
      r->hash = HashPolicy{HashPolicy::Kind::kClientIp, ""};
    }
  }
  if (j.contains("retry")) {
    const Json& rt = j["retry"];
    const std::string w = where + ".retry";
    if (auto f = Fields(rt, {"attempts", "on", "budget_percent", "min_retry_concurrency"}, w); !f) {
      return std::unexpected(f.error());
    }
    if (rt.contains("attempts")) {
      auto v = Uint(rt["attempts"], w + ".attempts", 10);
      if (!v) return std::unexpected(v.error());
      r->retry.attempts = static_cast<uint32_t>(*v);
    }
    if (rt.contains("on")) {
      if (!rt["on"].is_array()) return Bad(w + ".on", "must be a list");
      r->retry.on_connect_failure = false;
      for (const auto& x : rt["on"]) {
        if (x.is_string() && x.get<std::string>() == "connect_failure") {
          r->retry.on_connect_failure = true;
        } else if (x.is_number_integer() && x.get<int>() >= 500 && x.get<int>() <= 599) {
          r->retry.on_statuses.push_back(x.get<int>());
        } else if (auto code = x.is_string() ? GrpcStatusFromName(x.get<std::string>())
                                             : std::nullopt;
                   code && *code != kGrpcOk) {
          r->retry.on_grpc_statuses.push_back(*code);
        } else {
          return Bad(w + ".on",
                     "entries are connect_failure, a 5xx status or a gRPC status name "
                     "(unavailable, resource_exhausted, ...)");
        }
      }
    }
    if (rt.contains("budget_percent")) {
      auto v = Percent(rt["budget_percent"], w + ".budget_percent");
      if (!v) return std::unexpected(v.error());
      r->retry.budget_percent = *v;
    }
    if (rt.contains("min_retry_concurrency")) {
      auto v = Uint(rt["min_retry_concurrency"], w + ".min_retry_concurrency", 100'000);
      if (!v) return std::unexpected(v.error());
      r->retry.min_retry_concurrency = static_cast<uint32_t>(*v);
    }
  }
  if (j.contains("timeouts")) {
    const Json& t = j["timeouts"];
    const std::string w = where + ".timeouts";
    if (auto f = Fields(t, {"request_ms", "idle_ms"}, w); !f) return std::unexpected(f.error());
    if (t.contains("request_ms")) {
      auto v = Uint(t["request_ms"], w + ".request_ms", 86'400'000);
      if (!v) return std::unexpected(v.error());
      r->timeouts.request = std::chrono::milliseconds(*v);
    }
    if (t.contains("idle_ms")) {
      auto v = Uint(t["idle_ms"], w + ".idle_ms", 86'400'000);
      if (!v) return std::unexpected(v.error());
      r->timeouts.idle = std::chrono::milliseconds(*v);
    }
  }
  if (j.contains("filters")) {
    if (!j["filters"].is_array()) return Bad(where + ".filters", "must be a list");
    size_t fi = 0;
    for (const auto& f : j["filters"]) {
      const std::string w = fmt::format("{}.filters[{}]", where, fi++);
      if (!f.is_object() || f.size() != 1)
        return Bad(w, "must be a mapping with one key: the filter's kind");
      auto it = f.begin();
      auto factory = filters::CreateFilterFactory(it.key(), it.value(), base_dir_, r->name);
      if (!factory) return Bad(w + "." + it.key(), factory.error().message);
      r->filters.push_back(std::move(*factory));
    }
  }
  return std::shared_ptr<const Route>(std::move(r));
}

Result<std::shared_ptr<Cluster>> Parser::ParseService(const Json& j, const std::string& name,
                                                      bool allow_endpoints) {
  const std::string where = fmt::format("service \"{}\"", name);
  if (auto f = Fields(j,
                      {"endpoints", "lb", "outlier", "panic_threshold", "circuit_breakers",
                       "connect_timeout_ms", "max_idle_connections", "upstream_protocol",
                       "upstream_tls"},
                      where);
      !f) {
    return std::unexpected(f.error());
  }
  auto c = std::make_shared<Cluster>();
  // "users" (default namespace) or "shop/users".
  const auto slash = name.find('/');
  c->service_namespace = slash == std::string::npos ? "default" : name.substr(0, slash);
  c->service_name = slash == std::string::npos ? name : name.substr(slash + 1);
  if (name.empty() || c->service_namespace.empty() || c->service_name.empty() ||
      c->service_name.find('/') != std::string::npos) {
    return Bad(where, "a service is named \"service\" or \"namespace/service\"");
  }
  c->name = ServiceClusterName(c->service_namespace, c->service_name);
  if (j.contains("endpoints")) {
    if (!allow_endpoints)
      return Bad(where + ".endpoints",
                 "endpoints of a stored service come from the registry (use upstreams: in a "
                 "route for fixed addresses)");
    const Json& eps = j["endpoints"];
    if (!eps.is_array()) return Bad(where + ".endpoints", "must be a list");
    size_t i = 0;
    for (const auto& e : eps) {
      auto ep = ParseEndpoint(e, fmt::format("{}.endpoints[{}]", where, i++));
      if (!ep) return std::unexpected(ep.error());
      c->endpoints.push_back(*ep);
    }
  }
  if (auto r = ParseClusterSettings(j, where, c.get(), true); !r) return std::unexpected(r.error());
  return c;
}

Result<RouteEntry> Parser::ParseOneRoute(const Json& j) {
  if (!j.is_object()) return Bad("route", "must be a mapping");
  if (!j.contains("name")) return Bad("route", "missing name");
  auto route = ParseRoute(j, 0);
  if (!route) return std::unexpected(route.error());
  RouteEntry out;
  out.route = std::move(*route);
  for (auto& [name, c] : clusters_) out.clusters.push_back(c);
  if (j.contains("owner")) out.owner = j["owner"].get<std::string>();
  return out;
}

Result<SnapshotPtr> Parser::Parse(const Json& root) {
  if (root.is_null()) return Bad("top level", "empty configuration");
  if (auto f = Fields(root, {"routes", "services", "tls", "access_log"}, "top level"); !f) {
    return std::unexpected(f.error());
  }
  auto snap = std::make_shared<Snapshot>();
  if (root.contains("services")) {
    const Json& s = root["services"];
    if (!s.is_object()) return Bad("services", "must be a mapping of name to service");
    for (auto it = s.begin(); it != s.end(); ++it) {
      auto c = ParseService(it.value(), it.key(), true);
      if (!c) return std::unexpected(c.error());
      clusters_[(*c)->name] = *c;
    }
  }
  if (root.contains("routes")) {
    const Json& routes = root["routes"];
    if (!routes.is_array()) return Bad("routes", "must be a list");
    size_t i = 0;
    for (const auto& r : routes) {
      auto route = ParseRoute(r, i++);
      if (!route) return std::unexpected(route.error());
      snap->routes.push_back(std::move(*route));
    }
  }
  if (root.contains("tls")) {
    const Json& t = root["tls"];
    if (auto f = Fields(t, {"cert", "key", "sni"}, "tls"); !f) return std::unexpected(f.error());
    ListenerTls tls;
    if (!t.contains("cert") || !t.contains("key")) return Bad("tls", "needs cert and key");
    auto cert = String(t["cert"], "tls.cert");
    auto key = String(t["key"], "tls.key");
    if (!cert) return std::unexpected(cert.error());
    if (!key) return std::unexpected(key.error());
    tls.cert_file = Path(*cert);
    tls.key_file = Path(*key);
    if (t.contains("sni")) {
      if (!t["sni"].is_array()) return Bad("tls.sni", "must be a list");
      size_t i = 0;
      for (const auto& s : t["sni"]) {
        const std::string w = fmt::format("tls.sni[{}]", i++);
        if (auto f = Fields(s, {"names", "cert", "key"}, w); !f) return std::unexpected(f.error());
        if (!s.contains("names") || !s["names"].is_array() || !s.contains("cert") ||
            !s.contains("key")) {
          return Bad(w, "needs names (a list), cert and key");
        }
        ListenerTls::Sni sni;
        for (const auto& n : s["names"]) {
          auto v = String(n, w + ".names");
          if (!v) return std::unexpected(v.error());
          sni.names.push_back(*v);
        }
        auto c = String(s["cert"], w + ".cert");
        auto k = String(s["key"], w + ".key");
        if (!c) return std::unexpected(c.error());
        if (!k) return std::unexpected(k.error());
        sni.cert_file = Path(*c);
        sni.key_file = Path(*k);
        tls.sni.push_back(std::move(sni));
      }
    }
    snap->tls = std::move(tls);
  }
  if (root.contains("access_log")) {
    auto s = String(root["access_log"], "access_log");
    if (!s) return std::unexpected(s.error());
    snap->access_log_path = Path(*s);
  }
  for (auto& [name, c] : clusters_) snap->clusters[name] = c;
  return SnapshotPtr(std::move(snap));
}

Result<Json> TextToJson(std::string_view text, std::string_view origin) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    auto j = ParseJson(text);
    if (!j)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", origin, j.error().message));
    return std::move(*j);
  }
  try {
    YAML::Node node = YAML::Load(std::string(text));
    auto j = YamlToJson(node);
    if (!j)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", origin, j.error().message));
    return std::move(*j);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: line {}, column {}: {}", origin, e.mark.line + 1,
                            e.mark.column + 1, e.msg));
  }
}

}  // namespace

std::optional<UpstreamProtocol> ParseUpstreamProtocol(std::string_view name) {
  if (name == "http1") return UpstreamProtocol::kHttp1;
  if (name == "h2") return UpstreamProtocol::kH2;
  if (name == "h2c") return UpstreamProtocol::kH2c;
  return std::nullopt;
}

std::string_view UpstreamProtocolName(UpstreamProtocol protocol) {
  switch (protocol) {
    case UpstreamProtocol::kH2:
      return "h2";
    case UpstreamProtocol::kH2c:
      return "h2c";
    case UpstreamProtocol::kHttp1:
      break;
  }
  return "http1";
}

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
  auto root = TextToJson(text, origin);
  if (!root) return std::unexpected(root.error());
  Parser parser(origin, base_dir);
  parser.set_registry_selectors(false);
  return parser.Parse(*root);
}

Result<RouteEntry> ParseRouteEntry(std::string_view text, std::string_view origin,
                                   std::string_view base_dir) {
  auto root = TextToJson(text, origin);
  if (!root) return std::unexpected(root.error());
  Parser parser(origin, base_dir);
  return parser.ParseOneRoute(*root);
}

Result<std::shared_ptr<const Cluster>> ParseServiceSettings(std::string_view text,
                                                            std::string_view cluster_name,
                                                            std::string_view origin,
                                                            bool allow_endpoints) {
  auto root = TextToJson(text, origin);
  if (!root) return std::unexpected(root.error());
  if (root->is_null()) *root = Json::object();
  Parser parser(origin, ".");
  auto c = parser.ParseService(*root, std::string(cluster_name), allow_endpoints);
  if (!c) return std::unexpected(c.error());
  return std::shared_ptr<const Cluster>(std::move(*c));
}

Result<ConfigEntries> SplitConfig(std::string_view text, std::string_view origin,
                                  std::string_view base_dir) {
  auto root = TextToJson(text, origin);
  if (!root) return std::unexpected(root.error());
  Parser parser(origin, base_dir);
  auto snap = parser.Parse(*root);
  if (!snap) return std::unexpected(snap.error());
  ConfigEntries out;
  out.has_tls = root->contains("tls");
  out.has_access_log = root->contains("access_log");
  if (root->contains("routes")) {
    size_t i = 0;
    for (const auto& r : (*root)["routes"]) {
      ConfigEntries::Entry e;
      e.named = r.contains("name");
      e.name = e.named ? r["name"].get<std::string>() : fmt::format("route{}", i);
      e.json = r.dump();
      out.routes.push_back(std::move(e));
      ++i;
    }
  }
  if (root->contains("services")) {
    for (const auto& [name, settings] : (*root)["services"].items()) {
      out.services.push_back({name, settings.dump(), true});
    }
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
