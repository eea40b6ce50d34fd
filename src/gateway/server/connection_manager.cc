#include "gateway/server/connection_manager.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>

#include "gateway/filters/filter.h"
#include "gateway/server/access_log.h"
#include "gateway/server/ready_wait.h"
#include "gateway/server/upstream_request.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;
using namespace std::chrono_literals;
using Phase = Downstream::Phase;

namespace {

constexpr auto kNoThrow = [](asio::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
};

const HeaderList kNoHeaders;

}  // namespace

ConnectionManager::ConnectionManager(Worker& worker, tcp::socket socket, bool admin)
    : worker_(worker), down_(worker, std::move(socket), /*tls=*/!admin), admin_(admin) {
  down_.set_slot(worker_.Register(this));
  worker_.stats().downstream_connections.Inc();
  worker_.stats().downstream_active.Add(1);
}

ConnectionManager::~ConnectionManager() {
  worker_.Unregister(down_.slot());
  worker_.stats().downstream_active.Add(-1);
}

void ConnectionManager::Start() {
  if (down_.tls()) {  // the handshake first
    asio::co_spawn(worker_.io(), Serve(shared_from_this(), false), asio::detached);
  } else {
    WaitForRequest(false, down_.IdleDeadline());
  }
}

void ConnectionManager::WaitForRequest(bool after_request, Clock::TimePoint deadline) {
  down_.SetPhaseUntil(Phase::kIdle, deadline);
  auto on_ready = [self = shared_from_this()](asio::error_code ec) {
    if (ec || self->down_.closed() || self->worker_.draining()) {
      self->Close();
      return;
    }
    asio::co_spawn(self->worker_.io(), self->Serve(self, true), asio::detached);
  };
  if (after_request) {
    // The last read of this socket came back short (the request), so unless bytes arrived
    // since, this queues without a system call (see ready_wait.h).
    AsyncWaitReadable(down_.socket(), std::move(on_ready));
  } else {
    // A new connection: a plain readiness wait, so that one that stays silent holds no
    // coroutine or buffer (the speculative wait would complete at once on a fresh socket).
    down_.socket().async_wait(tcp::socket::wait_read, std::move(on_ready));
  }
}

void ConnectionManager::CloseIfIdle() {
  if (down_.phase() == Phase::kIdle || down_.phase() == Phase::kIdleHot) Close();
}

void ConnectionManager::OnTimer() {
  if (down_.closed() || down_.phase() == Phase::kNone) return;
  if (down_.phase() == Phase::kIdleHot) {
    if (worker_.clock().Now() >= idle_deadline_) {
      Close();  // the idle timeout
    } else {
      // Idle for kHotIdle: the coroutine's wait ends (operation_aborted) and the
      // connection waits on without it (Serve).
      asio::error_code ec;
      down_.socket().cancel(ec);
    }
    return;
  }
  down_.OnTimeout();
}

