#include "orchestrator/reconciler.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <unordered_map>

#include "core/log.h"
#include "orchestrator/codec.h"
#include "orchestrator/node_table.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator {

Reconciler::Reconciler(store::Store& store, Clock& clock, Random& random, ReconcilerOptions options)
    : store_(store), clock_(clock), random_(random), options_(options) {}

Result<PassResult> Reconciler::RunOnce() {
  PassResult result;
  // Read desired and actual state at one revision.
  auto apps_kv = store_.Get(kAppsPrefix, {.prefix = true});
  if (!apps_kv) return std::unexpected(Wrap(apps_kv.error(), "reconciler: read apps"));
  result.read_revision = apps_kv->revision;
  auto nodes_kv = store_.Get(kNodesPrefix, {.prefix = true, .revision = result.read_revision});
  if (!nodes_kv) return std::unexpected(Wrap(nodes_kv.error(), "reconciler: read nodes"));

  auto canary_kv = store_.Get(kCanaryPrefix, {.prefix = true, .revision = result.read_revision});
  if (!canary_kv) return std::unexpected(Wrap(canary_kv.error(), "reconciler: read canaries"));
  for (const auto& kv : canary_kv->kvs) {
    auto rec = CanaryFromJson(kv.value);
    if (!rec) {
      result.skipped.push_back(kv.key + ": " + rec.error().message);
      continue;
    }
    rec->mod_revision = kv.mod_revision;
    result.canaries.emplace(kv.key.substr(kCanaryPrefix.size()), std::move(*rec));
  }

  std::vector<App> apps;
  apps.reserve(apps_kv->kvs.size());
  for (const auto& kv : apps_kv->kvs) {
    auto app = AppFromJson(kv.value);
    if (!app) {
      result.skipped.push_back(kv.key + ": " + app.error().message);
      continue;
    }
    if (AppKey(app->ns, app->name) != kv.key) {
      result.skipped.push_back(kv.key + ": app names " + AppKey(app->ns, app->name));
      continue;
    }
    apps.push_back(std::move(*app));
  }

  std::vector<Node> nodes;
  std::vector<Instance> instances;
  std::unordered_map<std::string, InstanceStatus> statuses;  // by status key
  for (const auto& kv : nodes_kv->kvs) {
    auto parts = ParseNodeKey(kv.key);
    if (!parts) {
      result.skipped.push_back(kv.key + ": not a node, assignment or status key");
      continue;
    }
    switch (parts->kind) {
      case NodeKeyParts::Kind::kNode: {
        auto node = NodeFromJson(kv.value);
        if (!node || node->id != parts->node) {
          result.skipped.push_back(
              kv.key + ": " + (node ? "node id does not match its key" : node.error().message));
          continue;
        }
        nodes.push_back(std::move(*node));
        break;
      }
      case NodeKeyParts::Kind::kAssignment: {
        auto a = AssignmentFromJson(kv.value);
        if (!a || AssignmentKey(a->instance) != kv.key) {
          result.skipped.push_back(kv.key + ": " +
                                   (a ? "assignment does not match its key" : a.error().message));
          continue;
        }
        instances.push_back(std::move(a->instance));
        break;
      }
      case NodeKeyParts::Kind::kStatus: {
        auto s = InstanceStatusFromJson(kv.value);
        if (!s) {
          result.skipped.push_back(kv.key + ": " + s.error().message);
          continue;
        }
        statuses.emplace(kv.key, std::move(*s));
        break;
      }
    }
  }

  // Nodes that are down, or gone (their lease lapsed) while assignments still name them,
  // keep their instances for the grace period: as cordoned nodes whose instances count as
  // unavailable. After it, they are down and the scheduler replaces their instances.
  const Clock::TimePoint now = clock_.Now();
  std::unordered_map<std::string, size_t> node_index;
  for (size_t i = 0; i < nodes.size(); ++i) node_index.emplace(nodes[i].id, i);
  std::unordered_map<std::string, Clock::TimePoint> still_missing;
  auto in_grace = [&](const std::string& id) {
    auto [it, fresh] = still_missing.emplace(id, now);
    if (fresh) {
      if (auto old = missing_since_.find(id); old != missing_since_.end()) it->second = old->second;
    }
    return now - it->second < options_.down_grace;
  };
  for (Node& n : nodes) {
    if (n.status == NodeStatus::kDown && in_grace(n.id)) n.status = NodeStatus::kCordoned;
  }
  for (const Instance& i : instances) {
    if (node_index.count(i.node_id) || !in_grace(i.node_id)) continue;
    Node ghost;
    ghost.id = i.node_id;
    ghost.status = NodeStatus::kCordoned;
    node_index.emplace(ghost.id, nodes.size());
    nodes.push_back(std::move(ghost));
  }
  missing_since_ = std::move(still_missing);

  // Actual state: an assignment's instance is pending until its agent reports otherwise.
  for (Instance& i : instances) {
    if (auto it = statuses.find(StatusKey(i)); it != statuses.end()) {
      i.state = it->second.state;
      i.ready_since_ms = it->second.ready_since_ms;
      i.cpu_millis = it->second.cpu_millis;
      i.restarts = static_cast<int32_t>(std::min<int64_t>(it->second.restarts, INT32_MAX));
    }
    if (missing_since_.count(i.node_id) && i.Live()) i.state = InstanceState::kUnready;
    if (!i.Live()) continue;
    if (auto it = node_index.find(i.node_id); it != node_index.end()) {
      Node& n = nodes[it->second];
      n.allocated += i.resources;
      n.ports_in_use.insert(n.ports_in_use.end(), i.host_ports.begin(), i.host_ports.end());
    }
  }

  NodeTable table;
  for (const Node& n : nodes) table.Upsert(n);
  Scheduler scheduler(table, random_, options_.scheduler);
  Plan plan = scheduler.Schedule(apps, instances, clock_.WallMillis(), &result.canaries);

  // Write the plan in bounded transactions.
  std::vector<store::TxnOp> ops;
  for (const Stop& s : plan.stops) ops.push_back(store::TxnOp::Delete(AssignmentKey(*s.instance)));
  for (const Instance* i : plan.updates) {
    const App* app = nullptr;
    for (const App& a : apps) {
      if (a.ns == i->ns && a.name == i->app) app = &a;
    }
    const ServiceSpec* spec = app ? app->FindService(i->service) : nullptr;
    if (spec == nullptr) continue;
    Assignment a{*i, *spec};
    a.instance.spec_hash = spec->SpecHash();
    ops.push_back(store::TxnOp::Put(AssignmentKey(a.instance), AssignmentToJson(a)));
  }
  for (const auto& p : plan.placements) {
    Assignment a{plan.MakeInstance(p, table), *plan.services[p.service].spec};
    ops.push_back(store::TxnOp::Put(AssignmentKey(a.instance), AssignmentToJson(a)));
  }
  // Failed or stopped instances: the scheduler already counts them out (not Live) and
  // places their replacements; their assignments go so the agent cleans up.
  for (const Instance& i : instances) {
    if (i.state == InstanceState::kFailed || i.state == InstanceState::kStopped) {
      ops.push_back(store::TxnOp::Delete(AssignmentKey(i)));
      ++result.collected;
    }
  }
  for (size_t start = 0; start < ops.size(); start += options_.max_ops_per_txn) {
    store::TxnRequest txn;
    if (guard_) txn.compare.push_back(*guard_);
    size_t end = std::min(ops.size(), start + options_.max_ops_per_txn);
    txn.success.assign(std::make_move_iterator(ops.begin() + start),
                       std::make_move_iterator(ops.begin() + end));
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(Wrap(r.error(), "reconciler: write plan"));
    if (!r->succeeded) {
      return Fail(ErrorCode::kFailedPrecondition, "reconciler: write plan: no longer the leader");
    }
  }
  result.placed = static_cast<int64_t>(plan.placements.size());
  result.stopped = static_cast<int64_t>(plan.stops.size());
  result.updated = static_cast<int64_t>(plan.updates.size());
  for (const auto& f : plan.failures) {
    const auto& svc = plan.services[f.service];
    result.unplaceable.push_back({svc.app->ns, svc.app->name, svc.spec->name, f.count, f.reason});
    log::Warn("orchestrator", "{}/{}/{}: {} replicas unplaceable: {}", svc.app->ns, svc.app->name,
              svc.spec->name, f.count, f.reason);
  }
  if (!ops.empty()) {
    log::Info("orchestrator",
              "reconciled at revision {}: {} placed, {} stopped, {} updated, {} collected",
              result.read_revision, result.placed, result.stopped, result.updated,
              result.collected);
  }
  plan = Plan();  // it points into apps and instances
  result.apps = std::move(apps);
  result.instances = std::move(instances);
  return result;
}

}  // namespace berth::orchestrator
