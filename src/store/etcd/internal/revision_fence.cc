#include "store/etcd/internal/revision_fence.h"

#include <condition_variable>
#include <optional>

namespace berth::store::etcd_internal {

void RevisionFence::FetchAsync(Callback done) {
  {
    std::lock_guard lock(mu_);
    if (in_flight_) {
      // The fetch in flight may have read etcd before this caller's writes were acknowledged.
      next_.push_back(std::move(done));
      return;
    }
    in_flight_ = true;
    ++started_;
    current_.push_back(std::move(done));
  }
  fetch_([this](Result<int64_t> r) { Completed(std::move(r)); });
}

void RevisionFence::Completed(Result<int64_t> result) {
  std::vector<Callback> served;
  bool again = false;
  {
    std::lock_guard lock(mu_);
    served.swap(current_);
    if (!next_.empty()) {
      current_.swap(next_);
      ++started_;
      again = true;
    } else {
      in_flight_ = false;
    }
  }
  for (auto& cb : served) cb(result);
  if (again) fetch_([this](Result<int64_t> r) { Completed(std::move(r)); });
}

Result<int64_t> RevisionFence::Fetch() {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<int64_t>> out;
  FetchAsync([&](Result<int64_t> r) {
    std::lock_guard lock(mu);
    out = std::move(r);
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

size_t RevisionFence::waiting() const {
  std::lock_guard lock(mu_);
  return current_.size() + next_.size();
}

uint64_t RevisionFence::fetches() const {
  std::lock_guard lock(mu_);
  return started_;
}

}  // namespace berth::store::etcd_internal
