#include "gateway/server/stream_proxy.h"

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <algorithm>
#include <charconv>

#include "core/log.h"
#include "gateway/grpc_status.h"
#include "gateway/server/cluster_manager.h"
#include "gateway/server/http1_heads.h"
#include "gateway/server/http1_upstream.h"
#include "gateway/server/http2_upstream.h"
#include "gateway/server/retry_state.h"
#include "gateway/server/upstream_request.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

namespace {

bool IsGrpc(const RequestHead& r) {
  auto ct = FindField(r.fields, "content-type");
  return ct && ct->starts_with("application/grpc");
}

// grpc-timeout: 1-8 digits and a unit (H M S m u n).
std::optional<std::chrono::milliseconds> ParseGrpcTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size() - 1, n);
  if (ec != std::errc() || p != v.data() + v.size() - 1) return std::nullopt;
  using namespace std::chrono;
  switch (v.back()) {
    case 'H':
      return duration_cast<milliseconds>(hours(n));
    case 'M':
      return duration_cast<milliseconds>(minutes(n));
    case 'S':
      return duration_cast<milliseconds>(seconds(n));
    case 'm':
      return milliseconds(n);
    case 'u':
      return duration_cast<milliseconds>(microseconds(n)) + milliseconds(n % 1000 ? 1 : 0);
    case 'n':
      return milliseconds(n > 0 ? 1 : 0) + duration_cast<milliseconds>(nanoseconds(n));
    default:
      return std::nullopt;
  }
}

// grpc-message: percent-encoded outside printable ASCII (and '%').
std::string GrpcMessage(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e || c == '%') {
      out += fmt::format("%{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void AddHeaders(Fields& fields, const HeaderList* headers) {
  if (headers == nullptr) return;
  for (const auto& [n, v] : *headers) {
    Field f;
    AppendLower(f.name, n);
    f.value = v;
    fields.push_back(std::move(f));
  }
}

// (Built outside the coroutines: GCC 12 cannot brace-initialize these inside one.)
Fields DeadlineTrailers() {
  return {{"grpc-status", std::to_string(kGrpcDeadlineExceeded)},
          {"grpc-message", "upstream request timeout"}};
}

struct Decrement {
  uint32_t* counter;
  ~Decrement() {
    if (counter && *counter > 0) --*counter;
  }
};

struct HostActive {
  lb::Host* host = nullptr;
  ~HostActive() {
    if (host) host->RemoveActiveRequest();
  }
};

}  // namespace

StreamProxy::StreamProxy(Worker& worker, Exchange& ex, DownstreamStream& down,
                         std::string_view client_ip, bool tls)
    : worker_(worker),
      ex_(ex),
      down_(down),
      client_ip_(client_ip),
      tls_(tls),
      pump_done_(worker.io().get_executor()) {}

StreamProxy::~StreamProxy() {
  if (deadline_state_) deadline_state_->proxy = nullptr;
  if (deadline_) deadline_->cancel();
  down_.OnGone(nullptr);
}

asio::awaitable<void> StreamProxy::LocalReply(DownstreamStream& down, int status,
                                              std::string_view body, const HeaderList* headers,
                                              const HeaderList* add_headers,
                                              std::string_view request_id) {
  ResponseHead head;
  if (IsGrpc(down.request())) {
    // gRPC clients read the outcome from grpc-status: a trailers-only answer.
    head.status = 200;
    head.fields.push_back({"content-type", "application/grpc"});
    head.fields.push_back({"grpc-status", std::to_string(GrpcStatusForHttp(status))});
    head.fields.push_back({"grpc-message", GrpcMessage(body)});
    AddHeaders(head.fields, headers);
    co_await down.SendHead(std::move(head), true);
    co_return;
  }
  head.status = status;
  const bool head_only = down.request().method == "HEAD";
  head.fields.push_back({"content-length", std::to_string(body.size())});
  if (!body.empty()) head.fields.push_back({"content-type", "text/plain; charset=utf-8"});
  AddHeaders(head.fields, headers);
  AddHeaders(head.fields, add_headers);
  if (!request_id.empty()) head.fields.push_back({"x-request-id", std::string(request_id)});
  if (body.empty() || head_only) {
    co_await down.SendHead(std::move(head), true);
  } else if (co_await down.SendHead(std::move(head), false)) {
    co_await down.SendData(body, true);
  }
}

