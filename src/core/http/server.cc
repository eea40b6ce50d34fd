#include "core/http/server.h"

#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/http/parser.h"
#include "core/http/tls.h"
#include "core/json.h"
#include "core/log.h"
#include "core/wake_batch.h"

namespace berth::http {
namespace {

using asio::ip::tcp;

// Each worker reads into one scratch buffer of this size; a connection keeps only the bytes
// it could not parse yet (a partial pipelined request), so an idle or streaming connection
// holds no read buffer at all.
constexpr size_t kReadChunk = 64 * 1024;
// Bytes a client may pipeline while its previous request is still being answered.
constexpr size_t kMaxBufferedWhileBusy = 1 << 20;
// Response bytes queued but not yet written; beyond this a slow reader is disconnected.
constexpr size_t kMaxQueuedBytes = 64 << 20;
// How long an errored connection may keep sending before it is closed (lingering close).
constexpr auto kLingerTime = std::chrono::seconds(2);

std::string_view ErrorCodeForStatus(int status) {
  switch (status) {
    case 400:
      return "invalid_argument";
    case 408:
      return "request_timeout";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 431:
      return "header_fields_too_large";
    case 500:
      return "internal";
    case 501:
      return "not_implemented";
    case 505:
      return "http_version_not_supported";
    default:
      return "invalid_argument";
  }
}

Response ErrorResponse(int status, std::string_view message) {
  Json body = {{"error", {{"code", ErrorCodeForStatus(status)}, {"message", message}}}};
  Response r = Response::Json(status, body.dump() + "\n");
  r.headers.Set("Connection", "close");
  return r;
}

Result<tcp::endpoint> ParseAddress(std::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("address \"{}\" is not host:port", address));
  }
  std::string host(address.substr(0, colon));
  std::string port_text(address.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad port in address \"{}\"", address));
  }
  asio::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("bad host \"{}\" in address \"{}\": {}", host, address, ec.message()));
  }
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

class Connection;
class Channel;

// Lets writers, which may outlive the server, reach a worker's loop only while it exists.
// Channels with work are collected here and drained by one posted handler, so a burst of
// writes to many connections of one worker (a watch event fanned out to thousands of
// streams) costs one post and one wake-up, not one per connection.
struct Gate : std::enable_shared_from_this<Gate> {
  std::mutex mu;
  asio::io_context* ctx = nullptr;              // guarded by mu; null once the server stops
  std::vector<std::shared_ptr<Channel>> ready;  // guarded by mu
  bool scheduled = false;                       // guarded by mu: RunReady is posted

  // Queues `channel` for draining on the worker; false when the server has stopped. Inside a
  // WakeBatch (the store's publisher answering a group commit) the post waits for the batch's
  // end, so the worker wakes once for all of the batch's answers.
  bool Schedule(std::shared_ptr<Channel> channel) {
    std::lock_guard lock(mu);
    if (ctx == nullptr) return false;
    ready.push_back(std::move(channel));
    if (!scheduled) {
      scheduled = true;
      if (!WakeBatch::Defer([self = shared_from_this()] { self->Wake(); })) {
        asio::post(*ctx, [self = shared_from_this()] { self->RunReady(); });
      }
    }
    return true;
  }
  void RunReady();  // on the worker; defined after Channel
  void Wake();      // a deferred post; defined after Channel
};

struct Worker {
  asio::io_context ctx{1};  // declared first: destroyed last, after the connections
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::unordered_set<std::shared_ptr<Connection>> connections;  // touched on this thread only
  std::vector<char> scratch = std::vector<char>(kReadChunk);    // reads land here first
  std::thread thread;
};

// Carries a writer's calls to its connection's thread in the order they were made (posts
// from different threads to one io_context are not ordered among themselves).
class Channel : public std::enable_shared_from_this<Channel> {
 public:
  Channel(std::weak_ptr<Connection> connection, std::shared_ptr<Gate> gate)
      : connection_(std::move(connection)), gate_(std::move(gate)) {}

  void Enqueue(std::function<void(Connection&)> op) { Add(Op{.run = std::move(op)}); }
  // A chunk of a streamed response (the common case, kept free of std::function).
  void EnqueueWrite(uint64_t id, std::string chunk) {
    Add(Op{.id = id, .chunk = std::move(chunk), .is_write = true});
  }

