#include "orchestrator/controller.h"

#include <fmt/core.h>

#include <charconv>
#include <unordered_map>

#include "core/json.h"
#include "core/log.h"
#include "gateway/load_report.h"
#include "gateway/route_spec.h"
#include "orchestrator/canary.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator {
namespace {

std::string Hex(uint64_t v) { return fmt::format("{:016x}", v); }
uint64_t FromHex(const std::string& s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return v;
}
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

RolloutPhase PhaseFrom(std::string_view s) {
  if (s == "complete") return RolloutPhase::kComplete;
  if (s == "failed") return RolloutPhase::kFailed;
  if (s == "paused") return RolloutPhase::kPaused;
  return RolloutPhase::kProgressing;
}

// "ns/app/svc" -> its parts.
struct SvcKey {
  std::string ns, app, svc;
};
std::optional<SvcKey> SplitSvcKey(std::string_view k) {
  auto a = k.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = k.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  return SvcKey{std::string(k.substr(0, a)), std::string(k.substr(a + 1, b - a - 1)),
                std::string(k.substr(b + 1))};
}

const CanaryRecord* FindCanary(const PassResult& pass, const std::string& key) {
  auto it = pass.canaries.find(key);
  return it == pass.canaries.end() ? nullptr : &it->second;
}

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

}  // namespace

Controller::Controller(store::Store& store, Clock& clock, Random& random, ControllerOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      reconciler_(store, clock, random, options_.reconciler),
      apps_(store, clock),
      election_(store, clock,
                {.key = std::string(kLeaderKey),
                 .id = options_.id,
                 .ttl_seconds = options_.lease_ttl_seconds}) {}

Controller::~Controller() { Stop(); }

Result<void> Controller::Start() {
  auto watch = [this](store::WatchResponse&& r) {
    std::lock_guard lock(mu_);
    if (r.canceled || r.compacted) {
      rewatch_ = true;
    } else {
      dirty_ = true;
    }
    cv_.notify_all();
  };
  for (auto prefix : {kAppsPrefix, kNodesPrefix}) {
    auto w = store_.Watch(prefix, {.prefix = true}, watch);
    if (!w) return std::unexpected(Wrap(w.error(), "controller: watch"));
    (prefix == kAppsPrefix ? watcher_ : nodes_watcher_) = std::move(*w);
  }
  // The first step before returning, so a single server leads (and the store has settled)
  // before its API serves.
  if (auto r = Tick(); !r) {
    log::Warn("orchestrator", "controller {}: {}", options_.id, r.error().message);
  }
  thread_ = std::thread([this] { Loop(); });
  return {};
}

void Controller::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (watcher_) watcher_->Cancel();
  if (nodes_watcher_) nodes_watcher_->Cancel();
  watcher_.reset();
  nodes_watcher_.reset();
  if (leading_) {
    election_.Resign();
    StepDown("stopped");
  }
}

void Controller::Loop() {
  while (true) {
    bool rewatch = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.interval, [&] { return dirty_ || stop_; });
      if (stop_) return;
      if (dirty_) {
        // Debounce: a burst of writes (an apply, a node's reports) makes one pass.
        cv_.wait_for(lock, options_.debounce, [&] { return stop_; });
        if (stop_) return;
      }
      dirty_ = false;
      rewatch = std::exchange(rewatch_, false);
    }
    if (rewatch) {
      for (auto prefix : {kAppsPrefix, kNodesPrefix}) {
        auto w = store_.Watch(prefix, {.prefix = true}, [this](store::WatchResponse&& r) {
          std::lock_guard lock(mu_);
          (r.canceled || r.compacted ? rewatch_ : dirty_) = true;
          cv_.notify_all();
        });
        if (!w) {
          log::Warn("orchestrator", "controller: watch {}: {}", prefix, w.error().message);
          std::lock_guard lock(mu_);
          rewatch_ = true;
          continue;
        }
        (prefix == kAppsPrefix ? watcher_ : nodes_watcher_) = std::move(*w);
      }
    }
    auto r = Tick();
    if (!r) log::Warn("orchestrator", "controller {}: {}", options_.id, r.error().message);
  }
}

