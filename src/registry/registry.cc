#include "registry/registry.h"

#include <fmt/core.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "core/log.h"
#include "registry/watch_hub.h"
#include "store/async_txn.h"

namespace berth::registry {
namespace {

constexpr int kCasAttempts = 16;

std::string ServiceName(std::string_view ns, std::string_view service) {
  return fmt::format("{}/{}", ns, service);
}

bool Matches(const Instance& in, const InstanceFilter& f) {
  if (f.passing_only && in.health != Health::kPassing) return false;
  for (const auto& t : f.tags) {
    if (!in.HasTag(t)) return false;
  }
  return true;
}

Result<void> ValidateIdentity(std::string_view ns, std::string_view service, std::string_view id) {
  if (auto r = ValidateNamespace(ns); !r) return r;
  if (auto r = ValidateServiceName(service); !r) return r;
  if (!id.empty()) {
    if (auto r = ValidateInstanceId(id); !r) return r;
  }
  return {};
}

}  // namespace

Registry::Registry(store::Store& store, Clock& clock, RegistryOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      hub_(std::make_unique<WatchHub>(store, options.watch_history, stats_)) {}

Registry::~Registry() = default;

Result<std::optional<Instance>> Registry::Load(const std::string& key, store::KeyValue* raw) {
  auto r = store_.Get(key);
  if (!r) return std::unexpected(r.error());
  if (r->kvs.empty()) return std::optional<Instance>();
  auto& kv = r->kvs.front();
  auto in = DecodeStored(kv.key, kv.value, kv.mod_revision, kv.lease);
  if (raw) *raw = std::move(kv);
  if (!in) return std::unexpected(in.error());
  return std::optional<Instance>(std::move(*in));
}

namespace {
// Puts `in` at its key if the key's mod_revision is still `mod_revision` (0: absent).
store::TxnRequest CasTxn(const Instance& in, int64_t mod_revision, int64_t lease) {
  store::TxnRequest t;
  store::Compare c;
  c.key = InstanceKey(in.ns, in.service, in.id);
  c.target = mod_revision ? store::Compare::Target::kModRevision : store::Compare::Target::kVersion;
  c.op = store::Compare::Op::kEqual;
  c.number = mod_revision;
  t.compare.push_back(c);
  t.success.push_back(store::TxnOp::Put(c.key, EncodeStored(in), lease));
  return t;
}
}  // namespace

Instance Registry::NextRegistration(const Instance& spec, const std::optional<Instance>& old,
                                    int64_t lease) {
  Instance next = spec;
  next.lease = lease;
  if (old && old->check == spec.check) {
    next.health = old->health;
    next.health_output = old->health_output;
    next.health_since_ms = old->health_since_ms;
    next.preserved = old->preserved;
  } else {
    // With a check, nothing is known until it has run: not routable until it passes.
    next.health = spec.check ? Health::kCritical : Health::kPassing;
    next.health_output = spec.check ? std::string(kNoCheckResultYet) : "";
    next.health_since_ms = clock_.WallMillis();
    next.preserved = false;
  }
  return next;
}

struct Registry::AsyncRegistration {
  Instance spec;
  RunBlocking run_blocking;
  std::function<void(Result<Instance>)> done;
  WritePrecondition precondition;
};

void Registry::RegisterAsync(Instance instance, RunBlocking run_blocking,
                             std::function<void(Result<Instance>)> done,
                             WritePrecondition precondition) {
  if (auto r = ValidateInstance(instance); !r) return done(std::unexpected(r.error()));
  RegisterAttempt(
      std::make_shared<AsyncRegistration>(AsyncRegistration{
          std::move(instance), std::move(run_blocking), std::move(done), std::move(precondition)}),
      0);
}

// Runs on the caller's thread first, then (after a lost race) on the store's writer thread:
// it only reads the store and queues writes, never waits.
void Registry::RegisterAttempt(std::shared_ptr<AsyncRegistration> a, int attempt) {
  auto blocking = [this, a] {
    a->run_blocking([this, a] { a->done(Register(a->spec, a->precondition)); });
  };
  store::AsyncTxnStore* async = store::AsyncTxnOf(store_);
  if (async == nullptr || a->spec.ttl_seconds > 0) return blocking();
  const std::string key = InstanceKey(a->spec.ns, a->spec.service, a->spec.id);
  store::KeyValue raw;
  auto existing = Load(key, &raw);
  if (!existing) return a->done(std::unexpected(existing.error()));
  const std::optional<Instance>& old = *existing;
  if (a->precondition) {
    if (auto p = a->precondition(old ? &*old : nullptr); !p) {
      return a->done(std::unexpected(p.error()));
    }
  }
  if (old && old->lease != 0) return blocking();  // its lease must be revoked: store work
  if (old && old->SameRegistration(a->spec)) return a->done(*old);  // idempotent
  Instance next = NextRegistration(a->spec, old, 0);
  store::TxnRequest txn = CasTxn(next, old ? raw.mod_revision : 0, 0);  // before `next` moves
  async->TxnAsync(std::move(txn),
                  [this, a, attempt, next = std::move(next)](Result<store::TxnResult> r) mutable {
                    if (!r) return a->done(std::unexpected(r.error()));
                    if (!r->succeeded) {
                      // Retries join the queue behind writers that arrived meanwhile, so
                      // one may lose several rounds in a row: allow more than the waiting path.
                      if (attempt + 1 < 4 * kCasAttempts) return RegisterAttempt(a, attempt + 1);
                      return a->done(Fail(ErrorCode::kUnavailable,
                                          fmt::format("registering {}/{}/{} kept racing with "
                                                      "other writers",
                                                      next.ns, next.service, next.id)));
                    }
                    next.revision = r->revision;
                    ++stats_.registrations;
                    a->done(std::move(next));
                  });
}

Result<std::optional<int64_t>> Registry::CasPut(const Instance& in, int64_t mod_revision,
                                                int64_t lease) {
  auto r = store_.Txn(CasTxn(in, mod_revision, lease));
  if (!r) return std::unexpected(r.error());
  if (!r->succeeded) return std::optional<int64_t>();
  return std::optional<int64_t>(r->revision);
}

Result<Instance> Registry::Register(const Instance& spec, const WritePrecondition& precondition) {
  if (auto r = ValidateInstance(spec); !r) return std::unexpected(r.error());
  const std::string key = InstanceKey(spec.ns, spec.service, spec.id);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    store::KeyValue raw;
    auto existing = Load(key, &raw);
    if (!existing) return std::unexpected(existing.error());
    const std::optional<Instance>& old = *existing;
    if (precondition) {
      if (auto p = precondition(old ? &*old : nullptr); !p) return std::unexpected(p.error());
    }
    int64_t lease = 0;
    if (old && old->lease && old->ttl_seconds == spec.ttl_seconds && spec.ttl_seconds > 0) {
      auto k = store_.KeepAlive(old->lease);
      if (k) {
        lease = old->lease;
      } else if (k.error().code != ErrorCode::kNotFound) {
        return std::unexpected(k.error());
      }
    }
    if (old && old->SameRegistration(spec) && (spec.ttl_seconds == 0 || lease != 0)) {
      return *old;  // idempotent: nothing to write
    }
    if (spec.ttl_seconds > 0 && lease == 0) {
      auto g = store_.GrantLease(spec.ttl_seconds);
      if (!g) return std::unexpected(g.error());
      lease = *g;
    }
    Instance next = NextRegistration(spec, old, lease);
    auto put = CasPut(next, old ? raw.mod_revision : 0, lease);
    if (!put) return std::unexpected(put.error());
    if (!put->has_value()) {
      if (lease && lease != (old ? old->lease : 0)) (void)store_.RevokeLease(lease);
      continue;  // raced with another writer; read again
    }
    if (old && old->lease && old->lease != lease) (void)store_.RevokeLease(old->lease);
    next.revision = **put;
    ++stats_.registrations;
    log::Debug("registry", "registered {}/{}/{} at revision {}", next.ns, next.service, next.id,
               next.revision);
    return next;
  }
  return Fail(ErrorCode::kUnavailable,
              fmt::format("registering {} kept racing with other writers", key));
}

Result<int64_t> Registry::Deregister(std::string_view ns, std::string_view service,
                                     std::string_view id, const WritePrecondition& precondition) {
  if (auto r = ValidateIdentity(ns, service, id); !r) return std::unexpected(r.error());
  const std::string key = InstanceKey(ns, service, id);
  auto not_registered = [&] {
    return Fail(ErrorCode::kNotFound, fmt::format("instance {} of service {} is not registered", id,
                                                  ServiceName(ns, service)));
  };
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    store::KeyValue raw;
    auto existing = Load(key, &raw);
    if (!existing) return std::unexpected(existing.error());
    if (!existing->has_value()) return not_registered();
    if (precondition) {
      if (auto p = precondition(&**existing); !p) return std::unexpected(p.error());
    }
    // Deleted only as it was read: the precondition judged this very instance.
    store::TxnRequest txn;
    txn.compare.push_back({.key = key,
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = raw.mod_revision});
    txn.success.push_back(store::TxnOp::Delete(key));
    auto d = store_.Txn(txn);
    if (!d) return std::unexpected(d.error());
    if (!d->succeeded) continue;  // changed or gone meanwhile: read again
    if (raw.lease) (void)store_.RevokeLease(raw.lease);
    ++stats_.deregistrations;
    return d->revision;
  }
  return Fail(ErrorCode::kUnavailable, fmt::format("deregistering {} kept racing", key));
}