  // An OnClose callback: it runs even when the connection is already gone (at once, on the
  // worker; or on the calling thread once the server has stopped).
  void EnqueueOnClose(std::function<void()> callback) { Add(Op{.on_close = std::move(callback)}); }

  // ResponseWriter::Post: runs on the worker whether or not the connection is still there.
  void EnqueuePost(std::function<void()> fn) { Add(Op{.posted = std::move(fn)}); }

  void Drain();  // on the worker thread; defined after Connection
  // The server stopped before this channel was drained: runs its OnClose callbacks and posted
  // work here (as Add does when Schedule refuses).
  void Orphan() {
    std::vector<Op> ops;
    {
      std::lock_guard lock(mu_);
      ops.swap(ops_);
      posted_ = false;
    }
    RunWithout(ops);
  }

 private:
  struct Op {
    std::function<void(Connection&)> run;
    std::function<void()> on_close;
    std::function<void()> posted;
    uint64_t id = 0;
    std::string chunk;
    bool is_write = false;
  };

  void Add(Op op) {
    std::vector<Op> orphaned;
    {
      std::lock_guard lock(mu_);
      ops_.push_back(std::move(op));
      if (posted_) return;
      posted_ = true;
      if (gate_->Schedule(shared_from_this())) return;
      posted_ = false;
      orphaned.swap(ops_);
    }
    RunWithout(orphaned);
  }

  // The connection is gone: only OnClose callbacks and posted work mean anything now.
  static void RunWithout(std::vector<Op>& ops) {
    for (auto& op : ops) {
      if (op.on_close) op.on_close();
      if (op.posted) op.posted();
    }
  }

  std::weak_ptr<Connection> connection_;
  std::shared_ptr<Gate> gate_;
  std::mutex mu_;
  std::vector<Op> ops_;  // guarded by mu_
  bool posted_ = false;  // guarded by mu_
};

class WriterImpl final : public ResponseWriter {
 public:
  WriterImpl(std::weak_ptr<Connection> connection, std::shared_ptr<Gate> gate, uint64_t id)
      : channel_(std::make_shared<Channel>(std::move(connection), std::move(gate))), id_(id) {}
  ~WriterImpl() override;

  void Send(Response response) override;
  void StartStream(int status, Headers headers) override;
  bool Write(std::string chunk) override;
  void End() override;
  bool Closed() const override { return closed_.load(std::memory_order_acquire); }
  void OnClose(std::function<void()> callback) override;
  void Post(std::function<void()> fn) override { channel_->EnqueuePost(std::move(fn)); }

  void MarkClosed() { closed_.store(true, std::memory_order_release); }
  bool answered() const { return phase_.load() != kFresh; }

 private:
  enum Phase : int { kFresh, kSent, kStreaming, kEnded };

  // Runs fn(Connection&) on the connection's thread, in call order, if the connection
  // still exists.
  template <typename Fn>
  void OnConnection(Fn&& fn) {
    channel_->Enqueue(std::forward<Fn>(fn));
  }

  std::shared_ptr<Channel> channel_;
  const uint64_t id_;
  std::atomic<int> phase_{kFresh};
  std::atomic<bool> closed_{false};
};

// One accepted socket. Lives on one worker thread; every method runs there.
class Connection : public std::enable_shared_from_this<Connection> {
  friend class Channel;  // Drain brackets its ops with BeginBatch/EndBatch

 public:
  Connection(tcp::socket socket, Worker& worker, const ServerOptions& options,
             const Handler& handler)
      : socket_(std::move(socket)),
        worker_(worker),
        options_(options),
        handler_(handler),
        timer_(socket_.get_executor()),
        parser_(MessageKind::kRequest, LimitsFrom(options)) {
    if (options.tls) tls_ = std::make_unique<TlsSession>(options.tls);
  }

