#include "gateway/server/body_pump.h"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "gateway/server/http1_heads.h"
#include "gateway/server/ready_wait.h"
#include "gateway/server/retry_state.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

namespace {

constexpr auto kNoThrow = [](asio::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
};

// Answer bytes up to this size are copied behind the answer's head and sent with it.
constexpr size_t kCoalesceBody = 2048;

}  // namespace

int BodyPump::FeedBody() {
  if (ex_.request_complete) return 0;
  IoBuffer& in = down_.in();
  std::string_view avail = in.data ? in.view() : std::string_view();
  http::Parser& parser = down_.parser();
  for (;;) {
    auto step = parser.Feed(avail.substr(ex_.fed));
    if (!step) return step.error().status;
    ex_.fed += step->consumed;
    if (step->event == http::ParseEvent::kComplete) {
      ex_.request_complete = true;
      return 0;
    }
    if (step->event == http::ParseEvent::kNeedMore) return 0;
  }
}

void BodyPump::RequestBytesSent() {
  head_written_ = true;
  if (ex_.fed > 0) {
    // Sent and dropped from the buffer: from here the request cannot be replayed.
    ex_.body_written = true;
    ex_.bytes_in += ex_.fed;
    down_.in().Consume(ex_.fed);
    ex_.fed = 0;
  }
}

BodyPump::Send BodyPump::SendRequestNow(tcp::socket& up) {
  head_written_ = false;
  if ((client_error_ = FeedBody()) != 0) return Send::kClientError;
  IoBuffer& in = down_.in();
  const std::string& head = down_.out();
  pending_ = {asio::buffer(head.data(), head.size()),
              asio::buffer(in.data ? in.data.get() + in.begin : nullptr, ex_.fed)};
  asio::error_code ec;
  if (!SendNow(up, pending_, ec)) return ec ? Send::kUpstreamFailed : Send::kPending;
  RequestBytesSent();
  return ex_.request_complete ? Send::kDone : Send::kPending;
}

asio::awaitable<BodyPump::Send> BodyPump::SendRequestRest(tcp::socket& up) {
  asio::error_code ec;
  if (asio::buffer_size(pending_) > 0) {
    co_await asio::async_write(up, pending_, kNoThrow(ec));
    if (ec) co_return Send::kUpstreamFailed;
    RequestBytesSent();
  }
  IoBuffer& in = down_.in();
  while (!ex_.request_complete) {
    // More body: read from the client.
    down_.SetPhase(Downstream::Phase::kStreaming, ex_.route->timeouts.idle);
    down_.EnsureBuffer(in);
    const asio::mutable_buffer space = in.ReadInto();
    const size_t n = co_await down_.Read(space, ec);
    if (ec || n == 0) co_return Send::kClientGone;
    if (n < space.size()) down_.Drained();
    in.end += n;
    if ((client_error_ = FeedBody()) != 0) co_return Send::kClientError;
    if (ex_.fed == 0) continue;
    pending_ = {asio::const_buffer(), asio::buffer(in.data.get() + in.begin, ex_.fed)};
    if (!SendNow(up, pending_, ec) && !ec) co_await asio::async_write(up, pending_, kNoThrow(ec));
    if (ec) co_return Send::kUpstreamFailed;
    RequestBytesSent();
  }
  co_return Send::kDone;
}

void BodyPump::OnResponseHead(const http::MessageHead& rh, Response& r) {
  const http::MessageHead& request = down_.parser().head();
  const bool upgraded = rh.status == 101 && request.upgrade;
  if (upgraded) r.end = End::kUpgraded;
  dechunk_ = rh.framing == http::BodyFraming::kChunked && request.version_minor == 0;
  if (rh.framing == http::BodyFraming::kUntilClose || dechunk_ || down_.worker().draining()) {
    r.close_after = true;
  }
  DownstreamHead d;
  d.add_headers = &ex_.add_response_headers;
  d.upgraded = upgraded;
  d.close = r.close_after;
  d.dechunk = dechunk_;
  d.http10_client = request.version_minor == 0;
  AppendDownstreamResponseHead(down_.Out(), rh, d);
}

bool BodyPump::ParseResponse(http::Parser& parser, RetryState& retry, Response& r, size_t& fwd) {
  IoBuffer& uin = down_.upstream_in();
  for (;;) {
    auto step = parser.Feed(uin.view().substr(fwd));
    if (!step) {
      r.end = End::kBadResponse;
      return true;
    }
    const bool forward_raw = r.head_received && !interim_ && !dechunk_;
    if (step->event == http::ParseEvent::kHead) {
      uin.Consume(fwd + step->consumed);  // fwd is 0 before a head
      fwd = 0;
      const auto& rh = parser.head();
      r.status = rh.status;
      if (r.status >= 100 && r.status < 200 && r.status != 101) {
        interim_ = true;  // 100 Continue / 103: dropped, the final response follows
        continue;
      }
      r.head_received = true;
      if (retry.RetryOnStatus(r.status)) {
        r.end = End::kRetry;
        return true;
      }
      OnResponseHead(rh, r);
      if (r.end == End::kUpgraded) return true;
      down_.SetPhase(Downstream::Phase::kStreaming, ex_.route->timeouts.idle);
      continue;
    }
    if (step->event == http::ParseEvent::kBody) {
      ex_.bytes_out += step->body.size();
      if (dechunk_) down_.out() += step->body;
    }
    if (forward_raw) {
      fwd += step->consumed;
    } else {
      uin.Consume(fwd + step->consumed);
      fwd = 0;
    }
    if (step->event == http::ParseEvent::kComplete) {
      if (interim_) {
        interim_ = false;
        continue;
      }
      r.end = End::kComplete;
      return true;
    }
    if (step->event == http::ParseEvent::kNeedMore) return false;
  }
}

