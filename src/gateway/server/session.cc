#include "gateway/server/session.h"

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gateway/filters/filter.h"
#include "gateway/server/access_log.h"
#include "gateway/server/ready_wait.h"

namespace berth::gateway::server {

using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kNoThrow = [](asio::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
};

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Answer bytes up to this size are copied behind the answer's head and sent with it.
constexpr size_t kCoalesceBody = 2048;

// (Built outside the coroutines: GCC 12 cannot brace-initialize these inside one.)
const std::vector<std::pair<std::string, std::string>>& OverloadedHeaders() {
  static const std::vector<std::pair<std::string, std::string>> h{{"x-berth-overloaded", "true"}};
  return h;
}

// http::EqualsIgnoreCase, inlined: the head rebuilds compare every field name several times.
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 25u)) return false;
  }
  return true;
}

// Hop-by-hop fields (RFC 9110 7.6.1) plus the framing fields we re-emit ourselves.
bool IsHopByHop(std::string_view n) {
  switch (n.size()) {
    case 2:
      return IEquals(n, "te");
    case 7:
      return IEquals(n, "trailer") || IEquals(n, "upgrade");
    case 10:
      return IEquals(n, "connection") || IEquals(n, "keep-alive");
    case 16:
      return IEquals(n, "proxy-connection");
    case 17:
      return IEquals(n, "transfer-encoding");
    case 19:
      return IEquals(n, "proxy-authorization");
    case 18:
      return IEquals(n, "proxy-authenticate");
    default:
      return false;
  }
}

