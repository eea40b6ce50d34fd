#include "orchestrator/reconcile.h"

#include <algorithm>
#include <unordered_map>

namespace berth::orchestrator {

std::string_view ToString(StopReason r) {
  switch (r) {
    case StopReason::kScaleDown:
      return "scale-down";
    case StopReason::kOutdated:
      return "outdated";
    case StopReason::kMigrate:
      return "migrate";
    case StopReason::kLost:
      return "lost";
    case StopReason::kRemoved:
      return "removed";
  }
  return "unknown";
}

namespace {

struct Entry {
  const Instance* instance;
  bool available;
  bool migrate;  // on a draining node (else: outdated spec)
};

// Stop order: unavailable first, then instances sharing a node with the most replicas of
// the service (to keep the rest spread), then by id for determinism.
void SortForStop(std::vector<Entry>& v) {
  std::unordered_map<std::string_view, int> per_node;
  for (const auto& e : v) ++per_node[e.instance->node_id];
  std::sort(v.begin(), v.end(), [&](const Entry& a, const Entry& b) {
    if (a.available != b.available) return !a.available;
    if (a.migrate != b.migrate) return a.migrate;
    int na = per_node[a.instance->node_id], nb = per_node[b.instance->node_id];
    if (na != nb) return na > nb;
    return a.instance->id < b.instance->id;
  });
}

}  // namespace

ServiceDiff Reconcile(const ServiceSpec* spec, std::span<const Instance* const> instances,
                      const NodeStatusFn& node_status, int64_t now_ms) {
  ServiceDiff d;
  if (spec == nullptr) {
    for (const Instance* i : instances) d.stop.push_back({i, StopReason::kRemoved});
    return d;
  }
  const uint64_t deploy = spec->DeployHash();
  const uint64_t full = spec->SpecHash();
  const int64_t min_ready = spec->update.min_ready.count();
  auto available = [&](const Instance* i) {
    return i->state == InstanceState::kReady && now_ms - i->ready_since_ms >= min_ready;
  };

  std::vector<Entry> current, outdated;
  for (const Instance* i : instances) {
    NodeStatus ns = i->node_id.empty() ? NodeStatus::kDown : node_status(i->node_id);
    if (ns == NodeStatus::kDown) {
      d.stop.push_back({i, StopReason::kLost});
      continue;
    }
    bool avail = available(i);
    if (ns == NodeStatus::kDraining) {
      outdated.push_back({i, avail, true});
    } else if (i->deploy_hash != deploy) {
      outdated.push_back({i, avail, false});
    } else {
      current.push_back({i, avail, false});
      if (i->spec_hash != full) d.update.push_back(i);
    }
  }

  const int64_t desired = spec->replicas;
  auto [surge, unavailable] = spec->update.Resolve(desired);
  int64_t cur_total = static_cast<int64_t>(current.size());
  int64_t cur_avail =
      std::count_if(current.begin(), current.end(), [](const Entry& e) { return e.available; });
  int64_t old_total = static_cast<int64_t>(outdated.size());
  int64_t old_avail =
      std::count_if(outdated.begin(), outdated.end(), [](const Entry& e) { return e.available; });

  // Too many of the current spec (scale-down, or scale-down during a rollout): stop extras.
  if (cur_total > desired) {
    SortForStop(current);
    int64_t extra = cur_total - desired;
    for (int64_t k = 0; k < extra; ++k) {
      d.stop.push_back({current[k].instance, StopReason::kScaleDown});
      if (current[k].available) --cur_avail;
      std::erase_if(d.update, [&](const Instance* i) { return i == current[k].instance; });
    }
    current.erase(current.begin(), current.begin() + extra);
    cur_total = desired;
  }

  int64_t total = cur_total + old_total;
  // Scale up the current spec within the surge budget.
  d.place = std::max<int64_t>(0, std::min(desired - cur_total, desired + surge - total));

  if (old_total > 0) {
    // Scale down outdated instances as far as availability allows (Kubernetes'
    // reconcileOldReplicaSets): unavailable ones first, then available ones while
    // available - 1 stays at or above desired - maxUnavailable.
    const int64_t min_available = desired - unavailable;
    const int64_t cur_unavailable = cur_total - cur_avail;
    int64_t budget = total - min_available - cur_unavailable;
    int64_t avail = cur_avail + old_avail;
    SortForStop(outdated);
    size_t k = 0;
    for (; k < outdated.size() && budget > 0; ++k) {
      const Entry& e = outdated[k];
      if (e.available) {
        if (avail - 1 < min_available) break;
        --avail;
      }
      --budget;
      d.stop.push_back({e.instance, e.migrate ? StopReason::kMigrate : StopReason::kOutdated});
    }
    d.outdated = old_total;
    d.rolling = true;
  }
  d.current = cur_total;
  d.available = cur_avail + old_avail;
  return d;
}

}  // namespace berth::orchestrator
