#include "api/node_endpoints.h"

#include <fmt/core.h>

#include <asio/post.hpp>
#include <charconv>
#include <map>
#include <set>

#include "api/line_stream.h"
#include "core/json.h"
#include "core/log.h"
#include "orchestrator/codec.h"
#include "orchestrator/types.h"

namespace berth::api {
namespace {

namespace orch = berth::orchestrator;
using security::Role;

constexpr int64_t kDefaultTtlSeconds = 10;
constexpr int64_t kMaxTtlSeconds = 600;
constexpr size_t kMaxLabels = 64;
constexpr size_t kMaxLabelBytes = 253;
constexpr auto kKeepAliveEvery = std::chrono::seconds(5);
constexpr int kCasAttempts = 8;

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

Result<void> CheckName(std::string_view what, const std::string& name) {
  if (orch::IsValidName(name)) return {};
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("{} \"{}\" is not valid: use 1-63 lower-case letters, digits and '-', "
                          "starting with a letter",
                          what, name.substr(0, 80)));
}

Json ResourcesJson(const orch::Resources& r) {
  return {{"cpu_millis", r.cpu_millis}, {"memory_bytes", r.memory_bytes}, {"pids", r.pids}};
}

// The registration body: labels, capacity, address, ttl_seconds.
struct Registration {
  orch::Node node;
  std::string address;
  int64_t ttl_seconds = kDefaultTtlSeconds;
};

// A label value: at most kMaxLabelBytes, no ',' or spaces (keys are checked by the map).
Result<std::string> ReadLabelValue(const input::Node& n) {
  std::string v = BERTH_TRY(input::String(n));
  if (v.size() > kMaxLabelBytes || v.find_first_of(", \t\r\n") != std::string::npos) {
    return n.Fail(fmt::format("is not a valid label value: at most {} bytes, no ',' or spaces",
                              kMaxLabelBytes));
  }
  return v;
}

Result<orch::Resources> ReadCapacity(const input::Node& n) {
  orch::Resources r;
  input::Object o(n);
  o.Optional("cpu_millis", r.cpu_millis, input::Int(0, INT64_MAX))
      .Optional("memory_bytes", r.memory_bytes, input::Int(0, INT64_MAX))
      .Optional("pids", r.pids, input::Int(0, INT64_MAX));
  BERTH_TRY(o.Done());
  return r;
}

Result<Registration> ParseRegistration(const input::Node& body, const std::string& id) {
  Registration reg;
  reg.node.id = id;
  input::Object o(body);
  o.Optional("labels", reg.node.labels, input::MapOf(ReadLabelValue, kMaxLabels))
      .Required("capacity", reg.node.capacity, ReadCapacity)
      .Optional("address", reg.address,
                [](const input::Node& a) -> Result<std::string> {
                  std::string v = BERTH_TRY(input::String(a));
                  if (v.size() > 255) return a.Fail("must be a host name or IP address");
                  return v;
                })
      .Optional("ttl_seconds", reg.ttl_seconds, input::Int(1, kMaxTtlSeconds));
  BERTH_TRY(o.Done());
  if (const input::Node* labels = body.Find("labels")) {
    for (const input::Entry& e : labels->entries()) {
      if (e.key.empty() || e.key.size() > kMaxLabelBytes ||
          e.key.find_first_of(",= \t\r\n") != std::string::npos) {
        return labels->Fail(fmt::format(
            "label {} is not valid: keys are at most {} bytes, with no ',', '=' or spaces",
            Quoted(e.key), kMaxLabelBytes));
      }
    }
  }
  if (auto v = reg.node.Validate(); !v) return body.Fail(v.error().message);
  return reg;
}

// What one node looks like to API clients: the stored node plus what the store says about
// its assignments and status reports.
struct NodeView {
  std::string id;
  std::optional<orch::Node> node;  // absent: its key is gone but assignments still name it
  Json stored = Json::object();    // the stored JSON (address, registeredMs, ...)
  int64_t lease = 0;
  int64_t mod_revision = 0;
  orch::Resources allocated;
  int64_t instances = 0;  // live assignments
  int64_t ready = 0;
  std::vector<int> ports;
  Json assignments = Json::array();  // filled for one node only
};

Json ViewJson(const NodeView& v, bool with_instances) {
  Json j;
  j["id"] = v.id;
  j["registered"] = v.node.has_value();
  if (v.node) {
    j["labels"] = v.node->labels;
    j["capacity"] = ResourcesJson(v.node->capacity);
    j["status"] = std::string(orch::ToString(v.node->status));
  } else {
    j["labels"] = Json::object();
    j["capacity"] = ResourcesJson({});
    j["status"] = "down";
  }
  j["allocated"] = ResourcesJson(v.allocated);
  j["address"] = v.stored.value("address", std::string());
  j["registered_ms"] = v.stored.value("registeredMs", int64_t{0});
  j["lease"] = v.lease;
  j["revision"] = v.mod_revision;
  j["instances"] = v.instances;
  j["ready"] = v.ready;
  j["host_ports"] = v.ports;
  if (with_instances) j["assignments"] = v.assignments;
  return j;
}

// Reads every node (or one, when `only` is set) with its allocations at one revision.
Result<std::pair<std::map<std::string, NodeView>, int64_t>> ReadNodes(store::Store& store,
                                                                      const std::string& only,
                                                                      bool with_instances) {
  std::string prefix = only.empty() ? std::string(orch::kNodesPrefix) : orch::NodeKey(only);
  auto kvs = store.Get(prefix, {.prefix = true});
  if (!kvs) return std::unexpected(kvs.error());
  std::map<std::string, NodeView> views;
  std::map<std::string, orch::InstanceStatus> statuses;  // by "<node>/<ns>/<app>/<id>"
  std::map<std::string, Json> status_json;
  std::vector<orch::Instance> assigned;
  for (const auto& kv : kvs->kvs) {
    auto parts = orch::ParseNodeKey(kv.key);
    if (!parts) continue;
    if (!only.empty() && parts->node != only) continue;  // "/nodes/a" prefix matches "/nodes/ab"
    auto& view = views[parts->node];
    view.id = parts->node;
    switch (parts->kind) {
      case orch::NodeKeyParts::Kind::kNode: {
        auto n = orch::NodeFromJson(kv.value);
        if (!n) {
          log::Warn("api", "{}: {}", kv.key, n.error().message);
          continue;
        }
        view.node = std::move(*n);
        auto j = ParseJson(kv.value);
        if (j && j->is_object()) view.stored = std::move(*j);
        view.lease = kv.lease;
        view.mod_revision = kv.mod_revision;
        break;
      }
      case orch::NodeKeyParts::Kind::kAssignment: {
        auto a = orch::AssignmentFromJson(kv.value);
        if (!a) continue;
        assigned.push_back(std::move(a->instance));
        break;
      }
      case orch::NodeKeyParts::Kind::kStatus: {
        auto s = orch::InstanceStatusFromJson(kv.value);
        if (!s) continue;
        std::string k = parts->node + "/" + parts->ns + "/" + parts->app + "/" + parts->instance;
        statuses.emplace(k, *s);
        if (with_instances) {
          auto j = ParseJson(kv.value);
          if (j) status_json.emplace(k, std::move(*j));
        }
        break;
      }
    }
  }
  for (auto& i : assigned) {
    std::string k = i.node_id + "/" + i.ns + "/" + i.app + "/" + i.id;
    if (auto it = statuses.find(k); it != statuses.end()) {
      i.state = it->second.state;
      i.ready_since_ms = it->second.ready_since_ms;
    }
    auto vit = views.find(i.node_id);
    if (vit == views.end()) continue;
    NodeView& v = vit->second;
    if (i.Live()) {
      v.allocated += i.resources;
      v.instances++;
      if (i.state == orch::InstanceState::kReady) v.ready++;
      v.ports.insert(v.ports.end(), i.host_ports.begin(), i.host_ports.end());
    }
    if (with_instances) {
      Json a = {{"namespace", i.ns},
                {"app", i.app},
                {"service", i.service},
                {"id", i.id},
                {"state", std::string(orch::ToString(i.state))},
                {"ready_since_ms", i.ready_since_ms},
                {"resources", ResourcesJson(i.resources)},
                {"host_ports", i.host_ports}};
      if (auto sit = status_json.find(k); sit != status_json.end()) {
        a["message"] = sit->second.value("message", std::string());
        a["ip"] = sit->second.value("ip", std::string());
        if (sit->second.contains("cpuMillis")) a["cpu_millis"] = sit->second["cpuMillis"];
        if (sit->second.contains("ports")) a["ports"] = sit->second["ports"];
      }
      v.assignments.push_back(std::move(a));
    }
  }
  // A status report without an assignment is not a node of its own.
  std::set<std::string> named;
  for (const auto& i : assigned) named.insert(i.node_id);
  std::erase_if(views, [&](const auto& kv) { return !kv.second.node && !named.count(kv.first); });
  return std::make_pair(std::move(views), kvs->revision);
}

// Read-modify-write of /nodes/<node> under compare-and-swap, keeping its lease.
Result<int64_t> UpdateNode(store::Store& store, const std::string& id,
                           const std::function<void(orch::Node&)>& change) {
  const std::string key = orch::NodeKey(id);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto cur = store.Get(key);
    if (!cur) return std::unexpected(cur.error());
    if (cur->kvs.empty()) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("node {} is not registered (no agent holds its lease)", id));
    }
    const auto& kv = cur->kvs.front();
    auto node = orch::NodeFromJson(kv.value);
    if (!node) return std::unexpected(Wrap(node.error(), key));
    change(*node);
    auto stored = ParseJson(kv.value);
    if (!stored) return std::unexpected(stored.error());
    Json j = orch::NodeToJsonValue(*node);
    for (auto& [k, v] : stored->items())
      if (!j.contains(k)) j[k] = v;  // address, registeredMs: kept
    store::TxnRequest txn;
    txn.compare.push_back({.key = key,
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = kv.mod_revision});
    txn.success.push_back(store::TxnOp::Put(key, j.dump(), kv.lease));
    auto r = store.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (r->succeeded) return r->revision;
  }
  return Fail(
      ErrorCode::kUnavailable,
      fmt::format("node {} changed {} times while being updated; try again", id, kCasAttempts));
}