void Controller::OnElected() {
  leading_ = true;
  reconciler_.set_guard(election_.Guard());
  log::Info("orchestrator", "controller {} leads (lease {})", options_.id, election_.lease());
  if (auto l = LoadRecords(); !l) {
    log::Warn("orchestrator", "controller: load records: {}", l.error().message);
  }
}

void Controller::StepDown(std::string_view why) {
  if (!leading_) return;
  log::Info("orchestrator", "controller {} steps down: {}", options_.id, why);
  leading_ = false;
  election_.StepDown();
  reconciler_.set_guard(std::nullopt);
  rollouts_.clear();
  status_.clear();
  unplaceable_.clear();
  autoscalers_.clear();
}

Result<void> Controller::LoadRecords() {
  rollouts_.clear();
  status_.clear();
  unplaceable_.clear();
  autoscalers_.clear();
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
  auto s = store_.Get(kStatusPrefix, {.prefix = true});
  if (!s) return std::unexpected(s.error());
  for (const auto& kv : s->kvs) {
    status_[kv.key] = kv.value;
    auto j = ParseJson(kv.value);
    if (!j || !j->is_object() || !j->contains("services")) continue;
    std::string app = kv.key.substr(kStatusPrefix.size());
    for (const auto& [svc, v] : (*j)["services"].items()) {
      for (const char* field : {"unschedulable", "waiting"}) {
        if (v.contains(field)) unplaceable_[app + "/" + svc] = v[field].value("reason", "");
      }
    }
  }
  return {};
}

Result<TickResult> Controller::Tick() {
  TickResult out;
  auto lead = election_.Tick();
  if (!lead) return std::unexpected(Wrap(lead.error(), "controller"));
  if (!*lead) {
    StepDown(election_.last_loss());
    return out;
  }
  if (!leading_) OnElected();
  auto planned = reconciler_.Plan();
  if (!planned) return std::unexpected(planned.error());
  const PassResult& pass = planned->result;
  for (const auto& s : pass.skipped) log::Warn("orchestrator", "skipped {}", s);
  // The bookkeeping before the plan is written: a route moves off instances (an aborted
  // canary's) before the plan's stops reach their agents.
  Bookkeep(pass, out);
  if (auto c = reconciler_.Commit(*planned); !c) {
    if (c.error().code == ErrorCode::kFailedPrecondition) {
      StepDown(c.error().message);
      return TickResult{};
    }
    return std::unexpected(c.error());
  }
  out.leading = leading_;
  out.pass = std::move(planned->result);
  return out;
}

void Controller::Bookkeep(const PassResult& pass, TickResult& out) {
  TrackRollouts(pass, out);
  const std::set<std::string> canaries_done = CollectCanaries(pass);
  WriteStatus(pass);
  // Canaries this pass aborted (TrackCanary) route to stable at once.
  const std::set<std::string> aborted(out.rolled_back.begin(), out.rolled_back.end());
  SyncRoutes(pass, canaries_done, aborted);
  RunAutoscalers(pass, out);
}

