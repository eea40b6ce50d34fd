#include "orchestrator/placement_status.h"

#include <fmt/core.h>

#include <set>
#include <vector>

#include "core/json.h"
#include "orchestrator/service_key.h"

namespace berth::orchestrator {

Result<void> PlacementStatus::Load() {
  Clear();
  auto s = store_.Get(kStatusPrefix, {.prefix = true});
  if (!s) return std::unexpected(s.error());
  for (const auto& kv : s->kvs) {
    status_[kv.key] = kv.value;
    auto j = ParseJson(kv.value);
    if (!j || !j->is_object() || !j->contains("services") || !(*j)["services"].is_object()) {
      continue;
    }
    const std::string app = kv.key.substr(kStatusPrefix.size());
    for (const auto& [svc, v] : (*j)["services"].items()) {
      for (const char* field : {"unschedulable", "waiting"}) {
        if (v.is_object() && v.contains(field) && v[field].is_object()) {
          unplaceable_[app + "/" + svc] = v[field].value("reason", "");
        }
      }
    }
  }
  return {};
}

void PlacementStatus::Clear() {
  status_.clear();
  unplaceable_.clear();
}

std::map<std::string, std::vector<Event>> PlacementStatus::Changes(const PassResult& pass) {
  const int64_t now_ms = clock_.WallMillis();
  std::map<std::string, std::vector<Event>> events;
  std::set<std::string> still;
  for (const auto& u : pass.unplaceable) {
    std::string key = ServiceKey(u.ns, u.app, u.service);
    still.insert(key);
    auto it = unplaceable_.find(key);
    if (it != unplaceable_.end() && it->second == u.reason) continue;
    const char* s_replicas = u.count == 1 ? "" : "s";
    events[u.ns + "/" + u.app].push_back(
        u.waiting_for_nodes
            ? Event{now_ms, "Normal", u.service, "WaitingForNodes",
                    fmt::format("{} replica{} pending: {}", u.count, s_replicas, u.reason)}
            : Event{
                  now_ms, "Warning", u.service, "Unschedulable",
                  fmt::format("{} replica{} cannot be placed: {}", u.count, s_replicas, u.reason)});
    unplaceable_[key] = u.reason;
  }
  for (auto it = unplaceable_.begin(); it != unplaceable_.end();) {
    if (still.count(it->first)) {
      ++it;
      continue;
    }
    if (auto k = SplitServiceKey(it->first)) {
      events[k->ns + "/" + k->app].push_back(
          {now_ms, "Normal", k->svc, "Scheduled", "every replica has a node"});
    }
    it = unplaceable_.erase(it);
  }
  return events;
}

void PlacementStatus::Write(const PassResult& pass, const store::Compare& guard) {
  std::map<std::string, Json> status;  // by status key
  for (const App& app : pass.apps) status[AppStatusKey(app.ns, app.name)] = Json::object();
  for (const auto& u : pass.unplaceable) {
    // No node yet (a first start racing its own node's join): pending, not a failure.
    const char* field = u.waiting_for_nodes ? "waiting" : "unschedulable";
    status[AppStatusKey(u.ns, u.app)][u.service] =
        Json{{field, {{"count", u.count}, {"reason", u.reason}}}};
  }
  auto events = Changes(pass);
  store::TxnRequest txn;
  txn.compare.push_back(guard);
  std::vector<std::pair<std::string, std::string>> written;
  for (auto& [key, services] : status) {
    std::string text =
        Json{{"services", services}}.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (status_[key] == text) continue;
    txn.success.push_back(store::TxnOp::Put(key, text));
    written.emplace_back(key, std::move(text));
  }
  for (auto it = status_.begin(); it != status_.end();) {
    if (status.count(it->first)) {
      ++it;
      continue;
    }
    txn.success.push_back(store::TxnOp::Delete(it->first));
    it = status_.erase(it);
  }
  if (!txn.success.empty()) {
    auto r = store_.Txn(txn);
    if (r && r->succeeded) {
      for (auto& [k, v] : written) status_[k] = std::move(v);
    }
  }
  for (auto& [app_key, evs] : events) {
    auto slash = app_key.find('/');
    (void)apps_.RecordEvents(app_key.substr(0, slash), app_key.substr(slash + 1), std::move(evs));
  }
}

}  // namespace berth::orchestrator
