#include "store/etcd/internal/kv_mirror.h"

#include "store/etcd/internal/convert.h"

namespace berth::store::etcd_internal {

bool KvMirror::Uncached(std::string_view key) const {
  for (const auto& p : uncached_) {
    if (key.starts_with(p)) return true;
  }
  return false;
}

bool KvMirror::Covers(std::string_view key, const RangeOptions& options) const {
  if (uncached_.empty()) return true;
  KeyRange range = MakeKeyRange(key, options.prefix, options.range_end);
  if (range.range_end.empty()) return !Uncached(range.key);
  const bool to_end = range.range_end == std::string_view("\0", 1);
  for (const auto& p : uncached_) {
    // [key, end) and [p, PrefixEnd(p)) overlap unless one ends before the other begins.
    const std::string p_end = PrefixEnd(p);
    bool before = !to_end && range.range_end <= p;
    bool after = range.key >= p_end;
    if (!before && !after) return false;
  }
  return true;
}

void KvMirror::Load(std::vector<KeyValue> kvs, int64_t revision) {
  {
    std::unique_lock lock(mu_);
    kvs_.clear();
    for (auto& kv : kvs) {
      if (Uncached(kv.key)) continue;
      std::string key = kv.key;
      kvs_.insert_or_assign(std::move(key), std::move(kv));
    }
    loaded_ = true;
    revision_.store(revision);
  }
  Notify();
}

void KvMirror::Apply(const std::vector<Event>& events) {
  if (events.empty()) return;
  {
    std::unique_lock lock(mu_);
    if (!loaded_) return;
    const int64_t applied = revision_.load();
    for (const auto& e : events) {
      // A revision's events arrive together; older ones were applied before a resume.
      if (e.kv.mod_revision <= applied) continue;
      if (Uncached(e.kv.key)) continue;
      if (e.type == Event::Type::kDelete) {
        auto it = kvs_.find(e.kv.key);
        if (it != kvs_.end()) kvs_.erase(it);
      } else {
        kvs_.insert_or_assign(e.kv.key, e.kv);
      }
    }
    revision_.store(std::max(applied, events.back().kv.mod_revision));
  }
  Notify();
}

void KvMirror::Progress(int64_t revision) {
  {
    std::unique_lock lock(mu_);
    if (!loaded_ || revision <= revision_.load()) return;
    revision_.store(revision);
  }
  Notify();
}

void KvMirror::SetLive(bool live) {
  live_.store(live);
  Notify();
}

void KvMirror::Invalidate() {
  {
    std::unique_lock lock(mu_);
    kvs_.clear();
    loaded_ = false;
    live_.store(false);
  }
  Notify();
}

void KvMirror::Notify() {
  std::vector<std::pair<std::function<void(bool)>, bool>> due;
  {
    std::lock_guard lock(wait_mu_);
    wait_cv_.notify_all();
    if (waiters_.empty()) return;
    const bool is_ready = ready();
    const int64_t rev = revision_.load();
    auto end = is_ready ? waiters_by_rev_.upper_bound(rev) : waiters_by_rev_.end();
    for (auto it = waiters_by_rev_.begin(); it != end;) {
      auto w = waiters_.find(it->second);
      due.emplace_back(std::move(w->second.done), is_ready);
      waiters_.erase(w);
      it = waiters_by_rev_.erase(it);
    }
  }
  for (auto& [done, reached] : due) done(reached);
}

uint64_t KvMirror::WhenReached(int64_t revision, std::function<void(bool)> done) {
  uint64_t id;
  bool is_ready;
  {
    std::lock_guard lock(wait_mu_);
    id = ++next_waiter_;
    is_ready = ready();
    if (is_ready && revision_.load() < revision) {
      waiters_.emplace(id, Waiter{.revision = revision, .done = std::move(done)});
      waiters_by_rev_.emplace(revision, id);
      return id;
    }
  }
  done(is_ready);
  return 0;
}

void KvMirror::Expire(uint64_t id) {
  std::function<void(bool)> done;
  {
    std::lock_guard lock(wait_mu_);
    auto w = waiters_.find(id);
    if (w == waiters_.end()) return;
    auto range = waiters_by_rev_.equal_range(w->second.revision);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == id) {
        waiters_by_rev_.erase(it);
        break;
      }
    }
    done = std::move(w->second.done);
    waiters_.erase(w);
  }
  done(false);
}

bool KvMirror::WaitFor(int64_t revision, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(wait_mu_);
  wait_cv_.wait_until(lock, deadline, [&] { return revision_.load() >= revision || !ready(); });
  return ready() && revision_.load() >= revision;
}

bool KvMirror::ready() const {
  if (!live_.load()) return false;
  std::shared_lock lock(mu_);
  return loaded_;
}

size_t KvMirror::size() const {
  std::shared_lock lock(mu_);
  return kvs_.size();
}

std::optional<RangeResult> KvMirror::Read(std::string_view key, const RangeOptions& options) const {
  if (!Covers(key, options)) return std::nullopt;
  KeyRange range = MakeKeyRange(key, options.prefix, options.range_end);
  std::shared_lock lock(mu_);
  if (!loaded_ || !live_.load()) return std::nullopt;
  RangeResult out;
  out.revision = revision_.load();
  auto add = [&](const KeyValue& kv) {
    ++out.count;
    if (options.count_only) return;
    if (options.limit > 0 && static_cast<int64_t>(out.kvs.size()) >= options.limit) {
      out.more = true;
      return;
    }
    KeyValue copy;
    copy.key = kv.key;
    if (!options.keys_only) copy.value = kv.value;
    copy.create_revision = kv.create_revision;
    copy.mod_revision = kv.mod_revision;
    copy.version = kv.version;
    copy.lease = kv.lease;
    out.kvs.push_back(std::move(copy));
  };
  if (range.range_end.empty()) {
    if (auto it = kvs_.find(range.key); it != kvs_.end()) add(it->second);
    return out;
  }
  const bool to_end = range.range_end == std::string_view("\0", 1);
  for (auto it = kvs_.lower_bound(range.key); it != kvs_.end(); ++it) {
    if (!to_end && it->first >= range.range_end) break;
    add(it->second);
  }
  return out;
}

}  // namespace berth::store::etcd_internal
