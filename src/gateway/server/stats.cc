#include "gateway/server/stats.h"

#include <fmt/core.h>

#include "gateway/grpc_status.h"

namespace berth::gateway::server {

void Histogram::Observe(double ms) {
  size_t i = 0;
  while (i < kBounds.size() && ms > kBounds[i]) ++i;
  buckets[i].Inc();
  count.Inc();
  sum_us.Inc(static_cast<uint64_t>(ms * 1000));
}

RouteStats* WorkerStats::Route(const std::string& name) {
  std::lock_guard lock(mu);
  auto& p = routes[name];
  if (!p) p = std::make_unique<RouteStats>();
  return p.get();
}

ClusterStats* WorkerStats::Cluster(const std::string& name) {
  std::lock_guard lock(mu);
  auto& p = clusters[name];
  if (!p) p = std::make_unique<ClusterStats>();
  return p.get();
}

GrpcMethodStats* WorkerStats::Grpc(const std::string& route, std::string_view method, bool* other) {
  std::lock_guard lock(mu);
  auto& methods = grpc[route];
  auto it = methods.find(std::string(method));
  *other = false;
  if (it == methods.end()) {
    if (methods.size() >= kMaxGrpcMethodsPerRoute) {
      method = "other";
      *other = true;
    }
    it = methods.try_emplace(std::string(method)).first;
    if (!it->second) it->second = std::make_unique<GrpcMethodStats>();
  }
  return it->second.get();
}

namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

namespace {

// A histogram's lines for one label set (`labels` like `route="a"`), summing `parts`.
template <typename T, typename Get>
void AppendHistogram(std::string& out, std::string_view name, const std::string& labels,
                     const std::vector<T*>& parts, Get histogram) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
    for (auto* p : parts) cumulative += histogram(*p).buckets[i].value();
    std::string le =
        i < Histogram::kBounds.size() ? fmt::format("{}", Histogram::kBounds[i]) : "+Inf";
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le, cumulative);
  }
  uint64_t sum_us = 0, count = 0;
  for (auto* p : parts) {
    sum_us += histogram(*p).sum_us.value();
    count += histogram(*p).count.value();
  }
  out += fmt::format("{}_sum{{{}}} {:.3f}\n", name, labels, sum_us / 1000.0);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, count);
}

