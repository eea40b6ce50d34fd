#include "config/delivery_hub.h"

#include <fmt/core.h>

#include "core/log.h"
#include "core/try.h"

namespace berth::config {

struct DeliveryHub::Group {
  DeliveryHandler handler;
  Consumer consumer;
  std::vector<DeliveryWatch> watches;
  std::vector<std::pair<std::string, std::list<Entry>::iterator>> entries;
};

class HubSubscription final : public DeliverySubscription {
 public:
  HubSubscription(DeliveryHub& hub, std::unique_ptr<DeliveryHub::Group> group)
      : hub_(hub), group_(std::move(group)) {}
  ~HubSubscription() override { hub_.Remove(group_.get()); }

 private:
  DeliveryHub& hub_;
  std::unique_ptr<DeliveryHub::Group> group_;
};

namespace {

constexpr size_t kContentCached = 64;

std::string ItemId(std::string_view ns, std::string_view name) {
  return fmt::format("{}/{}", ns, name);
}

}  // namespace

DeliveryHub::DeliveryHub(store::Store& store, ConfigCenter& center)
    : store_(store), center_(center) {}

DeliveryHub::~DeliveryHub() {
  std::unique_ptr<store::Watcher> w;
  {
    std::lock_guard lock(mu_);
    w = std::move(watcher_);
  }
  if (w) w->Cancel();
}

Result<void> DeliveryHub::Start() {
  std::lock_guard lock(mu_);
  if (watcher_) return {};
  int64_t from = last_revision_ > 0 ? last_revision_ + 1 : 0;
  watcher_ = BERTH_TRY(store_.Watch(kItemsPrefix, {.prefix = true, .start_revision = from},
                                    [this](store::WatchResponse&& r) { OnStore(std::move(r)); }));
  return {};
}

Result<void> DeliveryHub::Replay(Group& group, size_t index, const DeliveryWatch& w,
                                 std::vector<Delivery>& out, ReplayCache& cache) {
  const int64_t from = w.from_revision > 0 ? w.from_revision : INT64_MAX;
  // Watches of one item from one revision in one subscription read the log once.
  const std::string cache_key = fmt::format("{}/{}@{}", w.ns, w.name, from);
  auto cached = cache.find(cache_key);
  if (cached == cache.end()) {
    cached = cache.emplace(cache_key, BERTH_TRY(center_.ReadLog(w.ns, w.name, from))).first;
  }
  const LogReplay& log = cached->second;
  Entry entry{.group = &group, .watch = index, .seen = log.revision};
  auto deliver = [&](const LogEntry& e, bool resync) {
    int64_t v = e.VersionFor(group.consumer.instance, group.consumer.labels);
    if (v == entry.version && !resync) return;
    entry.version = v;
    out.push_back(Delivery{.watch = index,
                           .ns = w.ns,
                           .name = w.name,
                           .revision = e.revision,
                           .seq = e.seq,
                           .version = v,
                           .gray = e.gray && e.gray->version == v,
                           .resync = resync});
  };
  if (log.deleted) {
    if (w.from_revision == 0) {
      BERTH_TRY(center_.Get(w.ns, w.name));  // the namespace's or the item's 404
      return Fail(ErrorCode::kNotFound,
                  fmt::format("config {} does not exist", ItemId(w.ns, w.name)));
    }
    out.push_back(Delivery{
        .watch = index, .ns = w.ns, .name = w.name, .revision = log.revision, .deleted = true});
  } else if (w.from_revision == 0 || !log.complete) {
    // The current state: the last change (a consumer starting fresh, or one that missed
    // changes the log no longer holds).
    const LogEntry* last =
        !log.entries.empty() ? &log.entries.back() : (log.before ? &*log.before : nullptr);
    if (last != nullptr) deliver(*last, /*resync=*/w.from_revision > 0);
  } else {
    if (log.before)
      entry.version = log.before->VersionFor(group.consumer.instance, group.consumer.labels);
    for (const LogEntry& e : log.entries) deliver(e, false);
  }
  auto& list = by_item_[ItemId(w.ns, w.name)];
  list.push_back(entry);
  group.entries.emplace_back(ItemId(w.ns, w.name), std::prev(list.end()));
  return {};
}

Result<std::unique_ptr<DeliverySubscription>> DeliveryHub::Subscribe(
    std::vector<DeliveryWatch> watches, Consumer consumer, DeliveryHandler handler) {
  BERTH_TRY(Start());
  auto group = std::make_unique<Group>();
  group->handler = std::move(handler);
  group->consumer = std::move(consumer);
  group->watches = std::move(watches);
  std::vector<Delivery> batch;
  ReplayCache cache;
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < group->watches.size(); ++i) {
    auto ok = Replay(*group, i, group->watches[i], batch, cache);
    if (!ok) {
      for (auto& [id, it] : group->entries) by_item_[id].erase(it);
      return std::unexpected(ok.error());
    }
  }
  stats_.subscriptions += 1;
  stats_.watches += static_cast<int64_t>(group->watches.size());
  stats_.delivered += static_cast<int64_t>(batch.size());
  if (!batch.empty()) group->handler(std::move(batch));
  return std::unique_ptr<DeliverySubscription>(new HubSubscription(*this, std::move(group)));
}