asio::awaitable<void> ConnectionManager::Serve(std::shared_ptr<ConnectionManager> self,
                                               bool readable) {
  if (down_.tls() && !readable) {
    asio::error_code ec;
    down_.SetPhase(Phase::kHead, worker_.options().header_timeout);
    co_await down_.tls()->async_handshake(asio::ssl::stream_base::server, kNoThrow(ec));
    if (ec) {
      Close();
      co_return;
    }
  }
  while (!down_.closed()) {
    // Usually the whole head is there at once: parsed without ReadHead's coroutine frame.
    HeadResult r = ReadHeadNow(readable);
    if (r == HeadResult::kBad) {
      worker_.stats().bad_requests.Inc();
      co_await Reply(nullptr, bad_.status, bad_.message + "\n", kNoHeaders, true);
      break;
    }
    if (r == HeadResult::kMore) r = co_await ReadHead(readable);
    readable = false;
    if (r == HeadResult::kIdle) {
      // Keep-alive between requests: give the buffers back and wait for the next request
      // here, for up to kHotIdle (a busy connection keeps its coroutine); after that, the
      // worker's tick cancels this wait and the connection waits without a coroutine.
      down_.ReleaseBuffers();
      idle_deadline_ = down_.IdleDeadline();
      down_.SetPhaseUntil(Phase::kIdleHot,
                          std::min(idle_deadline_, worker_.clock().Now() + kHotIdle));
      asio::error_code ec;
      co_await WaitReadable(down_.socket(), kNoThrow(ec));
      if (down_.closed()) break;
      if (ec == asio::error::operation_aborted) {
        WaitForRequest(true, idle_deadline_);
        co_return;
      }
      if (ec || worker_.draining()) break;
      readable = true;
      continue;
    }
    if (r == HeadResult::kEnd) break;
    bool keep;
    if (admin_) {
      keep = co_await HandleAdmin();
    } else {
      // One request, in this coroutine (no frame of its own): prepared, then proxied or
      // answered, then recorded.
      Exchange ex;
      if (Prepare(ex)) {
        UpstreamRequest upstream(down_, ex);
        const UpstreamRequest::Outcome outcome = co_await upstream.Run();
        keep = outcome == UpstreamRequest::Outcome::kKeepAlive;
        if (outcome == UpstreamRequest::Outcome::kLocalReply) {
          keep = co_await Reply(&ex, ex.reply_status, ex.reply_body,
                                ex.reply_headers ? *ex.reply_headers : kNoHeaders, ex.reply_close);
        }
      } else {
        keep = co_await Reply(&ex, ex.reply_status, ex.reply_body,
                              ex.reply_headers ? *ex.reply_headers : kNoHeaders, ex.reply_close);
      }
      Finish(ex);
      keep = keep && !down_.closed();
    }
    if (!keep || worker_.draining()) break;
  }
  Close();
}

ConnectionManager::HeadResult ConnectionManager::ReadHeadNow(bool& readable) {
  IoBuffer& in = down_.in();
  for (;;) {
    if (down_.closed()) return HeadResult::kEnd;
    http::Parser& parser = down_.parser();
    auto step = parser.Feed(in.data ? in.view() : std::string_view());
    if (!step) {
      bad_ = std::move(step.error());
      return HeadResult::kBad;
    }
    if (in.data) in.Consume(step->consumed);
    if (step->event == http::ParseEvent::kHead) {
      down_.SetPhase(Phase::kNone, 0ms);
      return HeadResult::kHead;
    }
    // kNeedMore: every byte consumed. As ReadHead, without waiting.
    const bool between_requests = parser.idle();
    if (between_requests && !readable) {
      if (worker_.draining()) return HeadResult::kEnd;
      if (!down_.tls()) return HeadResult::kIdle;
    }
    if (!readable || down_.tls()) return HeadResult::kMore;
    readable = false;
    down_.EnsureBuffer(in);
    asio::error_code ec;
    const asio::mutable_buffer space = in.ReadInto();
    const size_t n = RecvNow(down_.socket(), space, ec);
    if (ec == asio::error::would_block) {
      down_.Drained();  // a stale readiness edge
      // Between requests: back to the wait (kIdle); mid-head: ReadHead waits for the rest.
      continue;
    }
    if (ec || n == 0) return HeadResult::kEnd;
    if (n < space.size()) down_.Drained();
    in.end += n;
  }
}