Result<Instance> Registry::Heartbeat(std::string_view ns, std::string_view service,
                                     std::string_view id, const WritePrecondition& precondition) {
  if (auto r = ValidateIdentity(ns, service, id); !r) return std::unexpected(r.error());
  const std::string key = InstanceKey(ns, service, id);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    store::KeyValue raw;
    auto existing = Load(key, &raw);
    if (!existing) return std::unexpected(existing.error());
    if (!existing->has_value()) {
      return Fail(ErrorCode::kNotFound, fmt::format("instance {} of service {} is not registered",
                                                    id, ServiceName(ns, service)));
    }
    Instance in = std::move(**existing);
    if (precondition) {
      if (auto p = precondition(&in); !p) return std::unexpected(p.error());
    }
    if (in.lease == 0) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("instance {} of service {} has no ttl to heartbeat", id,
                              ServiceName(ns, service)));
    }
    auto k = store_.KeepAlive(in.lease);
    if (!k) {
      if (k.error().code == ErrorCode::kNotFound) {
        return Fail(ErrorCode::kNotFound,
                    fmt::format("instance {} of service {}: its lease has expired", id,
                                ServiceName(ns, service)));
      }
      return std::unexpected(k.error());
    }
    ++stats_.heartbeats;
    if (!in.preserved) return in;
    // Heartbeats are back: self-preservation is over for this instance.
    in.preserved = false;
    in.health = in.check ? in.health : Health::kPassing;
    in.health_output = "heartbeat resumed";
    in.health_since_ms = clock_.WallMillis();
    auto put = CasPut(in, raw.mod_revision, in.lease);
    if (!put) return std::unexpected(put.error());
    if (!put->has_value()) continue;
    in.revision = **put;
    ++stats_.health_transitions;
    return in;
  }
  return Fail(ErrorCode::kUnavailable, fmt::format("heartbeat of {} kept racing", key));
}