Result<std::pair<Json, int64_t>> Register(store::Store& store, Clock& clock, const std::string& id,
                                          const Registration& reg) {
  const std::string key = orch::NodeKey(id);
  auto lease = store.GrantLease(reg.ttl_seconds);
  if (!lease) return std::unexpected(Wrap(lease.error(), "grant node lease"));
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto cur = store.Get(key);
    if (!cur) return std::unexpected(cur.error());
    orch::Node node = reg.node;
    store::TxnRequest txn;
    if (cur->kvs.empty()) {
      txn.compare.push_back({.key = key,
                             .target = store::Compare::Target::kVersion,
                             .op = store::Compare::Op::kEqual,
                             .number = 0});
    } else {
      const auto& kv = cur->kvs.front();
      // An operator's cordon or drain outlives the agent's restarts; down does not.
      if (auto old = orch::NodeFromJson(kv.value);
          old && (old->status == orch::NodeStatus::kCordoned ||
                  old->status == orch::NodeStatus::kDraining)) {
        node.status = old->status;
      }
      txn.compare.push_back({.key = key,
                             .target = store::Compare::Target::kModRevision,
                             .op = store::Compare::Op::kEqual,
                             .number = kv.mod_revision});
    }
    Json j = orch::NodeToJsonValue(node);
    j["address"] = reg.address;
    j["registeredMs"] = clock.WallMillis();
    txn.success.push_back(store::TxnOp::Put(key, j.dump(), *lease));
    auto r = store.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (!r->succeeded) continue;
    NodeView v;
    v.id = id;
    v.node = node;
    v.stored = j;
    v.lease = *lease;
    v.mod_revision = r->revision;
    return std::make_pair(Json{{"node", ViewJson(v, false)},
                               {"lease", *lease},
                               {"ttl_seconds", reg.ttl_seconds},
                               {"revision", r->revision}},
                          r->revision);
  }
  (void)store.RevokeLease(*lease);
  return Fail(
      ErrorCode::kUnavailable,
      fmt::format("node {} changed {} times while registering; try again", id, kCasAttempts));
}

