// WatchStream: one etcd watch that survives the loss of members. Each attempt is a gRPC
// bidirectional Watch stream on the preferred member's HTTP/2 connection (many watches share
// one connection); when an attempt ends for any reason but the watch's own end (member
// killed, connection lost, member cut off from its leader: the `hasleader` metadata makes
// etcd end the stream), the watch resumes on the next member from the last delivered
// revision + 1 after a backoff, so no event is lost, repeated or reordered.
//
// Delivery: on the store's delivery thread (Members::tasks(); the Store contract for user
// watches: one at a time, a callback may call back into the store), or inline on gRPC's
// thread for internal consumers that only update memory (the store's key-value mirror).
// The next response is read only after the callback returned: a slow callback slows its
// stream (HTTP/2 flow control), nothing queues without bound.
//
// Private to store/etcd. Thread-safety: Start, Stop and RequestProgress from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "store/etcd/internal/convert.h"
#include "store/etcd/internal/members.h"
#include "store/store.h"

namespace berth::store::etcd_internal {

struct WatchStreamOptions {
  KeyRange range;
  int64_t start_revision = 1;  // concrete (> 0): "from now" is resolved by the store
  bool prev_kv = false;
  // Ask etcd for progress notifications (header revision of a quiet watch, every ~10 min
  // and on RequestProgress); they are passed to on_progress, never to the callback.
  bool progress_notify = false;
  bool deliver_inline = false;  // see above
  std::chrono::milliseconds retry_initial{50};
  std::chrono::milliseconds retry_max{2000};
  // For tests: told the member index of each attempt before it starts.
  std::function<void(size_t member)> on_attempt;
};

class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  // `on_connected(true)` when an attempt's watch was created on a member, `(false)` when an
  // attempt ended; `on_progress(revision)`: every event up to `revision` was delivered.
  // Both run where responses are delivered and may be empty.
  WatchStream(std::shared_ptr<Members> members, int64_t id, WatchStreamOptions options,
              WatchCallback callback, std::function<void(bool connected)> on_connected = {},
              std::function<void(int64_t revision)> on_progress = {});
  ~WatchStream();

  int64_t id() const { return id_; }
  void Start();
  // Ends the watch: no callback runs after this returns (unless called from a callback of
  // this watch, in which case none runs after that callback).
  void Stop();
  // Asks the member for a progress notification now (etcd answers when the watch is synced).
  void RequestProgress();

 private:
  class Attempt;
  enum class Outcome { kContinue, kEnd, kReconnect };

  void Connect();
  // From an attempt: a response arrived (false: the stream is ending).
  void Received(Attempt* attempt, bool ok);
  void Process(Attempt* attempt, bool ok);
  Outcome Handle(etcdserverpb::WatchResponse& response, bool* healthy);
  // From an attempt's OnDone.
  void Ended(const grpc::Status& status, bool healthy, size_t member);
  void Deliver(WatchResponse&& response);
  bool Stopping();

  const std::shared_ptr<Members> members_;
  const int64_t id_;
  const WatchStreamOptions options_;
  WatchCallback callback_;
  std::function<void(bool)> on_connected_;
  std::function<void(int64_t)> on_progress_;

  std::mutex mu_;
  bool started_ = false;               // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  Attempt* active_ = nullptr;          // guarded by mu_; alive while it holds its hold
  size_t member_ = 0;                  // guarded by mu_: where the next attempt goes
  std::chrono::milliseconds backoff_;  // guarded by mu_
  // Touched only by the attempt in flight (one at a time) and before Start.
  int64_t next_rev_;
  // Held while a callback runs, so that Stop can wait for it (recursive: Stop from inside
  // the callback).
  std::recursive_mutex deliver_mu_;
};

}  // namespace berth::store::etcd_internal