Result<Instance> Registry::GetInstance(std::string_view ns, std::string_view service,
                                       std::string_view id) {
  if (auto r = ValidateIdentity(ns, service, id); !r) return std::unexpected(r.error());
  auto existing = Load(InstanceKey(ns, service, id));
  if (!existing) return std::unexpected(existing.error());
  if (!existing->has_value()) {
    return Fail(ErrorCode::kNotFound, fmt::format("instance {} of service {} is not registered", id,
                                                  ServiceName(ns, service)));
  }
  return std::move(**existing);
}

Result<ServiceView> Registry::ListInstances(std::string_view ns) {
  if (!ns.empty()) {
    if (auto r = ValidateNamespace(ns); !r) return std::unexpected(r.error());
  }
  store::RangeOptions o;
  o.prefix = true;
  auto r = store_.Get(ns.empty() ? std::string(kKeyRoot) : NamespacePrefix(ns), o);
  if (!r) return std::unexpected(r.error());
  ServiceView v;
  v.ns = ns;
  v.index = r->revision;
  for (const auto& kv : r->kvs) {
    auto in = DecodeStored(kv.key, kv.value, kv.mod_revision, kv.lease);
    if (in) v.instances.push_back(std::move(*in));
  }
  return v;
}

Result<ServiceList> Registry::ListServices(std::string_view ns) {
  bool all = ns.empty() || ns == "*";
  if (!all) {
    if (auto r = ValidateNamespace(ns); !r) return std::unexpected(r.error());
  }
  store::RangeOptions o;
  o.prefix = true;
  auto r = store_.Get(all ? std::string(kKeyRoot) : NamespacePrefix(ns), o);
  if (!r) return std::unexpected(r.error());
  ServiceList out;
  out.index = r->revision;
  std::map<std::pair<std::string, std::string>, std::pair<ServiceSummary, std::set<std::string>>>
      by;
  for (const auto& kv : r->kvs) {
    auto in = DecodeStored(kv.key, kv.value, kv.mod_revision, kv.lease);
    if (!in) continue;
    auto& [sum, tags] = by[{in->ns, in->service}];
    sum.ns = in->ns;
    sum.service = in->service;
    ++sum.instances;
    if (in->health == Health::kPassing) ++sum.passing;
    tags.insert(in->tags.begin(), in->tags.end());
  }
  for (auto& [k, v] : by) {
    v.first.tags.assign(v.second.begin(), v.second.end());
    out.services.push_back(std::move(v.first));
  }
  return out;
}

