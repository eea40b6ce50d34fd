#include "gateway/server/cluster_manager.h"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <charconv>
#include <unordered_set>

#include "gateway/server/http2_upstream.h"

namespace berth::gateway::server {

std::optional<asio::ip::tcp::endpoint> ParseEndpoint(const std::string& address,
                                                     bool allow_port_zero) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = 0;
  auto [p, ec] = std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
  if (ec != std::errc() || port < (allow_port_zero ? 0 : 1) || port > 65535) return std::nullopt;
  asio::error_code err;
  auto ip = asio::ip::make_address(host, err);
  if (err) return std::nullopt;
  return asio::ip::tcp::endpoint(ip, static_cast<uint16_t>(port));
}

WorkerCluster::WorkerCluster(std::shared_ptr<const router::Cluster> config,
                             std::vector<std::shared_ptr<PooledHost>> hosts, lb::Random& random,
                             const Clock& clock, ClusterStats* stats,
                             std::shared_ptr<ClusterLoad> load)
    : config_(std::move(config)),
      hosts_(std::move(hosts)),
      host_set_(std::vector<lb::HostPtr>(hosts_.begin(), hosts_.end()),
                config_->panic_threshold_percent),
      outlier_(host_set_, config_->outlier, clock),
      lb_(lb::CreateLoadBalancer(config_->policy, host_set_, random)),
      stats_(stats),
      load_(std::move(load)) {
  outlier_.set_on_eject([this](const lb::Host&) { stats_->ejections.Inc(); });
}

PooledHost* WorkerCluster::Choose(const lb::LbContext& context) {
  outlier_.Refresh();
  return static_cast<PooledHost*>(lb_->ChooseHost(context));
}

void WorkerCluster::Release(PooledHost& host, asio::ip::tcp::socket socket, bool reusable) {
  if (reusable && socket.is_open() && host.idle.size() < config_->max_idle_connections) {
    host.idle.push_back(std::move(socket));
  } else {
    asio::error_code ec;
    socket.close(ec);
    ConnectionClosed();
  }
  WakeOneWaiter();
}

void WorkerCluster::ConnectionClosed() {
  if (load_->open_connections > 0) --load_->open_connections;
  WakeOneWaiter();
}

asio::ssl::context* WorkerCluster::UpstreamTlsContext() {
  if (tls_) return tls_.get();
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  asio::error_code ec;
  if (config_->tls.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(config_->tls.ca_file, ec);
  }
  if (ec) {
    tls_error_ = "CA file \"" + config_->tls.ca_file + "\": " + ec.message();
    return nullptr;
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  static constexpr unsigned char kH2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx->native_handle(), kH2, sizeof(kH2));
  tls_ = std::move(ctx);
  return tls_.get();
}

void WorkerCluster::WakeOneWaiter() {
  if (!load_->waiters.empty()) {
    load_->waiters.front()->cancel();
    load_->waiters.pop_front();
  }
}

void ClusterManager::Update(const router::Snapshot& snapshot) {
  std::unordered_map<std::string, std::shared_ptr<WorkerCluster>> next;
  for (const auto& [name, config] : snapshot.clusters) {
    // Reuse hosts by address from the cluster of the same name.
    std::unordered_map<std::string, std::shared_ptr<PooledHost>> old;
    if (auto it = clusters_.find(name); it != clusters_.end()) {
      for (const auto& h : it->second->hosts()) old[h->address()] = h;
    }
    std::vector<std::shared_ptr<PooledHost>> hosts;
    for (const auto& e : config->endpoints) {
      std::shared_ptr<PooledHost> h;
      if (auto it = old.find(e.address); it != old.end()) {
        h = it->second;
        h->set_weight(e.weight);
      } else {
        auto ep = ParseEndpoint(e.address);
        if (!ep) continue;  // validated by the config parser; a registry may send junk
        h = std::make_shared<PooledHost>(e.address, e.weight, *ep);
      }
      h->set_health_failed(!e.healthy);
      hosts.push_back(std::move(h));
    }
    auto& load = loads_[name];
    if (!load) load = std::make_shared<ClusterLoad>();
    next[name] = std::make_shared<WorkerCluster>(config, std::move(hosts), random_, clock_,
                                                 stats_.Cluster(name), load);
  }
  RetireDroppedHosts(next);
  clusters_ = std::move(next);
}

