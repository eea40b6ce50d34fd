#include "orchestrator/canary_collector.h"

#include <map>
#include <unordered_map>

#include "core/log.h"
#include "orchestrator/service_key.h"

namespace berth::orchestrator {

bool CanaryDone(const CanaryRecord& record, const ServiceSpec* current,
                const std::set<uint64_t>& live, bool rollout_complete) {
  if (current == nullptr) return true;
  const uint64_t hash = current->DeployHash();
  const bool only_current = live.empty() || (live.size() == 1 && *live.begin() == hash);
  switch (record.state) {
    case CanaryState::kCanary:
      // Written around AppStore (stale), or the canary setting was removed in place.
      return record.canary_hash != hash || current->update.canary == 0;
    case CanaryState::kPromoted:
      return record.canary_hash != hash || (rollout_complete && only_current);
    case CanaryState::kAborted:
      return record.stable_hash != hash || only_current;
  }
  return false;
}

std::set<std::string> CanaryCollector::Collect(const PassResult& pass,
                                               const std::set<std::string>& complete,
                                               const store::Compare& guard) {
  std::set<std::string> collected;
  std::unordered_map<std::string, std::set<uint64_t>> versions;  // live deploy hashes
  for (const Instance& i : pass.instances) {
    if (i.Live()) versions[ServiceKey(i.ns, i.app, i.service)].insert(i.deploy_hash);
  }
  std::map<std::string, const ServiceSpec*> specs;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& s : app.services) specs[ServiceKey(app.ns, app.name, s.name)] = &s;
  }
  for (const auto& [key, rec] : pass.canaries) {
    auto sit = specs.find(key);
    const ServiceSpec* current = sit == specs.end() ? nullptr : sit->second;
    if (!CanaryDone(rec, current, versions[key], complete.count(key) > 0)) continue;
    auto k = SplitServiceKey(key);
    if (!k) continue;
    const std::string record_key = CanaryKey(k->ns, k->app, k->svc);
    store::TxnRequest txn;
    txn.compare.push_back(guard);
    txn.compare.push_back({.key = record_key,
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = rec.mod_revision});
    txn.success.push_back(store::TxnOp::Delete(record_key));
    auto w = store_.Txn(txn);
    if (!w) log::Warn("orchestrator", "controller: delete canary {}: {}", key, w.error().message);
    if (w && w->succeeded) collected.insert(key);
  }
  return collected;
}

}  // namespace berth::orchestrator
