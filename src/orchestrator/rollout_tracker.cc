#include "orchestrator/rollout_tracker.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "core/json.h"
#include "core/log.h"
#include "orchestrator/canary.h"
#include "orchestrator/service_key.h"

namespace berth::orchestrator {
namespace {

std::string Hex(uint64_t v) { return fmt::format("{:016x}", v); }
uint64_t FromHex(const std::string& s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return v;
}

RolloutPhase PhaseFrom(std::string_view s) {
  if (s == "complete") return RolloutPhase::kComplete;
  if (s == "failed") return RolloutPhase::kFailed;
  if (s == "paused") return RolloutPhase::kPaused;
  return RolloutPhase::kProgressing;
}

const CanaryRecord* FindCanary(const PassResult& pass, const std::string& key) {
  auto it = pass.canaries.find(key);
  return it == pass.canaries.end() ? nullptr : &it->second;
}

}  // namespace

RolloutTracker::RolloutTracker(store::Store& store, Clock& clock, AppStore& apps,
                               int32_t crash_loop_restarts)
    : store_(store), clock_(clock), apps_(apps), crash_loop_restarts_(crash_loop_restarts) {}

Result<void> RolloutTracker::Load() {
  rollouts_.clear();
  const int64_t now_ms = clock_.WallMillis();
  auto r = store_.Get(kRolloutsPrefix, {.prefix = true});
  if (!r) return std::unexpected(r.error());
  for (const auto& kv : r->kvs) {
    auto j = ParseJson(kv.value);
    if (!j || !j->is_object()) continue;
    Tracked t;
    t.from = FromHex(j->value("from", std::string()));
    t.to = FromHex(j->value("to", std::string()));
    t.phase = PhaseFrom(j->value("phase", std::string()));
    t.reason = j->value("reason", std::string());
    t.started_ms = j->value("started_ms", int64_t{0});
    t.is_rollback = j->value("is_rollback", false);
    t.rolled_back = j->value("rolled_back", false);
    t.canary = j->value("strategy", std::string()) == "canary";
    t.record = kv.value;
    // A new leader gives a progressing rollout a fresh progress deadline.
    if (t.phase == RolloutPhase::kProgressing) t.rollout.emplace(t.from, t.to, now_ms);
    rollouts_.emplace(kv.key.substr(kRolloutsPrefix.size()), std::move(t));
  }
  return {};
}

std::set<std::string> RolloutTracker::Complete() const {
  std::set<std::string> out;
  for (const auto& [key, t] : rollouts_) {
    if (t.phase == RolloutPhase::kComplete) out.insert(key);
  }
  return out;
}

std::vector<std::string> RolloutTracker::Track(const PassResult& pass,
                                               const store::Compare& guard) {
  std::unordered_map<std::string, std::vector<const Instance*>> by_service;
  for (const Instance& i : pass.instances) {
    by_service[ServiceKey(i.ns, i.app, i.service)].push_back(&i);
  }
  std::map<std::string, std::vector<Event>> events;  // by "ns/app"
  std::vector<std::string> rolled_back;
  std::set<std::string> seen;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& spec : app.services) {
      const std::string key = ServiceKey(app.ns, app.name, spec.name);
      seen.insert(key);
      TrackService({.app = app,
                    .spec = spec,
                    .key = key,
                    .instances = by_service[key],
                    .canary = FindCanary(pass, key),
                    .guard = guard,
                    .events = events[app.ns + "/" + app.name],
                    .rolled_back = rolled_back});
    }
  }
  for (auto it = rollouts_.begin(); it != rollouts_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (auto k = SplitServiceKey(it->first)) {
      store::TxnRequest txn;
      txn.compare.push_back(guard);
      txn.success.push_back(store::TxnOp::Delete(RolloutKey(k->ns, k->app, k->svc)));
      (void)store_.Txn(txn);
    }
    it = rollouts_.erase(it);
  }
  for (auto& [app_key, evs] : events) {
    if (evs.empty()) continue;
    auto slash = app_key.find('/');
    (void)apps_.RecordEvents(app_key.substr(0, slash), app_key.substr(slash + 1), std::move(evs));
  }
  return rolled_back;
}

void RolloutTracker::TrackService(const ServicePass& p) {
  const int64_t now_ms = clock_.WallMillis();
  const uint64_t to = p.spec.DeployHash();
  Observed o = Observe(p);
  Tracked& t = rollouts_[p.key];
  if (t.to != to) t = Begin(p, t, o);
  if (t.canary &&
      (p.spec.update.canary == 0 ||
       (p.canary && p.canary->state == CanaryState::kPromoted && p.canary->canary_hash == to))) {
    // Promoted (or the canary setting removed): the rest rolls out as a rolling update,
    // with a fresh progress deadline.
    t.canary = false;
    t.phase = RolloutPhase::kProgressing;
    t.reason.clear();
    t.failed.clear();
    t.failure.clear();
    t.rollout.emplace(t.from, to, now_ms);
  }
  const std::vector<const Instance*> failed_now = Failures(t, o);
  if (t.canary) {
    TrackCanary(p, t, o.new_available, failed_now);
  } else if (t.rollout) {
    ObserveRolling(p, t, o, failed_now);
  }
  WriteRecord(p, t, o);
}

