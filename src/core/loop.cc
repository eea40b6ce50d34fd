#include "core/loop.h"

#include <exception>

#include "core/log.h"

namespace berth {
namespace {
thread_local int current_index = -1;
}  // namespace

EventLoopPool::EventLoopPool(size_t threads) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) loops_.push_back(std::make_unique<Loop>());
}

EventLoopPool::~EventLoopPool() { Stop(); }

void EventLoopPool::Start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (size_t i = 0; i < loops_.size(); ++i) {
    Loop* l = loops_[i].get();
    l->thread = std::thread([l, i] {
      current_index = static_cast<int>(i);
      for (;;) {
        try {
          l->ctx.run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: log it and keep the loop serving its other connections.
          log::Error("loop", "handler on loop {} threw: {}", i, e.what());
        }
      }
    });
  }
}

void EventLoopPool::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& l : loops_) {
    l->guard.reset();
    l->ctx.stop();
  }
  for (auto& l : loops_) {
    if (l->thread.joinable()) l->thread.join();
  }
}

asio::io_context& EventLoopPool::Next() {
  return loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->ctx;
}

int EventLoopPool::CurrentIndex() { return current_index; }

}  // namespace berth