void ClusterManager::RetireDroppedHosts(
    const std::unordered_map<std::string, std::shared_ptr<WorkerCluster>>& next) {
  std::unordered_set<const PooledHost*> kept;
  for (const auto& [name, c] : next) {
    for (const auto& h : c->hosts()) kept.insert(h.get());
  }
  std::erase_if(retired_, [](const std::weak_ptr<PooledHost>& h) { return h.expired(); });
  for (auto& [name, c] : clusters_) {
    for (const auto& h : c->hosts()) {
      if (kept.contains(h.get())) continue;
      // Out of every cluster: its idle connections close now; its HTTP/2 connections take no
      // new stream and close once their streams ended (CloseIdle still reaches them).
      for (auto& sock : h->idle) {
        asio::error_code ec;
        sock.close(ec);
        c->ConnectionClosed();
      }
      h->idle.clear();
      auto h2 = h->h2;  // Retire may leave the host's list
      for (auto& conn : h2) conn->Retire();
      if (!h->h2.empty()) retired_.push_back(h);
    }
  }
}

std::shared_ptr<WorkerCluster> ClusterManager::Get(const std::string& name) const {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second;
}

void ClusterManager::CloseIdle() {
  for (auto& [name, c] : clusters_) {
    for (auto& h : c->hosts()) {
      for (auto& s : h->idle) {
        asio::error_code ec;
        s.close(ec);
        c->ConnectionClosed();
      }
      h->idle.clear();
      auto h2 = h->h2;  // Close leaves the host's list
      for (auto& c : h2) c->Close();
    }
  }
  for (auto& weak : retired_) {
    if (auto h = weak.lock()) {
      auto h2 = h->h2;
      for (auto& c : h2) c->Close();
    }
  }
  retired_.clear();
}

asio::awaitable<ConnectResult> OpenConnection(
    asio::io_context& io, WorkerCluster& cluster, PooledHost& host,
    std::optional<asio::ip::tcp::socket>& conn, bool& reused,
    const std::function<void(asio::ip::tcp::socket*)>& watch,
    const std::function<bool()>& cancelled) {
  using asio::ip::tcp;
  auto no_throw = [](asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
  };
  reused = host.TakeIdle(conn);
  if (reused) co_return ConnectResult::kOk;
  ClusterLoad& load = cluster.load();
  const auto& cb = cluster.config().circuit_breakers;
  asio::error_code ec;
  while (load.open_connections >= cb.max_connections) {
    if (load.pending_requests >= cb.max_pending_requests) co_return ConnectResult::kOverflow;
    ++load.pending_requests;
    asio::steady_timer wait(io);
    wait.expires_after(cluster.config().connect_timeout);
    load.waiters.push_back(&wait);
    co_await wait.async_wait(no_throw(ec));
    --load.pending_requests;
    std::erase(load.waiters, &wait);
    if (!ec || cancelled()) co_return ConnectResult::kOverflow;  // not woken in time
    if (host.TakeIdle(conn)) {
      reused = true;
      co_return ConnectResult::kOk;
    }
  }
  ++load.open_connections;
  cluster.stats().connections_opened.Inc();
  conn.emplace(io);
  watch(&*conn);
  asio::steady_timer connect_timer(io);
  connect_timer.expires_after(cluster.config().connect_timeout);
  connect_timer.async_wait([sock = &*conn](const asio::error_code& e) {
    if (!e) {
      asio::error_code ignored;
      sock->close(ignored);
    }
  });
  co_await conn->async_connect(host.endpoint(), no_throw(ec));
  connect_timer.cancel();
  watch(nullptr);
  if (ec || cancelled()) {
    conn->close(ec);
    conn.reset();
    cluster.ConnectionClosed();
    if (cancelled()) co_return ConnectResult::kCancelled;
    cluster.stats().connect_failures.Inc();
    cluster.outlier().Report(host, lb::Outcome::kConnectFailure);
    co_return ConnectResult::kFailed;
  }
  conn->set_option(tcp::no_delay(true), ec);
  co_return ConnectResult::kOk;
}

}  // namespace berth::gateway::server