Result<ServiceView> Registry::GetService(std::string_view ns, std::string_view service,
                                         const InstanceFilter& filter) {
  if (auto r = ValidateIdentity(ns, service, ""); !r) return std::unexpected(r.error());
  store::RangeOptions o;
  o.prefix = true;
  auto r = store_.Get(ServicePrefix(ns, service), o);
  if (!r) return std::unexpected(r.error());
  if (r->kvs.empty()) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("service {} has no instances", ServiceName(ns, service)));
  }
  ServiceView v;
  v.ns = ns;
  v.service = service;
  v.index = r->revision;
  for (const auto& kv : r->kvs) {
    auto in = DecodeStored(kv.key, kv.value, kv.mod_revision, kv.lease);
    if (!in) {
      log::Warn("registry", "skipping undecodable {}: {}", kv.key, in.error().message);
      continue;
    }
    if (Matches(*in, filter)) v.instances.push_back(std::move(*in));
  }
  return v;
}

Result<ServiceView> Registry::BlockingGetService(std::string_view ns, std::string_view service,
                                                 const InstanceFilter& filter, int64_t index,
                                                 std::chrono::milliseconds wait) {
  if (auto r = ValidateIdentity(ns, service, ""); !r) return std::unexpected(r.error());
  auto read = [&]() -> Result<ServiceView> {
    auto v = GetService(ns, service, filter);
    if (!v && v.error().code == ErrorCode::kNotFound) {
      auto rev = store_.CurrentRevision();
      if (!rev) return std::unexpected(rev.error());
      ServiceView empty;
      empty.ns = ns;
      empty.service = service;
      empty.index = *rev;
      return empty;
    }
    return v;
  };
  if (index <= 0 || wait.count() <= 0) return read();
  std::mutex mu;
  std::condition_variable cv;
  bool changed = false;
  bool over = false;
  auto sub = hub_->Subscribe(ServicePrefix(ns, service), index + 1, [&](WatchBatch&& b) {
    std::lock_guard lock(mu);
    if (!b.events.empty()) changed = true;
    if (b.compacted || b.canceled) over = true;
    cv.notify_all();
  });
  if (!sub) return std::unexpected(sub.error());
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, wait, [&] { return changed || over; });
  }
  (*sub)->Cancel();
  return read();
}

Result<std::unique_ptr<Subscription>> Registry::Watch(std::string_view ns, std::string_view service,
                                                      int64_t from_revision, WatchHandler handler) {
  if (from_revision < 0) {
    return Fail(ErrorCode::kInvalidArgument, "watch revision must not be negative");
  }
  std::string prefix(kKeyRoot);
  if (!ns.empty()) {
    if (auto r = ValidateNamespace(ns); !r) return std::unexpected(r.error());
    prefix = NamespacePrefix(ns);
    if (!service.empty()) {
      if (auto r = ValidateServiceName(service); !r) return std::unexpected(r.error());
      prefix = ServicePrefix(ns, service);
    }
  } else if (!service.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a service watch needs its namespace");
  }
  return hub_->Subscribe(std::move(prefix), from_revision, std::move(handler));
}

