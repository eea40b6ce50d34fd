#include "orchestrator/app_store.h"

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>

#include "core/json.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator {
namespace {

constexpr int kApplyAttempts = 5;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Flattens JSON into path -> leaf text; arrays are leaves (their order matters as a whole).
void Flatten(const Json& j, const std::string& path, std::map<std::string, std::string>& out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) Flatten(v, path.empty() ? k : path + "." + k, out);
    return;
  }
  out[path] = Dump(j);
}

std::atomic<uint32_t> event_seq{0};

std::string EventKey(std::string_view ns, std::string_view app, int64_t ms) {
  return fmt::format("{}{:013d}-{:06d}", EventsPrefix(ns, app), ms, event_seq++ % 1'000'000);
}

Event EventFromJson(const Json& j) {
  Event e;
  e.time_ms = j.value("time_ms", int64_t{0});
  e.type = j.value("type", std::string("Normal"));
  e.service = j.value("service", std::string());
  e.reason = j.value("reason", std::string());
  e.message = j.value("message", std::string());
  return e;
}

}  // namespace

std::string HistoryPrefix(std::string_view ns, std::string_view app, std::string_view svc) {
  return fmt::format("{}{}/{}/{}/", kHistoryPrefix, ns, app, svc);
}
std::string EventsPrefix(std::string_view ns, std::string_view app) {
  return fmt::format("{}{}/{}/", kEventsPrefix, ns, app);
}
std::string AppStatusKey(std::string_view ns, std::string_view app) {
  return fmt::format("{}{}/{}", kStatusPrefix, ns, app);
}
std::string RolloutKey(std::string_view ns, std::string_view app, std::string_view svc) {
  return fmt::format("{}{}/{}/{}", kRolloutsPrefix, ns, app, svc);
}

std::string AutoscaleKey(std::string_view ns, std::string_view app, std::string_view svc) {
  return fmt::format("{}{}/{}/{}", kAutoscalePrefix, ns, app, svc);
}

std::string EventToJson(const Event& e) {
  return Dump(Json{{"time_ms", e.time_ms},
                   {"type", e.type},
                   {"service", e.service},
                   {"reason", e.reason},
                   {"message", e.message}});
}

std::string HistoryEntryToJson(const HistoryEntry& h) {
  return Dump(Json{{"revision", h.revision},
                   {"deployHash", HashToHex(h.deploy_hash)},
                   {"time_ms", h.time_ms},
                   {"cause", h.cause},
                   {"spec", ServiceSpecToJson(h.spec)}});
}

Result<HistoryEntry> HistoryEntryFromJson(std::string_view json) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json, "history entry"));
  HistoryEntry h;
  input::Object o(doc.root());
  o.Required("revision", h.revision, input::Int(INT64_MIN, INT64_MAX))
      .Required("deployHash", h.deploy_hash, ReadHexHash)
      .Optional("time_ms", h.time_ms, input::Int(INT64_MIN, INT64_MAX))
      .Optional("cause", h.cause)
      .Required("spec", h.spec, ServiceSpecFromNode);
  BERTH_TRY(o.Done());
  return h;
}

std::vector<DiffLine> DiffApps(const App* before, const App& after) {
  std::map<std::string, std::string> a, b;
  if (before) Flatten(AppToJsonValue(*before), "", a);
  Flatten(AppToJsonValue(after), "", b);
  std::vector<DiffLine> out;
  for (const auto& [path, v] : a) {
    auto it = b.find(path);
    if (it == b.end()) {
      out.push_back({path, v, std::nullopt});
    } else if (it->second != v) {
      out.push_back({path, v, it->second});
    }
  }
  for (const auto& [path, v] : b) {
    if (!a.count(path)) out.push_back({path, std::nullopt, v});
  }
  std::sort(out.begin(), out.end(),
            [](const DiffLine& x, const DiffLine& y) { return x.path < y.path; });
  return out;
}

Result<std::optional<StoredApp>> AppStore::Get(std::string_view ns, std::string_view app) {
  auto r = store_.Get(AppKey(ns, app));
  if (!r) return std::unexpected(r.error());
  if (r->kvs.empty()) return std::optional<StoredApp>();
  auto parsed = AppFromJson(r->kvs[0].value);
  if (!parsed) return std::unexpected(Wrap(parsed.error(), r->kvs[0].key));
  return std::optional<StoredApp>(StoredApp{std::move(*parsed), r->kvs[0].mod_revision});
}