RolloutTracker::Observed RolloutTracker::Observe(const ServicePass& p) const {
  const int64_t now_ms = clock_.WallMillis();
  const uint64_t to = p.spec.DeployHash();
  Observed o;
  for (const Instance* i : p.instances) {
    if (i->deploy_hash != to) {
      if (i->Live()) {
        ++o.outdated;
        ++o.old_hashes[i->deploy_hash];
      }
      continue;
    }
    if (i->state == InstanceState::kFailed) {
      o.failed_now.emplace_back(i, fmt::format("{} on {} failed", i->id, i->node_id));
    } else if (i->Live() && crash_loop_restarts_ > 0 && i->restarts >= crash_loop_restarts_) {
      o.crash_looping.push_back(i);
    }
    if (!i->Live()) continue;
    ++o.new_total;
    if (i->state == InstanceState::kReady &&
        now_ms - i->ready_since_ms >= p.spec.update.min_ready.count()) {
      ++o.new_available;
    }
  }
  return o;
}

RolloutTracker::Tracked RolloutTracker::Begin(const ServicePass& p, const Tracked& last,
                                              const Observed& o) const {
  const int64_t now_ms = clock_.WallMillis();
  const uint64_t to = p.spec.DeployHash();
  Tracked n;
  n.from = last.to;
  if (n.from == 0 && !o.old_hashes.empty()) {
    // The version most of the live instances run.
    n.from = std::max_element(o.old_hashes.begin(), o.old_hashes.end(), [](auto& a, auto& b) {
               return a.second < b.second;
             })->first;
  }
  n.to = to;
  n.started_ms = now_ms;
  n.is_rollback = last.rolled_back && to == last.from;
  n.rollout.emplace(n.from, to, now_ms);
  n.canary = p.canary && p.canary->state == CanaryState::kCanary && p.canary->canary_hash == to &&
             p.spec.update.canary > 0;
  if (n.canary) n.from = p.canary->stable_hash;
  for (const Instance* i : p.instances) {
    if (i->deploy_hash == to && i->restarts > 0) n.restarts_before[i->id] = i->restarts;
  }
  p.events.push_back(
      {now_ms, "Normal", p.spec.name, "RolloutStarted",
       n.canary
           ? fmt::format("canary of {} ({} beside {} stable replicas)", p.spec.image,
                         p.spec.update.canary, p.spec.replicas)
           : fmt::format("{} {} ({} replicas){}", n.from == 0 ? "deploying" : "rolling to",
                         p.spec.image, p.spec.replicas, n.is_rollback ? ", rolling back" : "")});
  return n;
}

std::vector<const Instance*> RolloutTracker::Failures(Tracked& t, Observed& o) const {
  // Crash loops: restarts since the rollout began (a rollback's old instances had some).
  for (const Instance* i : o.crash_looping) {
    auto b = t.restarts_before.find(i->id);
    int32_t since = i->restarts - (b == t.restarts_before.end() ? 0 : b->second);
    if (since < crash_loop_restarts_) continue;
    o.failed_now.emplace_back(
        i, fmt::format("{} on {} restarted {} times (crash loop)", i->id, i->node_id, since));
  }
  std::vector<const Instance*> failed;
  for (const auto& [i, why] : o.failed_now) {
    failed.push_back(i);
    if (t.failure.empty() && !t.failed.count(i->id)) t.failure = why;
  }
  return failed;
}

void RolloutTracker::ObserveRolling(const ServicePass& p, Tracked& t, const Observed& o,
                                    const std::vector<const Instance*>& failed_now) {
  const int64_t now_ms = clock_.WallMillis();
  for (const Instance* i : failed_now) t.failed.insert(i->id);
  RolloutObservation seen{now_ms, o.new_available, static_cast<int64_t>(t.failed.size()),
                          o.outdated, t.failure};
  RolloutPhase phase = t.rollout->Observe(p.spec, seen);
  if (phase == RolloutPhase::kComplete) {
    t.phase = phase;
    p.events.push_back({now_ms, "Normal", p.spec.name, "RolloutComplete",
                        fmt::format("{} of {} replicas of {} available", o.new_available,
                                    p.spec.replicas, p.spec.image)});
    t.rollout.reset();
  } else if (phase == RolloutPhase::kFailed) {
    t.phase = phase;
    t.reason = t.rollout->reason();
    p.events.push_back({now_ms, "Warning", p.spec.name, "RolloutFailed", t.reason});
    if (t.rollout->ShouldRollBack(p.spec) && !t.is_rollback && t.from != 0) RollBack(p, t);
    t.rollout.reset();
  }
}