void RenderDownstream(std::string& out, const std::vector<WorkerStats*>& workers) {
  auto sum = [&](auto getter) {
    uint64_t v = 0;
    for (auto* w : workers) v += getter(*w);
    return v;
  };
  auto simple = [&](const char* name, const char* help, const char* type, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  simple("berth_gateway_downstream_connections_total", "Accepted client connections.", "counter",
         sum([](WorkerStats& w) { return w.downstream_connections.value(); }));
  simple("berth_gateway_downstream_connections_active", "Open client connections.", "gauge",
         sum([](WorkerStats& w) { return static_cast<uint64_t>(w.downstream_active.value()); }));
  simple("berth_gateway_downstream_requests_total", "Requests received.", "counter",
         sum([](WorkerStats& w) { return w.downstream_requests.value(); }));
  simple("berth_gateway_bad_requests_total", "Requests refused by the HTTP parser.", "counter",
         sum([](WorkerStats& w) { return w.bad_requests.value(); }));
  simple("berth_gateway_no_route_total", "Requests that matched no route.", "counter",
         sum([](WorkerStats& w) { return w.no_route.value(); }));
  simple("berth_gateway_downstream_http2_connections_total",
         "Client connections that spoke HTTP/2.", "counter",
         sum([](WorkerStats& w) { return w.downstream_http2.value(); }));
}

void RenderRoutes(std::string& out, const std::map<std::string, std::vector<RouteStats*>>& routes) {
  auto rsum = [](const std::vector<RouteStats*>& v, auto f) {
    uint64_t t = 0;
    for (auto* s : v) t += f(*s);
    return t;
  };
  out +=
      "# HELP berth_gateway_route_requests_total Requests per route and status class.\n"
      "# TYPE berth_gateway_route_requests_total counter\n";
  for (auto& [n, v] : routes) {
    for (int c = 1; c <= 5; ++c) {
      out += fmt::format("berth_gateway_route_requests_total{{route=\"{}\",class=\"{}xx\"}} {}\n",
                         Escape(n), c,
                         rsum(v, [c](RouteStats& s) { return s.status_class[c].value(); }));
    }
  }
  out +=
      "# HELP berth_gateway_route_rate_limited_total Requests refused by rate limiting.\n"
      "# TYPE berth_gateway_route_rate_limited_total counter\n";
  for (auto& [n, v] : routes) {
    out += fmt::format("berth_gateway_route_rate_limited_total{{route=\"{}\"}} {}\n", Escape(n),
                       rsum(v, [](RouteStats& s) { return s.rate_limited.value(); }));
  }
  out +=
      "# HELP berth_gateway_route_auth_denied_total Requests refused by jwt/api_key.\n"
      "# TYPE berth_gateway_route_auth_denied_total counter\n";
  for (auto& [n, v] : routes) {
    out += fmt::format("berth_gateway_route_auth_denied_total{{route=\"{}\"}} {}\n", Escape(n),
                       rsum(v, [](RouteStats& s) { return s.auth_denied.value(); }));
  }
  out +=
      "# HELP berth_gateway_route_latency_ms Request duration in milliseconds.\n"
      "# TYPE berth_gateway_route_latency_ms histogram\n";
  for (auto& [n, v] : routes) {
    AppendHistogram(out, "berth_gateway_route_latency_ms", fmt::format("route=\"{}\"", Escape(n)),
                    v, [](RouteStats& s) -> Histogram& { return s.latency; });
  }
}

void RenderClusters(std::string& out,
                    const std::map<std::string, std::vector<ClusterStats*>>& clusters) {
  auto csum = [](const std::vector<ClusterStats*>& v, auto f) {
    uint64_t t = 0;
    for (auto* s : v) t += f(*s);
    return t;
  };
  out +=
      "# HELP berth_gateway_upstream_requests_total Upstream responses per status class.\n"
      "# TYPE berth_gateway_upstream_requests_total counter\n";
  for (auto& [n, v] : clusters) {
    for (int c = 1; c <= 5; ++c) {
      out += fmt::format(
          "berth_gateway_upstream_requests_total{{upstream=\"{}\",class=\"{}xx\"}} {}\n", Escape(n),
          c, csum(v, [c](ClusterStats& s) { return s.status_class[c].value(); }));
    }
  }
  out +=
      "# HELP berth_gateway_upstream_latency_ms Duration of requests sent to an upstream cluster, "
      "in milliseconds.\n"
      "# TYPE berth_gateway_upstream_latency_ms histogram\n";
  for (auto& [n, v] : clusters) {
    AppendHistogram(out, "berth_gateway_upstream_latency_ms",
                    fmt::format("upstream=\"{}\"", Escape(n)), v,
                    [](ClusterStats& s) -> Histogram& { return s.latency; });
  }
  struct Named {
    const char* name;
    const char* help;
    Counter ClusterStats::*field;
  };
  for (const Named& m :
       {Named{"connect_failures", "Failed upstream connects.", &ClusterStats::connect_failures},
        Named{"timeouts", "Upstream request timeouts.", &ClusterStats::timeouts},
        Named{"retries", "Retried upstream attempts.", &ClusterStats::retries},
        Named{"ejections", "Outlier ejections.", &ClusterStats::ejections},
        Named{"circuit_open", "Requests refused by circuit breakers.", &ClusterStats::circuit_open},
        Named{"connections_opened", "Upstream connections opened.",
              &ClusterStats::connections_opened}}) {
    out += fmt::format(
        "# HELP berth_gateway_upstream_{}_total {}\n# TYPE berth_gateway_upstream_{}_total "
        "counter\n",
        m.name, m.help, m.name);
    for (auto& [n, v] : clusters) {
      out += fmt::format("berth_gateway_upstream_{}_total{{upstream=\"{}\"}} {}\n", m.name,
                         Escape(n), csum(v, [&](ClusterStats& s) { return (s.*m.field).value(); }));
    }
  }
}

// gRPC calls per route, method and status code; their duration per route and method.
void RenderGrpc(std::string& out, const std::vector<WorkerStats*>& workers) {
  std::map<std::pair<std::string, std::string>, std::vector<GrpcMethodStats*>> methods;
  for (auto* w : workers) {
    std::lock_guard lock(w->mu);
    for (auto& [route, m] : w->grpc) {
      for (auto& [method, s] : m) methods[{route, method}].push_back(s.get());
    }
  }
  out +=
      "# HELP berth_gateway_grpc_requests_total gRPC calls per route, method and grpc-status.\n"
      "# TYPE berth_gateway_grpc_requests_total counter\n";
  for (auto& [key, v] : methods) {
    for (size_t code = 0; code < v.front()->status.size(); ++code) {
      uint64_t n = 0;
      for (auto* s : v) n += s->status[code].value();
      if (n == 0) continue;
      out += fmt::format(
          "berth_gateway_grpc_requests_total{{route=\"{}\",method=\"{}\",code=\"{}\"}} {}\n",
          Escape(key.first), Escape(key.second),
          code == GrpcMethodStats::kNoStatus ? std::string("none")
                                             : std::string(GrpcStatusName(static_cast<int>(code))),
          n);
    }
  }
  out +=
      "# HELP berth_gateway_grpc_latency_ms gRPC call duration in milliseconds.\n"
      "# TYPE berth_gateway_grpc_latency_ms histogram\n";
  for (auto& [key, v] : methods) {
    AppendHistogram(
        out, "berth_gateway_grpc_latency_ms",
        fmt::format("route=\"{}\",method=\"{}\"", Escape(key.first), Escape(key.second)), v,
        [](GrpcMethodStats& s) -> Histogram& { return s.latency; });
  }
}

}  // namespace

std::string RenderPrometheus(const std::vector<WorkerStats*>& workers) {
  std::string out;
  RenderDownstream(out, workers);
  // Per route and per cluster: merge the workers' maps by name.
  std::map<std::string, std::vector<RouteStats*>> routes;
  std::map<std::string, std::vector<ClusterStats*>> clusters;
  for (auto* w : workers) {
    std::lock_guard lock(w->mu);
    for (auto& [n, s] : w->routes) routes[n].push_back(s.get());
    for (auto& [n, s] : w->clusters) clusters[n].push_back(s.get());
  }
  RenderRoutes(out, routes);
  RenderClusters(out, clusters);
  RenderGrpc(out, workers);
  return out;
}

}  // namespace berth::gateway::server