Result<StoredApp> AppStore::GetWithService(std::string_view ns, std::string_view app,
                                           std::string_view svc) {
  auto cur = Get(ns, app);
  if (!cur) return std::unexpected(cur.error());
  if (!*cur) return Fail(ErrorCode::kNotFound, fmt::format("no app {}/{}", ns, app));
  if ((*cur)->app.FindService(svc) == nullptr) {
    return Fail(ErrorCode::kNotFound, fmt::format("app {}/{} has no service {}", ns, app, svc));
  }
  return std::move(**cur);
}

Result<std::vector<StoredApp>> AppStore::List() {
  auto r = store_.Get(kAppsPrefix, {.prefix = true});
  if (!r) return std::unexpected(r.error());
  std::vector<StoredApp> out;
  for (const auto& kv : r->kvs) {
    auto parsed = AppFromJson(kv.value);
    if (!parsed) continue;  // the reconciler reports undecodable apps
    out.push_back({std::move(*parsed), kv.mod_revision});
  }
  return out;
}

Result<std::vector<HistoryEntry>> AppStore::History(std::string_view ns, std::string_view app,
                                                    std::string_view svc) {
  auto r = store_.Get(HistoryPrefix(ns, app, svc), {.prefix = true});
  if (!r) return std::unexpected(r.error());
  std::vector<HistoryEntry> out;
  for (const auto& kv : r->kvs) {
    auto h = HistoryEntryFromJson(kv.value);
    if (h) out.push_back(std::move(*h));
  }
  std::sort(out.begin(), out.end(),
            [](const HistoryEntry& a, const HistoryEntry& b) { return a.revision < b.revision; });
  return out;
}

Result<ApplyResult> AppStore::Apply(const App& app, std::string_view cause, bool dry_run,
                                    std::optional<int64_t> expect_mod_revision,
                                    std::vector<Event> events,
                                    std::optional<store::Compare> guard) {
  return ApplyImpl(app, cause, dry_run, expect_mod_revision, std::move(events), std::move(guard),
                   CanaryMode::kStart);
}

Result<std::optional<CanaryRecord>> AppStore::Canary(std::string_view ns, std::string_view app,
                                                     std::string_view svc) {
  auto r = store_.Get(CanaryKey(ns, app, svc));
  if (!r) return std::unexpected(r.error());
  if (r->kvs.empty()) return std::optional<CanaryRecord>();
  auto rec = CanaryFromJson(r->kvs[0].value);
  if (!rec) return std::unexpected(Wrap(rec.error(), r->kvs[0].key));
  rec->mod_revision = r->kvs[0].mod_revision;
  return std::optional<CanaryRecord>(std::move(*rec));
}