asio::awaitable<BodyPump::Response> BodyPump::ForwardResponse(tcp::socket& up, http::Parser& parser,
                                                              RetryState& retry) {
  Response r;
  r.close_after = !ex_.keep_alive;
  interim_ = dechunk_ = false;
  down_.SetPhase(Downstream::Phase::kUpstream, ex_.route->timeouts.request);
  parser.Reset();
  parser.SetRequestMethod(ex_.method);
  IoBuffer& in = down_.in();
  IoBuffer& uin = down_.upstream_in();
  if (!uin.data && ex_.request_complete && in.data && in.empty()) {
    // The request is all sent and no next one is buffered: its buffer reads the response,
    // so a keep-alive request takes one buffer from the worker's pool, not two.
    uin.data = std::move(in.data);
    uin.begin = uin.end = 0;
  }
  down_.EnsureBuffer(uin);
  asio::error_code ec;
  for (;;) {
    size_t fwd = 0;
    const bool ended = ParseResponse(parser, retry, r, fwd);
    if (ended && (r.end == End::kBadResponse || r.end == End::kRetry)) co_return r;
    if (r.head_received) {
      // Flush what is ready: the head (once) and the raw body bytes.
      std::string& out = down_.out();
      if (!r.head_sent && !dechunk_ && fwd > 0 && fwd <= kCoalesceBody) {
        // A small answer goes out with its head in one buffer: one send(), not sendmsg().
        out.append(uin.data.get() + uin.begin, fwd);
        uin.Consume(fwd);
        fwd = 0;
      }
      std::array<asio::const_buffer, 2> bufs{
          asio::buffer(out.data(), r.head_sent && !dechunk_ ? 0 : out.size()),
          asio::buffer(uin.data.get() + uin.begin, fwd)};
      if (!r.head_sent || dechunk_ || fwd > 0) {
        if (!down_.WriteNow(bufs, ec) && !ec) co_await down_.Write(bufs, ec);
        if (ec) {
          r.end = End::kClientGone;
          co_return r;
        }
      }
      r.head_sent = true;
      if (dechunk_) out.clear();
      uin.Consume(fwd);
    }
    if (ended) co_return r;
    const asio::mutable_buffer space = uin.ReadInto();
    const size_t n = co_await up.async_read_some(space, kNoThrow(ec));
    // A short read emptied the socket: the next read (next response on this pooled
    // connection) waits for readiness instead of trying recv() first (ready_wait.h).
    if (!ec && n > 0 && n < space.size()) NoteReadDrained(up);
    if (ec || n == 0) {
      if (ec == asio::error::eof && r.head_received) {
        auto fin = parser.Finish();
        if (fin && fin->event == http::ParseEvent::kComplete) {
          r.end = End::kComplete;  // an until-close body: every byte went out already
          r.reusable = false;
          co_return r;
        }
      }
      r.end = End::kUpstreamFailed;
      co_return r;
    }
    uin.end += n;
  }
}

template <typename From, typename To>
asio::awaitable<void> BodyPump::Copy(From& from, To& to, IoBuffer& buffer, tcp::socket& up,
                                     std::chrono::milliseconds idle) {
  asio::error_code ec;
  down_.EnsureBuffer(buffer);
  buffer.begin = buffer.end = 0;
  for (;;) {
    size_t n =
        co_await from.async_read_some(asio::buffer(buffer.data.get(), kIoBufferSize), kNoThrow(ec));
    if (ec || n == 0) break;
    co_await asio::async_write(to, asio::buffer(buffer.data.get(), n), kNoThrow(ec));
    if (ec) break;
    down_.SetPhase(Downstream::Phase::kStreaming, idle);  // a byte moved: the idle clock restarts
  }
  // One side ended: end both directions so the other copy finishes too.
  down_.socket().shutdown(tcp::socket::shutdown_both, ec);
  up.shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> BodyPump::Tunnel(tcp::socket& up, std::chrono::milliseconds idle) {
  // The 101 head went out; what followed it is already the new protocol.
  asio::error_code ec;
  IoBuffer& in = down_.in();
  IoBuffer& uin = down_.upstream_in();
  if (!uin.empty()) {
    co_await down_.Write(asio::buffer(uin.view().data(), uin.size()), ec);
    uin.Consume(uin.size());
  }
  if (!ec && in.data && !in.empty()) {
    co_await asio::async_write(up, asio::buffer(in.view().data(), in.size()), kNoThrow(ec));
    in.Consume(in.size());
  }
  if (ec) co_return;
  // kStreaming: the idle deadline closes the connection (and the watched upstream socket).
  down_.SetPhase(Downstream::Phase::kStreaming, idle);
  down_.EnsureBuffer(in);
  using namespace asio::experimental::awaitable_operators;
  if (auto* tls = down_.tls()) {
    co_await (Copy(*tls, up, in, up, idle) && Copy(up, *tls, uin, up, idle));
  } else {
    co_await (Copy(down_.socket(), up, in, up, idle) && Copy(up, down_.socket(), uin, up, idle));
  }
  down_.SetPhase(Downstream::Phase::kNone, std::chrono::milliseconds(0));
}

}  // namespace berth::gateway::server
