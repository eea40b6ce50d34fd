#include "core/wake_batch.h"

#include <utility>

namespace berth {
namespace {
thread_local WakeBatch* open_batch = nullptr;  // this thread's outermost open batch
}  // namespace

WakeBatch::WakeBatch() : outer_(open_batch) {
  if (outer_ == nullptr) open_batch = this;
}

WakeBatch::~WakeBatch() {
  if (outer_ != nullptr) return;  // nested: the outermost batch runs everything
  // A wake-up may complete more work and defer again: keep draining until nothing is left.
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> run;
    run.swap(deferred_);
    for (auto& wake : run) wake();
  }
  open_batch = nullptr;
}

bool WakeBatch::Defer(std::function<void()> wake) {
  if (open_batch == nullptr) return false;
  open_batch->deferred_.push_back(std::move(wake));
  return true;
}

}  // namespace berth