Result<ApplyResult> AppStore::ApplyImpl(const App& app, std::string_view cause, bool dry_run,
                                        std::optional<int64_t> expect_mod_revision,
                                        std::vector<Event> events,
                                        std::optional<store::Compare> guard, CanaryMode mode) {
  if (auto v = app.Validate(); !v) return std::unexpected(v.error());
  for (int attempt = 0;; ++attempt) {
    auto current = Get(app.ns, app.name);
    if (!current) return std::unexpected(current.error());
    const App* before = *current ? &(*current)->app : nullptr;
    const int64_t read_rev = *current ? (*current)->mod_revision : 0;
    if (expect_mod_revision && *expect_mod_revision != read_rev) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("app {} changed meanwhile (revision {}, expected {})", app.Key(),
                              read_rev, *expect_mod_revision));
    }
    ApplyResult result;
    result.diff = DiffApps(before, app);
    result.action = before == nullptr     ? "created"
                    : result.diff.empty() ? "unchanged"
                                          : "configured";
    for (const auto& s : app.services) {
      const ServiceSpec* old = before ? before->FindService(s.name) : nullptr;
      if (old == nullptr || old->DeployHash() != s.DeployHash()) result.rolling.push_back(s.name);
    }
    if (dry_run || result.action == "unchanged") {
      auto rev = store_.CurrentRevision();
      result.revision = rev ? *rev : 0;
      return result;
    }

    const int64_t now = clock_.WallMillis();
    store::TxnRequest txn;
    txn.compare.push_back({.key = AppKey(app.ns, app.name),
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = read_rev});
    if (guard) txn.compare.push_back(*guard);
    txn.success.push_back(store::TxnOp::Put(AppKey(app.ns, app.name), AppToJson(app)));
    // History: a new entry for each service whose deployed spec changes.
    for (const auto& name : result.rolling) {
      const ServiceSpec& s = *app.FindService(name);
      auto hist = store_.Get(HistoryPrefix(app.ns, app.name, name), {.prefix = true});
      if (!hist) return std::unexpected(hist.error());
      int64_t last = 0;
      for (const auto& kv : hist->kvs) {
        auto key = std::string_view(kv.key).substr(kv.key.rfind('/') + 1);
        int64_t n = 0;
        std::from_chars(key.data(), key.data() + key.size(), n);
        last = std::max(last, n);
      }
      HistoryEntry h{last + 1, s.DeployHash(), now, std::string(cause), s};
      txn.success.push_back(store::TxnOp::Put(
          fmt::format("{}{:08d}", HistoryPrefix(app.ns, app.name, name), h.revision),
          HistoryEntryToJson(h)));
      // Keep the newest kMaxHistory (the new one included).
      if (hist->kvs.size() + 1 > kMaxHistory) {
        size_t drop = hist->kvs.size() + 1 - kMaxHistory;
        for (size_t k = 0; k < drop; ++k)
          txn.success.push_back(store::TxnOp::Delete(hist->kvs[k].key));
      }
    }
    // Canary records of the services whose version changes (canary.h).
    for (const auto& name : result.rolling) {
      const ServiceSpec& s = *app.FindService(name);
      const ServiceSpec* old = before ? before->FindService(name) : nullptr;
      const std::string key = CanaryKey(app.ns, app.name, name);
      auto raw = store_.Get(key);
      if (!raw) return std::unexpected(raw.error());
      const int64_t rec_rev = raw->kvs.empty() ? 0 : raw->kvs[0].mod_revision;
      std::optional<CanaryRecord> rec;  // none, or undecodable (then replaced or deleted)
      if (!raw->kvs.empty()) {
        if (auto parsed = CanaryFromJson(raw->kvs[0].value)) rec = std::move(*parsed);
      }
      const CanaryRecord* cur = rec ? &*rec : nullptr;
      const bool running = cur && cur->state != CanaryState::kAborted;
      const uint64_t to = s.DeployHash();
      std::optional<CanaryRecord> next;
      if (mode == CanaryMode::kStart && s.update.canary > 0 && old != nullptr &&
          !(running && cur->stable_hash == to)) {
        // A new canary; one replacing a running canary keeps that one's stable version.
        next = CanaryRecord{.state = CanaryState::kCanary,
                            .canary_hash = to,
                            .stable = running ? cur->stable : *old,
                            .started_ms = now};
        next->stable.name = name;
        next->stable_hash = next->stable.DeployHash();
      } else if (cur && (mode == CanaryMode::kBack || (running && cur->stable_hash == to))) {
        // Back to a version while canaries may still run: they go, traffic goes to it.
        next = *cur;
        next->state = CanaryState::kAborted;
        next->stable = s;
        next->stable_hash = to;
      } else if (raw->kvs.empty()) {
        continue;
      }
      txn.compare.push_back({.key = key,
                             .target = store::Compare::Target::kModRevision,
                             .op = store::Compare::Op::kEqual,
                             .number = rec_rev});
      txn.success.push_back(next ? store::TxnOp::Put(key, CanaryToJson(*next))
                                 : store::TxnOp::Delete(key));
    }
    if (before) {
      for (const auto& old : before->services) {
        if (!app.FindService(old.name)) {
          txn.success.push_back(store::TxnOp::Delete(CanaryKey(app.ns, app.name, old.name)));
        }
      }
    }
    if (events.empty()) {
      std::string what;
      for (const auto& d : result.diff) {
        if (!what.empty()) what += ", ";
        what += d.path;
        if (what.size() > 200) {
          what += ", ...";
          break;
        }
      }
      events.push_back({now, "Normal", "", result.action == "created" ? "Created" : "Applied",
                        result.action == "created" ? "app created" : "changed: " + what});
    }
    for (auto& e : events) {
      if (e.time_ms == 0) e.time_ms = now;
      txn.success.push_back(
          store::TxnOp::Put(EventKey(app.ns, app.name, e.time_ms), EventToJson(e)));
    }
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (!r->succeeded) {
      if (guard || expect_mod_revision || attempt + 1 >= kApplyAttempts) {
        return Fail(ErrorCode::kFailedPrecondition,
                    fmt::format("app {} changed meanwhile; try again", app.Key()));
      }
      continue;
    }
    result.revision = r->revision;
    (void)TrimEvents(app.ns, app.name);
    return result;
  }
}

