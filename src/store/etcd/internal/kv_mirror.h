// KvMirror: a copy in memory of the whole etcd keyspace at one revision, kept current by one
// watch over every key (the idea of Kubernetes' watch cache). The etcd store serves reads of
// the latest revision from it:
// - a serializable read (RangeOptions::serializable) at once, at the mirror's revision;
// - a linearizable read (the default) after a RevisionFence gave a revision R at least as
//   new as every write acknowledged before the read began, once the mirror reached R
//   (etcd's own ReadIndex, with the mirror in place of etcd's state machine).
// Since the watch covers every key, every revision brings at least one event, so the mirror
// reaches R from events alone.
//
// Private to store/etcd. Pure memory, no I/O: the store feeds it (Load, Apply, Progress,
// SetLive). Thread-safety: every method from any thread; reads share a lock, feeding takes it
// alone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace berth::store::etcd_internal {

class KvMirror {
 public:
  // `uncached`: key prefixes whose keys the mirror does not keep (write-mostly data such as
  // the audit trail); their events still advance its revision, and reads of ranges that touch
  // them are not answered here (Covers).
  explicit KvMirror(std::vector<std::string> uncached = {}) : uncached_(std::move(uncached)) {}

  // Whether a read of this range can be answered from the mirror (it touches no uncached
  // prefix).
  bool Covers(std::string_view key, const RangeOptions& options) const;

  // Replaces the content with `kvs`, the whole keyspace at `revision`.
  void Load(std::vector<KeyValue> kvs, int64_t revision);
  // Applies one watch response's events (revision order, newer than the mirror's revision;
  // older ones, already applied, are skipped).
  void Apply(const std::vector<Event>& events);
  // Every event up to `revision` has been applied (a progress notification).
  void Progress(int64_t revision);
  // The feed's watch is connected (true) or lost (false). A mirror that is not live is not
  // waited for; its content stays readable for serializable reads only while live.
  void SetLive(bool live);
  // Forgets the content (the feed must Load again): not loaded, not live.
  void Invalidate();

  // Waits until the mirror has applied `revision` or later; false when it is (or becomes)
  // not live, or `deadline` passes first.
  bool WaitFor(int64_t revision, std::chrono::steady_clock::time_point deadline);
  // The same without a thread waiting: calls `done(true)` once the mirror has applied
  // `revision` (at once, on the caller's thread, when it has), or `done(false)` when it is not
  // ready or stops being ready first, or when Expire(id) comes first. Returns the waiter's id.
  // `done` runs on the feed's thread and must be quick.
  uint64_t WhenReached(int64_t revision, std::function<void(bool reached)> done);
  void Expire(uint64_t id);

  // A Range of the latest revision, as etcd answers it (key, prefix or range_end; limit with
  // count and more; keys_only; count_only), at the mirror's revision; nullopt unless loaded
  // and live. `options.revision` is ignored: the caller sends older reads to etcd.
  std::optional<RangeResult> Read(std::string_view key, const RangeOptions& options) const;

  int64_t revision() const { return revision_.load(); }
  bool ready() const;  // loaded and live
  size_t size() const;

 private:
  // Wakes WaitFor callers and runs the waiters that are due (all of them, with false, when
  // the mirror is not ready).
  void Notify();
  bool Uncached(std::string_view key) const;

  const std::vector<std::string> uncached_;
  mutable std::shared_mutex mu_;
  std::map<std::string, KeyValue, std::less<>> kvs_;  // guarded by mu_
  bool loaded_ = false;                               // guarded by mu_
  std::atomic<int64_t> revision_{0};                  // written under mu_ (exclusive)
  std::atomic<bool> live_{false};

  struct Waiter {
    int64_t revision = 0;
    std::function<void(bool)> done;
  };
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::map<uint64_t, Waiter> waiters_;               // guarded by wait_mu_, by id
  std::multimap<int64_t, uint64_t> waiters_by_rev_;  // guarded by wait_mu_
  uint64_t next_waiter_ = 0;                         // guarded by wait_mu_
};

}  // namespace berth::store::etcd_internal