void Controller::TrackRollouts(const PassResult& pass, TickResult& out) {
  const int64_t now_ms = clock_.WallMillis();
  std::unordered_map<std::string, std::vector<const Instance*>> by_service;
  for (const Instance& i : pass.instances) {
    by_service[fmt::format("{}/{}/{}", i.ns, i.app, i.service)].push_back(&i);
  }
  std::map<std::string, std::vector<Event>> events;  // by "ns/app"
  std::set<std::string> seen;
  const store::Compare guard = election_.Guard();
  for (const App& app : pass.apps) {
    for (const ServiceSpec& spec : app.services) {
      const std::string key = fmt::format("{}/{}/{}", app.ns, app.name, spec.name);
      seen.insert(key);
      const uint64_t to = spec.DeployHash();
      int64_t new_total = 0, new_available = 0, outdated = 0;
      std::map<uint64_t, int> old_hashes;
      std::vector<std::pair<const Instance*, std::string>> failed_now;  // and why
      std::vector<const Instance*> crash_looping;  // candidates: restarted often enough
      for (const Instance* i : by_service[key]) {
        if (i->deploy_hash == to) {
          if (i->state == InstanceState::kFailed) {
            failed_now.emplace_back(i, fmt::format("{} on {} failed", i->id, i->node_id));
          } else if (i->Live() && options_.crash_loop_restarts > 0 &&
                     i->restarts >= options_.crash_loop_restarts) {
            crash_looping.push_back(i);
          }
          if (!i->Live()) continue;
          ++new_total;
          if (i->state == InstanceState::kReady &&
              now_ms - i->ready_since_ms >= spec.update.min_ready.count()) {
            ++new_available;
          }
        } else if (i->Live()) {
          ++outdated;
          ++old_hashes[i->deploy_hash];
        }
      }
      auto& evs = events[app.ns + "/" + app.name];
      Tracked& t = rollouts_[key];
      const CanaryRecord* canary = FindCanary(pass, key);
      if (t.to != to) {
        Tracked n;
        n.from = t.to;
        if (n.from == 0 && !old_hashes.empty()) {
          n.from = std::max_element(old_hashes.begin(), old_hashes.end(), [](auto& a, auto& b) {
                     return a.second < b.second;
                   })->first;
        }
        n.to = to;
        n.started_ms = now_ms;
        n.is_rollback = t.rolled_back && to == t.from;
        n.rollout.emplace(n.from, to, now_ms);
        n.canary = canary && canary->state == CanaryState::kCanary && canary->canary_hash == to &&
                   spec.update.canary > 0;
        if (n.canary) n.from = canary->stable_hash;
        for (const Instance* i : by_service[key]) {
          if (i->deploy_hash == to && i->restarts > 0) n.restarts_before[i->id] = i->restarts;
        }
        evs.push_back(
            {now_ms, "Normal", spec.name, "RolloutStarted",
             n.canary
                 ? fmt::format("canary of {} ({} beside {} stable replicas)", spec.image,
                               spec.update.canary, spec.replicas)
                 : fmt::format("{} {} ({} replicas){}", n.from == 0 ? "deploying" : "rolling to",
                               spec.image, spec.replicas, n.is_rollback ? ", rolling back" : "")});
        t = std::move(n);
      }
      if (t.canary &&
          (spec.update.canary == 0 ||
           (canary && canary->state == CanaryState::kPromoted && canary->canary_hash == to))) {
        // Promoted (or the canary setting removed): the rest rolls out as a rolling update,
        // with a fresh progress deadline.
        t.canary = false;
        t.phase = RolloutPhase::kProgressing;
        t.reason.clear();
        t.failed.clear();
        t.failure.clear();
        t.rollout.emplace(t.from, to, now_ms);
      }
      // Crash loops: restarts since the rollout began (a rollback's old instances had some).
      for (const Instance* i : crash_looping) {
        auto b = t.restarts_before.find(i->id);
        int32_t since = i->restarts - (b == t.restarts_before.end() ? 0 : b->second);
        if (since < options_.crash_loop_restarts) continue;
        failed_now.emplace_back(
            i, fmt::format("{} on {} restarted {} times (crash loop)", i->id, i->node_id, since));
      }
      std::vector<const Instance*> failed_instances;
      for (const auto& [i, why] : failed_now) {
        failed_instances.push_back(i);
        if (t.failure.empty() && !t.failed.count(i->id)) t.failure = why;
      }
      if (t.canary) {
        TrackCanary(app, spec, t, new_available, failed_instances, evs, out);
      } else if (t.rollout) {
        for (const Instance* i : failed_instances) t.failed.insert(i->id);
        RolloutObservation o{now_ms, new_available, static_cast<int64_t>(t.failed.size()), outdated,
                             t.failure};
        RolloutPhase phase = t.rollout->Observe(spec, o);
        if (phase == RolloutPhase::kComplete) {
          t.phase = phase;
          evs.push_back({now_ms, "Normal", spec.name, "RolloutComplete",
                         fmt::format("{} of {} replicas of {} available", new_available,
                                     spec.replicas, spec.image)});
          t.rollout.reset();
        } else if (phase == RolloutPhase::kFailed) {
          t.phase = phase;
          t.reason = t.rollout->reason();
          evs.push_back({now_ms, "Warning", spec.name, "RolloutFailed", t.reason});
          if (t.rollout->ShouldRollBack(spec) && !t.is_rollback && t.from != 0) {
            auto hist = apps_.History(app.ns, app.name, spec.name);
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
              evs.push_back({now_ms, "Warning", spec.name, "RollbackImpossible",
                             "no rollout history holds the previous version"});
            } else {
              auto u = apps_.Undo(app.ns, app.name, spec.name, target, t.reason, guard);
              if (u) {
                t.rolled_back = true;
                out.rolled_back.push_back(key);
                log::Warn("orchestrator", "{}: rolled back to revision {}: {}", key, target,
                          t.reason);
              } else {
                evs.push_back({now_ms, "Warning", spec.name, "RollbackFailed", u.error().message});
              }
            }
          }
          t.rollout.reset();
        }
      }
      Json rec{{"from", Hex(t.from)},
               {"to", Hex(t.to)},
               {"image", spec.image},
               {"phase", std::string(ToString(t.phase))},
               {"reason", t.reason},
               {"started_ms", t.started_ms},
               {"desired", spec.replicas},
               {"new_total", new_total},
               {"new_available", new_available},
               {"new_failed", static_cast<int64_t>(t.failed.size())},
               {"outdated", outdated},
               {"is_rollback", t.is_rollback},
               {"rolled_back", t.rolled_back}};
      if (t.canary) rec["strategy"] = "canary";
      if (canary) {
        int64_t stable_total = 0, stable_available = 0;
        for (const Instance* i : by_service[key]) {
          if (i->deploy_hash != canary->stable_hash || !i->Live()) continue;
          ++stable_total;
          stable_available += i->state == InstanceState::kReady;
        }
        rec["canary"] = Json{{"state", std::string(ToString(canary->state))},
                             {"replicas", spec.update.canary},
                             {"weight", spec.expose.empty() ? 0 : spec.expose[0].canary_weight},
                             {"stable", Hex(canary->stable_hash)},
                             {"stable_image", canary->stable.image},
                             {"stable_total", stable_total},
                             {"stable_available", stable_available}};
      }
      std::string text = Dump(rec);
      if (text != t.record) {
        store::TxnRequest txn;
        txn.compare.push_back(guard);
        txn.success.push_back(store::TxnOp::Put(RolloutKey(app.ns, app.name, spec.name), text));
        auto w = store_.Txn(txn);
        if (w && w->succeeded) t.record = std::move(text);
      }
    }
  }
  for (auto it = rollouts_.begin(); it != rollouts_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (auto k = SplitSvcKey(it->first)) (void)store_.Delete(RolloutKey(k->ns, k->app, k->svc));
    it = rollouts_.erase(it);
  }
  for (auto& [app_key, evs] : events) {
    if (evs.empty()) continue;
    auto slash = app_key.find('/');
    (void)apps_.RecordEvents(app_key.substr(0, slash), app_key.substr(slash + 1), std::move(evs));
  }
}

