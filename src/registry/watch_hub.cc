#include "registry/watch_hub.h"

#include <algorithm>
#include <atomic>

#include <fmt/format.h>

#include "core/json_writer.h"
#include "core/log.h"

namespace berth::registry {

namespace {
thread_local const WatchHub* tls_dispatching_hub = nullptr;

struct DispatchScope {
  const WatchHub* saved;
  explicit DispatchScope(const WatchHub* hub) : saved(tls_dispatching_hub) {
    tls_dispatching_hub = hub;
  }
  ~DispatchScope() { tls_dispatching_hub = saved; }
};

WatchBatch ConvertResponse(const store::WatchResponse& r, int64_t* last_rev) {
  WatchBatch b;
  b.revision = r.revision;
  b.compacted = r.compacted;
  b.compact_revision = r.compact_revision;
  b.canceled = r.canceled;
  b.cancel_reason = r.cancel_reason;
  for (const auto& e : r.events) {
    if (last_rev) *last_rev = std::max(*last_rev, e.kv.mod_revision);
    if (auto c = ConvertEvent(e)) b.events.push_back(*c);
  }
  return b;
}

// A watcher on its own store watch (start revision older than the hub's history).
class DirectSubscription final : public Subscription {
 public:
  DirectSubscription(std::unique_ptr<store::Watcher> w, RegistryStats& stats)
      : watcher_(std::move(w)), stats_(stats) {
    ++stats_.watchers;
  }
  ~DirectSubscription() override { Cancel(); }
  void Cancel() override {
    if (watcher_) {
      watcher_->Cancel();
      watcher_.reset();
      --stats_.watchers;
    }
  }

 private:
  std::unique_ptr<store::Watcher> watcher_;
  RegistryStats& stats_;
};

}  // namespace

std::shared_ptr<const WatchEvent> ConvertEvent(const store::Event& event) {
  auto parts = ParseInstanceKey(event.kv.key);
  if (!parts) return nullptr;
  auto out = std::make_shared<WatchEvent>();
  const bool put = event.type != store::Event::Type::kDelete;
  out->type = put ? WatchEvent::Type::kPut : WatchEvent::Type::kDelete;
  out->revision = event.kv.mod_revision;
  out->ns = std::move(parts->ns);
  out->service = std::move(parts->service);
  out->id = std::move(parts->id);
  std::string instance_json;
  if (put) {
    auto in = DecodeStored(event.kv.key, event.kv.value, event.kv.mod_revision, event.kv.lease);
    if (!in) {
      log::Warn("registry", "skipping undecodable instance at {}: {}", event.kv.key,
                in.error().message);
      return nullptr;
    }
    out->instance = std::make_shared<const Instance>(std::move(*in));
    instance_json = InstanceToJsonText(*out->instance);
  }
  // {"type","revision","namespace","service","id"[,"instance"]}, in that order.
  std::string json;
  json.reserve(80 + out->ns.size() + out->service.size() + out->id.size() + instance_json.size());
  JsonWriter w(json);
  w.BeginObject()
      .Key("type")
      .String(put ? "put" : "delete")
      .Key("revision")
      .Int(out->revision)
      .Key("namespace")
      .String(out->ns)
      .Key("service")
      .String(out->service)
      .Key("id")
      .String(out->id);
  if (put) w.Key("instance").Raw(instance_json);
  w.EndObject();
  out->json = std::make_shared<const std::string>(std::move(json));
  return out;
}

struct WatchHub::Sub {
  std::string prefix;
  int64_t from = 0;
  WatchHandler handler;
  bool active = true;  // guarded by the hub's mu_
};

class HubSubscription final : public Subscription {
 public:
  HubSubscription(WatchHub& hub, std::shared_ptr<WatchHub::Sub> sub) : hub_(hub), sub_(sub) {
    ++hub_.stats_.watchers;
  }
  ~HubSubscription() override { Cancel(); }
  void Cancel() override {
    if (!sub_) return;
    if (tls_dispatching_hub == &hub_) {
      // Called from inside a handler: the hub's mutex is ours already.
      sub_->active = false;
    } else {
      std::lock_guard lock(hub_.mu_);
      sub_->active = false;
      hub_.Remove(sub_.get());
    }
    sub_.reset();
    --hub_.stats_.watchers;
  }

