// Gateway metrics, Envoy-style: declared once here, counted by each worker in its own
// objects (single writer: a relaxed load+store, no locked instruction), summed across
// workers and rendered as Prometheus text by Gateway::RenderMetrics().
// Thread-safety: Counter/Histogram are written by their owning worker and read by any thread;
// the maps in WorkerStats change only under `mu` (new route/cluster names are rare).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace berth::gateway::server {

class Counter {
 public:
  void Inc(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Add(int64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Latency in milliseconds, Prometheus buckets.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.5, 1,   2.5, 5,    10,   25,   50,
                                                     100, 250, 500, 1000, 2500, 5000, 10000};
  void Observe(double ms);
  // Per bucket (non-cumulative) counts; the last is +Inf.
  std::array<Counter, kBounds.size() + 1> buckets;
  Counter count;
  Counter sum_us;
};

struct RouteStats {
  Counter requests;
  std::array<Counter, 6> status_class;  // index 1..5: 1xx..5xx
  Histogram latency;
  Counter rate_limited;
  Counter auth_denied;
};

struct ClusterStats {
  Counter requests;
  std::array<Counter, 6> status_class;
  Histogram latency;  // whole request (retries included), for requests sent to this cluster
  Counter connect_failures;
  Counter timeouts;
  Counter retries;
  Counter ejections;
  Counter circuit_open;
  Counter connections_opened;
};

// One gRPC method on one route: calls by grpc-status, and their duration.
struct GrpcMethodStats {
  static constexpr size_t kNoStatus = 17;  // the call ended without a grpc-status
  std::array<Counter, 18> status;          // 0-16 by code, then kNoStatus
  Histogram latency;
};

struct WorkerStats {
  // Distinct gRPC methods counted per route; calls to further ones count as method "other"
  // (the path is the client's to choose: the series stay bounded).
  static constexpr size_t kMaxGrpcMethodsPerRoute = 64;

  Counter downstream_connections;
  Gauge downstream_active;
  Counter downstream_requests;
  Counter downstream_http2;  // connections that switched to HTTP/2
  Counter bad_requests;  // refused by the parser (4xx/5xx before routing)
  Counter no_route;

  std::mutex mu;
  std::map<std::string, std::unique_ptr<RouteStats>> routes;      // guarded by mu
  std::map<std::string, std::unique_ptr<ClusterStats>> clusters;  // guarded by mu
  // By route, then method.
  std::map<std::string, std::map<std::string, std::unique_ptr<GrpcMethodStats>>> grpc;  // mu

  // Returned pointers stay valid for the worker's life.
  RouteStats* Route(const std::string& name);
  ClusterStats* Cluster(const std::string& name);
  // `*other`: the method was counted as "other" (the route has its cap of methods).
  GrpcMethodStats* Grpc(const std::string& route, std::string_view method, bool* other);
};

// Prometheus text for the sum over `workers`.
std::string RenderPrometheus(const std::vector<WorkerStats*>& workers);

}  // namespace berth::gateway::server
