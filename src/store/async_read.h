// An optional capability of a Store back-end: a Get that does not make its caller wait.
// The etcd back-end has it (a linearizable read waits for a revision check with etcd and for
// its mirror to catch up, neither of which needs a thread); sqlite answers reads in-process
// and does not. Callers that must never block (an HTTP worker answering a read) look for it
// with AsyncReadOf and otherwise hand the read to a thread that may wait.
// Thread-safety: as the Store's.
#pragma once

#include <functional>
#include <string>

#include "core/error.h"
#include "store/store.h"

namespace berth::store {

class AsyncReadStore {
 public:
  virtual ~AsyncReadStore() = default;
  // Starts the read and returns; `done` runs exactly once with what Get would return, on a
  // thread of the store (or on the caller's, when the answer is at hand or the input is
  // bad). `done` must be quick and must not wait for the store.
  virtual void GetAsync(std::string key, RangeOptions options,
                        std::function<void(Result<RangeResult>)> done) = 0;
};

// The back-end's asynchronous read, or nullptr when it has none.
inline AsyncReadStore* AsyncReadOf(Store& store) { return dynamic_cast<AsyncReadStore*>(&store); }

}  // namespace berth::store
