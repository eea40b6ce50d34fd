#include "orchestrator/route_sync.h"

#include <fmt/core.h>

#include <charconv>
#include <optional>
#include <unordered_map>

#include "core/log.h"
#include "gateway/route_spec.h"
#include "orchestrator/canary.h"
#include "orchestrator/service_key.h"

namespace berth::orchestrator {
namespace {

// The container port a route for `e` targets when it is not the one the agent registers
// (the first port); 0 otherwise.
uint32_t ExposePort(const ServiceSpec& s, const Expose& e) {
  if (e.port.empty() || s.ports.empty()) return 0;
  int port = 0;
  for (const auto& p : s.ports) {
    if (p.name == e.port) port = p.container_port;
  }
  if (port == 0) std::from_chars(e.port.data(), e.port.data() + e.port.size(), port);
  if (port <= 0 || port > 65535 || port == s.ports.front().container_port) return 0;
  return static_cast<uint32_t>(port);
}

// The canary record a service's routes follow in this pass: none once collected, and an
// aborted one's state as aborted at once.
std::optional<CanaryRecord> RoutedCanary(const PassResult& pass, const CanaryChanges& changes,
                                         const std::string& key) {
  if (changes.collected.count(key)) return std::nullopt;
  auto it = pass.canaries.find(key);
  if (it == pass.canaries.end()) return std::nullopt;
  CanaryRecord rec = it->second;
  if (changes.aborted.count(key)) rec.state = CanaryState::kAborted;
  return rec;
}

// The targets of one expose entry during a canary: one per version by deploy tag.
// `ready`: ready instances by deploy hash.
std::vector<gateway::ServiceTarget> CanaryTargets(const gateway::ServiceTarget& target,
                                                  const ServiceSpec& s, const Expose& e,
                                                  const CanaryRecord& canary,
                                                  std::map<uint64_t, int64_t>& ready) {
  if (canary.state == CanaryState::kPromoted || ready[canary.stable_hash] == 0) return {target};
  auto tagged = [&](uint64_t hash, std::optional<uint32_t> weight) {
    gateway::ServiceTarget t = target;
    t.tags = {DeployTag(hash)};
    t.weight = weight;
    return t;
  };
  const bool split = canary.state == CanaryState::kCanary && canary.canary_hash == s.DeployHash() &&
                     ready[canary.canary_hash] > 0 && e.canary_weight > 0;
  if (!split) return {tagged(canary.stable_hash, std::nullopt)};
  if (e.canary_weight >= 100) return {tagged(canary.canary_hash, std::nullopt)};
  return {tagged(canary.stable_hash, 100 - e.canary_weight),
          tagged(canary.canary_hash, e.canary_weight)};
}

}  // namespace

std::map<std::string, std::string> DesiredRoutes(const PassResult& pass,
                                                 const CanaryChanges& changes) {
  // Ready instances per service and deploy hash, for canary splits.
  std::unordered_map<std::string, std::map<uint64_t, int64_t>> ready;
  for (const Instance& i : pass.instances) {
    if (i.state == InstanceState::kReady)
      ++ready[ServiceKey(i.ns, i.app, i.service)][i.deploy_hash];
  }
  std::map<std::string, std::string> desired;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& s : app.services) {
      const std::string key = ServiceKey(app.ns, app.name, s.name);
      const std::optional<CanaryRecord> canary = RoutedCanary(pass, changes, key);
      for (size_t i = 0; i < s.expose.size(); ++i) {
        const Expose& e = s.expose[i];
        std::string name = fmt::format("{}.{}.{}", app.ns, app.name, s.name);
        if (s.expose.size() > 1) name += fmt::format(".{}", i);
        gateway::ServiceTarget target{.service = s.name, .ns = app.ns, .port = ExposePort(s, e)};
        gateway::ServiceRoute route{.name = name,
                                    .owner = fmt::format("app:{}/{}", app.ns, app.name),
                                    .hosts = {},
                                    .path_prefix = e.path,
                                    .targets = {target}};
        if (!e.host.empty()) route.hosts = {e.host};
        if (canary) route.targets = CanaryTargets(target, s, e, *canary, ready[key]);
        desired[std::string(gateway::kRoutesKeyPrefix) + name] = gateway::EncodeServiceRoute(route);
      }
    }
  }
  return desired;
}

void RouteSync::Sync(const PassResult& pass, const CanaryChanges& changes,
                     const store::Compare& guard) {
  std::map<std::string, std::string> desired = DesiredRoutes(pass, changes);
  auto r = store_.Get(gateway::kRoutesKeyPrefix, {.prefix = true});
  if (!r) {
    log::Warn("orchestrator", "controller: read routes: {}", r.error().message);
    return;
  }
  store::TxnRequest txn;
  txn.compare.push_back(guard);
  std::set<std::string> existing;
  for (const auto& kv : r->kvs) {
    const std::string owner = gateway::RouteOwner(kv.value);
    auto want = desired.find(kv.key);
    if (!owner.starts_with("app:")) {
      if (want != desired.end()) {
        log::Warn("orchestrator", "route {} exists and is not an app's: left alone", kv.key);
        desired.erase(want);
      }
      continue;
    }
    if (want == desired.end()) {
      txn.success.push_back(store::TxnOp::Delete(kv.key));
    } else if (want->second != kv.value) {
      txn.success.push_back(store::TxnOp::Put(kv.key, want->second));
    }
    existing.insert(kv.key);
  }
  for (const auto& [key, value] : desired) {
    if (!existing.count(key)) txn.success.push_back(store::TxnOp::Put(key, value));
  }
  if (txn.success.empty()) return;
  auto w = store_.Txn(txn);
  if (!w) log::Warn("orchestrator", "controller: write routes: {}", w.error().message);
}

}  // namespace berth::orchestrator
