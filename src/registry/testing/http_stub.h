// A tiny HTTP/1.1 server for health-check tests: answers every request with the status
// set by SetStatus and counts the answers per status. Runs its own io_context thread.
// Thread-safety: every method from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace berth::registry::testing {

class HttpStub {
 public:
  HttpStub();  // binds 127.0.0.1:0 and starts serving
  ~HttpStub();
  uint16_t port() const { return port_; }
  void SetStatus(int status) { status_ = status; }
  // Answers sent with `status` so far.
  int64_t Served(int status);
  int64_t ServedTotal();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<int> status_{200};
  std::mutex mu_;
  std::map<int, int64_t> served_;
  friend struct Impl;
};

}  // namespace berth::registry::testing
