// One worker's view of the upstream clusters (Envoy's ThreadLocalClusterManager): for each
// cluster of the current Snapshot, its HostSet, load balancer, outlier detector, circuit
// breaker counters and one connection pool per host. Updated on the worker thread when a new
// Snapshot arrives; hosts with the same address survive the update with their pools,
// outlier state and in-flight counts, so a route change does not drop connections.
// Thread-safety: none; everything here belongs to one worker thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "gateway/lb/load_balancer.h"
#include "gateway/lb/outlier_detector.h"
#include "gateway/router/route.h"
#include "gateway/server/stats.h"

namespace berth::gateway::server {

class ClusterManager;
class Http2Upstream;

// An upstream host with its pool of idle keep-alive connections.
class PooledHost : public lb::Host {
 public:
  PooledHost(std::string address, uint32_t weight, asio::ip::tcp::endpoint endpoint)
      : lb::Host(std::move(address), weight), endpoint_(endpoint) {}
  const asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  // Moves the most recently used idle connection into `into`; false when there is none.
  bool TakeIdle(std::optional<asio::ip::tcp::socket>& into) {
    if (idle.empty()) return false;
    into.emplace(std::move(idle.back()));
    idle.pop_back();
    return true;
  }
  std::vector<asio::ip::tcp::socket> idle;  // most recently used last
  // HTTP/2 connections to this host (each carries many requests at once).
  std::vector<std::shared_ptr<Http2Upstream>> h2;

 private:
  asio::ip::tcp::endpoint endpoint_;
};

// Circuit-breaker accounting of one cluster on one worker. Kept by name across snapshot
// updates (in-flight requests of the old cluster object release into the same counters).
struct ClusterLoad {
  uint32_t active_requests = 0;
  uint32_t open_connections = 0;
  uint32_t pending_requests = 0;
  uint32_t active_retries = 0;
  // Requests waiting for a connection slot; woken (timer cancelled) on release.
  std::deque<asio::steady_timer*> waiters;
};

// Live state of one cluster on one worker. Held by shared_ptr by in-flight requests so a
// snapshot update never pulls it from under them.
class WorkerCluster {
 public:
  WorkerCluster(std::shared_ptr<const router::Cluster> config,
                std::vector<std::shared_ptr<PooledHost>> hosts, lb::Random& random,
                const Clock& clock, ClusterStats* stats, std::shared_ptr<ClusterLoad> load);

  const router::Cluster& config() const { return *config_; }
  ClusterStats& stats() { return *stats_; }
  lb::HostSet& host_set() { return host_set_; }
  lb::OutlierDetector& outlier() { return outlier_; }
  const std::vector<std::shared_ptr<PooledHost>>& hosts() const { return hosts_; }

  // Picks a host (after lifting due ejections); nullptr when there are none.
  PooledHost* Choose(const lb::LbContext& context);

  ClusterLoad& load() { return *load_; }

  // Returns a connection to its host's idle pool (or closes it when the pool is full).
  void Release(PooledHost& host, asio::ip::tcp::socket socket, bool reusable);
  // Accounts a connection that was closed.
  void ConnectionClosed();
  void WakeOneWaiter();
  // The client TLS context for an `h2` cluster (made on first use; nullptr when its CA file
  // cannot be read: tls_error() says why).
  asio::ssl::context* UpstreamTlsContext();
  const std::string& tls_error() const { return tls_error_; }

 private:
  std::shared_ptr<const router::Cluster> config_;
  std::vector<std::shared_ptr<PooledHost>> hosts_;
  lb::HostSet host_set_;
  lb::OutlierDetector outlier_;
  std::unique_ptr<lb::LoadBalancer> lb_;
  ClusterStats* stats_;
  std::shared_ptr<ClusterLoad> load_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::string tls_error_;
};

class ClusterManager {
 public:
  ClusterManager(lb::Random& random, const Clock& clock, WorkerStats& stats)
      : random_(random), clock_(clock), stats_(stats) {}

  // Rebuilds the clusters for `snapshot`, keeping hosts (and their pools) by address.
  void Update(const router::Snapshot& snapshot);
  // The live cluster, or nullptr when the snapshot has none by that name.
  std::shared_ptr<WorkerCluster> Get(const std::string& name) const;
  // Closes every idle pooled connection (drain, stop), and the HTTP/2 connections of hosts
  // that left every cluster.
  void CloseIdle();

 private:
  // Hosts of the current clusters that none of `next` keeps: their pools are retired.
  void RetireDroppedHosts(
      const std::unordered_map<std::string, std::shared_ptr<WorkerCluster>>& next);

  lb::Random& random_;
  const Clock& clock_;
  WorkerStats& stats_;
  std::unordered_map<std::string, std::shared_ptr<WorkerCluster>> clusters_;
  std::unordered_map<std::string, std::shared_ptr<ClusterLoad>> loads_;  // never shrinks
  // Dropped hosts whose HTTP/2 connections still finish streams (kept alive by them).
  std::vector<std::weak_ptr<PooledHost>> retired_;
};

// A connection to `host` of `cluster` for one request: an idle pooled one if the host has one
// (`reused`), else a new one within the cluster's max_connections, waiting up to its connect
// timeout for a slot (kOverflow when none frees, or when max_pending_requests wait already).
// `watch` is told the socket while it connects (so a request timeout can close it) and
// nullptr after; `cancelled` says the request was abandoned meanwhile (kCancelled).
enum class ConnectResult { kOk, kOverflow, kFailed, kCancelled };
asio::awaitable<ConnectResult> OpenConnection(
    asio::io_context& io, WorkerCluster& cluster, PooledHost& host,
    std::optional<asio::ip::tcp::socket>& conn, bool& reused,
    const std::function<void(asio::ip::tcp::socket*)>& watch,
    const std::function<bool()>& cancelled);

// Parses "1.2.3.4:80" / "[::1]:80" into an endpoint (port 0 only for listeners).
std::optional<asio::ip::tcp::endpoint> ParseEndpoint(const std::string& address,
                                                     bool allow_port_zero = false);

}  // namespace berth::gateway::server
