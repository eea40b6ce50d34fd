#include "gateway/registry_source.h"

#include <arpa/inet.h>
#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "core/log.h"
#include "gateway/route_store.h"

namespace berth::gateway {
namespace {

std::string ServiceKey(std::string_view ns, std::string_view service) {
  return fmt::format("{}/{}", ns, service);
}

// Whether the gateway sends traffic to `in`: passing, or kept alive by the registry's
// self-preservation (a control-plane fault, not a dead instance), with a weight.
bool Routable(const registry::Instance& in) {
  if (in.weight == 0) return false;
  return in.health == registry::Health::kPassing ||
         (in.health == registry::Health::kWarning && in.preserved);
}

// "ip:port" for an instance whose address is an IP literal (or localhost).
// `port_override` (non-zero) replaces the registered port.
std::optional<std::string> EndpointAddress(const registry::Instance& in, uint32_t port_override) {
  unsigned char buf[16];
  const uint32_t port = port_override != 0 ? port_override : in.port;
  if (in.address == "localhost") return fmt::format("127.0.0.1:{}", port);
  if (inet_pton(AF_INET, in.address.c_str(), buf) == 1)
    return fmt::format("{}:{}", in.address, port);
  if (inet_pton(AF_INET6, in.address.c_str(), buf) == 1)
    return fmt::format("[{}]:{}", in.address, port);
  return std::nullopt;
}

int PathRank(const router::Route& r) {
  switch (r.path.kind) {
    case router::PathMatcher::Kind::kExact:
      return 0;
    case router::PathMatcher::Kind::kRegex:
      return 1;
    case router::PathMatcher::Kind::kPrefix:
      return 2;
  }
  return 3;
}

// Most specific first (see the header).
bool MoreSpecific(const std::shared_ptr<const router::Route>& a,
                  const std::shared_ptr<const router::Route>& b) {
  const int ra = PathRank(*a), rb = PathRank(*b);
  if (ra != rb) return ra < rb;
  if (ra == 2 && a->path.value.size() != b->path.value.size())
    return a->path.value.size() > b->path.value.size();
  const size_t ca = a->headers.size() + (a->methods.empty() ? 0 : 1);
  const size_t cb = b->headers.size() + (b->methods.empty() ? 0 : 1);
  if (ca != cb) return ca > cb;
  return a->name < b->name;
}

}  // namespace

RegistryEndpointSource::RegistryEndpointSource(store::Store& store, registry::Registry& registry,
                                               RegistrySourceOptions options)
    : store_(store), registry_(registry), options_(std::move(options)) {}

RegistryEndpointSource::~RegistryEndpointSource() { Stop(); }

Result<void> RegistryEndpointSource::ListGateway() {
  if (gateway_watch_) gateway_watch_->Cancel();  // no callback runs after this
  gateway_watch_.reset();
  auto r = store_.Get(kGatewayKeyPrefix, {.prefix = true});
  if (!r) return std::unexpected(Wrap(r.error(), "gateway source: list /gateway/"));
  {
    std::lock_guard lock(mu_);
    gateway_.clear();
    for (auto& kv : r->kvs) gateway_[kv.key] = std::move(kv);
    gateway_revision_ = r->revision;
    dirty_ = true;
  }
  store::WatchOptions o;
  o.prefix = true;
  o.start_revision = r->revision + 1;
  auto w = store_.Watch(kGatewayKeyPrefix, o, [this](store::WatchResponse&& resp) {
    std::lock_guard lock(mu_);
    if (resp.compacted || resp.canceled) {
      relist_gateway_ = true;
    } else {
      for (auto& e : resp.events) {
        gateway_revision_ = std::max(gateway_revision_, e.kv.mod_revision);
        if (e.type == store::Event::Type::kPut) {
          gateway_[e.kv.key] = std::move(e.kv);
        } else {
          gateway_.erase(e.kv.key);
        }
      }
      gateway_revision_ = std::max(gateway_revision_, resp.revision);
    }
    dirty_ = true;
    cv_.notify_all();
  });
  if (!w) return std::unexpected(Wrap(w.error(), "gateway source: watch /gateway/"));
  gateway_watch_ = std::move(*w);
  return {};
}

Result<void> RegistryEndpointSource::ListRegistry() {
  if (registry_watch_) registry_watch_->Cancel();
  registry_watch_.reset();
  auto view = registry_.ListInstances("");
  if (!view) return std::unexpected(Wrap(view.error(), "gateway source: list the registry"));
  {
    std::lock_guard lock(mu_);
    instances_.clear();
    for (auto& in : view->instances) {
      std::string id = in.id;
      instances_[ServiceKey(in.ns, in.service)][id] = std::move(in);
    }
    registry_revision_ = view->index;
    dirty_ = true;
  }
  auto sub = registry_.Watch("", "", view->index + 1, [this](registry::WatchBatch&& batch) {
    std::lock_guard lock(mu_);
    if (batch.compacted || batch.canceled) {
      relist_registry_ = true;
    } else {
      for (const auto& e : batch.events) {
        registry_revision_ = std::max(registry_revision_, e.revision);
        const std::string key = ServiceKey(e.ns, e.service);
        if (e.type == registry::WatchEvent::Type::kPut && e.instance) {
          instances_[key][e.id] = *e.instance;
        } else if (auto it = instances_.find(key); it != instances_.end()) {
          it->second.erase(e.id);
          if (it->second.empty()) instances_.erase(it);
        }
      }
    }
    dirty_ = true;
    cv_.notify_all();
  });
  if (!sub) return std::unexpected(Wrap(sub.error(), "gateway source: watch the registry"));
  registry_watch_ = std::move(*sub);
  return {};
}

Result<void> RegistryEndpointSource::Start(UpdateCallback on_update) {
  {
    std::lock_guard lock(deliver_mu_);
    on_update_ = std::move(on_update);
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  if (auto r = ListGateway(); !r) return r;
  if (auto r = ListRegistry(); !r) return r;
  {
    std::lock_guard lock(mu_);
    dirty_ = false;
  }
  Build();
  builder_ = std::thread([this] { Run(); });
  return {};
}

void RegistryEndpointSource::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (builder_.joinable()) builder_.join();
  if (gateway_watch_) gateway_watch_->Cancel();
  gateway_watch_.reset();
  if (registry_watch_) registry_watch_->Cancel();
  registry_watch_.reset();
  std::lock_guard lock(deliver_mu_);
  on_update_ = nullptr;
}

Result<void> RegistryEndpointSource::Reload() {
  {
    std::lock_guard lock(mu_);
    relist_gateway_ = true;
    relist_registry_ = true;
  }
  cv_.notify_all();
  return {};
}

void RegistryEndpointSource::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || dirty_ || relist_gateway_ || relist_registry_; });
    if (stopping_) return;
    // Let a burst of changes settle into one snapshot.
    if (cv_.wait_for(lock, options_.debounce, [&] { return stopping_; })) return;
    const bool relist_gateway = std::exchange(relist_gateway_, false);
    const bool relist_registry = std::exchange(relist_registry_, false);
    dirty_ = false;
    lock.unlock();
    bool gateway_failed = false, registry_failed = false;
    if (relist_gateway) {
      if (auto r = ListGateway(); !r) {
        log::Warn("gateway", "{}; retrying", r.error().message);
        gateway_failed = true;
      }
    }
    if (relist_registry) {
      if (auto r = ListRegistry(); !r) {
        log::Warn("gateway", "{}; retrying", r.error().message);
        registry_failed = true;
      }
    }
    Build();
    lock.lock();
    if (gateway_failed || registry_failed) {
      relist_gateway_ = relist_gateway_ || gateway_failed;
      relist_registry_ = relist_registry_ || registry_failed;
      if (cv_.wait_for(lock, options_.retry, [&] { return stopping_; })) return;
    }
  }
}

