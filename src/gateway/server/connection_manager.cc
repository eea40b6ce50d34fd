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
#include "gateway/server/routing.h"
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
  if (h2_) {
    h2_->Drain();  // GOAWAY; the open streams finish
    return;
  }
  if (down_.phase() == Phase::kIdle || down_.phase() == Phase::kIdleHot) Close();
}

void ConnectionManager::OnTimer() {
  if (down_.closed() || down_.phase() == Phase::kNone) return;
  if (h2_) {
    if (down_.phase() == Phase::kIdle) {
      h2_->OnIdleTimeout();
    } else {
      down_.OnTimeout();
    }
    return;
  }
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
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(down_.tls()->native_handle(), &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) == "h2") {
      co_await ServeHttp2(std::move(self));
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
    if (r == HeadResult::kHttp2) {
      co_await ServeHttp2(std::move(self));
      co_return;
    }
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
      RecordExchange(worker_, ex, down_.client_ip());
      keep = keep && !down_.closed();
    }
    if (!keep || worker_.draining()) break;
  }
  Close();
}

int ConnectionManager::Http2Preface() const {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const IoBuffer& in = down_.in();
  if (!in.data || in.empty()) return 0;
  const std::string_view got = in.view().substr(0, kPreface.size());
  if (!kPreface.starts_with(got)) return 0;
  return got.size() == kPreface.size() ? 1 : -1;
}

asio::awaitable<void> ConnectionManager::ServeHttp2(std::shared_ptr<ConnectionManager> self) {
  worker_.stats().downstream_http2.Inc();
  h2_ = std::make_unique<Http2Connection>(down_, worker_.options().http2);
  co_await h2_->Serve(self);  // (self: this lives until the end of this coroutine too)
  Close();
}

ConnectionManager::HeadResult ConnectionManager::ReadHeadNow(bool& readable) {
  IoBuffer& in = down_.in();
  for (;;) {
    if (down_.closed()) return HeadResult::kEnd;
    // The first bytes of a connection may be HTTP/2's preface (prior knowledge): checked
    // before the parser takes them.
    const int preface = served_ || !worker_.options().http2_enabled ? 0 : Http2Preface();
    if (preface == 1) return HeadResult::kHttp2;
    if (preface == 0) {
      http::Parser& parser = down_.parser();
      auto step = parser.Feed(in.data ? in.view() : std::string_view());
      if (!step) {
        bad_ = std::move(step.error());
        return HeadResult::kBad;
      }
      if (in.data) in.Consume(step->consumed);
      if (step->event == http::ParseEvent::kHead) {
        served_ = true;
        down_.SetPhase(Phase::kNone, 0ms);
        return HeadResult::kHead;
      }
      // kNeedMore: every byte consumed. As ReadHead, without waiting.
      const bool between_requests = parser.idle();
      if (between_requests && !readable) {
        if (worker_.draining()) return HeadResult::kEnd;
        if (!down_.tls()) return HeadResult::kIdle;
      }
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
    const int preface = served_ || !worker_.options().http2_enabled ? 0 : Http2Preface();
    if (preface == 1) co_return HeadResult::kHttp2;
    http::Parser& parser = down_.parser();
    if (preface == 0) {
      auto step = parser.Feed(in.data ? in.view() : std::string_view());
      if (!step) {
        worker_.stats().bad_requests.Inc();
        co_await Reply(nullptr, step.error().status, step.error().message + "\n", kNoHeaders, true);
        co_return HeadResult::kEnd;
      }
      if (in.data) in.Consume(step->consumed);
      if (step->event == http::ParseEvent::kHead) {
        served_ = true;
        down_.SetPhase(Phase::kNone, 0ms);
        co_return HeadResult::kHead;
      }
    }
    // kNeedMore (or part of the HTTP/2 preface): every byte consumed; read more.
    const bool between_requests = preface == 0 && parser.idle();  // no byte of the next one
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

bool ConnectionManager::Prepare(Exchange& ex) {
  const auto& head = down_.parser().head();
  worker_.stats().downstream_requests.Inc();
  ex.start = worker_.clock().Now();
  ex.method = head.method;
  ex.has_body = head.framing != http::BodyFraming::kNone;
  ex.keep_alive = head.keep_alive;
  if (auto h = head.Get("host")) SetHost(ex, *h);
  SetTarget(ex, head.target);
  SetRequestId(ex, head.Get("x-request-id"), worker_.random());
  return RouteExchange(
      worker_, ex, [&head](std::string_view n) { return head.Get(n); },
      [&head](std::vector<filters::HeaderRef>& refs) {
        refs.reserve(head.headers.size());
        for (const auto& h : head.headers) refs.push_back({h.name, h.value});
      },
      down_.client_ip());
}

}  // namespace berth::gateway::server