asio::awaitable<ConnectionManager::HeadResult> ConnectionManager::ReadHead(bool readable) {
  IoBuffer& in = down_.in();
  asio::error_code ec;
  for (;;) {
    if (down_.closed()) co_return HeadResult::kEnd;
    http::Parser& parser = down_.parser();
    auto step = parser.Feed(in.data ? in.view() : std::string_view());
    if (!step) {
      worker_.stats().bad_requests.Inc();
      co_await Reply(nullptr, step.error().status, step.error().message + "\n", kNoHeaders, true);
      co_return HeadResult::kEnd;
    }
    if (in.data) in.Consume(step->consumed);
    if (step->event == http::ParseEvent::kHead) {
      down_.SetPhase(Phase::kNone, 0ms);
      co_return HeadResult::kHead;
    }
    // kNeedMore: every byte consumed; read more.
    const bool between_requests = parser.idle();  // no byte of the next request yet
    if (between_requests && !readable) {
      if (worker_.draining()) co_return HeadResult::kEnd;
      // Plain TCP waits bufferless (the caller); TLS may hold decrypted bytes: it reads.
      if (!down_.tls()) co_return HeadResult::kIdle;
    }
    const bool woken = readable;
    readable = false;
    if (between_requests) {
      // Keep-alive wait (TLS, or a wake-up that finds no bytes): the idle timeout.
      if (down_.phase() != Phase::kIdle && down_.phase() != Phase::kIdleHot) {
        down_.SetPhase(Phase::kIdle, worker_.options().idle_timeout);
      }
    } else if (down_.phase() != Phase::kHead) {
      // The whole head must arrive within header_timeout (a slowloris cannot extend it).
      down_.SetPhase(Phase::kHead, worker_.options().header_timeout);
    }
    down_.EnsureBuffer(in);
    const asio::mutable_buffer space = in.ReadInto();
    size_t n = 0;
    if (woken && !down_.tls()) {
      // Just reported readable: read at once, without an asio operation.
      n = RecvNow(down_.socket(), space, ec);
      if (ec == asio::error::would_block) {
        ec = {};
        down_.Drained();  // a stale readiness edge: the read below waits for the next one
      }
    }
    if (n == 0 && !ec) {
      // Woken from the wait in Serve for nothing: this read waits inside the coroutine,
      // under the idle timeout (the shorter kIdleHot deadline would cancel it).
      if (down_.phase() == Phase::kIdleHot) {
        down_.SetPhase(Phase::kIdle, worker_.options().idle_timeout);
      }
      n = co_await down_.Read(space, ec);
    }
    if (ec || n == 0) co_return HeadResult::kEnd;  // closed (mid-head or between requests)
    if (n < space.size()) down_.Drained();
    in.end += n;
  }
}

asio::awaitable<bool> ConnectionManager::Reply(Exchange* ex, int status, std::string_view body,
                                               const HeaderList& headers, bool close) {
  if (ex != nullptr) {
    ex->status = status;
    close = close || !ex->keep_alive || (ex->has_body && !ex->request_complete);
    if (!close && !ex->request_complete) {
      // A bodiless request: let the parser finish it so the next one can start.
      auto step = down_.parser().Feed(std::string_view());
      if (!step || step->event != http::ParseEvent::kComplete) close = true;
    }
  }
  close = close || worker_.draining();
  AppendLocalReply(down_.Out(), status, body, headers, ex ? &ex->add_response_headers : nullptr,
                   ex ? ex->request_id : std::string_view(), close,
                   ex != nullptr && ex->method == "HEAD");
  asio::error_code ec;
  co_await down_.Write(asio::buffer(down_.out()), ec);
  co_return !close && !ec;
}

asio::awaitable<bool> ConnectionManager::HandleAdmin() {
  const auto& head = down_.parser().head();
  std::string_view path = head.target.substr(0, head.target.find('?'));
  Exchange ex;
  ex.method = head.method;
  ex.has_body = head.framing != http::BodyFraming::kNone;
  ex.keep_alive = head.keep_alive;
  if (path == "/metrics") {
    co_return co_await Reply(&ex, 200, worker_.RenderMetrics(), kNoHeaders, false);
  }
  if (path == "/ready") {
    co_return co_await Reply(&ex, worker_.draining() ? 503 : 200,
                             worker_.draining() ? "draining\n" : "ready\n", kNoHeaders, false);
  }
  co_return co_await Reply(&ex, 404, "not found\n", kNoHeaders, false);
}

void ConnectionManager::ReadRequest(Exchange& ex, const http::MessageHead& head) {
  ex.start = worker_.clock().Now();
  ex.method = head.method;
  ex.target = head.target;
  ex.has_body = head.framing != http::BodyFraming::kNone;
  ex.keep_alive = head.keep_alive;
  // Host, lowercased, port removed.
  if (auto h = head.Get("host")) {
    std::string_view host = *h;
    if (!host.empty() && host.front() == '[') {
      host = host.substr(0, host.find(']') + 1);
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
      host = host.substr(0, colon);
    }
    ex.host.assign(host);
    for (auto& c : ex.host) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII, no locale call
    }
  }
  // Origin-form target; absolute-form ("http://h/p") is reduced to its path.
  if (ex.target.starts_with("http://") || ex.target.starts_with("https://")) {
    auto rest = ex.target.substr(ex.target.find("//") + 2);
    auto slash = rest.find('/');
    ex.target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  ex.path = ex.target.substr(0, ex.target.find('?'));
  if (auto id = head.Get("x-request-id"); id && ValidRequestId(*id)) {
    ex.request_id = *id;
  } else {
    const uint64_t a = worker_.random().Next(), b = worker_.random().Next();
    FormatRequestId(ex.request_id_buf, a, b);
    ex.request_id = std::string_view(ex.request_id_buf, sizeof(ex.request_id_buf));
  }
}

