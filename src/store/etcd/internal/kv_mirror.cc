#include "store/etcd/internal/kv_mirror.h"

#include "store/etcd/internal/convert.h"

namespace berth::store::etcd_internal {

void KvMirror::Load(std::vector<KeyValue> kvs, int64_t revision) {
  {
    std::unique_lock lock(mu_);
    kvs_.clear();
    for (auto& kv : kvs) {
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
  std::lock_guard lock(wait_mu_);
  wait_cv_.notify_all();
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