std::string StatusKeyOf(const Call& call) {
  return orch::StatusKey(call.Param("node"), call.Param("ns"), call.Param("app"),
                         call.Param("instance"));
}

Result<void> CheckInstancePath(const Call& call) {
  if (auto r = CheckName("node", call.Param("node")); !r) return r;
  if (auto r = CheckName("namespace", call.Param("ns")); !r) return r;
  if (auto r = CheckName("app", call.Param("app")); !r) return r;
  return CheckName("instance", call.Param("instance"));
}

// The status body (orchestrator's InstanceReport), as it is stored.
Result<std::string> ParseStatus(const Call& call) {
  const input::Document body = BERTH_TRY(call.ReadBody());
  const orch::InstanceReport report = BERTH_TRY(orch::ReadInstanceReport(body.root()));
  return orch::InstanceReportToJson(report);
}

void WatchAssignments(const std::shared_ptr<Call>& call, store::Store& store, asio::io_context& io,
                      const std::string& node) {
  auto revision = call->QueryInt("revision", 0);
  if (!revision) return call->ReplyError(revision.error());
  if (*revision < 0) return call->ReplyError(Invalid("revision must be >= 0"));
  auto compact = store.CompactRevision();
  if (compact && *revision != 0 && *revision <= *compact) {
    return call->ReplyError(
        Error(ErrorCode::kCompacted,
              fmt::format("revision {} was compacted (compact revision {}); list the assignments "
                          "again and watch from the list's revision + 1",
                          *revision, *compact)));
  }
  const std::string prefix = orch::AssignmentsPrefix(node);
  auto stream = LineStream::Start(call, io);
  auto watcher = store.Watch(
      prefix, {.prefix = true, .start_revision = *revision}, [stream](store::WatchResponse&& resp) {
        if (resp.compacted || resp.canceled) {
          return stream->End(
              WatchEndedJson(resp.compacted, resp.compact_revision, resp.cancel_reason));
        }
        for (const auto& e : resp.events) {
          Json line{{"key", e.kv.key}, {"revision", e.kv.mod_revision}};
          if (e.type == store::Event::Type::kPut) {
            auto a = ParseJson(e.kv.value);
            if (!a) {
              log::Warn("api", "assignment {} is not JSON: {}", e.kv.key, a.error().message);
              continue;
            }
            line["type"] = "put";
            line["assignment"] = std::move(*a);
          } else {
            line["type"] = "delete";
          }
          if (!stream->Write(line)) return;
        }
      });
  if (!watcher) return stream->EndWithError(watcher.error());
  stream->SetFeed([w = std::shared_ptr<store::Watcher>(std::move(*watcher))] { w->Cancel(); });
  stream->KeepAlive(kKeepAliveEvery, [] { return Json{{"type", "progress"}}; });
}