  void Start() {
    asio::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) {
      remote_ = remote.address().is_v6()
                    ? fmt::format("[{}]:{}", remote.address().to_string(), remote.port())
                    : fmt::format("{}:{}", remote.address().to_string(), remote.port());
    }
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);  // reads are read_some after a readiness wait
    UpdateTimer();
    DoRead();
  }

  // Closes the socket and fires the OnClose callbacks. Idempotent.
  void Close() {
    if (closed_) return;
    closed_ = true;
    CancelTimer();
    asio::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    if (auto w = writer_.lock()) w->MarkClosed();
    auto callbacks = std::move(on_close_);
    on_close_.clear();
    for (auto& cb : callbacks) {
      try {
        cb();
      } catch (const std::exception& e) {
        log::Warn("http", "OnClose callback threw: {}", e.what());
      }
    }
    worker_.connections.erase(shared_from_this());
  }

  // --- called (via post) by the writer of request `id` -------------------------------------

  void DoSend(uint64_t id, Response response) {
    if (closed_ || id != writer_id_ || response_done_) return;
    if (auto c = response.headers.Get("Connection"); c && EqualsIgnoreCase(*c, "close")) {
      keep_alive_ = false;
    }
    if (!keep_alive_) {
      response.headers.Set("Connection", "close");
    } else if (version_minor_ == 0) {
      response.headers.Set("Connection", "keep-alive");  // HTTP/1.0 closes unless told
    }
    Queue(Serialize(response, head_request_));
    response_done_ = true;
    Flush();
  }

  void DoStartStream(uint64_t id, int status, Headers headers) {
    if (closed_ || id != writer_id_ || response_done_) return;
    headers.Remove("Content-Length");
    headers.Remove("Transfer-Encoding");
    raw_stream_ = version_minor_ == 0;  // HTTP/1.0 has no chunked coding: body until close
    if (raw_stream_) keep_alive_ = false;
    if (!keep_alive_) headers.Set("Connection", "close");
    std::string head = fmt::format("HTTP/1.1 {} {}\r\n", status, ReasonPhrase(status));
    for (const auto& f : headers.fields())
      head.append(f.name).append(": ").append(f.value).append("\r\n");
    if (!raw_stream_) head.append("Transfer-Encoding: chunked\r\n");
    head.append("\r\n");
    Queue(std::move(head));
    streaming_ = true;
    if (head_request_) response_done_ = true;  // a HEAD gets the head only
    Flush();
  }

  void DoWrite(uint64_t id, std::string chunk) {
    if (closed_ || id != writer_id_ || !streaming_ || response_done_ || chunk.empty()) return;
    if (raw_stream_) {
      Queue(std::move(chunk));
    } else {
      Queue(fmt::format("{:x}\r\n", chunk.size()));
      Queue(std::move(chunk));
      Queue(std::string("\r\n"));
    }
    Flush();
  }

  void DoEnd(uint64_t id) {
    if (closed_ || id != writer_id_ || !streaming_ || response_done_) return;
    if (!raw_stream_) Queue(std::string("0\r\n\r\n"));
    response_done_ = true;
    Flush();
  }

  // The writer went away mid-stream or without answering.
  void DoAbandon(uint64_t id, bool answered) {
    if (closed_ || id != writer_id_ || response_done_) return;
    if (!answered) {
      DoSend(id, ErrorResponse(500, "handler returned without a response"));
    } else {
      // A stream without its last chunk: deliver what is queued, then close, so that the
      // client sees the stream cut rather than ended.
      keep_alive_ = false;
      response_done_ = true;
      Flush();
    }
  }

  void DoOnClose(std::function<void()> callback) {
    if (closed_) {
      callback();
    } else {
      on_close_.push_back(std::move(callback));
    }
  }

 private:
  static ParserLimits LimitsFrom(const ServerOptions& o) {
    ParserLimits l;
    l.max_request_line_bytes = o.max_request_line_bytes;
    l.max_header_bytes = o.max_header_bytes;
    l.max_headers = o.max_headers;
    l.max_body_bytes = o.max_body_bytes;
    return l;
  }

  // Waits for the socket to be readable, then reads into the worker's scratch buffer (no
  // buffer is held while waiting). Epoll is edge-triggered in Asio, so a wait is only
  // started once a read came back short (the socket was drained); otherwise the next read
  // is tried at once.
  void DoRead() {
    if (closed_ || reading_) return;
    if (busy_ && pending_.size() >= kMaxBufferedWhileBusy) return;  // resumes after the response
    reading_ = true;
    if (maybe_more_) {
      asio::post(socket_.get_executor(),
                 [self = shared_from_this()] { self->OnReadable(asio::error_code()); });
      return;
    }
    socket_.async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this()](const asio::error_code& ec) { self->OnReadable(ec); });
  }

  void OnReadable(const asio::error_code& ec) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      Close();
      return;
    }
    std::vector<char>& scratch = worker_.scratch;
    for (;;) {
      asio::error_code rec;
      size_t n = socket_.read_some(asio::buffer(scratch), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) {
        maybe_more_ = false;
        break;
      }
      if (rec) {
        Close();
        return;
      }
      maybe_more_ = n == scratch.size();
      OnSocketBytes(std::string_view(scratch.data(), n));
      if (closed_) return;
      if (!maybe_more_ || (busy_ && pending_.size() >= kMaxBufferedWhileBusy)) break;
    }
    // (An error answer may have been written and finished already: keep its linger timer.)
    if (!busy_ && !draining_) UpdateTimer();
    DoRead();
  }

  // Bytes from the socket: through TLS when the server terminates it.
  void OnSocketBytes(std::string_view in) {
    if (!tls_) return OnBytes(in);
    std::string plain, out;
    auto fed = tls_->Feed(in, &plain, &out);
    if (!out.empty()) {
      QueueRaw(std::move(out));
      Flush();
      if (closed_) return;
    }
    if (!fed) {
      log::Debug("http", "{}: {}", remote_, fed.error().message);
      Close();
      return;
    }
    if (!plain.empty()) OnBytes(plain);
  }

  void OnBytes(std::string_view in) {
    if (draining_) return;  // after an error answer: discard until the peer closes
    if (busy_ || !pending_.empty()) {
      pending_.append(in);
      if (!busy_) ProcessPending();
      return;
    }
    std::string_view rest = ProcessInput(in);
    if (!closed_ && !draining_ && !rest.empty()) pending_.assign(rest);
  }

  // Parses the kept bytes; keeps what is left (a request after the one just dispatched).
  void ProcessPending() {
    if (pending_.empty()) return;
    std::string_view rest = ProcessInput(pending_);
    if (closed_ || draining_) {
      ReleasePending();
      return;
    }
    pending_.erase(0, pending_.size() - rest.size());
    if (pending_.empty()) ReleasePending();
  }

  void ReleasePending() { std::string().swap(pending_); }

  // Parses `in` until a request is complete (then dispatches) or more bytes are needed;
  // returns the bytes not consumed (the start of a pipelined request, while busy).
  std::string_view ProcessInput(std::string_view in) {
    while (!busy_ && !closed_) {
      auto step = parser_.Feed(in);
      if (!step) {
        SendError(step.error().status, step.error().message);
        return {};
      }
      in.remove_prefix(step->consumed);
      switch (step->event) {
        case ParseEvent::kNeedMore:
          return in;  // empty: the parser keeps partial heads itself
        case ParseEvent::kHead: {
          const MessageHead& head = parser_.head();
          request_ = Request{};
          if (auto ok = FillRequest(head, &request_); !ok) {
            SendError(ok.error().status, ok.error().message);
            return {};
          }
          header_timer_armed_ = false;
          if (head.expect_continue && head.framing != BodyFraming::kNone &&
              !(head.framing == BodyFraming::kContentLength && head.content_length == 0)) {
            Queue(std::string("HTTP/1.1 100 Continue\r\n\r\n"));
            Flush();
          }
          break;
        }
        case ParseEvent::kBody:
          request_.body.append(step->body);
          break;
        case ParseEvent::kComplete:
          Dispatch();
          break;
      }
    }
    return in;
  }

  void Dispatch() {
    const MessageHead& head = parser_.head();
    busy_ = true;
    keep_alive_ = head.keep_alive;
    head_request_ = head.method == "HEAD";
    version_minor_ = head.version_minor;
    streaming_ = false;
    raw_stream_ = false;
    response_done_ = false;
    CancelTimer();
    request_.remote_address = remote_;
    auto writer = std::make_shared<WriterImpl>(weak_from_this(), worker_.gate, ++writer_id_);
    writer_ = writer;
    try {
      handler_(std::move(request_), writer);
    } catch (const std::exception& e) {
      log::Error("http", "handler threw: {}", e.what());
      if (!writer->answered()) writer->Send(ErrorResponse(500, "internal error"));
    }
  }

  void SendError(int status, std::string_view message) {
    log::Debug("http", "{}: answering {}: {}", remote_, status, message);
    busy_ = true;
    keep_alive_ = false;
    head_request_ = false;
    response_done_ = true;
    error_close_ = true;
    ++writer_id_;  // any writer of an earlier request is no longer current
    CancelTimer();
    Queue(Serialize(ErrorResponse(status, message)));
    Flush();
  }

  // Queues response bytes (encrypted first when the server terminates TLS).
  void Queue(std::string bytes) {
    if (tls_) {
      std::string records;
      if (auto ok = tls_->Encrypt(bytes, &records); !ok) {
        log::Warn("http", "{}: {}", remote_, ok.error().message);
        Close();
        return;
      }
      bytes = std::move(records);
    }
    QueueRaw(std::move(bytes));
  }

  void QueueRaw(std::string bytes) {
    queued_bytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    if (queued_bytes_ > kMaxQueuedBytes) {
      log::Warn("http", "{}: client too slow, {} bytes queued; closing", remote_, queued_bytes_);
      Close();
    }
  }

  // Ops drained together (several chunks of one stream) are written together: Flush waits
  // for the end of the batch.
  void BeginBatch() { ++batch_depth_; }
  void EndBatch() {
    if (--batch_depth_ == 0 && flush_wanted_) {
      flush_wanted_ = false;
      Flush();
    }
  }

  void Flush() {
    if (batch_depth_ > 0) {
      flush_wanted_ = true;
      return;
    }
    if (closed_ || writing_) return;
    if (!queue_.empty()) WriteNow();
    if (closed_) return;
    if (queue_.empty()) {
      if (response_done_) FinishResponse();
      return;
    }
    writing_ = true;
    in_write_.clear();
    in_write_.swap(queue_);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(in_write_.size());
    for (const auto& s : in_write_) buffers.push_back(asio::buffer(s));
    asio::async_write(socket_, buffers,
                      [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                        self->OnWritten(ec, n);
                      });
  }

  // One non-blocking gather write of what is queued: most responses and stream chunks fit the
  // socket buffer, and then no asynchronous operation (allocation, reactor registration,
  // completion handler) is needed at all. What is left stays queued.
  void WriteNow() {
    constexpr size_t kMaxBuffers = 64;
    std::array<asio::const_buffer, kMaxBuffers> buffers;
    size_t count = std::min(queue_.size(), kMaxBuffers);
    for (size_t i = 0; i < count; ++i) buffers[i] = asio::buffer(queue_[i]);
    asio::error_code ec;
    // One sendmsg over every buffer.
    size_t n = socket_.write_some(std::span<const asio::const_buffer>(buffers.data(), count), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return;
    if (ec) {
      Close();
      return;
    }
    queued_bytes_ -= std::min(queued_bytes_, n);
    size_t done = 0;
    while (done < queue_.size() && n >= queue_[done].size()) n -= queue_[done++].size();
    if (done < queue_.size() && n > 0) queue_[done].erase(0, n);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(done));
  }

  void OnWritten(const asio::error_code& ec, size_t n) {
    writing_ = false;
    queued_bytes_ -= std::min(queued_bytes_, n);
    in_write_.clear();
    if (closed_) return;
    if (ec) {
      Close();
      return;
    }
    Flush();
  }

  // The whole response is on the wire: next request, or close.
  void FinishResponse() {
    response_done_ = false;
    busy_ = false;
    streaming_ = false;
    writer_.reset();
    if (error_close_) {
      // Lingering close: stop sending, read and drop what the client still sends, so that
      // it receives our answer instead of a reset.
      asio::error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
      draining_ = true;
      ReleasePending();
      ArmTimer(kLingerTime);
      DoRead();
      return;
    }
    if (!keep_alive_) {
      Close();
      return;
    }
    ProcessPending();  // pipelined requests already buffered
    if (closed_) return;
    if (!busy_) UpdateTimer();
    DoRead();
  }

  void UpdateTimer() {
    if (parser_.idle()) {
      header_timer_armed_ = false;
      ArmTimer(std::chrono::milliseconds(options_.idle_timeout_ms));
    } else if (parser_.in_head()) {
      if (!header_timer_armed_) {  // one deadline for the whole head: a slowloris guard
        header_timer_armed_ = true;
        ArmTimer(std::chrono::milliseconds(options_.header_timeout_ms));
      }
    } else {
      ArmTimer(std::chrono::milliseconds(options_.idle_timeout_ms));  // body: per read
    }
  }

  template <typename Duration>
  void ArmTimer(Duration d) {
    uint64_t generation = ++timer_generation_;
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), generation](const asio::error_code& ec) {
      if (!ec && generation == self->timer_generation_) self->OnTimeout();
    });
  }

  void CancelTimer() {
    ++timer_generation_;
    timer_.cancel();
  }

  void OnTimeout() {
    if (closed_) return;
    if (draining_ || busy_ || parser_.idle()) {
      Close();
      return;
    }
    SendError(408, parser_.in_head() ? "timed out waiting for the request head"
                                     : "timed out waiting for the request body");
  }

  tcp::socket socket_;
  std::unique_ptr<TlsSession> tls_;  // when the server terminates TLS
  Worker& worker_;
  const ServerOptions& options_;
  const Handler& handler_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  bool header_timer_armed_ = false;
  Parser parser_;
  std::string remote_;

  std::string pending_;      // bytes read but not parsed yet (usually none)
  bool reading_ = false;     // a readiness wait or read is outstanding
  bool maybe_more_ = false;  // the last read filled the scratch buffer: read again first
  bool draining_ = false;

  Request request_;    // being assembled
  bool busy_ = false;  // a request is dispatched and its response not finished
  bool keep_alive_ = true;
  bool head_request_ = false;
  int version_minor_ = 1;
  bool streaming_ = false;
  bool raw_stream_ = false;
  bool response_done_ = false;  // the last byte of the response is queued
  bool error_close_ = false;
  std::weak_ptr<WriterImpl> writer_;
  uint64_t writer_id_ = 0;

  std::vector<std::string> queue_;  // (a vector: an empty deque still allocates ~600 bytes)
  std::vector<std::string> in_write_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  int batch_depth_ = 0;        // inside Channel::Drain
  bool flush_wanted_ = false;  // a Flush was asked for during the batch

  std::vector<std::function<void()>> on_close_;
  bool closed_ = false;
};

