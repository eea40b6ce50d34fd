// WakeBatch: coalesces the wake-ups a thread causes while it completes many operations in a
// row. The sqlite store's publisher answers a whole group commit at once; each answer used to
// post to its connection's HTTP worker, and a worker that had gone back to epoll_wait between
// two answers was woken again (an epoll_ctl and a context switch each). With a batch open,
// code that would wake another thread per completion (http::Server's per-worker gate) calls
// Defer instead, once per target, and the wake-ups run when the batch closes.
//
//   { WakeBatch batch; for (auto& r : requests) r.Finish(); }  // wake-ups run here
//
// Deferred work must only wake (post, notify): it runs on this thread after everything in the
// batch, so it adds the batch's length to the first answer's latency and nothing else.
// Thread-safety: a batch belongs to the thread that opened it; Defer looks only at this
// thread's open batch.
#pragma once

#include <functional>
#include <vector>

namespace berth {

class WakeBatch {
 public:
  // Opens a batch on this thread. Nested batches join the outermost one.
  WakeBatch();
  // Closes it: runs the deferred wake-ups in the order they were deferred (if outermost).
  ~WakeBatch();
  WakeBatch(const WakeBatch&) = delete;
  WakeBatch& operator=(const WakeBatch&) = delete;

  // Keeps `wake` for the end of this thread's open batch and returns true; returns false
  // (and keeps nothing) when no batch is open: the caller then wakes at once.
  static bool Defer(std::function<void()> wake);

 private:
  std::vector<std::function<void()>> deferred_;
  WakeBatch* outer_;  // the batch that was open before this one (nullptr: outermost)
};

}  // namespace berth
