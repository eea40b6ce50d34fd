#include "store/sqlite/watch_hub.h"

#include <atomic>
#include <deque>
#include <limits>
#include <map>

namespace berth::store::sqlite {

bool KeyRange::Contains(std::string_view k) const {
  if (end.empty()) return k == key;
  if (k < std::string_view(key)) return false;
  if (end.size() == 1 && end[0] == '\0') return true;
  return k < std::string_view(end);
}

namespace {

struct WatchState {
  int64_t id = 0;
  KeyRange range;
  bool prev_kv = false;
  WatchCallback callback;
  std::atomic<bool> canceled{false};

  // Guarded by Core::mu.
  int64_t min_revision = 0;  // live revisions below this are not for this watch
  int64_t replay_from = 0;   // replay [replay_from, replay_to] before the queue; 0: none
  int64_t replay_to = 0;
  std::deque<WatchResponse> pending;
  size_t pending_events = 0;  // events in `pending`
  bool queued = false;        // in Core::ready
  bool in_callback = false;   // the dispatcher is running this watch's callback or replay
  bool finished = false;      // compacted/canceled response delivered, or canceled by user
};

}  // namespace

struct WatchHub::Core {
  mutable std::mutex mu;
  std::condition_variable work_cv;  // dispatcher waits for ready watches
  std::condition_variable idle_cv;  // Cancel waits for a running callback to end
  std::map<int64_t, std::shared_ptr<WatchState>> watchers;  // guarded by mu
  std::deque<std::shared_ptr<WatchState>> ready;            // guarded by mu
  int64_t published = 0;                                    // guarded by mu
  int64_t next_id = 1;                                      // guarded by mu
  bool stopping = false;                                    // guarded by mu
  bool stopped = false;                                     // guarded by mu
  std::string stop_reason;                                  // guarded by mu
  std::thread::id dispatcher_id;

  // Requires mu held. Wakes the dispatcher unless `defer_wake` (the caller then calls
  // work_cv.notify_one() once it has queued everything).
  void Enqueue(const std::shared_ptr<WatchState>& w, bool defer_wake = false) {
    if (w->queued) return;
    w->queued = true;
    ready.push_back(w);
    if (!defer_wake) work_cv.notify_one();
  }

  void Cancel(WatchState& w) {
    std::unique_lock lock(mu);
    w.canceled = true;
    w.finished = true;
    w.pending.clear();
    watchers.erase(w.id);
    if (std::this_thread::get_id() != dispatcher_id) {
      idle_cv.wait(lock, [&] { return !w.in_callback; });
    }
  }
};

namespace {

class HubWatcher final : public Watcher {
 public:
  HubWatcher(std::shared_ptr<WatchHub::Core> core, std::shared_ptr<WatchState> state)
      : core_(std::move(core)), state_(std::move(state)) {}
  ~HubWatcher() override { Cancel(); }
  void Cancel() override { core_->Cancel(*state_); }
  int64_t id() const override { return state_->id; }