// Whether `name` is listed in the Connection field's tokens (and so hop-by-hop too).
bool NamedInConnection(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    auto comma = connection.find(',');
    auto token = connection.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (IEquals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool Idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

void AppendStatusLine(std::string& out, int status, std::string_view reason) {
  out += "HTTP/1.1 ";
  out += fmt::format_int(status).c_str();
  out += ' ';
  out += reason;
  out += "\r\n";
}

// "name: value\r\n" in one copy (the head strings come from the worker's pool with room).
void AppendField(std::string& out, std::string_view name, std::string_view value) {
  const size_t at = out.size();
  const size_t n = name.size() + value.size() + 4;
  if (out.capacity() < at + n) out.reserve(std::max(2 * out.capacity(), at + n));
  out.resize_and_overwrite(at + n, [&](char* p, size_t) {
    char* w = p + at;
    std::memcpy(w, name.data(), name.size());
    w += name.size();
    *w++ = ':';
    *w++ = ' ';
    std::memcpy(w, value.data(), value.size());
    w += value.size();
    *w++ = '\r';
    *w++ = '\n';
    return at + n;
  });
}

std::optional<std::string_view> CookieValue(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    auto pair = cookies.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

// Straight system calls on a plain TCP socket, without an asio operation: when the call
// completes at once (the usual case: a small request or answer, a socket just reported
// readable) the coroutine does not suspend, and no operation is allocated and posted
// through the scheduler. Only what would block goes to asio. Used strictly one at a time per
// socket, never beside a pending asio write, so bytes cannot interleave.
//
// Sends what it can of `bufs` (MSG_DONTWAIT) and advances `bufs` past it; true when nothing
// is left. On a full socket buffer it returns false with no error: the caller writes the rest
// with asio. `ec` is always assigned (cleared on success), like an asio operation's.
template <size_t N>
bool SendNow(tcp::socket& s, std::array<asio::const_buffer, N>& bufs, asio::error_code& ec) {
  ec = {};
  iovec iov[N];
  int count = 0;
  for (const auto& b : bufs) {
    if (b.size() > 0) iov[count++] = {const_cast<void*>(b.data()), b.size()};
  }
  if (count == 0) return true;
  ssize_t n;
  do {
    if (count == 1) {
      n = ::send(s.native_handle(), iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(count);
      n = ::sendmsg(s.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      ec = asio::error_code(errno, asio::system_category());
    return false;
  }
  auto left = static_cast<size_t>(n);
  for (auto& b : bufs) {
    const size_t take = std::min(left, b.size());
    b += take;
    left -= take;
  }
  return asio::buffer_size(bufs) == 0;
}

// One recv (MSG_DONTWAIT) into `space`: the byte count; 0 with ec = eof at the end of the
// stream, 0 with ec = would_block when nothing is there, 0 with the error otherwise.
size_t RecvNow(tcp::socket& s, asio::mutable_buffer space, asio::error_code& ec) {
  ec = {};
  ssize_t n;
  do {
    n = ::recv(s.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0) {
    ec = asio::error::eof;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    ec = asio::error::would_block;
  } else {
    ec = asio::error_code(errno, asio::system_category());
  }
  return 0;
}

// A generated X-Request-Id: a random (version 4) UUID, written without allocating.
void FormatRequestId(char (&out)[36], uint64_t a, uint64_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  // 8-4-4-4-12 hex digits: 32 bits of a, 16 of a, "4" + 12 of a, 14 of b | 0x8000, 48 of b.
  auto put = [&](int pos, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      out[pos + i] = kHex[v & 0xf];
      v >>= 4;
    }
  };
  put(0, a >> 32, 8);
  out[8] = '-';
  put(9, (a >> 16) & 0xffff, 4);
  out[13] = '-';
  out[14] = '4';
  put(15, a & 0xfff, 3);
  out[18] = '-';
  put(19, (b >> 48 & 0x3fff) | 0x8000, 4);
  out[23] = '-';
  put(24, b & 0xffffffffffffULL, 12);
}

}  // namespace

struct Session::Exchange {
  Clock::TimePoint start;
  std::string_view method;
  std::string_view target;
  std::string_view path;
  std::string host;
  std::string_view request_id;  // the client's (a view into the head) or request_id_buf
  char request_id_buf[36];
  std::shared_ptr<const router::RouteTable> table;  // keeps `route` alive
  const router::Route* route = nullptr;
  RouteStats* route_stats = nullptr;
  std::shared_ptr<WorkerCluster> cluster;
  std::string_view upstream;
  std::vector<std::pair<std::string, std::string>> add_request_headers;
  std::vector<std::pair<std::string, std::string>> add_response_headers;
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  int attempts = 0;
  bool has_body = false;
  bool keep_alive = true;
  bool continue_sent = false;
  bool request_complete = false;  // the parser reached kComplete for this request
  size_t fed = 0;                 // body bytes at the front of in_ parsed but not yet sent
  bool body_written = false;      // some body bytes went to an upstream
  std::string flags;
  // A reply of the gateway's own (Prepare returned false).
  int reply_status = 0;
  std::string_view reply_body;   // a literal or reply_body_owned
  std::string reply_body_owned;  // a filter's
  std::vector<std::pair<std::string, std::string>> reply_headers;
  bool reply_close = false;
};

Session::Session(Worker& worker, tcp::socket socket, bool admin)
    : worker_(worker), socket_(std::move(socket)), admin_(admin) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) client_ip_ = ep.address().to_string();
  socket_.set_option(tcp::no_delay(true), ec);
  if (!admin_ && worker_.tls_context() != nullptr) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *worker_.tls_context());
  }
  slot_ = worker_.Register(this);
  worker_.stats().downstream_connections.Inc();
  worker_.stats().downstream_active.Add(1);
}

Session::~Session() {
  worker_.Unregister(slot_);
  worker_.stats().downstream_active.Add(-1);
  ReleaseBuffers();
}

void Session::Start() {
  if (tls_) {  // the handshake first
    asio::co_spawn(worker_.io(), Serve(shared_from_this(), false), asio::detached);
  } else {
    WaitForRequest(false, IdleDeadline());
  }
}

void Session::WaitForRequest(bool after_request, Clock::TimePoint deadline) {
  phase_ = Phase::kIdle;
  worker_.SetDeadline(slot_, deadline);
  auto on_ready = [self = shared_from_this()](asio::error_code ec) {
    if (ec || self->closed_ || self->worker_.draining()) {
      self->Close();
      return;
    }
    asio::co_spawn(self->worker_.io(), self->Serve(self, true), asio::detached);
  };
  if (after_request) {
    // The last read of this socket came back short (the request), so unless bytes arrived
    // since, this queues without a system call (see ready_wait.h).
    AsyncWaitReadable(socket_, std::move(on_ready));
  } else {
    // A new connection: a plain readiness wait, so that one that stays silent holds no
    // coroutine or buffer (the speculative wait would complete at once on a fresh socket).
    socket_.async_wait(tcp::socket::wait_read, std::move(on_ready));
  }
}

Clock::TimePoint Session::IdleDeadline() const {
  const auto timeout = worker_.options().idle_timeout;
  return timeout.count() == 0 ? Clock::TimePoint::max() : worker_.clock().Now() + timeout;
}

void Session::DownDrained() {
  // Through TLS the reads of the socket are the TLS stream's, not these.
  if (!tls_) NoteReadDrained(socket_);
}

void Session::CloseIfIdle() {
  if (phase_ == Phase::kIdle || phase_ == Phase::kIdleHot) Close();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ec;
  socket_.close(ec);
  if (upstream_ != nullptr) upstream_->close(ec);
  phase_ = Phase::kNone;
  worker_.SetDeadline(slot_, Clock::TimePoint::max());
}

bool Session::EnsureBuffer(IoBuffer& b) {
  if (!b.data) {
    b.data = worker_.TakeBuffer();
    b.begin = b.end = 0;
  }
  return true;
}

void Session::ReleaseBuffers() {
  if (parser_ && parser_->idle())
    worker_.GiveParser(http::MessageKind::kRequest, std::move(parser_));
  if (in_.data && in_.empty()) worker_.GiveBuffer(std::move(in_.data));
  if (upstream_in_.data && upstream_in_.empty()) worker_.GiveBuffer(std::move(upstream_in_.data));
  if (out_.capacity() > 0) {
    worker_.GiveString(std::move(out_));
    out_ = std::string();
  }
}

std::string& Session::Out() {
  if (out_.capacity() < 256) out_ = worker_.TakeString();
  out_.clear();
  return out_;
}

void Session::SetPhase(Phase phase, std::chrono::milliseconds timeout) {
  phase_ = phase;
  worker_.SetDeadline(slot_, phase == Phase::kNone || timeout.count() == 0
                                 ? Clock::TimePoint::max()
                                 : worker_.clock().Now() + timeout);
}

void Session::OnTimer() {
  if (closed_ || phase_ == Phase::kNone) return;
  if (phase_ == Phase::kIdleHot) {
    if (worker_.clock().Now() >= idle_deadline_) {
      Close();  // the idle timeout
    } else {
      // Idle for kHotIdle: the coroutine's wait ends (operation_aborted) and the
      // connection waits on without it (Serve).
      asio::error_code ec;
      socket_.cancel(ec);
    }
    return;
  }
  timed_out_ = true;
  asio::error_code ec;
  if (phase_ == Phase::kUpstream && upstream_ != nullptr) {
    upstream_->close(ec);  // the exchange answers 504
  } else {
    Close();
  }
}

asio::awaitable<void> Session::Serve(std::shared_ptr<Session> self, bool readable) {
  if (tls_ && !readable) {
    asio::error_code ec;
    SetPhase(Phase::kHead, worker_.options().header_timeout);
    co_await tls_->async_handshake(asio::ssl::stream_base::server, kNoThrow(ec));
    if (ec) {
      Close();
      co_return;
    }
  }
  while (!closed_) {
    // Usually the whole head is there at once: parsed without ReadHead's coroutine frame.
    HeadResult r = ReadHeadNow(readable);
    if (r == HeadResult::kBad) {
      worker_.stats().bad_requests.Inc();
      co_await Reply(nullptr, bad_.status, bad_.message + "\n", {}, true);
      break;
    }
    if (r == HeadResult::kMore) r = co_await ReadHead(readable);
    readable = false;
    if (r == HeadResult::kIdle) {
      // Keep-alive between requests: give the buffers back and wait for the next request
      // here, for up to kHotIdle (a busy connection keeps its coroutine); after that, the
      // worker's tick cancels this wait and the connection waits without a coroutine.
      ReleaseBuffers();
      idle_deadline_ = IdleDeadline();
      phase_ = Phase::kIdleHot;
      worker_.SetDeadline(slot_, std::min(idle_deadline_, worker_.clock().Now() + kHotIdle));
      asio::error_code ec;
      co_await WaitReadable(socket_, kNoThrow(ec));
      if (closed_) break;
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
      // Handle's parts run here, not in a coroutine of their own: one frame less per request.
      Exchange ex;
      if (Prepare(ex)) {
        keep = co_await Proxy(ex);
      } else {
        keep =
            co_await Reply(&ex, ex.reply_status, ex.reply_body, ex.reply_headers, ex.reply_close);
      }
      Finish(ex);
      keep = keep && !closed_;
    }
    if (!keep || worker_.draining()) break;
  }
  Close();
}

Session::HeadResult Session::ReadHeadNow(bool& readable) {
  for (;;) {
    if (closed_) return HeadResult::kEnd;
    if (!parser_) parser_ = worker_.TakeParser(http::MessageKind::kRequest);
    auto step = parser_->Feed(in_.data ? in_.view() : std::string_view());
    if (!step) {
      bad_ = std::move(step.error());
      return HeadResult::kBad;
    }
    if (in_.data) in_.Consume(step->consumed);
    if (step->event == http::ParseEvent::kHead) {
      SetPhase(Phase::kNone, 0ms);
      return HeadResult::kHead;
    }
    // kNeedMore: every byte consumed. As ReadHead, without waiting.
    const bool between_requests = parser_->idle();
    if (between_requests && !readable) {
      if (worker_.draining()) return HeadResult::kEnd;
      if (!tls_) return HeadResult::kIdle;
    }
    if (!readable || tls_) return HeadResult::kMore;
    readable = false;
    EnsureBuffer(in_);
    asio::error_code ec;
    const asio::mutable_buffer space = in_.ReadInto();
    const size_t n = RecvNow(socket_, space, ec);
    if (ec == asio::error::would_block) {
      DownDrained();  // a stale readiness edge
      // Between requests: back to the wait (kIdle); mid-head: ReadHead waits for the rest.
      continue;
    }
    if (ec || n == 0) return HeadResult::kEnd;
    if (n < space.size()) DownDrained();
    in_.end += n;
  }
}

asio::awaitable<Session::HeadResult> Session::ReadHead(bool readable) {
  asio::error_code ec;
  for (;;) {
    if (closed_) co_return HeadResult::kEnd;
    if (!parser_) parser_ = worker_.TakeParser(http::MessageKind::kRequest);
    auto step = parser_->Feed(in_.data ? in_.view() : std::string_view());
    if (!step) {
      worker_.stats().bad_requests.Inc();
      co_await Reply(nullptr, step.error().status, step.error().message + "\n", {}, true);
      co_return HeadResult::kEnd;
    }
    if (in_.data) in_.Consume(step->consumed);
    if (step->event == http::ParseEvent::kHead) {
      SetPhase(Phase::kNone, 0ms);
      co_return HeadResult::kHead;
    }
    // kNeedMore: every byte consumed; read more.
    const bool between_requests = parser_->idle();  // no byte of the next request yet
    if (between_requests && !readable) {
      if (worker_.draining()) co_return HeadResult::kEnd;
      // Plain TCP waits bufferless (the caller); TLS may hold decrypted bytes: it reads.
      if (!tls_) co_return HeadResult::kIdle;
    }
    const bool woken = readable;
    readable = false;
    if (between_requests) {
      // Keep-alive wait (TLS, or a wake-up that finds no bytes): the idle timeout.
      if (phase_ != Phase::kIdle && phase_ != Phase::kIdleHot) {
        SetPhase(Phase::kIdle, worker_.options().idle_timeout);
      }
    } else if (phase_ != Phase::kHead) {
      // The whole head must arrive within header_timeout (a slowloris cannot extend it).
      SetPhase(Phase::kHead, worker_.options().header_timeout);
    }
    EnsureBuffer(in_);
    const asio::mutable_buffer space = in_.ReadInto();
    size_t n = 0;
    if (woken && !tls_) {
      // Just reported readable: read at once, without an asio operation.
      n = RecvNow(socket_, space, ec);
      if (ec == asio::error::would_block) {
        ec = {};
        DownDrained();  // a stale readiness edge: the read below waits for the next one
      }
    }
    if (n == 0 && !ec) {
      // Woken from the wait in Serve for nothing: this read waits inside the coroutine,
      // under the idle timeout (the shorter kIdleHot deadline would cancel it).
      if (phase_ == Phase::kIdleHot) SetPhase(Phase::kIdle, worker_.options().idle_timeout);
      n = co_await DownRead(space, ec);
    }
    if (ec || n == 0) co_return HeadResult::kEnd;  // closed (mid-head or between requests)
    if (n < space.size()) DownDrained();
    in_.end += n;
  }
}

asio::awaitable<bool> Session::Reply(
    Exchange* ex, int status, std::string_view body,
    const std::vector<std::pair<std::string, std::string>>& headers, bool close) {
  if (ex != nullptr) {
    ex->status = status;
    close = close || !ex->keep_alive || (ex->has_body && !ex->request_complete);
    if (!close && !ex->request_complete) {
      // A bodiless request: let the parser finish it so the next one can start.
      auto step = parser_->Feed(std::string_view());
      if (!step || step->event != http::ParseEvent::kComplete) close = true;
    }
  }
  close = close || worker_.draining();
  Out();
  AppendStatusLine(out_, status, http::ReasonPhrase(status));
  AppendField(out_, "Content-Length", fmt::format_int(body.size()).c_str());
  if (!body.empty()) AppendField(out_, "Content-Type", "text/plain; charset=utf-8");
  for (const auto& [n, v] : headers) AppendField(out_, n, v);
  if (ex != nullptr) {
    for (const auto& [n, v] : ex->add_response_headers) AppendField(out_, n, v);
    if (!ex->request_id.empty()) AppendField(out_, "X-Request-Id", ex->request_id);
  }
  if (close) AppendField(out_, "Connection", "close");
  out_ += "\r\n";
  if (ex == nullptr || ex->method != "HEAD") out_ += body;
  asio::error_code ec;
  co_await DownWrite(asio::buffer(out_), ec);
  co_return !close && !ec;
}

asio::awaitable<bool> Session::HandleAdmin() {
  const auto& head = parser_->head();
  std::string_view path = head.target.substr(0, head.target.find('?'));
  Exchange ex;
  ex.method = head.method;
  ex.has_body = head.framing != http::BodyFraming::kNone;
  ex.keep_alive = head.keep_alive;
  if (path == "/metrics") {
    co_return co_await Reply(&ex, 200, worker_.RenderMetrics(), {}, false);
  }
  if (path == "/ready") {
    co_return co_await Reply(&ex, worker_.draining() ? 503 : 200,
                             worker_.draining() ? "draining\n" : "ready\n", {}, false);
  }
  co_return co_await Reply(&ex, 404, "not found\n", {}, false);
}

bool Session::Prepare(Exchange& ex) {
  const auto& head = parser_->head();
  ex.start = worker_.clock().Now();
  worker_.stats().downstream_requests.Inc();
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

  auto reply = [&ex](int status, std::string_view body, bool close) {
    ex.reply_status = status;
    ex.reply_body = body;
    ex.reply_close = close;
    return false;
  };
  ex.table = worker_.routes();
  if (!ex.table) return reply(503, "no route configuration\n", false);
  if (head.method == "CONNECT") return reply(501, "CONNECT is not supported\n", true);
  router::MatchInput in{ex.host, ex.method, ex.path,
                        [&head](std::string_view n) { return head.Get(n); }};
  ex.route = ex.table->Match(in);
  if (ex.route == nullptr) {
    worker_.stats().no_route.Inc();
    return reply(404, "no route\n", false);
  }
  ex.route_stats = worker_.RouteStatsFor(ex.route);
  if (ex.route->filters.empty()) return true;
  std::vector<filters::HeaderRef> refs;
  refs.reserve(head.headers.size());
  for (const auto& h : head.headers) refs.push_back({h.name, h.value});
  filters::RequestContext ctx;
  ctx.method = ex.method;
  ctx.path = ex.path;
  ctx.host = ex.host;
  ctx.client_ip = client_ip_;
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
  ex.reply_headers = std::move(ctx.reply_headers);
  return reply(ctx.reply_status, ex.reply_body_owned, false);
}

void Session::Finish(Exchange& ex) {
  // Stats and access log.
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
    r.client = client_ip_;
    r.status = ex.status;
    r.bytes_in = ex.bytes_in;
    r.bytes_out = ex.bytes_out;
    r.duration_ms = ms;
    r.attempts = ex.attempts;
    r.flags = ex.flags;
    log->Write(r);
  }
}