EndpointHandler OnPool(asio::thread_pool& pool,
                       std::function<void(const std::shared_ptr<Call>&)> fn) {
  return [&pool, fn = std::move(fn)](std::shared_ptr<Call> call) {
    asio::post(pool, [fn, call = std::move(call)] { fn(call); });
  };
}

void SetStatus(Router& router, store::Store& store, asio::thread_pool& pool, std::string verb,
               orch::NodeStatus status) {
  router.Add({.method = "POST",
              .pattern = "/v1/nodes/{node}/" + verb,
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = OnPool(pool, [&store, status](const std::shared_ptr<Call>& call) {
                const std::string& node = call->Param("node");
                if (auto r = CheckName("node", node); !r) return call->ReplyError(r.error());
                auto r = UpdateNode(store, node, [status](orch::Node& n) { n.status = status; });
                if (!r) return call->ReplyError(r.error());
                auto views = ReadNodes(store, node, false);
                if (!views) return call->ReplyError(views.error());
                auto it = views->first.find(node);
                if (it == views->first.end()) {
                  return call->ReplyError(
                      Error(ErrorCode::kNotFound, "node " + node + " is not registered"));
                }
                log::Info("api", "node {} is now {}", node, orch::ToString(status));
                call->Reply(200, ViewJson(it->second, false));
              })});
}