void StreamProxy::BuildUpstreamHead() {
  const RequestHead& r = down_.request();
  RequestHead& u = upstream_head_;
  u.method = r.method;
  u.authority = r.authority;
  u.protocol = r.protocol;
  u.content_length = r.content_length;
  u.path = ex_.route->prefix_rewrite ? router::RouteTable::RewritePath(*ex_.route, ex_.target)
                                     : std::string(ex_.target);
  std::string_view xff;
  u.fields.reserve(r.fields.size() + 3 + ex_.add_request_headers.size());
  for (const auto& f : r.fields) {
    if (f.name == "x-forwarded-for") {
      xff = f.value;
      continue;
    }
    if (f.name == "x-forwarded-proto" || f.name == "x-request-id") continue;
    u.fields.push_back(f);
  }
  std::string forwarded_for;
  if (!xff.empty()) {
    forwarded_for = xff;
    forwarded_for += ", ";
  }
  forwarded_for += client_ip_;
  u.fields.push_back({"x-forwarded-for", std::move(forwarded_for)});
  u.fields.push_back({"x-forwarded-proto", tls_ ? "https" : "http"});
  u.fields.push_back({"x-request-id", std::string(ex_.request_id)});
  AddHeaders(u.fields, &ex_.add_request_headers);
}

void StreamProxy::StartDeadline() {
  std::chrono::milliseconds timeout = ex_.route->timeouts.request;
  if (grpc_) {
    if (auto v = FindField(down_.request().fields, "grpc-timeout")) {
      if (auto t = ParseGrpcTimeout(*v); t && (timeout.count() == 0 || *t < timeout)) {
        timeout = std::max(*t, std::chrono::milliseconds(1));
      }
    }
  }
  if (timeout.count() == 0) return;
  deadline_state_ = std::make_shared<DeadlineState>(DeadlineState{this});
  deadline_ = std::make_unique<asio::steady_timer>(worker_.io(), timeout);
  deadline_->async_wait([state = deadline_state_](const asio::error_code& ec) {
    if (!ec && state->proxy != nullptr) state->proxy->OnDeadline();
  });
}

void StreamProxy::OnDeadline() {
  timed_out_ = true;
  if (connecting_ != nullptr) {
    asio::error_code ec;
    connecting_->close(ec);
  }
  if (current_ != nullptr) current_->Cancel();
  down_.InterruptRead();
}

StreamProxy::Attempt StreamProxy::Reply(int status, std::string_view body, const char* flags,
                                        const HeaderList* headers) {
  if (flags != nullptr) ex_.flags = flags;
  ex_.SetReply(status, body, false, headers);
  return Attempt::kReply;
}