void DeliveryHub::Remove(Group* group) {
  std::lock_guard lock(mu_);
  for (auto& [id, it] : group->entries) {
    auto list = by_item_.find(id);
    if (list == by_item_.end()) continue;
    list->second.erase(it);
    if (list->second.empty()) by_item_.erase(list);
  }
  stats_.subscriptions -= 1;
  stats_.watches -= static_cast<int64_t>(group->watches.size());
}

void DeliveryHub::OnStore(store::WatchResponse&& response) {
  std::lock_guard lock(mu_);
  if (response.compacted || response.canceled) {
    // Resume after the last revision seen (the store's history holds it: compaction keeps
    // minutes, and the hub is never minutes behind).
    log::Warn("config", "delivery watch ended ({}); resuming from revision {}",
              response.compacted ? "compacted" : response.cancel_reason, last_revision_ + 1);
    watcher_.reset();
    auto w = store_.Watch(kItemsPrefix, {.prefix = true, .start_revision = last_revision_ + 1},
                          [this](store::WatchResponse&& r) { OnStore(std::move(r)); });
    if (w) {
      watcher_ = std::move(*w);
    } else {
      log::Error("config", "delivery watch cannot resume: {}", w.error().message);
    }
    return;
  }
  std::map<Group*, std::vector<Delivery>> batches;
  for (const store::Event& ev : response.events) {
    const int64_t rev = ev.kv.mod_revision;
    last_revision_ = std::max(last_revision_, rev);
    auto key = ParseItemKey(ev.kv.key);
    if (!key) continue;
    auto list = by_item_.find(ItemId(key->first, key->second));
    if (list == by_item_.end()) continue;
    stats_.changes += 1;
    std::optional<Item> item;
    if (ev.type == store::Event::Type::kPut) {
      auto parsed = ItemFromJson(key->first, key->second, ev.kv.value);
      if (!parsed) {
        log::Error("config", "delivery: {}", parsed.error().message);
        continue;
      }
      item = std::move(*parsed);
    }
    for (Entry& e : list->second) {
      if (rev <= e.seen) continue;
      e.seen = rev;
      Delivery d{.watch = e.watch, .ns = key->first, .name = key->second, .revision = rev};
      if (!item) {
        e.version = 0;
        d.deleted = true;
      } else {
        int64_t v = item->VersionFor(e.group->consumer.instance, e.group->consumer.labels);
        if (v == e.version) continue;
        e.version = v;
        d.seq = item->seq;
        d.version = v;
        d.gray = item->gray && item->gray->version == v;
      }
      batches[e.group].push_back(std::move(d));
    }
  }
  for (auto& [group, batch] : batches) {
    stats_.delivered += static_cast<int64_t>(batch.size());
    group->handler(std::move(batch));
  }
}

Result<std::shared_ptr<const VersionContent>> DeliveryHub::Content(std::string_view ns,
                                                                   std::string_view name,
                                                                   int64_t version) {
  const std::string id = fmt::format("{}/{}@{}", ns, name, version);
  {
    std::lock_guard lock(content_mu_);
    for (auto it = content_.begin(); it != content_.end(); ++it) {
      if (it->first != id) continue;
      content_.splice(content_.begin(), content_, it);
      return content_.front().second;
    }
  }
  // Delivery reads any version it was told to deliver (gray ones included).
  auto read = BERTH_TRY(center_.ReadVersion(
      ns, name, version, Caller{.name = "delivery", .may_read_unreleased = true}));
  auto shared = std::make_shared<const VersionContent>(std::move(read));
  std::lock_guard lock(content_mu_);
  content_.emplace_front(id, shared);
  if (content_.size() > kContentCached) content_.pop_back();
  return shared;
}

}  // namespace berth::config
