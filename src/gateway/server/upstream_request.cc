#include "gateway/server/upstream_request.h"

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>

#include "gateway/server/cluster_manager.h"
#include "gateway/server/http1_stream.h"
#include "gateway/server/retry_state.h"
#include "gateway/server/stream_proxy.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

namespace {

constexpr auto kNoThrow = [](asio::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
};

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

const HeaderList& OverloadedHeaders() {
  static const HeaderList h{{"x-berth-overloaded", "true"}};
  return h;
}

// Decrements a counter when the scope ends (also when a coroutine frame is destroyed).
struct Decrement {
  uint32_t* counter;
  ~Decrement() {
    if (counter && *counter > 0) --*counter;
  }
};

// A parser taken from the worker's pool for one exchange, given back when the scope ends.
struct ParserLease {
  Worker& worker;
  http::MessageKind kind;
  std::unique_ptr<http::Parser> parser;
  ParserLease(Worker& w, http::MessageKind k) : worker(w), kind(k), parser(w.TakeParser(k)) {}
  ~ParserLease() { worker.GiveParser(kind, std::move(parser)); }
  ParserLease(const ParserLease&) = delete;
  ParserLease& operator=(const ParserLease&) = delete;
};

// One request counted as active on a host for the balancer (least request) while it lasts.
struct HostActive {
  lb::Host* host = nullptr;
  ~HostActive() {
    if (host) host->RemoveActiveRequest();
  }
};

}  // namespace

const router::WeightedCluster& ChooseTarget(const router::Route& route, lb::Random& random) {
  if (route.targets.size() > 1) {
    uint64_t pick = random.Uniform(route.total_weight);
    for (const auto& t : route.targets) {
      if (pick < t.weight) return t;
      pick -= t.weight;
    }
  }
  return route.targets[0];
}

lb::LbContext HashContext(const router::Route& route, const http::MessageHead& request,
                          std::string_view client_ip) {
  lb::LbContext context;
  switch (route.hash.kind) {
    case router::HashPolicy::Kind::kNone:
      break;
    case router::HashPolicy::Kind::kHeader:
      if (auto v = request.Get(route.hash.name)) context.hash = lb::HashKey(*v);
      break;
    case router::HashPolicy::Kind::kCookie:
      if (auto c = request.Get("cookie")) {
        if (auto v = CookieValue(*c, route.hash.name)) context.hash = lb::HashKey(*v);
      }
      break;
    case router::HashPolicy::Kind::kClientIp:
      context.hash = lb::HashKey(client_ip);
      break;
  }
  return context;
}

lb::LbContext HashContext(
    const router::Route& route,
    const std::function<std::optional<std::string_view>(std::string_view)>& header,
    std::string_view client_ip) {
  lb::LbContext context;
  switch (route.hash.kind) {
    case router::HashPolicy::Kind::kNone:
      break;
    case router::HashPolicy::Kind::kHeader:
      if (auto v = header(route.hash.name)) context.hash = lb::HashKey(*v);
      break;
    case router::HashPolicy::Kind::kCookie:
      if (auto c = header("cookie")) {
        if (auto v = CookieValue(*c, route.hash.name)) context.hash = lb::HashKey(*v);
      }
      break;
    case router::HashPolicy::Kind::kClientIp:
      context.hash = lb::HashKey(client_ip);
      break;
  }
  return context;
}

UpstreamRequest::Outcome UpstreamRequest::Reply(int status, std::string_view body, bool close,
                                                const char* flags, const HeaderList* headers) {
  if (flags != nullptr) ex_.flags = flags;
  ex_.SetReply(status, body, close, headers);
  return Outcome::kLocalReply;
}

bool AdmitToCluster(Worker& worker, Exchange& ex) {
  ex.cluster = worker.clusters().Get(ChooseTarget(*ex.route, worker.random()).cluster);
  if (!ex.cluster || ex.cluster->hosts().empty()) {
    ex.flags = "UH";
    ex.SetReply(503, "no healthy upstream\n", false);
    return false;
  }
  if (ex.cluster->load().active_requests >= ex.cluster->config().circuit_breakers.max_requests) {
    ex.cluster->stats().circuit_open.Inc();
    ex.flags = "UO";
    ex.SetReply(503, "upstream overloaded\n", false, &OverloadedHeaders());
    return false;
  }
  return true;
}