void RegistryEndpointSource::Build() {
  // Phase 1: the stored entries (copied; parsing happens outside the lock).
  std::vector<store::KeyValue> kvs;
  int64_t gateway_revision = 0;
  {
    std::lock_guard lock(mu_);
    kvs.reserve(gateway_.size());
    for (const auto& [key, kv] : gateway_) kvs.push_back(kv);
    gateway_revision = gateway_revision_;
  }
  std::set<std::string> seen;
  std::vector<std::shared_ptr<const router::Route>> routes;
  std::map<std::string, std::shared_ptr<const router::Cluster>> clusters;
  std::map<std::string, std::shared_ptr<const router::Cluster>> settings;  // by cluster name
  uint64_t invalid = 0;
  for (const auto& kv : kvs) {
    seen.insert(kv.key);
    if (kv.key.starts_with(kRoutesKeyPrefix)) {
      auto& cached = route_cache_[kv.key];
      if (cached.mod_revision != kv.mod_revision) {
        cached.mod_revision = kv.mod_revision;
        cached.entry.reset();
        const std::string name = kv.key.substr(kRoutesKeyPrefix.size());
        auto entry = router::ParseRouteEntry(kv.value, kv.key, options_.base_dir);
        if (!entry) {
          log::Warn("gateway", "stored route left out: {}", entry.error().message);
        } else if (entry->route->name != name) {
          log::Warn("gateway", "stored route left out: {} names itself \"{}\"", kv.key,
                    entry->route->name);
        } else {
          cached.entry = std::move(*entry);
        }
      }
      if (!cached.entry) {
        ++invalid;
        continue;
      }
      routes.push_back(cached.entry->route);
      for (const auto& c : cached.entry->clusters) clusters[c->name] = c;
    } else if (kv.key.starts_with(kServicesKeyPrefix)) {
      std::string_view rest = std::string_view(kv.key).substr(kServicesKeyPrefix.size());
      const auto slash = rest.find('/');
      if (slash == std::string_view::npos) continue;
      const std::string cluster_name =
          router::ServiceClusterName(rest.substr(0, slash), rest.substr(slash + 1));
      auto& cached = settings_cache_[kv.key];
      if (cached.mod_revision != kv.mod_revision) {
        cached.mod_revision = kv.mod_revision;
        auto parsed = router::ParseServiceSettings(kv.value, cluster_name, kv.key, false);
        if (!parsed) {
          log::Warn("gateway", "stored service settings left out: {}", parsed.error().message);
          cached.settings = nullptr;
        } else {
          cached.settings = *parsed;
        }
      }
      if (cached.settings) settings[cluster_name] = cached.settings;
    }
  }
  std::erase_if(route_cache_, [&](const auto& e) { return !seen.count(e.first); });
  std::erase_if(settings_cache_, [&](const auto& e) { return !seen.count(e.first); });

  // Phase 2: endpoints of the registry services the routes name.
  uint64_t endpoint_count = 0;
  int64_t registry_revision = 0;
  {
    std::lock_guard lock(mu_);
    registry_revision = registry_revision_;
    for (auto& [name, c] : clusters) {
      if (c->service_name.empty()) continue;
      auto cluster = std::make_shared<router::Cluster>();
      // Settings are the service's, whatever part of it a target selects.
      if (auto s = settings.find(router::ServiceClusterName(c->service_namespace, c->service_name));
          s != settings.end()) {
        *cluster = *s->second;
      }
      cluster->name = c->name;
      cluster->service_namespace = c->service_namespace;
      cluster->service_name = c->service_name;
      cluster->service_tags = c->service_tags;
      cluster->service_port = c->service_port;
      cluster->endpoints.clear();
      if (auto it = instances_.find(ServiceKey(c->service_namespace, c->service_name));
          it != instances_.end()) {
        for (const auto& [id, in] : it->second) {
          if (!Routable(in)) continue;
          if (!std::all_of(c->service_tags.begin(), c->service_tags.end(),
                           [&](const std::string& t) { return in.HasTag(t); })) {
            continue;
          }
          auto address = EndpointAddress(in, c->service_port);
          if (!address) continue;  // a host name: the gateway connects to IP literals only
          cluster->endpoints.push_back({*address, in.weight, true});
        }
      }
      endpoint_count += cluster->endpoints.size();
      c = std::move(cluster);
    }
  }

  auto snap = std::make_shared<router::Snapshot>();
  snap->version = ++version_;
  std::stable_sort(routes.begin(), routes.end(), MoreSpecific);
  snap->routes = std::move(routes);
  snap->clusters = std::move(clusters);
  routes_ = snap->routes.size();
  invalid_routes_ = invalid;
  endpoints_ = endpoint_count;
  Deliver(std::move(snap));
  revision_ = std::max(gateway_revision, registry_revision);
}

