// A wake-up for one waiting coroutine on one thread (a condition variable for asio
// coroutines, without a lock): Notify before or during a Wait makes it return. Used between
// the parts of a multiplexed exchange (an HTTP/2 stream's request body arriving, a response
// buffer drained, a stream reset).
// Thread-safety: one worker thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace berth::gateway::server {

class AsyncEvent {
 public:
  explicit AsyncEvent(const asio::any_io_executor& executor) : timer_(executor) {}
  AsyncEvent(const AsyncEvent&) = delete;
  AsyncEvent& operator=(const AsyncEvent&) = delete;

  // Returns once Notify was called since the last Wait returned (at once if it already was).
  asio::awaitable<void> Wait() {
    while (!pending_) {
      asio::error_code ec;
      timer_.expires_at(asio::steady_timer::time_point::max());
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    pending_ = false;
  }
  void Notify() {
    pending_ = true;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace berth::gateway::server
