// RevisionFence: "a revision at least as new as every write acknowledged before I asked",
// shared by concurrent callers (etcd's ReadIndex batching). A caller needs the answer of a
// fetch that *started* after it arrived; so while one fetch is in flight, callers that
// arrive wait for the next one, which then serves all of them with one round trip to etcd.
// At most one fetch is in flight at a time.
//
// Private to store/etcd. Thread-safety: Fetch from any thread (it blocks its caller).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

#include "core/error.h"

namespace berth::store::etcd_internal {

class RevisionFence {
 public:
  // `fetch` asks etcd for its current revision with a linearizable read.
  explicit RevisionFence(std::function<Result<int64_t>()> fetch) : fetch_(std::move(fetch)) {}

  // The result of a fetch that started after this call began.
  Result<int64_t> Fetch();

  // How many fetches went to etcd, and how many callers wait now (for tests and metrics).
  uint64_t fetches() const;
  size_t waiting() const;

 private:
  const std::function<Result<int64_t>()> fetch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool in_flight_ = false;            // guarded by mu_
  uint64_t started_ = 0;              // guarded by mu_: rounds started
  uint64_t finished_ = 0;             // guarded by mu_: rounds finished (rounds run one by one)
  size_t waiting_ = 0;                // guarded by mu_
  Result<int64_t> last_{int64_t{0}};  // guarded by mu_: the result of round `finished_`
};

}  // namespace berth::store::etcd_internal