// PUT /v1/nodes/{node}: an agent registers its node under a fresh lease.
void PutNode(store::Store& store, Clock& clock, const std::shared_ptr<Call>& call) {
  const std::string& node = call->Param("node");
  if (auto r = CheckName("node", node); !r) return call->ReplyError(r.error());
  auto body = call->ReadBody();
  if (!body) return call->ReplyError(body.error());
  auto reg = ParseRegistration(body->root(), node);
  if (!reg) return call->ReplyError(reg.error());
  auto r = Register(store, clock, node, *reg);
  if (!r) return call->ReplyError(r.error());
  log::Info("api", "node {} registered (address {}, lease ttl {}s)", node, reg->address,
            reg->ttl_seconds);
  call->Reply(200, r->first);
}

// POST /v1/nodes/{node}/heartbeat {"lease"}: keeps the registration's lease alive.
void Heartbeat(store::Store& store, const std::shared_ptr<Call>& call) {
  const std::string& node = call->Param("node");
  if (auto r = CheckName("node", node); !r) return call->ReplyError(r.error());
  auto body = call->ReadBody();
  if (!body) return call->ReplyError(body.error());
  int64_t lease = 0;
  input::Object o(body->root());
  o.Required("lease", lease,
             input::Int(1, INT64_MAX, "the positive lease id the registration returned"));
  if (auto done = o.Done(); !done) return call->ReplyError(done.error());
  auto cur = store.Get(orch::NodeKey(node));
  if (!cur) return call->ReplyError(cur.error());
  if (cur->kvs.empty() || cur->kvs.front().lease != lease) {
    return call->ReplyError(Error(
        ErrorCode::kNotFound,
        fmt::format("node {} is not registered under lease {}; register again", node, lease)));
  }
  auto ttl = store.KeepAlive(lease);
  if (!ttl) {
    if (ttl.error().code == ErrorCode::kNotFound) {
      return call->ReplyError(
          Error(ErrorCode::kNotFound,
                fmt::format("lease {} of node {} has expired; register again", lease, node)));
    }
    return call->ReplyError(ttl.error());
  }
  call->Reply(200, Json{{"lease", lease}, {"ttl_seconds", *ttl}});
}

// GET /v1/nodes/{node}: one node with its instances.
void GetNode(store::Store& store, const std::shared_ptr<Call>& call) {
  const std::string& node = call->Param("node");
  if (auto r = CheckName("node", node); !r) return call->ReplyError(r.error());
  auto views = ReadNodes(store, node, true);
  if (!views) return call->ReplyError(views.error());
  auto it = views->first.find(node);
  if (it == views->first.end()) {
    return call->ReplyError(Error(ErrorCode::kNotFound, "no node " + node));
  }
  Json j = ViewJson(it->second, true);
  j["read_revision"] = views->second;
  call->Reply(200, j);
}

// GET /v1/nodes/{node}/assignments[?watch]: the node's assignments, or a watch stream.
void GetAssignments(store::Store& store, asio::io_context& io, const std::shared_ptr<Call>& call) {
  const std::string& node = call->Param("node");
  if (auto r = CheckName("node", node); !r) return call->ReplyError(r.error());
  if (call->QueryFlag("watch")) return WatchAssignments(call, store, io, node);
  auto kvs = store.Get(orch::AssignmentsPrefix(node), {.prefix = true});
  if (!kvs) return call->ReplyError(kvs.error());
  Json list = Json::array();
  for (const auto& kv : kvs->kvs) {
    auto j = ParseJson(kv.value);
    if (!j) {
      log::Warn("api", "assignment {} is not JSON: {}", kv.key, j.error().message);
      continue;
    }
    list.push_back(std::move(*j));
  }
  call->Reply(200, Json{{"revision", kvs->revision}, {"assignments", std::move(list)}});
}