Result<int64_t> AppStore::Delete(std::string_view ns, std::string_view app) {
  store::TxnRequest txn;
  txn.compare.push_back({.key = AppKey(ns, app),
                         .target = store::Compare::Target::kCreateRevision,
                         .op = store::Compare::Op::kGreater,
                         .number = 0});
  txn.success.push_back(store::TxnOp::Delete(AppKey(ns, app)));
  txn.success.push_back(
      store::TxnOp::Delete(fmt::format("{}{}/{}/", kHistoryPrefix, ns, app), true));
  txn.success.push_back(store::TxnOp::Delete(EventsPrefix(ns, app), true));
  txn.success.push_back(store::TxnOp::Delete(AppStatusKey(ns, app)));
  txn.success.push_back(
      store::TxnOp::Delete(fmt::format("{}{}/{}/", kRolloutsPrefix, ns, app), true));
  txn.success.push_back(
      store::TxnOp::Delete(fmt::format("{}{}/{}/", kCanaryPrefix, ns, app), true));
  txn.success.push_back(
      store::TxnOp::Delete(fmt::format("{}{}/{}/", kAutoscalePrefix, ns, app), true));
  auto r = store_.Txn(txn);
  if (!r) return std::unexpected(r.error());
  if (!r->succeeded) return Fail(ErrorCode::kNotFound, fmt::format("no app {}/{}", ns, app));
  return r->revision;
}

Result<ApplyResult> AppStore::Scale(std::string_view ns, std::string_view app, std::string_view svc,
                                    int64_t replicas, ScaleOptions options) {
  for (int attempt = 0;; ++attempt) {
    auto cur = GetWithService(ns, app, svc);
    if (!cur) return std::unexpected(cur.error());
    App next = cur->app;
    ServiceSpec* s = next.FindService(svc);
    const int64_t old = s->replicas;
    if (options.from && *options.from != old) {
      return Fail(
          ErrorCode::kFailedPrecondition,
          fmt::format("{}/{}/{} has {} replicas now, not {}", ns, app, svc, old, *options.from));
    }
    s->replicas = replicas;
    if (auto v = next.Validate(); !v) return std::unexpected(v.error());
    Event event = options.event.value_or(Event{0, "Normal", std::string(svc), "Scaled",
                                               fmt::format("replicas {} -> {}", old, replicas)});
    auto r = Apply(next, "scale", false, cur->mod_revision, {std::move(event)}, options.guard);
    if (!r && r.error().code == ErrorCode::kFailedPrecondition && attempt + 1 < kApplyAttempts) {
      continue;
    }
    return r;
  }
}

Result<ApplyResult> AppStore::Undo(std::string_view ns, std::string_view app, std::string_view svc,
                                   int64_t to_revision, std::string_view why,
                                   std::optional<store::Compare> guard) {
  auto cur = GetWithService(ns, app, svc);
  if (!cur) return std::unexpected(cur.error());
  App next = cur->app;
  ServiceSpec* s = next.FindService(svc);
  auto hist = History(ns, app, svc);
  if (!hist) return std::unexpected(hist.error());
  const HistoryEntry* target = nullptr;
  const uint64_t current = s->DeployHash();
  for (auto it = hist->rbegin(); it != hist->rend(); ++it) {
    if (to_revision > 0 ? it->revision == to_revision : it->deploy_hash != current) {
      target = &*it;
      break;
    }
  }
  if (target == nullptr) {
    return Fail(ErrorCode::kNotFound,
                to_revision > 0
                    ? fmt::format("{}/{}/{} has no rollout revision {}", ns, app, svc, to_revision)
                    : fmt::format("{}/{}/{} has no earlier version to go back to", ns, app, svc));
  }
  ServiceSpec restored = target->spec;
  restored.replicas = s->replicas;
  restored.autoscale = s->autoscale;
  *s = std::move(restored);
  const bool rollback = !why.empty();
  std::string cause = rollback ? fmt::format("rollback to {}: {}", target->revision, why)
                               : fmt::format("undo to {}", target->revision);
  Event e{0, rollback ? "Warning" : "Normal", std::string(svc), rollback ? "RolledBack" : "Undone",
          rollback ? fmt::format("rolled back to revision {} ({}): {}", target->revision,
                                 target->spec.image, why)
                   : fmt::format("back to revision {} ({})", target->revision, target->spec.image)};
  return ApplyImpl(next, cause, false, cur->mod_revision, {e}, guard, CanaryMode::kBack);
}