void Controller::TrackCanary(const App& app, const ServiceSpec& spec, Tracked& t,
                             int64_t new_available, const std::vector<const Instance*>& failed_now,
                             std::vector<Event>& evs, TickResult& out) {
  const int64_t now_ms = clock_.WallMillis();
  const std::string key = fmt::format("{}/{}/{}", app.ns, app.name, spec.name);
  ServiceSpec half = spec;  // the canary half: update.canary replicas, nothing outdated
  half.replicas = spec.update.canary;
  for (const Instance* i : failed_now) t.failed.insert(i->id);
  const int64_t failed = static_cast<int64_t>(t.failed.size());
  std::string failure;
  if (t.phase == RolloutPhase::kProgressing) {
    if (!t.rollout) t.rollout.emplace(t.from, t.to, now_ms);
    RolloutPhase phase = t.rollout->Observe(half, {now_ms, new_available, failed, 0, t.failure});
    if (phase == RolloutPhase::kComplete) {
      t.phase = RolloutPhase::kPaused;
      t.rollout.reset();
      evs.push_back({now_ms, "Normal", spec.name, "CanaryReady",
                     fmt::format("{} of {} canary instances of {} available; promote or abort "
                                 "with berth rollout promote|abort {}/{}",
                                 new_available, half.replicas, spec.image, app.name, spec.name)});
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
  evs.push_back({now_ms, "Warning", spec.name, "RolloutFailed", t.reason});
  if (!spec.update.auto_rollback || t.is_rollback) return;
  auto a = apps_.Abort(app.ns, app.name, spec.name, t.reason, election_.Guard());
  if (a) {
    t.rolled_back = true;
    out.rolled_back.push_back(key);
    log::Warn("orchestrator", "{}: canary aborted: {}", key, t.reason);
  } else {
    evs.push_back({now_ms, "Warning", spec.name, "RollbackFailed", a.error().message});
  }
}

std::set<std::string> Controller::CollectCanaries(const PassResult& pass) {
  std::set<std::string> collected;
  std::unordered_map<std::string, std::set<uint64_t>> versions;  // live deploy hashes
  for (const Instance& i : pass.instances) {
    if (i.Live()) versions[fmt::format("{}/{}/{}", i.ns, i.app, i.service)].insert(i.deploy_hash);
  }
  std::map<std::string, const ServiceSpec*> specs;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& s : app.services) {
      specs[fmt::format("{}/{}/{}", app.ns, app.name, s.name)] = &s;
    }
  }
  for (const auto& [key, rec] : pass.canaries) {
    auto sit = specs.find(key);
    bool done = sit == specs.end();
    if (!done) {
      const uint64_t hash = sit->second->DeployHash();
      const auto& live = versions[key];
      const bool only_current = live.empty() || (live.size() == 1 && *live.begin() == hash);
      switch (rec.state) {
        case CanaryState::kCanary:
          // Written around AppStore (stale), or the canary setting was removed in place.
          done = rec.canary_hash != hash || sit->second->update.canary == 0;
          break;
        case CanaryState::kPromoted: {
          auto t = rollouts_.find(key);
          done =
              rec.canary_hash != hash ||
              (t != rollouts_.end() && t->second.phase == RolloutPhase::kComplete && only_current);
          break;
        }
        case CanaryState::kAborted:
          done = rec.stable_hash != hash || only_current;
          break;
      }
    }
    if (!done) continue;
    auto k = SplitSvcKey(key);
    if (!k) continue;
    store::TxnRequest txn;
    txn.compare.push_back(election_.Guard());
    txn.compare.push_back({.key = CanaryKey(k->ns, k->app, k->svc),
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = rec.mod_revision});
    txn.success.push_back(store::TxnOp::Delete(CanaryKey(k->ns, k->app, k->svc)));
    auto w = store_.Txn(txn);
    if (!w) log::Warn("orchestrator", "controller: delete canary {}: {}", key, w.error().message);
    if (w && w->succeeded) collected.insert(key);
  }
  return collected;
}