asio::awaitable<std::unique_ptr<UpstreamStream>> StreamProxy::OpenHttp2(PooledHost& host,
                                                                        bool& retry_connect) {
  WorkerCluster& cluster = *ex_.cluster;
  std::shared_ptr<Http2Upstream> conn;
  for (auto& c : host.h2) {
    if (c->Available()) {
      conn = c;
      break;
    }
  }
  if (!conn) {
    for (auto& c : host.h2) {
      if (c->connecting()) {
        conn = c;  // share the connection being opened rather than open another
        break;
      }
    }
    if (conn) {
      co_await conn->WaitConnected();
      if (!conn->Available()) conn.reset();
    }
  }
  if (!conn) {
    ClusterLoad& load = cluster.load();
    if (load.open_connections >= cluster.config().circuit_breakers.max_connections) {
      cluster.stats().circuit_open.Inc();
      Reply(503, "upstream overloaded\n", "UO");
      co_return nullptr;
    }
    ++load.open_connections;
    cluster.stats().connections_opened.Inc();
    conn = std::make_shared<Http2Upstream>(worker_, ex_.cluster, host,
                                           router::EffectiveProtocol(*ex_.route, cluster.config()));
    host.h2.push_back(conn);
    if (!co_await conn->Connect([this] { return down_.gone() || timed_out_; })) {
      if (down_.gone() || timed_out_) co_return nullptr;
      log::Debug("gateway", "http2 upstream {}: {}", host.address(), conn->connect_error());
      cluster.stats().connect_failures.Inc();
      cluster.outlier().Report(host, lb::Outcome::kConnectFailure);
      retry_connect = true;
      Reply(503, "upstream connect error\n", "UF");
      co_return nullptr;
    }
  }
  co_return conn->NewStream();
}

asio::awaitable<std::unique_ptr<UpstreamStream>> StreamProxy::Open(PooledHost& host,
                                                                   bool& retry_connect) {
  retry_connect = false;
  WorkerCluster& cluster = *ex_.cluster;
  if (router::EffectiveProtocol(*ex_.route, cluster.config()) != router::UpstreamProtocol::kHttp1) {
    co_return co_await OpenHttp2(host, retry_connect);
  }
  std::optional<tcp::socket> conn;
  bool reused = host.TakeIdle(conn);
  if (!reused) {
    const ConnectResult c = co_await OpenConnection(
        worker_.io(), cluster, host, conn, reused, [this](tcp::socket* s) { connecting_ = s; },
        [this] { return down_.gone() || timed_out_; });
    if (c == ConnectResult::kOverflow) {
      cluster.stats().circuit_open.Inc();
      Reply(503, "upstream overloaded\n", "UO");
      co_return nullptr;
    }
    if (c != ConnectResult::kOk) {
      retry_connect = c == ConnectResult::kFailed;
      if (c == ConnectResult::kFailed) Reply(503, "upstream connect error\n", "UF");
      co_return nullptr;
    }
  }
  co_return std::make_unique<Http1Upstream>(worker_, ex_.cluster, host, std::move(*conn));
}

asio::awaitable<void> StreamProxy::PumpRequest(UpstreamStream& up) {
  bool ok = true;
  const Fields& trailers = down_.request_trailers();
  if (!replay_.empty()) {
    body_started_ = true;
    ok = co_await up.SendData(replay_, body_ended_ && trailers.empty());
  }
  if (ok && body_ended_ && !trailers.empty()) ok = co_await up.SendTrailers(trailers);
  std::string chunk;
  while (ok && !body_ended_) {
    chunk.clear();
    const auto r = co_await down_.ReadBody(chunk);
    if (r == DownstreamStream::Body::kGone || r == DownstreamStream::Body::kInterrupted) break;
    if (r == DownstreamStream::Body::kEnd) {
      body_ended_ = true;
      ok = down_.request_trailers().empty() ? co_await up.SendData({}, true)
                                            : co_await up.SendTrailers(down_.request_trailers());
      break;
    }
    if (replayable_) {
      if (replay_.size() + chunk.size() <= kReplayBytes) {
        replay_ += chunk;
      } else {
        replayable_ = false;
        replay_.clear();
      }
    }
    body_started_ = true;
    ex_.body_written = true;
    ex_.bytes_in += chunk.size();
    ok = co_await up.SendData(chunk, false);
    down_.BodyForwarded(chunk.size());
  }
  if (!ok) pump_failed_ = true;
  pump_running_ = false;
  pump_done_.Notify();
}

asio::awaitable<void> StreamProxy::StopPump() {
  if (!pump_running_) co_return;
  down_.InterruptRead();
  while (pump_running_) co_await pump_done_.Wait();
}

