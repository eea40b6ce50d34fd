#include "store/etcd/internal/revision_fence.h"

namespace berth::store::etcd_internal {

Result<int64_t> RevisionFence::Fetch() {
  std::unique_lock lock(mu_);
  // Every round started so far may have begun before this call: only a later one counts.
  const uint64_t need = started_ + 1;
  while (finished_ < need) {
    if (in_flight_) {
      ++waiting_;
      cv_.wait(lock);
      --waiting_;
      continue;
    }
    in_flight_ = true;
    const uint64_t mine = ++started_;
    lock.unlock();
    Result<int64_t> result = fetch_();
    lock.lock();
    in_flight_ = false;
    finished_ = mine;
    last_ = std::move(result);
    cv_.notify_all();
  }
  return last_;
}

size_t RevisionFence::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

uint64_t RevisionFence::fetches() const {
  std::lock_guard lock(mu_);
  return started_;
}

}  // namespace berth::store::etcd_internal