void RegistryEndpointSource::Deliver(router::SnapshotPtr snapshot) {
  std::lock_guard lock(deliver_mu_);
  if (!on_update_) return;
  on_update_(std::move(snapshot));
  snapshots_.fetch_add(1, std::memory_order_relaxed);
}

RegistryEndpointSource::Stats RegistryEndpointSource::stats() const {
  return Stats{.snapshots = snapshots_.load(),
               .routes = routes_.load(),
               .invalid_routes = invalid_routes_.load(),
               .endpoints = endpoints_.load(),
               .revision = revision_.load()};
}

std::string RegistryEndpointSource::RenderMetrics() const {
  const Stats s = stats();
  return fmt::format(
      "# HELP berth_gateway_source_snapshots_total Route snapshots built from the store and the "
      "registry.\n"
      "# TYPE berth_gateway_source_snapshots_total counter\n"
      "berth_gateway_source_snapshots_total {}\n"
      "# HELP berth_gateway_source_routes Stored routes in the snapshot in force.\n"
      "# TYPE berth_gateway_source_routes gauge\n"
      "berth_gateway_source_routes {}\n"
      "# HELP berth_gateway_source_invalid_routes Stored routes left out because they do not "
      "parse.\n"
      "# TYPE berth_gateway_source_invalid_routes gauge\n"
      "berth_gateway_source_invalid_routes {}\n"
      "# HELP berth_gateway_source_endpoints Registry endpoints in the snapshot in force.\n"
      "# TYPE berth_gateway_source_endpoints gauge\n"
      "berth_gateway_source_endpoints {}\n"
      "# HELP berth_gateway_source_revision Store revision the snapshot in force reflects.\n"
      "# TYPE berth_gateway_source_revision gauge\n"
      "berth_gateway_source_revision {}\n",
      s.snapshots, s.routes, s.invalid_routes, s.endpoints, s.revision);
}

}  // namespace berth::gateway
