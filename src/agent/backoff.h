// Restart back-off: the delay before the n-th consecutive restart of a container is
// min(cap, initial * factor^(n-1)); a container that stayed up for `reset_after` before
// exiting starts again from `initial`. Time comes from the caller (the agent's Clock).
// Thread-safety: a plain value owned by one container record.
#pragma once

#include <chrono>
#include <cstdint>

namespace berth::agent {

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  double factor = 2.0;
  std::chrono::milliseconds cap{60000};
  std::chrono::milliseconds reset_after{30000};
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}) : policy_(policy) {}
  // The delay before the next restart, given how long the last run lasted; advances the
  // attempt counter.
  std::chrono::milliseconds Next(std::chrono::milliseconds last_run);
  // The delay for attempt `n` (1-based) without changing state.
  std::chrono::milliseconds DelayFor(uint32_t attempt) const;
  uint32_t attempts() const { return attempts_; }
  void set_attempts(uint32_t n) { attempts_ = n; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  uint32_t attempts_ = 0;
};

}  // namespace berth::agent