asio::awaitable<UpstreamRequest::Outcome> UpstreamRequest::Run() {
  if (!AdmitToCluster(down_.worker(), ex_)) co_return Outcome::kLocalReply;
  if (router::EffectiveProtocol(*ex_.route, ex_.cluster->config()) !=
      router::UpstreamProtocol::kHttp1) {
    // An HTTP/2 upstream: the protocol-neutral path.
    Http1Stream stream(down_, ex_);
    StreamProxy proxy(down_.worker(), ex_, stream, down_.client_ip(), down_.tls() != nullptr);
    co_await proxy.Run();
    co_return stream.keep_alive() ? Outcome::kKeepAlive : Outcome::kClose;
  }
  const router::Route& route = *ex_.route;
  Worker& worker = down_.worker();
  // An upgrade (WebSocket) takes one of the route's slots on this worker until it ends.
  Decrement upgrade_slot{nullptr};
  if (down_.parser().head().upgrade && route.websocket.max_connections > 0) {
    uint32_t& open = worker.open_upgrades(route.name);
    if (open >= route.websocket.max_connections) {
      co_return Reply(503, "too many websocket connections on this route\n", false, "UW");
    }
    ++open;
    upgrade_slot.counter = &open;
  }
  WorkerCluster& cluster = *ex_.cluster;
  ClusterLoad& load = cluster.load();
  ++load.active_requests;
  Decrement active_guard{&load.active_requests};
  cluster.stats().requests.Inc();
  const lb::LbContext lbctx = HashContext(route, down_.parser().head(), down_.client_ip());
  std::string_view target = ex_.target;
  if (route.prefix_rewrite) target = rewritten_ = router::RouteTable::RewritePath(route, target);
  RetryState retry(route.retry, load, cluster.stats(), IdempotentMethod(ex_.method), ex_.has_body);

  // Validate what already arrived of the body before any upstream sees the request: a
  // malformed chunked body sent with its head is refused here and never forwarded.
  if (int status = pump_.FeedBody(); status != 0) {
    worker.stats().bad_requests.Inc();
    co_return Reply(status, "malformed request body\n", true, nullptr);
  }
  ParserLease response_parser(worker, http::MessageKind::kResponse);
  for (;;) {
    ++ex_.attempts;
    down_.clear_timed_out();
    host_ = cluster.Choose(lbctx);
    if (host_ == nullptr) co_return Reply(503, "no healthy upstream\n", false, "UH");
    ex_.upstream = host_->address();
    host_->AddActiveRequest();
    HostActive host_guard{host_};

    // A connection: an idle pooled one, or a new one within the circuit breaker's limits.
    down_.SetPhase(Downstream::Phase::kUpstream, route.timeouts.request);
    // (The pooled case first, without OpenConnection's coroutine frame.)
    reused_ = host_->TakeIdle(conn_);
    if (!reused_) {
      const ConnectResult c = co_await OpenConnection(
          worker.io(), cluster, *host_, conn_, reused_,
          [this](tcp::socket* s) { down_.WatchUpstream(s); }, [this] { return down_.closed(); });
      if (c == ConnectResult::kCancelled) co_return Outcome::kClose;
      if (c == ConnectResult::kOverflow) {
        cluster.stats().circuit_open.Inc();
        co_return Reply(503, "upstream overloaded\n", false, "UO", &OverloadedHeaders());
      }
      if (c == ConnectResult::kFailed) {
        if (retry.RetryOnConnectFailure()) continue;
        co_return Reply(503, "upstream connect error\n", false, "UF");
      }
    }
    down_.WatchUpstream(&*conn_);

    // 100-continue: the upstream is there, ask the client for the body.
    const http::MessageHead& head = down_.parser().head();
    if (head.expect_continue && ex_.has_body && !ex_.continue_sent && head.version_minor >= 1) {
      ex_.continue_sent = true;
      asio::error_code ec;
      co_await down_.Write(asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) {
        Release(false);
        co_return Outcome::kClose;
      }
    }

    // The request head, then its body as it arrives.
    UpstreamHead u{ex_.method,        target,
                   down_.client_ip(), down_.tls() != nullptr,
                   ex_.request_id,    &ex_.add_request_headers};
    AppendUpstreamRequestHead(down_.Out(), head, u);
    BodyPump::Send sent = pump_.SendRequestNow(*conn_);
    if (sent == BodyPump::Send::kPending) sent = co_await pump_.SendRequestRest(*conn_);
    if (sent != BodyPump::Send::kDone || down_.closed()) {
      if (auto outcome = AfterSendFailure(sent, retry)) co_return *outcome;
      continue;
    }

    // The answer.
    const BodyPump::Response r =
        co_await pump_.ForwardResponse(*conn_, *response_parser.parser, retry);
    if (r.end == BodyPump::End::kUpgraded) {
      // WebSocket (or any upgrade): bytes both ways until either side closes.
      ex_.status = r.status;
      RecordAnswer(r.status);
      co_await pump_.Tunnel(
          *conn_, route.websocket.idle.count() > 0 ? route.websocket.idle : route.timeouts.idle);
      Release(false);
      co_return Outcome::kClose;
    }
    if (auto outcome = AfterResponse(r, *response_parser.parser, retry)) co_return *outcome;
  }
}

