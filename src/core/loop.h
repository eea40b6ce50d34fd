// EventLoopPool: N threads, each running its own asio::io_context for life (the Envoy
// worker model). A connection is assigned to one loop and never leaves it, so its state
// needs no lock; other threads reach it by posting to its loop.
// Networking code only: this header includes Asio.
// Thread-safety: Start/Stop from one owning thread; loop(), Next(), size() and
// CurrentIndex() from any thread.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace berth {

class EventLoopPool {
 public:
  explicit EventLoopPool(size_t threads);
  ~EventLoopPool();  // Stop()
  EventLoopPool(const EventLoopPool&) = delete;
  EventLoopPool& operator=(const EventLoopPool&) = delete;

  // Starts the threads; each runs its loop until Stop. Idempotent.
  void Start();
  // Stops every loop (pending handlers are dropped) and joins the threads. Idempotent;
  // must not be called from a loop thread.
  void Stop();

  size_t size() const { return loops_.size(); }
  asio::io_context& loop(size_t i) { return loops_[i]->ctx; }
  // The next loop, round robin (for spreading new connections).
  asio::io_context& Next();
  // Index of the loop whose thread is calling, or -1 off the pool's threads.
  static int CurrentIndex();

 private:
  struct Loop {
    asio::io_context ctx{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_{0};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace berth
