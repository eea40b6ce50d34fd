// The router's half of one request (Envoy's router filter with its UpstreamRequest): picks
// one of the route's target clusters by weight, checks the cluster's circuit breaker, asks
// its balancer for a host (by the route's hash policy), takes an idle pooled connection to it
// or opens one within the breaker's limits, and runs the attempts its RetryState allows, the
// bytes moving through a BodyPump. When no answer of the upstream's can be forwarded it
// leaves a local reply (503 no healthy upstream / overloaded / connect error, 502, 504) in the
// Exchange for the connection manager to send.
// Thread-safety: one worker thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <functional>
#include <optional>

#include "core/random.h"
#include "gateway/lb/load_balancer.h"
#include "gateway/router/route.h"
#include "gateway/server/body_pump.h"
#include "gateway/server/downstream.h"
#include "gateway/server/exchange.h"

namespace berth::gateway::server {

class PooledHost;
class Worker;
class RetryState;
class WorkerCluster;

// Picks the request's target cluster (ex.cluster) and checks its circuit breaker; false with
// the Exchange's local reply set (503 no healthy upstream / overloaded).
bool AdmitToCluster(Worker& worker, Exchange& ex);
// The target of `route` for one request: by weight over its targets.
const router::WeightedCluster& ChooseTarget(const router::Route& route, lb::Random& random);
// The balancer's hash input for `route`'s hash policy (header, cookie or client address).
lb::LbContext HashContext(const router::Route& route, const http::MessageHead& request,
                          std::string_view client_ip);
// The same over fields of any protocol.
lb::LbContext HashContext(
    const router::Route& route,
    const std::function<std::optional<std::string_view>(std::string_view)>& header,
    std::string_view client_ip);

class UpstreamRequest {
 public:
  enum class Outcome {
    kKeepAlive,   // the answer was forwarded; the client connection may serve another request
    kClose,       // the client connection must close (it has part of an answer, or is gone)
    kLocalReply,  // send the reply set in the Exchange
  };

  // `ex` holds the request the connection manager prepared (route chosen, filters passed);
  // its head is the downstream's parser's.
  UpstreamRequest(Downstream& down, Exchange& ex) : down_(down), ex_(ex), pump_(down, ex) {}
  UpstreamRequest(const UpstreamRequest&) = delete;
  UpstreamRequest& operator=(const UpstreamRequest&) = delete;

  asio::awaitable<Outcome> Run();

 private:
  // After a request that could not be sent whole: nullopt to try again, else the outcome.
  std::optional<Outcome> AfterSendFailure(BodyPump::Send sent, RetryState& retry);
  // After the answer: nullopt to try again, else the outcome.
  std::optional<Outcome> AfterResponse(const BodyPump::Response& r, const http::Parser& parser,
                                       RetryState& retry);
  // Counts a final answer in the cluster's stats and its host's outlier detector.
  void RecordAnswer(int status);
  // Gives conn_ back to host_'s pool (or closes it).
  void Release(bool reusable);
  Outcome Reply(int status, std::string_view body, bool close, const char* flags,
                const HeaderList* headers = nullptr);

  Downstream& down_;
  Exchange& ex_;
  BodyPump pump_;
  PooledHost* host_ = nullptr;  // of the current attempt (kept alive by ex_.cluster)
  std::optional<asio::ip::tcp::socket> conn_;
  bool reused_ = false;    // conn_ came from the pool
  std::string rewritten_;  // the target after the route's prefix rewrite
};

}  // namespace berth::gateway::server