// PUT /v1/nodes/{node}/status/{ns}/{app}/{instance}: an agent's report, under the node's
// lease and only while the node is registered.
void PutInstanceStatus(store::Store& store, const std::shared_ptr<Call>& call) {
  if (auto r = CheckInstancePath(*call); !r) return call->ReplyError(r.error());
  auto value = ParseStatus(*call);
  if (!value) return call->ReplyError(value.error());
  const std::string node_key = orch::NodeKey(call->Param("node"));
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto cur = store.Get(node_key);
    if (!cur) return call->ReplyError(cur.error());
    if (cur->kvs.empty()) {
      return call->ReplyError(
          Error(ErrorCode::kNotFound,
                fmt::format("node {} is not registered; register it before reporting",
                            call->Param("node"))));
    }
    store::TxnRequest txn;
    txn.compare.push_back({.key = node_key,
                           .target = store::Compare::Target::kLease,
                           .op = store::Compare::Op::kEqual,
                           .number = cur->kvs.front().lease});
    txn.success.push_back(store::TxnOp::Put(StatusKeyOf(*call), *value, cur->kvs.front().lease));
    auto r = store.Txn(txn);
    if (!r) {
      if (r.error().code == ErrorCode::kNotFound) continue;  // the lease just expired
      return call->ReplyError(r.error());
    }
    if (r->succeeded) return call->Reply(200, Json{{"revision", r->revision}});
  }
  call->ReplyError(
      Error(ErrorCode::kNotFound,
            fmt::format("node {} is not registered; register again", call->Param("node"))));
}

// Registration, heartbeat, the node list, one node, cordon / uncordon / drain.
void RegisterMembershipEndpoints(Router& router, store::Store& store, Clock& clock,
                                 asio::thread_pool& pool) {
  router.Add({.method = "PUT",
              .pattern = "/v1/nodes/{node}",
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .mutating = true,
              .for_nodes = true,
              .handler = OnPool(pool, [&store, &clock](const std::shared_ptr<Call>& call) {
                PutNode(store, clock, call);
              })});
  router.Add({.method = "POST",
              .pattern = "/v1/nodes/{node}/heartbeat",
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .for_nodes = true,
              .handler = OnPool(
                  pool, [&store](const std::shared_ptr<Call>& call) { Heartbeat(store, call); })});
  router.Add({.method = "GET",
              .pattern = "/v1/nodes",
              .access = Access::kCluster,
              .handler = OnPool(pool, [&store](const std::shared_ptr<Call>& call) {
                auto views = ReadNodes(store, "", false);
                if (!views) return call->ReplyError(views.error());
                Json list = Json::array();
                for (const auto& [id, v] : views->first) list.push_back(ViewJson(v, false));
                call->Reply(200, Json{{"nodes", std::move(list)}, {"revision", views->second}});
              })});
  router.Add({.method = "GET",
              .pattern = "/v1/nodes/{node}",
              .access = Access::kCluster,
              .for_nodes = true,
              .handler = OnPool(
                  pool, [&store](const std::shared_ptr<Call>& call) { GetNode(store, call); })});
  SetStatus(router, store, pool, "cordon", orch::NodeStatus::kCordoned);
  SetStatus(router, store, pool, "uncordon", orch::NodeStatus::kReady);
  SetStatus(router, store, pool, "drain", orch::NodeStatus::kDraining);
}

// What the agents read and report: assignments, instance status.
void RegisterWorkEndpoints(Router& router, store::Store& store, asio::io_context& io,
                           asio::thread_pool& pool) {
  router.Add({.method = "GET",
              .pattern = "/v1/nodes/{node}/assignments",
              .access = Access::kCluster,
              .for_nodes = true,
              .handler = OnPool(pool, [&store, &io](const std::shared_ptr<Call>& call) {
                GetAssignments(store, io, call);
              })});
  router.Add({.method = "PUT",
              .pattern = "/v1/nodes/{node}/status/{ns}/{app}/{instance}",
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .for_nodes = true,
              .handler = OnPool(pool, [&store](const std::shared_ptr<Call>& call) {
                PutInstanceStatus(store, call);
              })});
  router.Add({.method = "DELETE",
              .pattern = "/v1/nodes/{node}/status/{ns}/{app}/{instance}",
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .for_nodes = true,
              .handler = OnPool(pool, [&store](const std::shared_ptr<Call>& call) {
                if (auto r = CheckInstancePath(*call); !r) return call->ReplyError(r.error());
                auto r = store.Delete(StatusKeyOf(*call));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"deleted", r->deleted}, {"revision", r->revision}});
              })});
}

}  // namespace

void RegisterNodeEndpoints(Router& router, store::Store& store, Clock& clock, asio::io_context& io,
                           asio::thread_pool& pool) {
  RegisterMembershipEndpoints(router, store, clock, pool);
  RegisterWorkEndpoints(router, store, io, pool);
}

}  // namespace berth::api