void RolloutTracker::RollBack(const ServicePass& p, Tracked& t) {
  const int64_t now_ms = clock_.WallMillis();
  auto hist = apps_.History(p.app.ns, p.app.name, p.spec.name);
  int64_t target = 0;
  if (hist) {
    for (auto it = hist->rbegin(); it != hist->rend(); ++it) {
      if (it->deploy_hash == t.from) {
        target = it->revision;
        break;
      }
    }
  }
  if (target == 0) {
    p.events.push_back({now_ms, "Warning", p.spec.name, "RollbackImpossible",
                        "no rollout history holds the previous version"});
    return;
  }
  auto u = apps_.Undo(p.app.ns, p.app.name, p.spec.name, target, t.reason, p.guard);
  if (!u) {
    p.events.push_back({now_ms, "Warning", p.spec.name, "RollbackFailed", u.error().message});
    return;
  }
  t.rolled_back = true;
  p.rolled_back.push_back(p.key);
  log::Warn("orchestrator", "{}: rolled back to revision {}: {}", p.key, target, t.reason);
}

void RolloutTracker::TrackCanary(const ServicePass& p, Tracked& t, int64_t new_available,
                                 const std::vector<const Instance*>& failed_now) {
  const int64_t now_ms = clock_.WallMillis();
  ServiceSpec half = p.spec;  // the canary half: update.canary replicas, nothing outdated
  half.replicas = p.spec.update.canary;
  for (const Instance* i : failed_now) t.failed.insert(i->id);
  const int64_t failed = static_cast<int64_t>(t.failed.size());
  std::string failure;
  if (t.phase == RolloutPhase::kProgressing) {
    if (!t.rollout) t.rollout.emplace(t.from, t.to, now_ms);
    RolloutPhase phase = t.rollout->Observe(half, {now_ms, new_available, failed, 0, t.failure});
    if (phase == RolloutPhase::kComplete) {
      t.phase = RolloutPhase::kPaused;
      t.rollout.reset();
      p.events.push_back(
          {now_ms, "Normal", p.spec.name, "CanaryReady",
           fmt::format("{} of {} canary instances of {} available; promote or abort "
                       "with berth rollout promote|abort {}/{}",
                       new_available, half.replicas, p.spec.image, p.app.name, p.spec.name)});
      return;
    }
    if (phase == RolloutPhase::kFailed) failure = t.rollout->reason();
  } else if (t.phase == RolloutPhase::kPaused) {
    const int64_t budget = std::max<int64_t>(1, half.update.Resolve(half.replicas).second);
    if (failed >= budget) {
      failure = fmt::format("{} canary instance{} failed (budget {})", failed,
                            failed == 1 ? "" : "s", budget);
    }
  }
  if (failure.empty()) return;
  t.phase = RolloutPhase::kFailed;
  t.reason = "canary: " + failure;
  t.rollout.reset();
  p.events.push_back({now_ms, "Warning", p.spec.name, "RolloutFailed", t.reason});
  if (!p.spec.update.auto_rollback || t.is_rollback) return;
  auto a = apps_.Abort(p.app.ns, p.app.name, p.spec.name, t.reason, p.guard);
  if (!a) {
    p.events.push_back({now_ms, "Warning", p.spec.name, "RollbackFailed", a.error().message});
    return;
  }
  t.rolled_back = true;
  p.rolled_back.push_back(p.key);
  log::Warn("orchestrator", "{}: canary aborted: {}", p.key, t.reason);
}

void RolloutTracker::WriteRecord(const ServicePass& p, Tracked& t, const Observed& o) {
  Json rec{{"from", Hex(t.from)},
           {"to", Hex(t.to)},
           {"image", p.spec.image},
           {"phase", std::string(ToString(t.phase))},
           {"reason", t.reason},
           {"started_ms", t.started_ms},
           {"desired", p.spec.replicas},
           {"new_total", o.new_total},
           {"new_available", o.new_available},
           {"new_failed", static_cast<int64_t>(t.failed.size())},
           {"outdated", o.outdated},
           {"is_rollback", t.is_rollback},
           {"rolled_back", t.rolled_back}};
  if (t.canary) rec["strategy"] = "canary";
  if (p.canary) {
    int64_t stable_total = 0, stable_available = 0;
    for (const Instance* i : p.instances) {
      if (i->deploy_hash != p.canary->stable_hash || !i->Live()) continue;
      ++stable_total;
      stable_available += i->state == InstanceState::kReady;
    }
    rec["canary"] = Json{{"state", std::string(ToString(p.canary->state))},
                         {"replicas", p.spec.update.canary},
                         {"weight", p.spec.expose.empty() ? 0 : p.spec.expose[0].canary_weight},
                         {"stable", Hex(p.canary->stable_hash)},
                         {"stable_image", p.canary->stable.image},
                         {"stable_total", stable_total},
                         {"stable_available", stable_available}};
  }
  std::string text = rec.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text == t.record) return;
  store::TxnRequest txn;
  txn.compare.push_back(p.guard);
  txn.success.push_back(store::TxnOp::Put(RolloutKey(p.app.ns, p.app.name, p.spec.name), text));
  auto w = store_.Txn(txn);
  if (w && w->succeeded) t.record = std::move(text);
}

}  // namespace berth::orchestrator