Result<Instance> Registry::SetHealth(std::string_view ns, std::string_view service,
                                     std::string_view id, Health health, std::string_view output,
                                     const HealthPrecondition& precondition) {
  const std::string key = InstanceKey(ns, service, id);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    store::KeyValue raw;
    auto existing = Load(key, &raw);
    if (!existing) return std::unexpected(existing.error());
    if (!existing->has_value()) {
      return Fail(ErrorCode::kNotFound, fmt::format("instance {} of service {} is not registered",
                                                    id, ServiceName(ns, service)));
    }
    Instance in = std::move(**existing);
    if (precondition) {
      if (auto p = precondition(in); !p) return std::unexpected(p.error());
    }
    // No transition, no write; but the first result of a check replaces "no check result
    // yet" even when it keeps the status (a check that fails from the start says why).
    if (in.health == health && !in.preserved && in.health_output != kNoCheckResultYet) return in;
    in.health = health;
    in.health_output = output;
    in.health_since_ms = clock_.WallMillis();
    in.preserved = false;
    auto put = CasPut(in, raw.mod_revision, raw.lease);
    if (!put) {
      // The lease may have lapsed under us: the instance is gone.
      if (raw.lease && put.error().code == ErrorCode::kNotFound) {
        return Fail(ErrorCode::kNotFound,
                    fmt::format("instance {} of service {} expired", id, ServiceName(ns, service)));
      }
      return std::unexpected(put.error());
    }
    if (!put->has_value()) continue;
    in.revision = **put;
    ++stats_.health_transitions;
    log::Info("registry", "{}/{}/{} is {} ({})", ns, service, id, HealthName(health), output);
    return in;
  }
  return Fail(ErrorCode::kUnavailable, fmt::format("health update of {} kept racing", key));
}

Result<void> Registry::Sweep() {
  store::RangeOptions o;
  o.prefix = true;
  auto r = store_.Get(kKeyRoot, o);
  if (!r) return std::unexpected(r.error());
  const int64_t now = clock_.WallMillis();
  struct Entry {
    Instance in;
    store::KeyValue kv;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Entry>> ttl_by_service;
  for (const auto& kv : r->kvs) {
    // Only leased instances (self-preservation) and those with deregister_after can need
    // anything: skip decoding the rest (most of a large registry, every second).
    if (kv.lease == 0 && kv.value.find("\"deregister_after\"") == std::string::npos) continue;
    auto in = DecodeStored(kv.key, kv.value, kv.mod_revision, kv.lease);
    if (!in) continue;
    // deregister_after: critical for too long.
    if (in->deregister_after.count() > 0 && in->health == Health::kCritical &&
        now - in->health_since_ms >= in->deregister_after.count()) {
      store::TxnRequest t;
      store::Compare c;
      c.key = kv.key;
      c.target = store::Compare::Target::kModRevision;
      c.number = kv.mod_revision;
      t.compare.push_back(c);
      t.success.push_back(store::TxnOp::Delete(kv.key));
      auto d = store_.Txn(t);
      if (d && d->succeeded) {
        if (kv.lease) (void)store_.RevokeLease(kv.lease);
        ++stats_.deregistered_critical;
        log::Info("registry", "deregistered {}/{}/{}: critical for {} (deregister_after {})",
                  in->ns, in->service, in->id, FormatDuration(Millis(now - in->health_since_ms)),
                  FormatDuration(in->deregister_after));
      }
      continue;
    }
    if (kv.lease) {
      auto& v = ttl_by_service[{in->ns, in->service}];
      v.push_back(Entry{std::move(*in), kv});
    }
  }
  // Self-preservation.
  for (auto& [svc, entries] : ttl_by_service) {
    if (static_cast<int>(entries.size()) < options_.self_preservation_min_instances) continue;
    std::vector<Entry*> expiring;
    for (auto& e : entries) {
      auto ttl = store_.LeaseTimeToLive(e.kv.lease);
      int64_t remaining = ttl ? ttl->ttl : -1;
      if (remaining < 0) continue;  // already gone
      if (remaining * 1000 <= options_.self_preservation_window.count()) expiring.push_back(&e);
    }
    if (expiring.empty() ||
        static_cast<double>(expiring.size()) <=
            options_.self_preservation_share * static_cast<double>(entries.size())) {
      continue;
    }
    int kept = 0;
    for (Entry* e : expiring) {
      if (e->in.preserved && options_.self_preservation_max.count() > 0 &&
          now - e->in.health_since_ms >= options_.self_preservation_max.count()) {
        continue;  // preserved long enough: let it lapse
      }
      if (!store_.KeepAlive(e->kv.lease)) continue;
      ++kept;
      ++stats_.self_preserved_instances;
      if (e->in.preserved) continue;
      Instance in = e->in;
      in.preserved = true;
      in.health = in.health == Health::kCritical ? Health::kCritical : Health::kWarning;
      in.health_output = fmt::format(
          "self-preservation: {} of {} instances of {} stopped heartbeating at once; kept",
          expiring.size(), entries.size(), ServiceName(svc.first, svc.second));
      in.health_since_ms = now;
      auto put = CasPut(in, e->kv.mod_revision, e->kv.lease);
      if (put && put->has_value()) ++stats_.health_transitions;
    }
    if (kept > 0) {
      ++stats_.self_preservation_activations;
      log::Warn("registry",
                "self-preservation for {}: {} of {} instances would expire within {}; keeping "
                "{} of them as warning (control-plane network fault?)",
                ServiceName(svc.first, svc.second), expiring.size(), entries.size(),
                FormatDuration(options_.self_preservation_window), kept);
    }
  }
  return {};
}

}  // namespace berth::registry

