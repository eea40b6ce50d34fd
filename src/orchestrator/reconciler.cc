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
namespace {

constexpr std::string_view kWaitingForNodes = "waiting for a node to join the cluster";

// The desired and actual state at one revision, decoded; what did not decode is listed.
struct Observed {
  int64_t revision = 0;
  std::vector<App> apps;
  std::vector<Node> nodes;
  std::vector<Instance> instances;
  std::unordered_map<std::string, InstanceStatus> statuses;  // by status key
  CanaryMap canaries;
  std::vector<std::string> skipped;
};

void DecodeApps(const std::vector<store::KeyValue>& kvs, Observed& out) {
  out.apps.reserve(kvs.size());
  for (const auto& kv : kvs) {
    auto app = AppFromJson(kv.value);
    if (!app) {
      out.skipped.push_back(kv.key + ": " + app.error().message);
      continue;
    }
    if (AppKey(app->ns, app->name) != kv.key) {
      out.skipped.push_back(kv.key + ": app names " + AppKey(app->ns, app->name));
      continue;
    }
    out.apps.push_back(std::move(*app));
  }
}

void DecodeCanaries(const std::vector<store::KeyValue>& kvs, Observed& out) {
  for (const auto& kv : kvs) {
    auto rec = CanaryFromJson(kv.value);
    if (!rec) {
      out.skipped.push_back(kv.key + ": " + rec.error().message);
      continue;
    }
    rec->mod_revision = kv.mod_revision;
    out.canaries.emplace(kv.key.substr(kCanaryPrefix.size()), std::move(*rec));
  }
}

// Nodes, their assignments and the agents' status reports.
void DecodeNodeKeys(const std::vector<store::KeyValue>& kvs, Observed& out) {
  for (const auto& kv : kvs) {
    auto parts = ParseNodeKey(kv.key);
    if (!parts) {
      out.skipped.push_back(kv.key + ": not a node, assignment or status key");
      continue;
    }
    switch (parts->kind) {
      case NodeKeyParts::Kind::kNode: {
        auto node = NodeFromJson(kv.value);
        if (!node || node->id != parts->node) {
          out.skipped.push_back(kv.key + ": " +
                                (node ? "node id does not match its key" : node.error().message));
          continue;
        }
        out.nodes.push_back(std::move(*node));
        break;
      }
      case NodeKeyParts::Kind::kAssignment: {
        auto a = AssignmentFromJson(kv.value);
        if (!a || AssignmentKey(a->instance) != kv.key) {
          out.skipped.push_back(kv.key + ": " +
                                (a ? "assignment does not match its key" : a.error().message));
          continue;
        }
        out.instances.push_back(std::move(a->instance));
        break;
      }
      case NodeKeyParts::Kind::kStatus: {
        auto s = InstanceStatusFromJson(kv.value);
        if (!s) {
          out.skipped.push_back(kv.key + ": " + s.error().message);
          continue;
        }
        out.statuses.emplace(kv.key, std::move(*s));
        break;
      }
    }
  }
}

// Actual state: an assignment's instance is pending until its agent reports otherwise.
void MergeReports(const std::unordered_map<std::string, InstanceStatus>& statuses,
                  std::vector<Instance>& instances) {
  for (Instance& i : instances) {
    auto it = statuses.find(StatusKey(i));
    if (it == statuses.end()) continue;
    i.state = it->second.state;
    i.ready_since_ms = it->second.ready_since_ms;
    i.cpu_millis = it->second.cpu_millis;
    i.restarts = static_cast<int32_t>(std::min<int64_t>(it->second.restarts, INT32_MAX));
  }
}

// What the live instances take on their nodes (a node's allocations are not stored).
void AddAllocations(const std::vector<Instance>& instances, std::vector<Node>& nodes) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) index.emplace(nodes[i].id, i);
  for (const Instance& i : instances) {
    if (!i.Live()) continue;
    auto it = index.find(i.node_id);
    if (it == index.end()) continue;
    Node& n = nodes[it->second];
    n.allocated += i.resources;
    n.ports_in_use.insert(n.ports_in_use.end(), i.host_ports.begin(), i.host_ports.end());
  }
}

// The plan as store operations: stops, in-place updates, placements, and the deletes of
// failed or stopped instances' assignments (counted in `collected`).
std::vector<store::TxnOp> PlanOps(const Plan& plan, const NodeTable& table,
                                  const std::vector<App>& apps,
                                  const std::vector<Instance>& instances, int64_t& collected) {
  std::vector<store::TxnOp> ops;
  for (const Stop& s : plan.stops) ops.push_back(store::TxnOp::Delete(AssignmentKey(*s.instance)));
  for (const Instance* i : plan.updates) {
    auto app = std::find_if(apps.begin(), apps.end(),
                            [&](const App& a) { return a.ns == i->ns && a.name == i->app; });
    const ServiceSpec* spec = app == apps.end() ? nullptr : app->FindService(i->service);
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
      ++collected;
    }
  }
  return ops;
}

}  // namespace