void Channel::Drain() {
  std::vector<Op> ops;
  {
    std::lock_guard lock(mu_);
    ops.swap(ops_);
    posted_ = false;
  }
  auto c = connection_.lock();
  if (!c) {
    RunWithout(ops);
    return;
  }
  c->BeginBatch();
  for (auto& op : ops) {
    if (op.posted) {
      op.posted();
    } else if (op.on_close) {
      c->DoOnClose(std::move(op.on_close));
    } else if (op.is_write) {
      c->DoWrite(op.id, std::move(op.chunk));
    } else {
      op.run(*c);
    }
  }
  c->EndBatch();
}

void Gate::Wake() {
  std::vector<std::shared_ptr<Channel>> orphaned;
  {
    std::lock_guard lock(mu);
    if (ctx != nullptr) {
      asio::post(*ctx, [self = shared_from_this()] { self->RunReady(); });
      return;
    }
    // The server stopped since Schedule: nothing will drain these on the worker.
    orphaned.swap(ready);
    scheduled = false;
  }
  for (auto& c : orphaned) c->Orphan();
}

void Gate::RunReady() {
  std::vector<std::shared_ptr<Channel>> channels;
  {
    std::lock_guard lock(mu);
    channels.swap(ready);
    scheduled = false;
  }
  for (auto& c : channels) c->Drain();
}