asio::awaitable<bool> StreamProxy::PumpResponse(UpstreamStream& up) {
  std::string data;
  for (;;) {
    data.clear();
    switch (co_await up.Read(data)) {
      case UpstreamStream::Event::kHead:
        continue;
      case UpstreamStream::Event::kData:
        ex_.bytes_out += data.size();
        if (!co_await down_.SendData(data, false)) co_return false;
        continue;
      case UpstreamStream::Event::kTrailers:
        if (auto gs = FindField(up.trailers(), "grpc-status")) {
          ex_.grpc_status = ParseGrpcStatus(*gs).value_or(-1);
        }
        if (!co_await down_.SendTrailers(up.trailers())) co_return false;
        // kEnd follows.
        data.clear();
        co_return co_await up.Read(data) == UpstreamStream::Event::kEnd;
      case UpstreamStream::Event::kEnd:
        co_return co_await down_.SendData({}, true);
      case UpstreamStream::Event::kFailed:
        co_return false;
    }
  }
}

asio::awaitable<StreamProxy::Attempt> StreamProxy::OnUpstreamFailure(UpstreamStream& up,
                                                                     RetryState& retry) {
  up.Cancel();
  co_await StopPump();
  WorkerCluster& cluster = *ex_.cluster;
  if (down_.gone()) {
    ex_.status = 499;
    ex_.flags = "DC";
    co_return Attempt::kDone;
  }
  if (timed_out_) {
    cluster.stats().timeouts.Inc();
    co_return Reply(504, "upstream request timeout\n", "UT");
  }
  cluster.outlier().Report(*host_, lb::Outcome::k5xx);
  const bool replayable = replayable_ && !pump_failed_;
  if (!up.bad_response() && replayable && retry.RetryOnReset()) co_return Attempt::kRetry;
  co_return up.bad_response() ? Reply(502, "bad upstream response\n", "UB")
                              : Reply(502, "upstream reset\n", "UR");
}

asio::awaitable<StreamProxy::Attempt> StreamProxy::OnResponse(UpstreamStream& up,
                                                              RetryState& retry) {
  WorkerCluster& cluster = *ex_.cluster;
  ResponseHead head = up.response();
  const int status = head.status;
  std::optional<int> grpc_status;
  if (grpc_ && up.ended_with_head()) {
    if (auto gs = FindField(head.fields, "grpc-status")) grpc_status = ParseGrpcStatus(*gs);
  }
  // A retry needs the whole request body at hand (kept for replay).
  const bool replayable = replayable_ && body_ended_ && !pump_running_;
  const bool retry_status = replayable && status >= 500 && retry.RetryOnStatus(status);
  if (retry_status || (grpc_status && replayable && retry.RetryOnGrpcStatus(*grpc_status))) {
    cluster.outlier().Report(*host_, lb::Outcome::k5xx);
    cluster.stats().status_class[std::clamp(status / 100, 1, 5)].Inc();
    up.Cancel();
    co_return Attempt::kRetry;
  }
  cluster.stats().status_class[std::clamp(status / 100, 1, 5)].Inc();
  cluster.outlier().Report(*host_, status >= 500 ? lb::Outcome::k5xx : lb::Outcome::kSuccess);
  ex_.status = status;
  if (grpc_status) ex_.grpc_status = *grpc_status;
  AddHeaders(head.fields, &ex_.add_response_headers);
  const bool end = up.ended_with_head();
  head_sent_ = true;
  bool ok = co_await down_.SendHead(std::move(head), end);
  if (ok && !end) ok = co_await PumpResponse(up);
  if (!ok) {
    up.Cancel();
    co_await StopPump();
    if (down_.gone()) {
      ex_.flags = "DC";
    } else {
      ex_.flags = timed_out_ ? "UT" : "UR";
      if (grpc_ && timed_out_) {
        // The client has the head: the deadline goes in trailers.
        co_await down_.SendTrailers(DeadlineTrailers());
      } else {
        down_.Reset();
      }
    }
    co_return Attempt::kDone;
  }
  if (pump_running_) up.Cancel();  // the answer ended before the request: nothing reads it
  co_await StopPump();
  up.Finish();
  co_return Attempt::kDone;
}