 private:
  WatchHub& hub_;
  std::shared_ptr<WatchHub::Sub> sub_;
};

struct WatchHub::Group {
  struct Watch {
    uint32_t index = 0;  // into the caller's specs
    std::string prefix;
    int64_t from = 0;
    bool no_put = false;
    bool no_delete = false;
  };
  std::vector<Watch> watches;  // the ones the hub serves (not the direct ones)
  std::shared_ptr<const MultiWatchHandler> handler;
  bool active = true;  // guarded by the hub's mu_
};

namespace {

bool Wants(const WatchHub::Group::Watch& w, const WatchEvent& e, const std::string& key) {
  if (e.revision < w.from) return false;
  if (e.type == WatchEvent::Type::kPut ? w.no_put : w.no_delete) return false;
  return key.starts_with(w.prefix);
}

}  // namespace

class GroupSubscription final : public MultiSubscription {
 public:
  // One watch of the group on a store watch of its own (older than the hub's history).
  struct Direct {
    std::unique_ptr<store::Watcher> watcher;
    std::shared_ptr<std::atomic<int64_t>> delivered;  // highest revision handed over
  };

  GroupSubscription(WatchHub& hub, std::shared_ptr<WatchHub::Group> group, size_t count)
      : hub_(hub), group_(std::move(group)), count_(count) {
    hub_.stats_.watchers += static_cast<int64_t>(count_);
  }
  ~GroupSubscription() override { Cancel(); }

  void AddDirect(Direct d) {
    std::lock_guard lock(mu_);
    direct_.push_back(std::move(d));
  }

  void Cancel() override {
    std::vector<Direct> direct;
    std::shared_ptr<WatchHub::Group> group;
    {
      std::lock_guard lock(mu_);
      if (canceled_) return;
      canceled_ = true;
      direct = std::move(direct_);
      group = std::move(group_);
    }
    for (auto& d : direct) {
      if (d.watcher) d.watcher->Cancel();
    }
    if (group) {
      if (tls_dispatching_hub == &hub_) {
        group->active = false;  // the hub's mutex is ours already; it drops the group
      } else {
        std::lock_guard lock(hub_.mu_);
        group->active = false;
        std::erase(hub_.groups_, group);
      }
    }
    hub_.stats_.watchers -= static_cast<int64_t>(count_);
  }

  void Progress() override {
    std::lock_guard lock(mu_);
    if (canceled_ || !group_) return;
    std::lock_guard hub_lock(hub_.mu_);
    if (!group_->active) return;
    int64_t revision = hub_.last_rev_;
    for (const auto& d : direct_) revision = std::min(revision, d.delivered->load());
    if (revision <= 0) return;
    MultiWatchBatch b;
    b.progress_revision = revision;
    DispatchScope scope(&hub_);
    (*group_->handler)(std::move(b));
  }

