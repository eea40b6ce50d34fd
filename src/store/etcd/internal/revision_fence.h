// RevisionFence: "a revision at least as new as every write acknowledged before I asked",
// shared by concurrent callers (etcd's ReadIndex batching). A caller needs the answer of a
// fetch that *started* after it arrived; so while one fetch is in flight, callers that
// arrive wait for the next one, which then serves all of them with one round trip to etcd.
// At most one fetch is in flight at a time.
//
// Private to store/etcd. Thread-safety: every method from any thread. FetchAsync's callbacks
// run where the fetch completes (or on the caller's thread when a fetch starts and completes
// inside the call); Fetch blocks its caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace berth::store::etcd_internal {

class RevisionFence {
 public:
  using Callback = std::function<void(Result<int64_t>)>;
  // Starts one fetch of etcd's current revision (a linearizable read) and calls `done` once
  // with its result, from any thread.
  using AsyncFetch = std::function<void(Callback done)>;

  explicit RevisionFence(AsyncFetch fetch) : fetch_(std::move(fetch)) {}

  // Calls `done` with the result of a fetch that started after this call began.
  void FetchAsync(Callback done);
  // The same, waiting for it.
  Result<int64_t> Fetch();

  // How many fetches went to etcd, and how many callers wait now (for tests and metrics).
  uint64_t fetches() const;
  size_t waiting() const;

 private:
  void Completed(Result<int64_t> result);

  const AsyncFetch fetch_;
  mutable std::mutex mu_;
  bool in_flight_ = false;         // guarded by mu_
  uint64_t started_ = 0;           // guarded by mu_
  std::vector<Callback> current_;  // guarded by mu_: served by the fetch in flight
  std::vector<Callback> next_;     // guarded by mu_: arrived during it; served by the next
};

}  // namespace berth::store::etcd_internal