void Controller::WriteStatus(const PassResult& pass) {
  const int64_t now_ms = clock_.WallMillis();
  std::map<std::string, Json> status;  // by status key
  std::map<std::string, std::vector<Event>> events;
  for (const App& app : pass.apps) status[AppStatusKey(app.ns, app.name)] = Json::object();
  std::set<std::string> still;
  for (const auto& u : pass.unplaceable) {
    Json& s = status[AppStatusKey(u.ns, u.app)];
    // No node yet (a first start racing its own node's join): pending, not a failure.
    const char* field = u.waiting_for_nodes ? "waiting" : "unschedulable";
    s[u.service] = Json{{field, {{"count", u.count}, {"reason", u.reason}}}};
    std::string key = fmt::format("{}/{}/{}", u.ns, u.app, u.service);
    still.insert(key);
    auto it = unplaceable_.find(key);
    if (it == unplaceable_.end() || it->second != u.reason) {
      const char* s_replicas = u.count == 1 ? "" : "s";
      events[u.ns + "/" + u.app].push_back(
          u.waiting_for_nodes
              ? Event{now_ms, "Normal", u.service, "WaitingForNodes",
                      fmt::format("{} replica{} pending: {}", u.count, s_replicas, u.reason)}
              : Event{now_ms, "Warning", u.service, "Unschedulable",
                      fmt::format("{} replica{} cannot be placed: {}", u.count, s_replicas,
                                  u.reason)});
      unplaceable_[key] = u.reason;
    }
  }
  for (auto it = unplaceable_.begin(); it != unplaceable_.end();) {
    if (still.count(it->first)) {
      ++it;
      continue;
    }
    if (auto k = SplitSvcKey(it->first)) {
      events[k->ns + "/" + k->app].push_back(
          {now_ms, "Normal", k->svc, "Scheduled", "every replica has a node"});
    }
    it = unplaceable_.erase(it);
  }
  store::TxnRequest txn;
  txn.compare.push_back(election_.Guard());
  std::vector<std::pair<std::string, std::string>> written;
  for (auto& [key, services] : status) {
    std::string text = Dump(Json{{"services", services}});
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

void Controller::SyncRoutes(const PassResult& pass, const std::set<std::string>& canaries_done,
                            const std::set<std::string>& aborted) {
  // Ready instances per service and deploy hash, for canary splits.
  std::unordered_map<std::string, std::map<uint64_t, int64_t>> ready;
  for (const Instance& i : pass.instances) {
    if (i.state == InstanceState::kReady) {
      ++ready[fmt::format("{}/{}/{}", i.ns, i.app, i.service)][i.deploy_hash];
    }
  }
  std::map<std::string, std::string> desired;  // store key -> the route entry (JSON)
  for (const App& app : pass.apps) {
    for (const ServiceSpec& s : app.services) {
      const std::string key = fmt::format("{}/{}/{}", app.ns, app.name, s.name);
      const CanaryRecord* found = canaries_done.count(key) ? nullptr : FindCanary(pass, key);
      std::optional<CanaryRecord> aborted_now;
      if (found && aborted.count(key)) {
        aborted_now = *found;
        aborted_now->state = CanaryState::kAborted;
      }
      const CanaryRecord* canary = aborted_now ? &*aborted_now : found;
      auto& by_hash = ready[key];
      for (size_t i = 0; i < s.expose.size(); ++i) {
        const Expose& e = s.expose[i];
        std::string name = fmt::format("{}.{}.{}", app.ns, app.name, s.name);
        if (s.expose.size() > 1) name += fmt::format(".{}", i);
        // The whole service; during a canary, one target per version by the agent's
        // deploy tag: split by canaryWeight once both have a ready instance, all to stable
        // before that and after an abort.
        gateway::ServiceTarget target{.service = s.name, .ns = app.ns, .port = ExposePort(s, e)};
        gateway::ServiceRoute route{.name = name,
                                    .owner = fmt::format("app:{}/{}", app.ns, app.name),
                                    .hosts = {},
                                    .path_prefix = e.path,
                                    .targets = {target}};
        if (!e.host.empty()) route.hosts = {e.host};
        if (canary && canary->state != CanaryState::kPromoted && by_hash[canary->stable_hash] > 0) {
          auto tagged = [&](uint64_t hash, std::optional<uint32_t> weight) {
            gateway::ServiceTarget t = target;
            t.tags = {DeployTag(hash)};
            t.weight = weight;
            return t;
          };
          const bool split = canary->state == CanaryState::kCanary &&
                             canary->canary_hash == s.DeployHash() &&
                             by_hash[canary->canary_hash] > 0 && e.canary_weight > 0;
          if (!split) {
            route.targets = {tagged(canary->stable_hash, std::nullopt)};
          } else if (e.canary_weight >= 100) {
            route.targets = {tagged(canary->canary_hash, std::nullopt)};
          } else {
            route.targets = {tagged(canary->stable_hash, 100 - e.canary_weight),
                             tagged(canary->canary_hash, e.canary_weight)};
          }
        }
        desired[std::string(gateway::kRoutesKeyPrefix) + name] = gateway::EncodeServiceRoute(route);
      }
    }
  }
  auto r = store_.Get(gateway::kRoutesKeyPrefix, {.prefix = true});
  if (!r) {
    log::Warn("orchestrator", "controller: read routes: {}", r.error().message);
    return;
  }
  store::TxnRequest txn;
  txn.compare.push_back(election_.Guard());
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

std::optional<std::map<std::string, double>> Controller::ReadGatewayLoad() {
  auto r = store_.Get(gateway::kGatewayLoadPrefix, {.prefix = true});
  if (!r) {
    log::Warn("orchestrator", "controller: read gateway load: {}", r.error().message);
    return std::nullopt;
  }
  std::optional<std::map<std::string, double>> out;
  for (const auto& kv : r->kvs) {
    auto report = gateway::DecodeLoadReport(kv.value);
    if (!report) {
      log::Warn("orchestrator", "controller: {}: {}", kv.key, report.error().message);
      continue;
    }
    if (!out) out.emplace();
    for (const auto& [svc, load] : report->services) (*out)[svc] += load.rps;
  }
  return out;
}

void Controller::RunAutoscalers(const PassResult& pass, TickResult& out) {
  const int64_t now_ms = clock_.WallMillis();
  struct Measured {
    int64_t ready = 0;
    int64_t cpu_reports = 0;
    double cpu_sum = 0;
  };
  std::map<std::string, Measured> measured;  // by "ns/app/svc"
  bool any = false;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& s : app.services) any = any || s.autoscale.has_value();
  }
  if (!any) {
    autoscalers_.clear();
    return;
  }
  for (const Instance& i : pass.instances) {
    if (i.state != InstanceState::kReady) continue;
    Measured& m = measured[fmt::format("{}/{}/{}", i.ns, i.app, i.service)];
    ++m.ready;
    if (i.cpu_millis >= 0) {
      ++m.cpu_reports;
      m.cpu_sum += static_cast<double>(i.cpu_millis);
    }
  }
  const auto load = ReadGatewayLoad();
  const store::Compare guard = election_.Guard();
  std::set<std::string> seen;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& spec : app.services) {
      if (!spec.autoscale) continue;
      const std::string key = fmt::format("{}/{}/{}", app.ns, app.name, spec.name);
      seen.insert(key);
      auto [it, fresh] = autoscalers_.try_emplace(key);
      Autoscaler& scaler = it->second;
      if (fresh) {
        // A new leader keeps the cool-down of the last action.
        auto rec = store_.Get(AutoscaleKey(app.ns, app.name, spec.name));
        if (rec && !rec->kvs.empty()) {
          auto j = ParseJson(rec->kvs[0].value);
          if (j && j->is_object() && (*j)["time_ms"].is_number_integer()) {
            scaler.set_last_action_ms((*j)["time_ms"].get<int64_t>());
          }
        }
      }
      const Measured& m = measured[key];
      LoadSample sample{.now_ms = now_ms, .ready = m.ready};
      if (m.cpu_reports > 0) {
        sample.cpu_millis_per_instance = m.cpu_sum / static_cast<double>(m.cpu_reports);
      }
      if (load) {
        auto l = load->find(app.ns + "/" + spec.name);
        sample.requests_per_second = l == load->end() ? 0.0 : l->second;
      }
      const auto before = scaler.last_action_ms();
      auto d = scaler.Decide(spec, sample);
      if (!d) continue;
      std::string message =
          fmt::format("scaled from {} to {}: {}", spec.replicas, d->replicas, d->reason);
      auto r = apps_.Scale(app.ns, app.name, spec.name, d->replicas,
                           {.from = spec.replicas,
                            .event = Event{now_ms, "Normal", spec.name, "Scaled", message},
                            .guard = guard});
      if (!r) {
        // Changed meanwhile (or no longer leading): decide again on the next pass.
        if (before) {
          scaler.set_last_action_ms(*before);
        } else {
          scaler = Autoscaler();
        }
        log::Info("orchestrator", "{}: autoscale to {} not written: {}", key, d->replicas,
                  r.error().message);
        continue;
      }
      Json rec{
          {"time_ms", now_ms}, {"from", spec.replicas}, {"to", d->replicas}, {"reason", d->reason}};
      store::TxnRequest txn;
      txn.compare.push_back(guard);
      txn.success.push_back(
          store::TxnOp::Put(AutoscaleKey(app.ns, app.name, spec.name), Dump(rec)));
      (void)store_.Txn(txn);
      log::Info("orchestrator", "{}: {}", key, message);
      out.scaled.push_back(fmt::format("{} {} -> {}", key, spec.replicas, d->replicas));
    }
  }
  for (auto it = autoscalers_.begin(); it != autoscalers_.end();) {
    it = seen.count(it->first) ? std::next(it) : autoscalers_.erase(it);
  }
}

}  // namespace berth::orchestrator