Reconciler::Reconciler(store::Store& store, Clock& clock, Random& random, ReconcilerOptions options)
    : store_(store),
      clock_(clock),
      random_(random),
      options_(options),
      grace_(options.down_grace) {}

Result<PassResult> Reconciler::RunOnce() {
  auto pass = Plan();
  if (!pass) return std::unexpected(pass.error());
  if (auto c = Commit(*pass); !c) return std::unexpected(c.error());
  return std::move(pass->result);
}

namespace {

// Reads desired and actual state at one revision.
Result<Observed> Observe(store::Store& store) {
  Observed out;
  auto apps = store.Get(kAppsPrefix, {.prefix = true});
  if (!apps) return std::unexpected(Wrap(apps.error(), "reconciler: read apps"));
  out.revision = apps->revision;
  auto nodes = store.Get(kNodesPrefix, {.prefix = true, .revision = out.revision});
  if (!nodes) return std::unexpected(Wrap(nodes.error(), "reconciler: read nodes"));
  auto canaries = store.Get(kCanaryPrefix, {.prefix = true, .revision = out.revision});
  if (!canaries) return std::unexpected(Wrap(canaries.error(), "reconciler: read canaries"));
  DecodeCanaries(canaries->kvs, out);
  DecodeApps(apps->kvs, out);
  DecodeNodeKeys(nodes->kvs, out);
  return out;
}

}  // namespace

Result<PlannedPass> Reconciler::Plan() {
  auto observed = Observe(store_);
  if (!observed) return std::unexpected(observed.error());
  Observed& o = *observed;
  PlannedPass pass;
  PassResult& result = pass.result;
  result.read_revision = o.revision;
  result.skipped = std::move(o.skipped);
  result.canaries = std::move(o.canaries);
  const bool no_nodes = o.nodes.empty();

  MergeReports(o.statuses, o.instances);
  grace_.Apply(clock_.Now(), o.nodes, o.instances);
  AddAllocations(o.instances, o.nodes);

  NodeTable table;
  for (const Node& n : o.nodes) table.Upsert(n);
  Scheduler scheduler(table, random_, options_.scheduler);
  {
    // The plan points into the apps and instances: done with it before they move.
    class Plan plan =
        scheduler.Schedule(o.apps, o.instances, clock_.WallMillis(), &result.canaries);
    pass.ops = PlanOps(plan, table, o.apps, o.instances, result.collected);
    result.placed = static_cast<int64_t>(plan.placements.size());
    result.stopped = static_cast<int64_t>(plan.stops.size());
    result.updated = static_cast<int64_t>(plan.updates.size());
    for (const auto& f : plan.failures) {
      const auto& svc = plan.services[f.service];
      result.unplaceable.push_back({svc.app->ns, svc.app->name, svc.spec->name, f.count,
                                    no_nodes ? std::string(kWaitingForNodes) : f.reason, no_nodes});
    }
  }
  LogUnplaceable(result.unplaceable);
  result.apps = std::move(o.apps);
  result.instances = std::move(o.instances);
  return pass;
}

Result<void> Reconciler::Commit(PlannedPass& pass) {
  auto& ops = pass.ops;
  for (size_t start = 0; start < ops.size(); start += options_.max_ops_per_txn) {
    store::TxnRequest txn;
    if (guard_) txn.compare.push_back(*guard_);
    size_t end = std::min(ops.size(), start + options_.max_ops_per_txn);
    txn.success.assign(std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(start)),
                       std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(end)));
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(Wrap(r.error(), "reconciler: write plan"));
    if (!r->succeeded) {
      return Fail(ErrorCode::kFailedPrecondition, "reconciler: write plan: no longer the leader");
    }
  }
  if (!ops.empty()) {
    ops.clear();
    const PassResult& r = pass.result;
    log::Info("orchestrator",
              "reconciled at revision {}: {} placed, {} stopped, {} updated, {} collected",
              r.read_revision, r.placed, r.stopped, r.updated, r.collected);
  }
  return {};
}

void Reconciler::LogUnplaceable(const std::vector<PassResult::Unplaceable>& unplaceable) {
  std::unordered_map<std::string, std::string> now;
  for (const auto& u : unplaceable) {
    const std::string key = fmt::format("{}/{}/{}", u.ns, u.app, u.service);
    const std::string said = fmt::format("{} {}", u.count, u.reason);
    auto it = logged_unplaceable_.find(key);
    if (it == logged_unplaceable_.end() || it->second != said) {
      if (u.waiting_for_nodes) {
        log::Info("orchestrator", "{}: {} replica{} pending: {}", key, u.count,
                  u.count == 1 ? "" : "s", u.reason);
      } else {
        log::Warn("orchestrator", "{}: {} replica{} unplaceable: {}", key, u.count,
                  u.count == 1 ? "" : "s", u.reason);
      }
    }
    now.emplace(key, said);
  }
  logged_unplaceable_ = std::move(now);
}

}  // namespace berth::orchestrator
