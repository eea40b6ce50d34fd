// MirrorFeed: fills a KvMirror with the whole keyspace (read in pages at one revision R) and
// keeps it current with one watch over every key from R + 1, delivered inline on gRPC's
// thread (applying events only touches memory). When the watch cannot resume because etcd
// compacted past it (the feed was cut off for long), the mirror is forgotten and loaded
// again. While loading or disconnected the mirror is not ready and the store reads etcd.
//
// Private to store/etcd. Thread-safety: Start and Stop from any thread.
#pragma once

#include <memory>
#include <mutex>

#include "store/etcd/internal/kv_mirror.h"
#include "store/etcd/internal/members.h"
#include "store/etcd/internal/watch_stream.h"

namespace berth::store::etcd_internal {

struct MirrorFeedOptions {
  int64_t page_size = 5000;  // keys per range while loading
  std::chrono::milliseconds retry_initial{50};
  std::chrono::milliseconds retry_max{2000};
  std::function<void(size_t member)> on_attempt;  // for tests, see WatchStreamOptions
};

class MirrorFeed : public std::enable_shared_from_this<MirrorFeed> {
 public:
  MirrorFeed(std::shared_ptr<Members> members, std::shared_ptr<KvMirror> mirror,
             MirrorFeedOptions options);
  // Starts loading on the members' blocking pool.
  void Start();
  // Stops the watch; the mirror stops being ready.
  void Stop();
  // How many times the mirror was loaded (for tests).
  int loads() const;

 private:
  void Load();
  void RetryLoad();

  const std::shared_ptr<Members> members_;
  const std::shared_ptr<KvMirror> mirror_;
  const MirrorFeedOptions options_;
  mutable std::mutex mu_;
  bool stopped_ = false;                // guarded by mu_
  std::shared_ptr<WatchStream> watch_;  // guarded by mu_
  std::chrono::milliseconds backoff_;   // guarded by mu_
  int loads_ = 0;                       // guarded by mu_
};

}  // namespace berth::store::etcd_internal
