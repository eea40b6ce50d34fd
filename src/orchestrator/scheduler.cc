#include "orchestrator/scheduler.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "orchestrator/feasibility.h"
#include "orchestrator/rank.h"
#include "orchestrator/reconcile.h"

namespace berth::orchestrator {

Scheduler::Scheduler(NodeTable& nodes, Random& random, SchedulerOptions options)
    : nodes_(nodes), random_(random), options_(options) {}

namespace {

std::string GroupKey(std::string_view ns, std::string_view app, std::string_view service) {
  std::string k;
  k.reserve(ns.size() + app.size() + service.size() + 2);
  k.append(ns).push_back('/');
  k.append(app).push_back('/');
  k.append(service);
  return k;
}

}  // namespace

Plan Scheduler::Schedule(std::span<const App> apps, std::span<const Instance> instances,
                         int64_t now_ms, const CanaryMap* canaries) {
  Plan plan;
  // Actual state, grouped by service.
  std::unordered_map<std::string, std::vector<const Instance*>> actual;
  for (const Instance& i : instances) {
    if (i.Live()) actual[GroupKey(i.ns, i.app, i.service)].push_back(&i);
  }
  NodeStatusFn status = [this](std::string_view id) {
    auto row = nodes_.Find(id);
    return row ? nodes_.status(*row) : NodeStatus::kDown;
  };
  auto release = [this](const Instance* i) {
    if (auto row = nodes_.Find(i->node_id)) nodes_.Release(*row, i->resources, i->host_ports);
  };

  // Reconcile every service first, so the placements vector is sized once.
  std::vector<ServiceDiff> diffs;
  std::vector<std::vector<const Instance*>> current;  // live instances that stay, per service
  int64_t to_place = 0;
  auto reconcile = [&](const App& app, const ServiceSpec& spec, std::vector<const Instance*> live,
                       bool updates) {
    ServiceDiff d = Reconcile(&spec, live, status, now_ms);
    for (const Stop& s : d.stop) {
      plan.stops.push_back(s);
      if (s.reason != StopReason::kLost) release(s.instance);
      std::erase(live, s.instance);
    }
    if (updates) plan.updates.insert(plan.updates.end(), d.update.begin(), d.update.end());
    to_place += d.place;
    plan.services.push_back({&app, &spec});
    diffs.push_back(std::move(d));
    current.push_back(std::move(live));
  };
  for (const App& app : apps) {
    for (const ServiceSpec& spec : app.services) {
      const std::string key = GroupKey(app.ns, app.name, spec.name);
      std::vector<const Instance*> live;
      if (auto it = actual.find(key); it != actual.end()) {
        live = std::move(it->second);
        actual.erase(it);
      }
      const CanaryRecord* canary = nullptr;
      if (canaries != nullptr && spec.update.canary > 0) {
        if (auto it = canaries->find(key); it != canaries->end() &&
                                           it->second.state == CanaryState::kCanary &&
                                           it->second.canary_hash == spec.DeployHash()) {
          canary = &it->second;
        }
      }
      if (canary == nullptr) {
        reconcile(app, spec, std::move(live), true);
        continue;
      }
      // A canary: the new version at update.canary, the stable one at replicas. Instances
      // of a third version count as the stable half's outdated ones. Stable instances are
      // never rewritten in place (their spec is the record's, not the app's).
      auto& canary_spec = *plan.owned_specs.emplace_back(std::make_unique<ServiceSpec>(spec));
      canary_spec.replicas = spec.update.canary;
      auto& stable_spec =
          *plan.owned_specs.emplace_back(std::make_unique<ServiceSpec>(canary->stable));
      stable_spec.name = spec.name;
      stable_spec.replicas = spec.replicas;
      const uint64_t canary_hash = spec.DeployHash();
      std::vector<const Instance*> canary_live, stable_live;
      for (const Instance* i : live) {
        (i->deploy_hash == canary_hash ? canary_live : stable_live).push_back(i);
      }
      reconcile(app, canary_spec, std::move(canary_live), true);
      reconcile(app, stable_spec, std::move(stable_live), false);
    }
  }
  // Services (or apps) that are no longer desired, in key order for determinism.
  std::map<std::string_view, const std::vector<const Instance*>*> removed;
  for (const auto& [key, live] : actual) removed.emplace(key, &live);
  for (const auto& [key, live] : removed) {
    for (const Stop& s : Reconcile(nullptr, *live, status, now_ms).stop) {
      plan.stops.push_back(s);
      release(s.instance);
    }
  }

  // Place.
  plan.placements.reserve(static_cast<size_t>(to_place));
  Selector selector(nodes_, random_, options_.candidate_limit);
  on_node_.assign(nodes_.size(), 0);
  std::vector<uint32_t> touched;
  std::unordered_set<std::string> ids;
  for (uint32_t si = 0; si < plan.services.size(); ++si) {
    const int64_t want = diffs[si].place;
    if (want == 0) continue;
    const ServiceSpec& spec = *plan.services[si].spec;
    touched.clear();
    ids.clear();
    for (const Instance* i : current[si]) {
      ids.insert(i->id);
      if (auto row = nodes_.Find(i->node_id)) {
        if (on_node_[*row]++ == 0) touched.push_back(*row);
      }
    }
    Feasibility feasibility(nodes_, spec, on_node_);
    const Resources& request = feasibility.request();
    const auto& ports = feasibility.host_ports();
    const auto strategy = spec.placement.strategy;
    const auto anti = spec.placement.anti_affinity;
    const int64_t desired = spec.replicas;
    auto score = [&](uint32_t row) {
      return RankScore(nodes_, row, request, strategy, anti, on_node_[row], desired);
    };
    for (int64_t k = 0; k < want; ++k) {
      auto row = selector.Select(feasibility, score);
      if (!row) {
        plan.failures.push_back({si, want - k, feasibility.Explain()});
        break;
      }
      nodes_.Allocate(*row, request, ports);
      if (on_node_[*row]++ == 0) touched.push_back(*row);
      std::string id;
      do {
        id = fmt::format("{}-{:08x}", spec.name, static_cast<uint32_t>(random_.Next()));
      } while (!ids.insert(id).second);
      plan.placements.push_back({std::move(id), si, *row});
    }
    for (uint32_t row : touched) on_node_[row] = 0;
  }
  return plan;
}

}  // namespace berth::orchestrator