WriterImpl::~WriterImpl() {
  int phase = phase_.load();
  if (phase == kSent || phase == kEnded) return;
  bool answered = phase == kStreaming;
  uint64_t id = id_;
  OnConnection([id, answered](Connection& c) { c.DoAbandon(id, answered); });
}

void WriterImpl::Send(Response response) {
  int expected = kFresh;
  if (!phase_.compare_exchange_strong(expected, kSent)) {
    log::Warn("http", "ResponseWriter::Send called twice or after StartStream; ignored");
    return;
  }
  uint64_t id = id_;
  OnConnection(
      [id, r = std::move(response)](Connection& c) mutable { c.DoSend(id, std::move(r)); });
}

void WriterImpl::StartStream(int status, Headers headers) {
  int expected = kFresh;
  if (!phase_.compare_exchange_strong(expected, kStreaming)) {
    log::Warn("http", "ResponseWriter::StartStream after a response; ignored");
    return;
  }
  uint64_t id = id_;
  OnConnection([id, status, h = std::move(headers)](Connection& c) mutable {
    c.DoStartStream(id, status, std::move(h));
  });
}

bool WriterImpl::Write(std::string chunk) {
  if (Closed()) return false;
  if (phase_.load() != kStreaming) return !Closed();
  channel_->EnqueueWrite(id_, std::move(chunk));
  return !Closed();
}

