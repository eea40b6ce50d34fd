#include "gateway/server/retry_state.h"

#include <algorithm>

#include "gateway/grpc_status.h"
#include "gateway/server/cluster_manager.h"
#include "gateway/server/stats.h"

namespace berth::gateway::server {

RetryState::RetryState(const router::RetryPolicy& policy, ClusterLoad& load, ClusterStats& stats,
                       bool idempotent, bool has_body, bool grpc)
    : policy_(policy),
      load_(load),
      stats_(stats),
      idempotent_(idempotent),
      has_body_(has_body),
      grpc_unavailable_(grpc &&
                        std::find(policy.on_grpc_statuses.begin(), policy.on_grpc_statuses.end(),
                                  kGrpcUnavailable) != policy.on_grpc_statuses.end()),
      retries_left_(policy.attempts) {}

RetryState::~RetryState() {
  if (holds_budget_ && load_.active_retries > 0) --load_.active_retries;
}

bool RetryState::BudgetAllows() const {
  const double budget = policy_.budget_percent / 100.0 * load_.active_requests;
  return load_.active_retries < std::max<double>(policy_.min_retry_concurrency, budget);
}

bool RetryState::Take() {
  if (retries_left_ == 0 || !BudgetAllows()) return false;
  --retries_left_;
  stats_.retries.Inc();
  if (!holds_budget_) {
    ++load_.active_retries;
    holds_budget_ = true;
  }
  return true;
}

bool RetryState::RetryOnConnectFailure() {
  return (policy_.on_connect_failure || grpc_unavailable_) && Take();
}

bool RetryState::RetryOnStatus(int status) {
  if (status < 500 || !idempotent_ || has_body_) return false;
  if (std::find(policy_.on_statuses.begin(), policy_.on_statuses.end(), status) ==
      policy_.on_statuses.end()) {
    return false;
  }
  return Take();
}

bool RetryState::RetryOnReset() { return grpc_unavailable_ ? Take() : RetryOnStatus(502); }

bool RetryState::RetryOnGrpcStatus(int code) {
  if (std::find(policy_.on_grpc_statuses.begin(), policy_.on_grpc_statuses.end(), code) ==
      policy_.on_grpc_statuses.end()) {
    return false;
  }
  return Take();
}

bool RetryState::RetryStaleConnection(bool body_sent, bool idempotent_only) {
  if (body_sent || stale_retry_used_) return false;
  if (idempotent_only && !idempotent_ && has_body_) return false;
  stale_retry_used_ = true;
  return true;
}

}  // namespace berth::gateway::server