namespace berth::registry {

Result<void> Registry::ValidateWatchSpec(const WatchSpec& spec) {
  auto fail = [&](std::string_view what) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("watch {}: {}", spec.id, what));
  };
  if (spec.from_revision < 0) return fail("revision must not be negative");
  if (spec.no_put && spec.no_delete) {
    return fail("filters noput and nodelete together leave nothing to watch");
  }
  if (!spec.service.empty() && !spec.service_prefix.empty()) {
    return fail("service and service_prefix exclude each other");
  }
  if (spec.ns.empty()) {
    if (!spec.service.empty() || !spec.service_prefix.empty()) {
      return fail("a service or service_prefix watch needs its namespace");
    }
    return {};
  }
  if (auto r = ValidateNamespace(spec.ns); !r) return fail(r.error().message);
  if (!spec.service.empty()) {
    if (auto r = ValidateServiceName(spec.service); !r) return fail(r.error().message);
  }
  if (!spec.service_prefix.empty()) {
    if (spec.service_prefix.size() > 63) return fail("service_prefix is longer than 63 bytes");
    for (char c : spec.service_prefix) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return fail(fmt::format("service_prefix \"{}\" has a character outside a-z, 0-9 and '-'",
                                spec.service_prefix));
      }
    }
  }
  return {};
}

Result<std::unique_ptr<MultiSubscription>> Registry::WatchMany(std::vector<WatchSpec> specs,
                                                               MultiWatchHandler handler) {
  if (specs.empty()) return Fail(ErrorCode::kInvalidArgument, "no watches given");
  std::set<int64_t> ids;
  std::vector<WatchHub::MultiWatch> watches;
  watches.reserve(specs.size());
  for (const auto& spec : specs) {
    if (auto r = ValidateWatchSpec(spec); !r) return std::unexpected(r.error());
    if (!ids.insert(spec.id).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("watch id {} is given twice; ids must be unique", spec.id));
    }
    std::string prefix(kKeyRoot);
    if (!spec.ns.empty()) {
      prefix =
          spec.service.empty() ? NamespacePrefix(spec.ns) : ServicePrefix(spec.ns, spec.service);
      if (!spec.service_prefix.empty()) prefix += spec.service_prefix;
    }
    watches.push_back({.prefix = std::move(prefix),
                       .from = spec.from_revision,
                       .no_put = spec.no_put,
                       .no_delete = spec.no_delete});
  }
  return hub_->SubscribeMany(std::move(watches), std::move(handler));
}

}  // namespace berth::registry
