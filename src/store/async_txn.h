// An optional capability of a Store back-end: a Txn that does not make its caller wait.
// The sqlite back-end has it (its publisher thread completes the write and runs the callback
// once the batch holding it is durable); etcd does not. Callers that must never block (an
// HTTP worker answering a write) look for it with AsyncTxnOf and otherwise hand the work to
// a thread that may wait.
// Thread-safety: as the Store's.
#pragma once

#include <functional>

#include "core/error.h"
#include "store/store.h"

namespace berth::store {

class AsyncTxnStore {
 public:
  virtual ~AsyncTxnStore() = default;
  // Queues the txn and returns; `done` runs exactly once with what Txn would return, on the
  // store's publisher thread (or on the caller's when it fails before queueing: bad input, a
  // closed store). `done` must be quick and must not write to the store and wait (that
  // would wait for its own thread); queueing another TxnAsync is fine.
  virtual void TxnAsync(TxnRequest request, std::function<void(Result<TxnResult>)> done) = 0;
};

// The back-end's asynchronous face, or nullptr when it has none.
inline AsyncTxnStore* AsyncTxnOf(Store& store) { return dynamic_cast<AsyncTxnStore*>(&store); }

}  // namespace berth::store