void WriterImpl::End() {
  int expected = kStreaming;
  if (!phase_.compare_exchange_strong(expected, kEnded)) return;
  uint64_t id = id_;
  OnConnection([id](Connection& c) { c.DoEnd(id); });
}

void WriterImpl::OnClose(std::function<void()> callback) {
  channel_->EnqueueOnClose(std::move(callback));
}

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {
    int n = options_.threads < 1 ? 1 : options_.threads;
    for (int i = 0; i < n; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      workers_.back()->gate->ctx = &workers_.back()->ctx;
    }
    acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->ctx);
  }

  ~ServerImpl() override { Stop(); }

  Result<void> Bind() {
    auto endpoint = ParseAddress(options_.address);
    if (!endpoint) return std::unexpected(endpoint.error());
    asio::error_code ec;
    acceptor_->open(endpoint->protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(*endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("http: listen on {}: {}", options_.address, ec.message()));
    }
    auto local = acceptor_->local_endpoint(ec);
    port_ = local.port();
    std::string host = local.address().to_string();
    address_ = local.address().is_v6() ? fmt::format("[{}]:{}", host, port_)
                                       : fmt::format("{}:{}", host, port_);
    return {};
  }

  void Start() override {
    std::lock_guard lock(mu_);
    if (started_ || stopped_) return;
    started_ = true;
    Accept();
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->thread = std::thread([worker] {
        try {
          worker->ctx.run();
        } catch (const std::exception& e) {
          log::Error("http", "worker loop threw: {}", e.what());
        }
      });
    }
  }

  void Stop() override {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (started_) {
      asio::post(workers_[0]->ctx, [this] {
        asio::error_code ec;
        acceptor_->close(ec);
      });
      // Close every connection, then let each loop run dry: writer calls already queued
      // (OnClose registrations among them) still run, against closed connections.
      for (auto& w : workers_) {
        Worker* worker = w.get();
        asio::post(worker->ctx, [worker] {
          auto connections = worker->connections;  // Close() erases from the set
          for (const auto& c : connections) c->Close();
          worker->guard.reset();
        });
      }
      for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
      }
    } else {
      asio::error_code ec;
      acceptor_->close(ec);
    }
    // From now on writers' calls are dropped; run what slipped in before the gate shut.
    for (auto& w : workers_) {
      {
        std::lock_guard gate_lock(w->gate->mu);
        w->gate->ctx = nullptr;
      }
      w->ctx.restart();
      w->ctx.poll();
      w->connections.clear();
    }
  }

  std::string address() const override { return address_; }
  uint16_t port() const override { return port_; }

 private:
  void Accept() {
    Worker& target = *workers_[next_worker_++ % workers_.size()];
    acceptor_->async_accept(
        target.ctx, [this, &target](const asio::error_code& ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !acceptor_->is_open() || stopping_) return;
          if (ec) {
            log::Warn("http", "accept on {}: {}", address_, ec.message());
            // Out of descriptors and the like: back off briefly instead of spinning.
            auto timer = std::make_shared<asio::steady_timer>(workers_[0]->ctx,
                                                              std::chrono::milliseconds(50));
            timer->async_wait([this, timer](const asio::error_code& e) {
              if (!e && acceptor_->is_open()) Accept();
            });
            return;
          }
          asio::post(target.ctx, [this, &target, s = std::move(socket)]() mutable {
            if (stopping_) return;  // the socket closes as the lambda dies
            auto c = std::make_shared<Connection>(std::move(s), target, options_, handler_);
            target.connections.insert(c);
            c->Start();
          });
          Accept();
        });
  }

  const ServerOptions options_;
  const Handler handler_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  size_t next_worker_ = 0;  // accept handler only
  std::string address_;
  uint16_t port_ = 0;
  std::mutex mu_;  // guards started_, stopped_ (Start/Stop)
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Listen(ServerOptions options, Handler handler) {
  auto server = std::make_unique<ServerImpl>(std::move(options), std::move(handler));
  if (auto ok = server->Bind(); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace berth::http