namespace {

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

struct HostActive {
  lb::Host* host = nullptr;
  ~HostActive() {
    if (host) host->RemoveActiveRequest();
  }
};

}  // namespace

asio::awaitable<bool> Session::Proxy(Exchange& ex) {
  const router::Route& route = *ex.route;
  const auto& head = parser_->head();
  asio::error_code ec;

  // Weighted split over the route's targets.
  const router::WeightedCluster* target = &route.targets[0];
  if (route.targets.size() > 1) {
    uint64_t pick = worker_.random().Uniform(route.total_weight);
    for (const auto& t : route.targets) {
      if (pick < t.weight) {
        target = &t;
        break;
      }
      pick -= t.weight;
    }
  }
  ex.cluster = worker_.clusters().Get(target->cluster);
  if (!ex.cluster || ex.cluster->hosts().empty()) {
    ex.flags = "UH";
    co_return co_await Reply(&ex, 503, "no healthy upstream\n", {}, false);
  }
  WorkerCluster& cluster = *ex.cluster;
  ClusterStats& cstats = cluster.stats();
  ClusterLoad& load = cluster.load();
  const auto& cb = cluster.config().circuit_breakers;
  if (load.active_requests >= cb.max_requests) {
    cstats.circuit_open.Inc();
    ex.flags = "UO";
    co_return co_await Reply(&ex, 503, "upstream overloaded\n", OverloadedHeaders(), false);
  }
  ++load.active_requests;
  Decrement active_guard{&load.active_requests};
  Decrement retry_guard{nullptr};
  cstats.requests.Inc();

  lb::LbContext lbctx;
  switch (route.hash.kind) {
    case router::HashPolicy::Kind::kNone:
      break;
    case router::HashPolicy::Kind::kHeader:
      if (auto v = head.Get(route.hash.name)) lbctx.hash = lb::HashKey(*v);
      break;
    case router::HashPolicy::Kind::kCookie:
      if (auto c = head.Get("cookie")) {
        if (auto v = CookieValue(*c, route.hash.name)) lbctx.hash = lb::HashKey(*v);
      }
      break;
    case router::HashPolicy::Kind::kClientIp:
      lbctx.hash = lb::HashKey(client_ip_);
      break;
  }

  std::string rewritten;
  std::string_view upstream_target = ex.target;
  if (route.prefix_rewrite) {
    rewritten = router::RouteTable::RewritePath(route, ex.target);
    upstream_target = rewritten;
  }
  const bool idempotent = Idempotent(ex.method);
  uint32_t retries_left = route.retry.attempts;
  bool stale_retry_used = false;
  auto budget_allows = [&] {
    const double budget = route.retry.budget_percent / 100.0 * load.active_requests;
    return load.active_retries < std::max<double>(route.retry.min_retry_concurrency, budget);
  };
  auto take_retry = [&] {
    --retries_left;
    cstats.retries.Inc();
    if (retry_guard.counter == nullptr) {
      ++load.active_retries;
      retry_guard.counter = &load.active_retries;
    }
  };

  // Validate what already arrived of the body before any upstream sees the request: a
  // malformed chunked body sent with its head is refused here and never forwarded.
  if (int status = FeedBody(ex); status != 0) {
    worker_.stats().bad_requests.Inc();
    co_return co_await Reply(&ex, status, "malformed request body\n", {}, true);
  }

  ParserLease response_parser_lease(worker_, http::MessageKind::kResponse);
  for (;;) {
    ++ex.attempts;
    timed_out_ = false;
    PooledHost* host = cluster.Choose(lbctx);
    if (host == nullptr) {
      ex.flags = "UH";
      co_return co_await Reply(&ex, 503, "no healthy upstream\n", {}, false);
    }
    ex.upstream = host->address();
    host->AddActiveRequest();
    HostActive host_guard{host};

    // A connection: an idle pooled one, or a new one within the circuit breaker's limits.
    std::optional<tcp::socket> conn;
    bool reused = false;
    SetPhase(Phase::kUpstream, route.timeouts.request);
    if (!host->idle.empty()) {
      conn.emplace(std::move(host->idle.back()));
      host->idle.pop_back();
      reused = true;
    } else {
      bool overflow = false;
      while (load.open_connections >= cb.max_connections) {
        if (load.pending_requests >= cb.max_pending_requests) {
          overflow = true;
          break;
        }
        ++load.pending_requests;
        asio::steady_timer wait(worker_.io());
        wait.expires_after(cluster.config().connect_timeout);
        load.waiters.push_back(&wait);
        co_await wait.async_wait(kNoThrow(ec));
        --load.pending_requests;
        std::erase(load.waiters, &wait);
        if (!ec || closed_) {  // not woken in time
          overflow = true;
          break;
        }
        if (!host->idle.empty()) {
          conn.emplace(std::move(host->idle.back()));
          host->idle.pop_back();
          reused = true;
          break;
        }
      }
      if (overflow) {
        cstats.circuit_open.Inc();
        ex.flags = "UO";
        co_return co_await Reply(&ex, 503, "upstream overloaded\n", OverloadedHeaders(), false);
      }
      if (!conn) {
        ++load.open_connections;
        cstats.connections_opened.Inc();
        conn.emplace(worker_.io());
        upstream_ = &*conn;
        asio::steady_timer connect_timer(worker_.io());
        connect_timer.expires_after(cluster.config().connect_timeout);
        connect_timer.async_wait([sock = &*conn](const asio::error_code& e) {
          if (!e) {
            asio::error_code ignored;
            sock->close(ignored);
          }
        });
        co_await conn->async_connect(host->endpoint(), kNoThrow(ec));
        connect_timer.cancel();
        upstream_ = nullptr;
        if (ec || closed_) {
          conn->close(ec);
          cluster.ConnectionClosed();
          if (closed_) co_return false;
          cstats.connect_failures.Inc();
          cluster.outlier().Report(*host, lb::Outcome::kConnectFailure);
          if (route.retry.on_connect_failure && retries_left > 0 && budget_allows()) {
            take_retry();
            continue;
          }
          ex.flags = "UF";
          co_return co_await Reply(&ex, 503, "upstream connect error\n", {}, false);
        }
        conn->set_option(tcp::no_delay(true), ec);
      }
    }
    tcp::socket& up = *conn;
    upstream_ = &up;
    struct ClearUpstream {
      tcp::socket** p;
      ~ClearUpstream() { *p = nullptr; }
    } clear_upstream{&upstream_};
    bool up_reusable = true;
    auto give_back = [&](bool reusable) {
      upstream_ = nullptr;
      cluster.Release(*host, std::move(up), reusable && up_reusable);
    };

    // 100-continue: the upstream is there, ask the client for the body.
    if (head.expect_continue && ex.has_body && !ex.continue_sent && head.version_minor >= 1) {
      ex.continue_sent = true;
      co_await DownWrite(asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) {
        give_back(false);
        co_return false;
      }
    }

    // ---- Request head, then the body streamed as it arrives (raw framing preserved).
    Out();
    out_ += ex.method;
    out_ += ' ';
    out_ += upstream_target;
    out_ += " HTTP/1.1\r\n";
    std::string_view xff, connection_field;
    std::string_view upgrade_value;
    if (auto c = head.Get("connection")) connection_field = *c;
    for (const auto& h : head.headers) {
      if (IsHopByHop(h.name)) {
        if (head.upgrade && IEquals(h.name, "upgrade")) upgrade_value = h.value;
        continue;
      }
      if (h.name.size() == 15 && IEquals(h.name, "x-forwarded-for")) {
        xff = h.value;
        continue;
      }
      if ((h.name.size() == 17 && IEquals(h.name, "x-forwarded-proto")) ||
          (h.name.size() == 12 && IEquals(h.name, "x-request-id")) ||
          (h.name.size() == 6 && IEquals(h.name, "expect"))) {
        continue;
      }
      if (!connection_field.empty() && NamedInConnection(connection_field, h.name)) continue;
      AppendField(out_, h.name, h.value);
    }
    if (head.framing == http::BodyFraming::kChunked)
      AppendField(out_, "Transfer-Encoding", "chunked");
    if (head.upgrade) {
      AppendField(out_, "Connection", "Upgrade");
      AppendField(out_, "Upgrade", upgrade_value);
    }
    out_ += "X-Forwarded-For: ";
    if (!xff.empty()) {
      out_ += xff;
      out_ += ", ";
    }
    out_ += client_ip_;
    out_ += "\r\n";
    AppendField(out_, "X-Forwarded-Proto", tls_ ? "https" : "http");
    AppendField(out_, "X-Request-Id", ex.request_id);
    for (const auto& [n, v] : ex.add_request_headers) AppendField(out_, n, v);
    out_ += "\r\n";

    bool body_sent_any = ex.body_written;
    bool head_written = false;
    int client_error = 0;  // parser status for a malformed body
    bool client_gone = false;
    bool upstream_write_failed = false;
    for (;;) {
      client_error = FeedBody(ex);
      if (client_error) break;
      std::array<asio::const_buffer, 2> bufs{
          asio::buffer(out_.data(), head_written ? 0 : out_.size()),
          asio::buffer(in_.data ? in_.data.get() + in_.begin : nullptr, ex.fed)};
      if (!head_written || ex.fed > 0) {
        if (!SendNow(up, bufs, ec) && !ec) co_await asio::async_write(up, bufs, kNoThrow(ec));
        if (ec) {
          upstream_write_failed = true;
          break;
        }
      }
      head_written = true;
      if (ex.fed > 0) {
        // Sent and dropped from in_: from here the request cannot be replayed.
        body_sent_any = ex.body_written = true;
        ex.bytes_in += ex.fed;
        in_.Consume(ex.fed);
        ex.fed = 0;
      }
      if (ex.request_complete) break;
      // More body: read from the client.
      SetPhase(Phase::kStreaming, route.timeouts.idle);
      EnsureBuffer(in_);
      const asio::mutable_buffer space = in_.ReadInto();
      size_t n = co_await DownRead(space, ec);
      if (ec || n == 0) {
        client_gone = true;
        break;
      }
      if (n < space.size()) DownDrained();
      in_.end += n;
    }
    if (client_error) {
      give_back(false);
      worker_.stats().bad_requests.Inc();
      co_return co_await Reply(&ex, client_error, "malformed request body\n", {}, true);
    }
    if (client_gone || closed_) {
      give_back(false);
      ex.status = 499;
      ex.flags = "DC";
      co_return false;
    }
    if (upstream_write_failed) {
      give_back(false);
      if (reused && !body_sent_any && !stale_retry_used) {  // a keep-alive the upstream closed
        stale_retry_used = true;
        --ex.attempts;
        continue;
      }
      cluster.outlier().Report(*host, lb::Outcome::kConnectFailure);
      ex.flags = timed_out_ ? "UT" : "UR";
      co_return co_await Reply(&ex, timed_out_ ? 504 : 502, "upstream write failed\n", {}, true);
    }

    // ---- Response: head rebuilt, body forwarded raw as it arrives.
    SetPhase(Phase::kUpstream, route.timeouts.request);
    http::Parser& response_parser = *response_parser_lease.parser;
    response_parser.Reset();
    response_parser.SetRequestMethod(ex.method);
    if (!upstream_in_.data && ex.request_complete && in_.data && in_.empty()) {
      // The request is all sent and no next one is buffered: its buffer reads the response,
      // so a keep-alive request takes one buffer from the worker's pool, not two.
      upstream_in_.data = std::move(in_.data);
      upstream_in_.begin = upstream_in_.end = 0;
    }
    EnsureBuffer(upstream_in_);
    bool head_done = false, head_sent = false, complete = false, interim = false;
    bool dechunk = false, close_after = !ex.keep_alive;
    bool upstream_failed = false, bad_response = false, retry_status = false, upgraded = false;
    int status = 0;
    while (!complete) {
      size_t fwd = 0;
      for (;;) {
        auto step = response_parser.Feed(upstream_in_.view().substr(fwd));
        if (!step) {
          bad_response = true;
          break;
        }
        const bool forward_raw = head_done && !interim && !dechunk;
        if (step->event == http::ParseEvent::kHead) {
          upstream_in_.Consume(fwd + step->consumed);  // fwd is 0 before a head
          fwd = 0;
          const auto& rh = response_parser.head();
          status = rh.status;
          if (status >= 100 && status < 200 && status != 101) {
            interim = true;  // 100 Continue / 103: dropped, the final response follows
            continue;
          }
          head_done = true;
          if (status >= 500 &&
              std::find(route.retry.on_statuses.begin(), route.retry.on_statuses.end(), status) !=
                  route.retry.on_statuses.end() &&
              idempotent && !ex.has_body && retries_left > 0 && budget_allows()) {
            retry_status = true;
            break;
          }
          if (status == 101 && head.upgrade) upgraded = true;
          dechunk = rh.framing == http::BodyFraming::kChunked && head.version_minor == 0;
          if (rh.framing == http::BodyFraming::kUntilClose || dechunk || worker_.draining()) {
            close_after = true;
          }
          Out();
          AppendStatusLine(out_, status, rh.reason);
          std::string_view rconn;
          if (auto c = rh.Get("connection")) rconn = *c;
          // "keep-alive" (the usual value) names only a field that is hop-by-hop anyway.
          if (IEquals(rconn, "keep-alive")) rconn = {};
          std::string_view rupgrade;
          for (const auto& h : rh.headers) {
            if (IsHopByHop(h.name)) {
              if (upgraded && IEquals(h.name, "upgrade")) rupgrade = h.value;
              continue;
            }
            if (!rconn.empty() && NamedInConnection(rconn, h.name)) continue;
            AppendField(out_, h.name, h.value);
          }
          if (rh.framing == http::BodyFraming::kChunked && !dechunk) {
            AppendField(out_, "Transfer-Encoding", "chunked");
          }
          for (const auto& [n, v] : ex.add_response_headers) AppendField(out_, n, v);
          if (upgraded) {
            AppendField(out_, "Connection", "Upgrade");
            AppendField(out_, "Upgrade", rupgrade);
          } else if (close_after) {
            AppendField(out_, "Connection", "close");
          } else if (head.version_minor == 0) {
            AppendField(out_, "Connection", "keep-alive");
          }
          out_ += "\r\n";
          if (upgraded) break;
          SetPhase(Phase::kStreaming, route.timeouts.idle);
          continue;
        }
        if (step->event == http::ParseEvent::kBody) {
          ex.bytes_out += step->body.size();
          if (dechunk) out_ += step->body;
        }
        if (forward_raw) {
          fwd += step->consumed;
        } else {
          upstream_in_.Consume(fwd + step->consumed);
          fwd = 0;
        }
        if (step->event == http::ParseEvent::kComplete) {
          if (interim) {
            interim = false;
            continue;
          }
          complete = true;
          break;
        }
        if (step->event == http::ParseEvent::kNeedMore) break;
      }
      if (bad_response || retry_status) break;
      // Flush what is ready: the head (once) and the raw body bytes.
      if (head_done && !retry_status) {
        if (!head_sent && !dechunk && fwd > 0 && fwd <= kCoalesceBody) {
          // A small answer goes out with its head in one buffer: one send(), not sendmsg().
          out_.append(upstream_in_.data.get() + upstream_in_.begin, fwd);
          upstream_in_.Consume(fwd);
          fwd = 0;
        }
        std::array<asio::const_buffer, 2> bufs{
            asio::buffer(out_.data(), head_sent && !dechunk ? 0 : out_.size()),
            asio::buffer(upstream_in_.data.get() + upstream_in_.begin, fwd)};
        if (!head_sent || dechunk || fwd > 0) {
          if (tls_ || (!SendNow(socket_, bufs, ec) && !ec)) co_await DownWrite(bufs, ec);
          if (ec) {
            give_back(false);
            ex.status = status;
            ex.flags = "DC";
            co_return false;
          }
        }
        head_sent = true;
        if (dechunk) out_.clear();
        upstream_in_.Consume(fwd);
      }
      if (complete || upgraded) break;
      const asio::mutable_buffer space = upstream_in_.ReadInto();
      size_t n = co_await up.async_read_some(space, kNoThrow(ec));
      // A short read emptied the socket: the next read (next response on this pooled
      // connection) waits for readiness instead of trying recv() first (ready_wait.h).
      if (!ec && n > 0 && n < space.size()) NoteReadDrained(up);
      if (ec || n == 0) {
        if (ec == asio::error::eof && head_done) {
          auto fin = response_parser.Finish();
          if (fin && fin->event == http::ParseEvent::kComplete) {
            complete = true;
            up_reusable = false;
            break;
          }
        }
        upstream_failed = true;
        break;
      }
      upstream_in_.end += n;
    }

    if (retry_status) {
      cluster.outlier().Report(*host, lb::Outcome::k5xx);
      cstats.status_class[5].Inc();
      upstream_in_.Consume(upstream_in_.size());
      give_back(false);
      take_retry();
      continue;
    }
    if (bad_response || upstream_failed) {
      upstream_in_.Consume(upstream_in_.size());
      give_back(false);
      if (head_sent) {  // the client has part of a response: all we can do is close
        ex.status = status;
        ex.flags = timed_out_ ? "UT" : "UR";
        co_return false;
      }
      if (timed_out_) {
        cstats.timeouts.Inc();
        ex.flags = "UT";
        co_return co_await Reply(&ex, 504, "upstream request timeout\n", {}, true);
      }
      if (upstream_failed && reused && !head_done && !body_sent_any && !stale_retry_used &&
          (idempotent || !ex.has_body)) {
        stale_retry_used = true;  // the pooled connection was closed under us: try afresh
        --ex.attempts;
        continue;
      }
      cluster.outlier().Report(*host, lb::Outcome::k5xx);
      if (!bad_response && idempotent && !ex.has_body && retries_left > 0 && budget_allows() &&
          std::find(route.retry.on_statuses.begin(), route.retry.on_statuses.end(), 502) !=
              route.retry.on_statuses.end()) {
        take_retry();
        continue;
      }
      ex.flags = bad_response ? "UB" : "UR";
      co_return co_await Reply(
          &ex, 502, bad_response ? "bad upstream response\n" : "upstream reset\n", {}, true);
    }

    ex.status = status;
    cstats.status_class[std::clamp(status / 100, 1, 5)].Inc();
    cluster.outlier().Report(*host, status >= 500 ? lb::Outcome::k5xx : lb::Outcome::kSuccess);

    if (upgraded) {
      // WebSocket (or any upgrade): bytes both ways until either side closes.
      // The 101 head went out above; what followed it is already the new protocol.
      if (!upstream_in_.empty()) {
        co_await DownWrite(asio::buffer(upstream_in_.view().data(), upstream_in_.size()), ec);
        upstream_in_.Consume(upstream_in_.size());
      }
      if (!ec && in_.data && !in_.empty()) {
        co_await asio::async_write(up, asio::buffer(in_.view().data(), in_.size()), kNoThrow(ec));
        in_.Consume(in_.size());
      }
      if (!ec) {
        SetPhase(Phase::kNone, 0ms);
        EnsureBuffer(in_);
        using namespace asio::experimental::awaitable_operators;
        if (tls_) {
          co_await (Pump(*tls_, up, in_) && Pump(up, *tls_, upstream_in_));
        } else {
          co_await (Pump(socket_, up, in_) && Pump(up, socket_, upstream_in_));
        }
      }
      give_back(false);
      co_return false;
    }

    const bool leftover = !upstream_in_.empty();
    upstream_in_.Consume(upstream_in_.size());
    give_back(complete && response_parser.head().keep_alive && ex.request_complete && !leftover);
    SetPhase(Phase::kNone, 0ms);
    co_return !close_after && ex.request_complete;
  }
}

int Session::FeedBody(Exchange& ex) {
  if (ex.request_complete) return 0;
  std::string_view avail = in_.data ? in_.view() : std::string_view();
  for (;;) {
    auto step = parser_->Feed(avail.substr(ex.fed));
    if (!step) return step.error().status;
    ex.fed += step->consumed;
    if (step->event == http::ParseEvent::kComplete) {
      ex.request_complete = true;
      return 0;
    }
    if (step->event == http::ParseEvent::kNeedMore) return 0;
  }
}

template <typename From, typename To>
asio::awaitable<void> Session::Pump(From& from, To& to, IoBuffer& buffer) {
  asio::error_code ec;
  EnsureBuffer(buffer);
  buffer.begin = buffer.end = 0;
  for (;;) {
    size_t n = co_await from.async_read_some(asio::buffer(buffer.data.get(), Worker::kBufferSize),
                                             kNoThrow(ec));
    if (ec || n == 0) break;
    co_await asio::async_write(to, asio::buffer(buffer.data.get(), n), kNoThrow(ec));
    if (ec) break;
  }
  // One side ended: end both directions so the other pump finishes too.
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  if (upstream_ != nullptr) upstream_->shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace berth::gateway::server