asio::awaitable<StreamProxy::Attempt> StreamProxy::RunAttempt(UpstreamStream& up,
                                                              RetryState& retry) {
  body_started_ = false;
  pump_failed_ = false;
  const bool end_stream = body_ended_ && replay_.empty() && down_.request_trailers().empty();
  if (!co_await up.SendHead(upstream_head_, end_stream)) {
    co_return co_await OnUpstreamFailure(up, retry);
  }
  if (!end_stream) {
    pump_running_ = true;
    asio::co_spawn(worker_.io(), PumpRequest(up), asio::detached);
  }
  std::string data;
  if (co_await up.Read(data) != UpstreamStream::Event::kHead) {
    co_return co_await OnUpstreamFailure(up, retry);
  }
  co_return co_await OnResponse(up, retry);
}

asio::awaitable<void> StreamProxy::Run() {
  const router::Route& route = *ex_.route;
  grpc_ = ex_.grpc = IsGrpc(down_.request());
  body_ended_ = !ex_.has_body;
  // (An HTTP/1.1 request reaches here admitted already: ex_.cluster is set.)
  if (!ex_.cluster && !AdmitToCluster(worker_, ex_)) {
    ex_.status = ex_.reply_status;
    co_await LocalReply(down_, ex_.reply_status, ex_.reply_body, ex_.reply_headers,
                        &ex_.add_response_headers, ex_.request_id);
    co_return;
  }
  WorkerCluster& cluster = *ex_.cluster;
  ClusterLoad& load = cluster.load();
  ++load.active_requests;
  Decrement active_guard{&load.active_requests};
  cluster.stats().requests.Inc();
  const Fields& fields = down_.request().fields;
  const lb::LbContext lbctx = HashContext(
      route,
      [&fields](std::string_view n) -> std::optional<std::string_view> {
        for (const auto& f : fields) {
          if (IEquals(f.name, n)) return std::string_view(f.value);
        }
        return std::nullopt;
      },
      client_ip_);
  BuildUpstreamHead();
  // gRPC calls are retried whatever their method: their bodies are replayed.
  RetryState retry(route.retry, load, cluster.stats(), grpc_ || IdempotentMethod(ex_.method),
                   grpc_ ? false : ex_.has_body, grpc_);
  StartDeadline();
  down_.OnGone([this] {
    if (connecting_ != nullptr) {
      asio::error_code ec;
      connecting_->close(ec);
    }
    if (current_ != nullptr) current_->Cancel();
  });
  Attempt outcome = Attempt::kDone;
  for (;;) {
    ++ex_.attempts;
    host_ = cluster.Choose(lbctx);
    if (host_ == nullptr) {
      outcome = Reply(503, "no healthy upstream\n", "UH");
      break;
    }
    ex_.upstream = host_->address();
    host_->AddActiveRequest();
    HostActive host_guard{host_};
    bool retry_connect = false;
    std::unique_ptr<UpstreamStream> up = co_await Open(*host_, retry_connect);
    if (!up) {
      if (down_.gone()) {
        ex_.status = 499;
        ex_.flags = "DC";
        break;
      }
      if (timed_out_) {
        outcome = Reply(504, "upstream request timeout\n", "UT");
        break;
      }
      if (retry_connect && retry.RetryOnConnectFailure()) continue;
      outcome = Attempt::kReply;
      break;
    }
    current_ = up.get();
    outcome = co_await RunAttempt(*up, retry);
    current_ = nullptr;
    if (outcome != Attempt::kRetry) break;
  }
  if (outcome == Attempt::kReply) {
    ex_.status = ex_.reply_status;
    co_await LocalReply(down_, ex_.reply_status, ex_.reply_body, ex_.reply_headers,
                        &ex_.add_response_headers, ex_.request_id);
  }
}

}  // namespace berth::gateway::server