bool ConnectionManager::Prepare(Exchange& ex) {
  const auto& head = down_.parser().head();
  worker_.stats().downstream_requests.Inc();
  ReadRequest(ex, head);
  ex.table = worker_.routes();
  if (!ex.table) {
    ex.SetReply(503, "no route configuration\n", false);
    return false;
  }
  if (head.method == "CONNECT") {
    ex.SetReply(501, "CONNECT is not supported\n", true);
    return false;
  }
  router::MatchInput in{ex.host, ex.method, ex.path,
                        [&head](std::string_view n) { return head.Get(n); }};
  ex.route = ex.table->Match(in);
  if (ex.route == nullptr) {
    worker_.stats().no_route.Inc();
    ex.SetReply(404, "no route\n", false);
    return false;
  }
  ex.route_stats = worker_.RouteStatsFor(ex.route);
  return ex.route->filters.empty() || RunFilters(ex, head);
}

bool ConnectionManager::RunFilters(Exchange& ex, const http::MessageHead& head) {
  std::vector<filters::HeaderRef> refs;
  refs.reserve(head.headers.size());
  for (const auto& h : head.headers) refs.push_back({h.name, h.value});
  filters::RequestContext ctx;
  ctx.method = ex.method;
  ctx.path = ex.path;
  ctx.host = ex.host;
  ctx.client_ip = down_.client_ip();
  ctx.headers = &refs;
  ctx.clock = &worker_.clock();
  bool stopped = false;
  for (const auto& factory : ex.route->filters) {
    if (factory->Create()->OnRequest(ctx) == filters::FilterStatus::kStop) {
      stopped = true;
      break;
    }
  }
  ex.add_request_headers = std::move(ctx.add_request_headers);
  // CORS headers decided before a later filter stopped still apply.
  ex.add_response_headers = std::move(ctx.add_response_headers);
  if (!stopped) return true;
  if (ctx.stopped_by == "rate_limit") ex.route_stats->rate_limited.Inc();
  if (ctx.stopped_by == "jwt" || ctx.stopped_by == "api_key") ex.route_stats->auth_denied.Inc();
  ex.flags = std::string(ctx.stopped_by);
  ex.reply_body_owned = std::move(ctx.reply_body);
  ex.reply_headers_owned = std::move(ctx.reply_headers);
  ex.SetReply(ctx.reply_status, ex.reply_body_owned, false, &ex.reply_headers_owned);
  return false;
}

void ConnectionManager::Finish(Exchange& ex) {
  const double ms =
      std::chrono::duration<double, std::milli>(worker_.clock().Now() - ex.start).count();
  if (ex.route_stats != nullptr) {
    ex.route_stats->requests.Inc();
    ex.route_stats->status_class[std::clamp(ex.status / 100, 1, 5)].Inc();
    ex.route_stats->latency.Observe(ms);
  }
  if (ex.cluster) ex.cluster->stats().latency.Observe(ms);
  if (AccessLog* log = worker_.access_log(); log != nullptr && log->enabled()) {
    AccessRecord r;
    r.wall_ms = worker_.clock().WallMillis();
    r.route = ex.route ? std::string_view(ex.route->name) : std::string_view();
    r.cluster = ex.cluster ? std::string_view(ex.cluster->config().name) : std::string_view();
    r.upstream = ex.upstream;
    r.method = ex.method;
    r.path = ex.target;
    r.request_id = ex.request_id;
    r.client = down_.client_ip();
    r.status = ex.status;
    r.bytes_in = ex.bytes_in;
    r.bytes_out = ex.bytes_out;
    r.duration_ms = ms;
    r.attempts = ex.attempts;
    r.flags = ex.flags;
    log->Write(r);
  }
}

}  // namespace berth::gateway::server