std::optional<UpstreamRequest::Outcome> UpstreamRequest::AfterSendFailure(BodyPump::Send sent,
                                                                          RetryState& retry) {
  Release(false);
  if (sent == BodyPump::Send::kClientError) {
    down_.worker().stats().bad_requests.Inc();
    return Reply(pump_.client_error(), "malformed request body\n", true, nullptr);
  }
  if (sent == BodyPump::Send::kClientGone || down_.closed()) {
    ex_.status = 499;
    ex_.flags = "DC";
    return Outcome::kClose;
  }
  // A write to the upstream failed: a keep-alive connection it had closed gets one more try.
  if (reused_ && retry.RetryStaleConnection(ex_.body_written, /*idempotent_only=*/false)) {
    --ex_.attempts;
    return std::nullopt;
  }
  ex_.cluster->outlier().Report(*host_, lb::Outcome::kConnectFailure);
  const bool timed_out = down_.timed_out();
  return Reply(timed_out ? 504 : 502, "upstream write failed\n", true, timed_out ? "UT" : "UR");
}

std::optional<UpstreamRequest::Outcome> UpstreamRequest::AfterResponse(const BodyPump::Response& r,
                                                                       const http::Parser& parser,
                                                                       RetryState& retry) {
  WorkerCluster& cluster = *ex_.cluster;
  IoBuffer& uin = down_.upstream_in();
  using End = BodyPump::End;
  if (r.end == End::kRetry) {  // RetryOnStatus took the retry
    cluster.outlier().Report(*host_, lb::Outcome::k5xx);
    cluster.stats().status_class[5].Inc();
    uin.Consume(uin.size());
    Release(false);
    return std::nullopt;
  }
  if (r.end == End::kClientGone) {
    Release(false);
    ex_.status = r.status;
    ex_.flags = "DC";
    return Outcome::kClose;
  }
  if (r.end == End::kBadResponse || r.end == End::kUpstreamFailed) {
    uin.Consume(uin.size());
    Release(false);
    const bool timed_out = down_.timed_out();
    if (r.head_sent) {  // the client has part of a response: all we can do is close
      ex_.status = r.status;
      ex_.flags = timed_out ? "UT" : "UR";
      return Outcome::kClose;
    }
    if (timed_out) {
      cluster.stats().timeouts.Inc();
      return Reply(504, "upstream request timeout\n", true, "UT");
    }
    const bool failed = r.end == End::kUpstreamFailed;
    if (failed && reused_ && !r.head_received &&
        retry.RetryStaleConnection(ex_.body_written, /*idempotent_only=*/true)) {
      --ex_.attempts;  // the pooled connection was closed under us: try afresh
      return std::nullopt;
    }
    cluster.outlier().Report(*host_, lb::Outcome::k5xx);
    if (failed && retry.RetryOnReset()) return std::nullopt;
    return Reply(502, failed ? "upstream reset\n" : "bad upstream response\n", true,
                 failed ? "UR" : "UB");
  }
  ex_.status = r.status;
  RecordAnswer(r.status);
  const bool leftover = !uin.empty();
  uin.Consume(uin.size());
  Release(r.reusable && parser.head().keep_alive && ex_.request_complete && !leftover);
  down_.SetPhase(Downstream::Phase::kNone, std::chrono::milliseconds(0));
  return !r.close_after && ex_.request_complete ? Outcome::kKeepAlive : Outcome::kClose;
}

void UpstreamRequest::RecordAnswer(int status) {
  ex_.cluster->stats().status_class[std::clamp(status / 100, 1, 5)].Inc();
  ex_.cluster->outlier().Report(*host_, status >= 500 ? lb::Outcome::k5xx : lb::Outcome::kSuccess);
}

void UpstreamRequest::Release(bool reusable) {
  down_.WatchUpstream(nullptr);
  if (!conn_) return;
  ex_.cluster->Release(*host_, std::move(*conn_), reusable);
  conn_.reset();
}

}  // namespace berth::gateway::server