 private:
  std::shared_ptr<WatchHub::Core> core_;
  std::shared_ptr<WatchState> state_;
};

bool Ends(const WatchResponse& r) { return r.compacted || r.canceled; }

}  // namespace

WatchHub::WatchHub(ReplayFn replay, int64_t published_revision, size_t max_pending_events)
    : replay_(std::move(replay)),
      max_pending_events_(max_pending_events),
      core_(std::make_shared<Core>()) {
  core_->published = published_revision;
  dispatcher_ = std::thread([this] { Dispatch(); });
  std::unique_lock lock(core_->mu);
  core_->dispatcher_id = dispatcher_.get_id();
}

WatchHub::~WatchHub() { Shutdown("store closed"); }

std::unique_ptr<Watcher> WatchHub::Add(KeyRange range, int64_t start_revision, bool prev_kv,
                                       int64_t compact_revision, WatchCallback callback) {
  auto w = std::make_shared<WatchState>();
  w->range = std::move(range);
  w->prev_kv = prev_kv;
  w->callback = std::move(callback);
  std::lock_guard lock(core_->mu);
  w->id = core_->next_id++;
  if (core_->stopping) {
    // The dispatcher is gone or going: this watch never delivers anything.
    w->finished = true;
    w->canceled = true;
    return std::make_unique<HubWatcher>(core_, w);
  }
  core_->watchers.emplace(w->id, w);
  const int64_t published = core_->published;
  if (start_revision != 0 && start_revision < compact_revision) {
    WatchResponse r;
    r.compacted = true;
    r.compact_revision = compact_revision;
    r.revision = published;
    w->pending.push_back(std::move(r));
    w->min_revision = std::numeric_limits<int64_t>::max();  // nothing live after this
    core_->Enqueue(w);
  } else if (start_revision == 0 || start_revision > published) {
    w->min_revision = start_revision == 0 ? published + 1 : start_revision;
  } else {
    w->replay_from = start_revision;
    w->replay_to = published;
    w->min_revision = published + 1;
    core_->Enqueue(w);
  }
  return std::make_unique<HubWatcher>(core_, w);
}

void WatchHub::Publish(int64_t revision, const std::vector<Event>& events) {
  bool wake = false;
  {
    std::lock_guard lock(core_->mu);
    wake = PublishLocked(revision, events);
  }
  if (wake) core_->work_cv.notify_one();
}

void WatchHub::PublishAll(const std::vector<std::pair<int64_t, std::vector<Event>>>& revisions) {
  bool wake = false;
  {
    std::lock_guard lock(core_->mu);
    for (const auto& [revision, events] : revisions) wake |= PublishLocked(revision, events);
  }
  if (wake) core_->work_cv.notify_one();
}

bool WatchHub::PublishLocked(int64_t revision, const std::vector<Event>& events) {
  bool wake = false;
  core_->published = revision;
  for (auto& [id, w] : core_->watchers) {
    if (w->finished || revision < w->min_revision) continue;
    if (w->replay_from > 0) {
      w->replay_to = revision;  // a replay not yet started serves this revision from history
      continue;
    }
    WatchResponse r;
    for (const Event& e : events) {
      if (!w->range.Contains(e.kv.key)) continue;
      r.events.push_back(e);
      if (!w->prev_kv) r.events.back().prev_kv.reset();
    }
    if (r.events.empty()) continue;
    r.revision = revision;
    const size_t n = r.events.size();
    if (!w->pending.empty() && w->pending_events + n > max_pending_events_) {
      // A slow watcher: drop its queue and serve it from history instead (as etcd moves slow
      // watchers to its unsynced group). It may be compacted meanwhile, as in etcd.
      w->replay_from = w->pending.front().revision;
      w->replay_to = revision;
      w->pending.clear();
      w->pending_events = 0;
    } else {
      w->pending.push_back(std::move(r));
      w->pending_events += n;
    }
    core_->Enqueue(w, /*defer_wake=*/true);
    wake = true;
  }
  return wake;
}

void WatchHub::Shutdown(std::string reason) {
  {
    std::lock_guard lock(core_->mu);
    if (core_->stopping) {
      if (!dispatcher_.joinable()) return;
    } else {
      core_->stopping = true;
      core_->stop_reason = std::move(reason);
      core_->work_cv.notify_all();
    }
  }
  if (dispatcher_.joinable() && std::this_thread::get_id() != dispatcher_.get_id()) {
    dispatcher_.join();
  }
}

size_t WatchHub::watcher_count() const {
  std::lock_guard lock(core_->mu);
  return core_->watchers.size();
}

void WatchHub::Dispatch() {
  Core& core = *core_;
  std::unique_lock lock(core.mu);
  for (;;) {
    core.work_cv.wait(lock, [&] { return core.stopping || !core.ready.empty(); });
    if (core.ready.empty()) break;  // stopping, and everything queued is delivered
    std::shared_ptr<WatchState> w = std::move(core.ready.front());
    core.ready.pop_front();
    w->queued = false;
    if (w->finished) continue;
    w->in_callback = true;
    bool ended = false;
    if (w->replay_from > 0) {
      const int64_t from = w->replay_from;
      const int64_t to = w->replay_to;
      w->replay_from = w->replay_to = 0;
      lock.unlock();
      int64_t compact_revision = 0;
      auto replayed =
          replay_(w->range, from, to, w->prev_kv, &compact_revision, [&](WatchResponse&& r) {
            if (w->canceled) return false;
            w->callback(std::move(r));
            return true;
          });
      if (!replayed && !w->canceled) {
        WatchResponse r;
        r.revision = to;
        if (replayed.error().code == ErrorCode::kCompacted) {
          r.compacted = true;
          r.compact_revision = compact_revision;
        } else {
          r.canceled = true;
          r.cancel_reason = replayed.error().message;
        }
        w->callback(std::move(r));
        ended = true;
      }
      lock.lock();
    } else {
      std::deque<WatchResponse> batch;
      batch.swap(w->pending);
      w->pending_events = 0;
      lock.unlock();
      for (auto& r : batch) {
        if (w->canceled) break;
        ended = Ends(r);
        w->callback(std::move(r));
        if (ended) break;
      }
      lock.lock();
    }
    w->in_callback = false;
    if (ended) {
      w->finished = true;
      w->pending.clear();
      core.watchers.erase(w->id);
    } else if (!w->finished && (!w->pending.empty() || w->replay_from > 0)) {
      core.Enqueue(w);
    }
    core.idle_cv.notify_all();
  }
  // Shutdown: end every live watch with a canceled response.
  auto remaining = std::move(core.watchers);
  core.watchers.clear();
  for (auto& [id, w] : remaining) {
    if (w->finished) continue;
    w->finished = true;
    w->in_callback = true;
    WatchResponse r;
    r.canceled = true;
    r.cancel_reason = core.stop_reason;
    r.revision = core.published;
    lock.unlock();
    if (!w->canceled) w->callback(std::move(r));
    lock.lock();
    w->in_callback = false;
    core.idle_cv.notify_all();
  }
  core.stopped = true;
}

}  // namespace berth::store::sqlite
