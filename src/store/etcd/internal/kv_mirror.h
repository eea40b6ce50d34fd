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
  // A Range of the latest revision, as etcd answers it (key, prefix or range_end; limit with
  // count and more; keys_only; count_only), at the mirror's revision; nullopt unless loaded
  // and live. `options.revision` is ignored: the caller sends older reads to etcd.
  std::optional<RangeResult> Read(std::string_view key, const RangeOptions& options) const;

  int64_t revision() const { return revision_.load(); }
  bool ready() const;  // loaded and live
  size_t size() const;

 private:
  void Notify();

  mutable std::shared_mutex mu_;
  std::map<std::string, KeyValue, std::less<>> kvs_;  // guarded by mu_
  bool loaded_ = false;                               // guarded by mu_
  std::atomic<int64_t> revision_{0};                  // written under mu_ (exclusive)
  std::atomic<bool> live_{false};

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
};

}  // namespace berth::store::etcd_internal
