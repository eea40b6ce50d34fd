// Whether one request may be tried again (Envoy's RetryState): the route's retry policy, the
// request's own properties (idempotent method, body), the retries left, and the cluster's
// retry budget on this worker (retries at most budget_percent of the requests in flight, but
// always min_retry_concurrency at once). Every "Retry..." method that answers true has taken
// one retry: it counts it in the cluster's stats and holds one slot of the budget until the
// request ends (the destructor gives it back).
//
// Rules: a connect failure is retried for any method (nothing was sent); a status listed in
// `on` only for an idempotent request without a body; a reset before the answer like a 502;
// a pooled keep-alive connection found closed before any byte of the body went out is tried
// once more on a fresh connection without using a retry. For a gRPC call (whose body the
// stream proxy keeps for replays) the listed gRPC codes are retried, and "unavailable" also
// covers connect failures and resets: that is what UNAVAILABLE means to a gRPC client.
// Thread-safety: one worker thread.
#pragma once

#include <cstdint>

#include "gateway/router/route.h"

namespace berth::gateway::server {

struct ClusterLoad;
struct ClusterStats;

class RetryState {
 public:
  // `policy` (the route's), `load` and `stats` (the cluster's) outlive the request.
  RetryState(const router::RetryPolicy& policy, ClusterLoad& load, ClusterStats& stats,
             bool idempotent, bool has_body, bool grpc = false);
  ~RetryState();
  RetryState(const RetryState&) = delete;
  RetryState& operator=(const RetryState&) = delete;

  // The connection could not be opened.
  bool RetryOnConnectFailure();
  // The upstream answered `status` (its head only so far; nothing went to the client).
  bool RetryOnStatus(int status);
  // The upstream closed or failed before its answer's head.
  bool RetryOnReset();
  // A gRPC answer without body (trailers-only) carried `code` (the caller checked that the
  // request body can be replayed: gRPC calls are retried whatever their method).
  bool RetryOnGrpcStatus(int code);
  // A pooled keep-alive connection turned out closed (`body_sent`: some request body bytes
  // were sent on it already, so the request cannot be replayed). `idempotent_only`: a reset
  // after the head went out, where only an idempotent or bodiless request may be replayed.
  bool RetryStaleConnection(bool body_sent, bool idempotent_only);

  uint32_t retries_left() const { return retries_left_; }

 private:
  bool BudgetAllows() const;
  bool Take();  // counts a retry when one is left and the budget allows

  const router::RetryPolicy& policy_;
  ClusterLoad& load_;
  ClusterStats& stats_;
  const bool idempotent_;
  const bool has_body_;
  const bool grpc_unavailable_;  // a gRPC call on a route that retries "unavailable"
  uint32_t retries_left_;
  bool holds_budget_ = false;  // load_.active_retries counts this request
  bool stale_retry_used_ = false;
};

}  // namespace berth::gateway::server