Result<ApplyResult> AppStore::Promote(std::string_view ns, std::string_view app,
                                      std::string_view svc) {
  for (int attempt = 0;; ++attempt) {
    auto cur = GetWithService(ns, app, svc);
    if (!cur) return std::unexpected(cur.error());
    const ServiceSpec* spec = cur->app.FindService(svc);
    auto rec = Canary(ns, app, svc);
    if (!rec) return std::unexpected(rec.error());
    if (!*rec || (*rec)->state != CanaryState::kCanary ||
        (*rec)->canary_hash != spec->DeployHash()) {
      return Fail(
          ErrorCode::kFailedPrecondition,
          fmt::format(
              "{}/{}/{} has no canary waiting for promotion{}", ns, app, svc,
              *rec && (*rec)->state == CanaryState::kPromoted ? " (it is promoted already)" : ""));
    }
    CanaryRecord next = **rec;
    next.state = CanaryState::kPromoted;
    const int64_t now = clock_.WallMillis();
    store::TxnRequest txn;
    txn.compare.push_back({.key = AppKey(ns, app),
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = cur->mod_revision});
    txn.compare.push_back({.key = CanaryKey(ns, app, svc),
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = (*rec)->mod_revision});
    txn.success.push_back(store::TxnOp::Put(CanaryKey(ns, app, svc), CanaryToJson(next)));
    Event e{now, "Normal", std::string(svc), "CanaryPromoted",
            fmt::format("{} promoted: rolling out to {} replicas", spec->image, spec->replicas)};
    txn.success.push_back(store::TxnOp::Put(EventKey(ns, app, now), EventToJson(e)));
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (!r->succeeded) {
      if (attempt + 1 >= kApplyAttempts) {
        return Fail(ErrorCode::kFailedPrecondition,
                    fmt::format("app {}/{} changed meanwhile; try again", ns, app));
      }
      continue;
    }
    (void)TrimEvents(ns, app);
    ApplyResult out;
    out.action = "promoted";
    out.revision = r->revision;
    out.rolling.push_back(std::string(svc));
    return out;
  }
}

Result<ApplyResult> AppStore::Abort(std::string_view ns, std::string_view app, std::string_view svc,
                                    std::string_view why, std::optional<store::Compare> guard) {
  auto cur = GetWithService(ns, app, svc);
  if (!cur) return std::unexpected(cur.error());
  App next = cur->app;
  ServiceSpec* s = next.FindService(svc);
  auto rec = Canary(ns, app, svc);
  if (!rec) return std::unexpected(rec.error());
  if (!*rec || (*rec)->state == CanaryState::kAborted || (*rec)->canary_hash != s->DeployHash()) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("{}/{}/{} has no canary in progress", ns, app, svc));
  }
  ServiceSpec restored = (*rec)->stable;
  restored.name = s->name;
  restored.replicas = s->replicas;
  restored.autoscale = s->autoscale;
  const std::string image = s->image;
  *s = std::move(restored);
  const bool automatic = !why.empty();
  Event e{0, automatic ? "Warning" : "Normal", std::string(svc), "CanaryAborted",
          automatic ? fmt::format("canary {} aborted, back to {}: {}", image, s->image, why)
                    : fmt::format("canary {} aborted, back to {}", image, s->image)};
  return ApplyImpl(next, automatic ? fmt::format("canary aborted: {}", why) : "canary aborted",
                   false, cur->mod_revision, {e}, guard, CanaryMode::kBack);
}

Result<std::vector<Event>> AppStore::Events(std::string_view ns, std::string_view app) {
  auto r = store_.Get(EventsPrefix(ns, app), {.prefix = true});
  if (!r) return std::unexpected(r.error());
  std::vector<Event> out;
  for (const auto& kv : r->kvs) {
    auto j = ParseJson(kv.value);
    if (j && j->is_object()) out.push_back(EventFromJson(*j));
  }
  return out;
}

Result<void> AppStore::RecordEvents(std::string_view ns, std::string_view app,
                                    std::vector<Event> events) {
  if (events.empty()) return {};
  store::TxnRequest txn;
  const int64_t now = clock_.WallMillis();
  for (auto& e : events) {
    if (e.time_ms == 0) e.time_ms = now;
    txn.success.push_back(store::TxnOp::Put(EventKey(ns, app, e.time_ms), EventToJson(e)));
  }
  auto r = store_.Txn(txn);
  if (!r) return std::unexpected(r.error());
  return TrimEvents(ns, app);
}

Result<void> AppStore::TrimEvents(std::string_view ns, std::string_view app) {
  auto r = store_.Get(EventsPrefix(ns, app), {.prefix = true, .keys_only = true});
  if (!r) return std::unexpected(r.error());
  if (r->kvs.size() <= kMaxEvents) return {};
  store::TxnRequest txn;
  for (size_t k = 0; k + kMaxEvents < r->kvs.size(); ++k) {
    txn.success.push_back(store::TxnOp::Delete(r->kvs[k].key));
  }
  auto t = store_.Txn(txn);
  if (!t) return std::unexpected(t.error());
  return {};
}

}  // namespace berth::orchestrator
