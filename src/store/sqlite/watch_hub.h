// The in-process watch hub of the sqlite Store back-end: watchers register here, the writer
// publishes each committed revision's events here, and one dispatcher thread runs the
// callbacks.
//
// Ordering without loss: Add() and Publish() take the same mutex. A watcher that starts at an
// old revision S records [S, P] for replay (P = the last published revision at registration)
// and receives every later revision live into its queue; the dispatcher first replays [S, P]
// from history (through ReplayFn, outside the mutex), then drains the queue. History holds
// everything up to P because the writer publishes only after its commit.
//
// Thread-safety: all methods may be called from any thread. Callbacks run on the dispatcher
// thread, one at a time, never under the hub's mutex (nor the writer's): a callback may call
// back into the store, including Cancel() on its own watcher.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.h"
#include "store/store.h"

namespace berth::store::sqlite {

// The keys a watch or a range covers.
struct KeyRange {
  std::string key;
  std::string end;  // "": exactly `key`; "\0": every key >= key; otherwise [key, end)
  bool Contains(std::string_view k) const;
};

// Reads committed history for a replay: calls `emit` with responses holding every event of
// revisions [from, to] whose key is in `range`, in revision order, never splitting a
// revision; stops early when emit returns false. When `from` has been compacted it fails with
// kCompacted and sets *compact_revision.
using ReplayFn = std::function<Result<void>(const KeyRange& range, int64_t from, int64_t to,
                                            bool prev_kv, int64_t* compact_revision,
                                            const std::function<bool(WatchResponse&&)>& emit)>;

class WatchHub {
 public:
  // `max_pending_events`: when a watch has more undelivered live events than this, its queue
  // is dropped and it catches up from history instead (bounded memory for slow callbacks).
  WatchHub(ReplayFn replay, int64_t published_revision, size_t max_pending_events = 10000);
  ~WatchHub();  // Shutdown("store closed") unless already shut down
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Registers a watch. `start_revision` 0 means from the next revision; a start below
  // `compact_revision` gets one compacted response and ends.
  std::unique_ptr<Watcher> Add(KeyRange range, int64_t start_revision, bool prev_kv,
                               int64_t compact_revision, WatchCallback callback);

  // Publishes one committed revision's events (every event carries prev_kv when the key had
  // one; the hub strips it for watchers that did not ask). Called by the writer, in order.
  void Publish(int64_t revision, const std::vector<Event>& events);
  // Publishes several committed revisions, in order, under one lock and with at most one
  // wake-up of the dispatcher (a group commit's revisions).
  void PublishAll(const std::vector<std::pair<int64_t, std::vector<Event>>>& revisions);

  // Delivers what is queued, then a canceled response with `reason` to every live watch,
  // and stops the dispatcher. Later Add() calls get a canceled watch.
  void Shutdown(std::string reason);

  size_t watcher_count() const;

  struct Core;  // shared with the Watcher handles, which may outlive the hub

 private:
  // Requires Core::mu held; true when a watch was queued for the dispatcher.
  bool PublishLocked(int64_t revision, const std::vector<Event>& events);
  void Dispatch();

  ReplayFn replay_;
  const size_t max_pending_events_;
  std::shared_ptr<Core> core_;
  std::thread dispatcher_;
};

}  // namespace berth::store::sqlite
