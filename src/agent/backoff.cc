#include "agent/backoff.h"

#include <algorithm>
#include <cmath>

namespace berth::agent {

std::chrono::milliseconds Backoff::DelayFor(uint32_t attempt) const {
  if (attempt == 0) attempt = 1;
  double ms = static_cast<double>(policy_.initial.count()) *
              std::pow(std::max(policy_.factor, 1.0), static_cast<double>(attempt - 1));
  double cap = static_cast<double>(policy_.cap.count());
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, cap)));
}

std::chrono::milliseconds Backoff::Next(std::chrono::milliseconds last_run) {
  if (last_run >= policy_.reset_after) attempts_ = 0;
  ++attempts_;
  return DelayFor(attempts_);
}

}  // namespace berth::agent