 private:
  WatchHub& hub_;
  std::mutex mu_;  // guards the three below; taken before the hub's mu_
  std::shared_ptr<WatchHub::Group> group_;
  std::vector<Direct> direct_;
  bool canceled_ = false;
  size_t count_;
};

WatchHub::WatchHub(store::Store& store, size_t history, RegistryStats& stats)
    : store_(store), history_limit_(std::max<size_t>(history, 1)), stats_(stats) {}

WatchHub::~WatchHub() {
  std::unique_ptr<store::Watcher> w;
  {
    std::lock_guard lock(mu_);
    w = std::move(watcher_);
  }
  if (w) w->Cancel();
  retired_.clear();
}

Result<void> WatchHub::StartLocked() {
  if (started_) return {};
  auto rev = store_.CurrentRevision();
  if (!rev) return std::unexpected(rev.error());
  last_rev_ = *rev;
  floor_ = *rev + 1;
  store::WatchOptions o;
  o.prefix = true;
  o.start_revision = floor_;
  auto w = store_.Watch(kKeyRoot, o, [this](store::WatchResponse&& r) { OnStore(std::move(r)); });
  if (!w) return std::unexpected(w.error());
  watcher_ = std::move(*w);
  started_ = true;
  return {};
}

void WatchHub::Remove(const Sub* sub) {
  std::erase_if(subs_, [sub](const std::shared_ptr<Sub>& s) { return s.get() == sub; });
}

Result<std::unique_ptr<Subscription>> WatchHub::Subscribe(std::string prefix, int64_t from_revision,
                                                          WatchHandler handler) {
  std::unique_lock lock(mu_);
  if (auto r = StartLocked(); !r) return std::unexpected(r.error());
  retired_.clear();
  if (from_revision > 0 && from_revision < floor_) {
    // Older than our history: a store watch of its own.
    lock.unlock();
    store::WatchOptions o;
    o.prefix = true;
    o.start_revision = from_revision;
    auto w = store_.Watch(prefix, o, [handler = std::move(handler)](store::WatchResponse&& r) {
      handler(ConvertResponse(r, nullptr));
    });
    if (!w) return std::unexpected(w.error());
    return std::unique_ptr<Subscription>(new DirectSubscription(std::move(*w), stats_));
  }
  auto sub = std::make_shared<Sub>();
  sub->prefix = std::move(prefix);
  sub->from = from_revision == 0 ? last_rev_ + 1 : from_revision;
  sub->handler = std::move(handler);
  // Replay what history holds at or after `from`, grouped per revision.
  if (sub->from <= last_rev_) {
    auto it = std::lower_bound(
        history_.begin(), history_.end(), sub->from,
        [](const std::shared_ptr<const WatchEvent>& e, int64_t rev) { return e->revision < rev; });
    WatchBatch batch;
    batch.revision = last_rev_;
    for (; it != history_.end(); ++it) {
      if ((*it)->ns.empty()) continue;
      const WatchEvent& e = **it;
      std::string key = InstanceKey(e.ns, e.service, e.id);
      if (!key.starts_with(sub->prefix)) continue;
      batch.events.push_back(e);
    }
    if (!batch.events.empty()) {
      DispatchScope scope(this);
      sub->handler(std::move(batch));
    }
  }
  if (sub->active) subs_.push_back(sub);
  return std::unique_ptr<Subscription>(new HubSubscription(*this, std::move(sub)));
}

Result<std::unique_ptr<MultiSubscription>> WatchHub::SubscribeMany(std::vector<MultiWatch> watches,
                                                                   MultiWatchHandler handler) {
  auto shared_handler = std::make_shared<const MultiWatchHandler>(std::move(handler));
  auto group = std::make_shared<Group>();
  group->handler = shared_handler;
  std::vector<uint32_t> direct;  // indexes of the watches older than the history
  std::unique_lock lock(mu_);
  if (auto r = StartLocked(); !r) return std::unexpected(r.error());
  retired_.clear();
  MultiWatchBatch created;
  created.created.resize(watches.size());
  int64_t replay_from = last_rev_ + 1;
  for (uint32_t i = 0; i < watches.size(); ++i) {
    MultiWatch& w = watches[i];
    if (w.from > 0 && w.from < floor_) {
      direct.push_back(i);
      created.created[i] = w.from;
      continue;
    }
    int64_t from = w.from == 0 ? last_rev_ + 1 : w.from;
    created.created[i] = from;
    replay_from = std::min(replay_from, from);
    group->watches.push_back({.index = i,
                              .prefix = std::move(w.prefix),
                              .from = from,
                              .no_put = w.no_put,
                              .no_delete = w.no_delete});
  }
  auto sub = std::make_unique<GroupSubscription>(*this, group, watches.size());
  {
    DispatchScope scope(this);
    (*shared_handler)(std::move(created));
    // Replay what history holds for the hub's watches, under the lock: nothing the store
    // sends can slip in between.
    if (replay_from <= last_rev_ && !group->watches.empty()) {
      auto it = std::lower_bound(history_.begin(), history_.end(), replay_from,
                                 [](const std::shared_ptr<const WatchEvent>& e, int64_t rev) {
                                   return e->revision < rev;
                                 });
      MultiWatchBatch batch;
      for (; it != history_.end(); ++it) {
        if ((*it)->ns.empty()) continue;
        std::string key = InstanceKey((*it)->ns, (*it)->service, (*it)->id);
        for (const auto& w : group->watches) {
          if (Wants(w, **it, key)) batch.events.emplace_back(w.index, *it);
        }
      }
      if (!batch.events.empty()) (*shared_handler)(std::move(batch));
    }
  }
  if (group->active && !group->watches.empty()) groups_.push_back(group);
  lock.unlock();
  // Store watches of their own for the old ones, delivered through the same handler.
  for (uint32_t i : direct) {
    MultiWatch& w = watches[i];
    auto delivered = std::make_shared<std::atomic<int64_t>>(w.from - 1);
    store::WatchOptions o;
    o.prefix = true;
    o.start_revision = w.from;
    auto watcher = store_.Watch(
        w.prefix, o,
        [i, delivered, shared_handler, no_put = w.no_put,
         no_delete = w.no_delete](store::WatchResponse&& r) {
          MultiWatchBatch b;
          if (r.compacted || r.canceled) {
            b.ended.push_back(
                {.watch = i,
                 .compacted = r.compacted,
                 .compact_revision = r.compact_revision,
                 .reason = r.compacted ? "watch start revision was compacted" : r.cancel_reason});
            (*shared_handler)(std::move(b));
            return;
          }
          int64_t last = 0;
          for (const auto& e : r.events) {
            last = std::max(last, e.kv.mod_revision);
            auto c = ConvertEvent(e);
            if (!c) continue;
            if (c->type == WatchEvent::Type::kPut ? no_put : no_delete) continue;
            b.events.emplace_back(i, std::move(c));
          }
          if (!b.events.empty()) (*shared_handler)(std::move(b));
          if (last > 0) delivered->store(last);
        });
    if (!watcher) {
      MultiWatchBatch b;
      b.ended.push_back({.watch = i,
                         .compacted = watcher.error().code == ErrorCode::kCompacted,
                         .reason = watcher.error().message});
      (*shared_handler)(std::move(b));
      continue;
    }
    sub->AddDirect({.watcher = std::move(*watcher), .delivered = delivered});
  }
  return std::unique_ptr<MultiSubscription>(std::move(sub));
}

void WatchHub::OnStore(store::WatchResponse&& response) {
  std::lock_guard lock(mu_);
  DispatchScope scope(this);
  if (response.canceled || response.compacted) {
    if (response.compacted) {
      // Cannot happen for a live watch started at the current revision; tell everyone.
      log::Error("registry", "watch hub fell behind compaction at {}", response.compact_revision);
      WatchBatch b;
      b.compacted = true;
      b.compact_revision = response.compact_revision;
      b.revision = response.revision;
      for (auto& s : subs_) {
        if (s->active) s->handler(WatchBatch(b));
        s->active = false;
      }
      subs_.clear();
      for (auto& g : groups_) {
        MultiWatchBatch mb;
        for (const auto& w : g->watches) {
          mb.ended.push_back({.watch = w.index,
                              .compacted = true,
                              .compact_revision = response.compact_revision,
                              .reason = "the registry's watch fell behind compaction"});
        }
        if (g->active) (*g->handler)(std::move(mb));
        g->active = false;
      }
      groups_.clear();
      if (watcher_) retired_.push_back(std::move(watcher_));
      started_ = false;
      history_.clear();
      return;
    }
    log::Warn("registry", "store canceled the registry watch ({}); resuming from {}",
              response.cancel_reason, last_rev_ + 1);
    if (watcher_) retired_.push_back(std::move(watcher_));
    store::WatchOptions o;
    o.prefix = true;
    o.start_revision = last_rev_ + 1;
    auto w = store_.Watch(kKeyRoot, o, [this](store::WatchResponse&& r) { OnStore(std::move(r)); });
    if (w) {
      watcher_ = std::move(*w);
    } else {
      log::Error("registry", "cannot resume the registry watch: {}", w.error().message);
      started_ = false;
    }
    return;
  }
  std::vector<std::shared_ptr<const WatchEvent>> events;
  events.reserve(response.events.size());
  for (const auto& e : response.events) {
    if (e.kv.mod_revision <= last_rev_)
      continue;  // a resumed watch may repeat nothing, but be safe
    auto c = ConvertEvent(e);
    if (!c) continue;
    events.push_back(c);
  }
  if (!response.events.empty()) {
    last_rev_ = std::max(last_rev_, response.events.back().kv.mod_revision);
  }
  for (const auto& e : events) history_.push_back(e);
  while (history_.size() > history_limit_) {
    floor_ = history_.front()->revision + 1;
    history_.pop_front();
  }
  if (events.empty()) return;
  // Per event, its key once (prefix checks against it).
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (const auto& e : events) keys.push_back(InstanceKey(e->ns, e->service, e->id));
  bool any_inactive = false;
  for (size_t i = 0; i < subs_.size(); ++i) {
    Sub& s = *subs_[i];
    if (!s.active) {
      any_inactive = true;
      continue;
    }
    WatchBatch batch;
    for (size_t k = 0; k < events.size(); ++k) {
      if (events[k]->revision >= s.from && keys[k].starts_with(s.prefix)) {
        batch.events.push_back(*events[k]);
      }
    }
    if (batch.events.empty()) continue;
    batch.revision = response.revision;
    s.handler(std::move(batch));
    if (!s.active) any_inactive = true;
  }
  if (any_inactive) std::erase_if(subs_, [](const std::shared_ptr<Sub>& s) { return !s->active; });
  // Multiplexed watches: one pass and one batch per group.
  bool any_group_inactive = false;
  for (size_t i = 0; i < groups_.size(); ++i) {
    Group& g = *groups_[i];
    if (!g.active) {
      any_group_inactive = true;
      continue;
    }
    MultiWatchBatch batch;
    for (size_t k = 0; k < events.size(); ++k) {
      for (const auto& w : g.watches) {
        if (Wants(w, *events[k], keys[k])) batch.events.emplace_back(w.index, events[k]);
      }
    }
    if (batch.events.empty()) continue;
    (*g.handler)(std::move(batch));
    if (!g.active) any_group_inactive = true;
  }
  if (any_group_inactive) {
    std::erase_if(groups_, [](const std::shared_ptr<Group>& g) { return !g->active; });
  }
}

}  // namespace berth::registry
