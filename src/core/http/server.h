// HTTP/1.1 server for the control plane (REST API, UI, metrics): Asio, one io_context per
// worker thread, keep-alive, content-length and chunked request bodies, strict parsing with
// limits, and streamed (chunked) responses for watches and live tails.
//
// Handlers are plain functions called on the connection's worker thread; they answer through
// a ResponseWriter, at once (Send) or later and in pieces (StartStream/Write/End) from any
// thread. The gateway's data plane has its own proxy loop; it shares only the parser.
// Thread-safety: Start/Stop from one thread; ResponseWriter methods from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/http/message.h"

namespace berth::http {

class TlsServerContext;

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Sends a complete response (Content-Length set by the server). Once per request.
  virtual void Send(Response response) = 0;
  // Starts a chunked response; then Write any number of times, then End.
  virtual void StartStream(int status, Headers headers) = 0;
  // Queues one chunk; returns false once the client has gone (stop producing then).
  // Empty chunks are skipped. A client that lets 64 MiB pile up unread is disconnected.
  virtual bool Write(std::string chunk) = 0;
  virtual void End() = 0;
  // True once the connection is closed by the peer or the server.
  virtual bool Closed() const = 0;
  // Called once, on the worker thread, when the connection closes (for cancelling watches).
  // It runs at once when the connection is already closed, and also when Stop() closes it
  // (registered after Stop(), it runs on the caller's thread).
  // It belongs to the connection: after a response ends on a kept-alive connection it still
  // waits for that connection to close.
  virtual void OnClose(std::function<void()> callback) = 0;
  // Runs `fn` on this connection's worker thread, in order with this writer's other calls;
  // also when the connection has closed meanwhile (on the worker), or on the calling thread
  // once the server has stopped. For the work of answering a request that completed on some
  // other thread (the store's publisher answering a group commit): formatting the answer and
  // sending it then runs on the workers, in parallel, instead of one after another there.
  // The default runs `fn` at once (writers that are not a connection).
  virtual void Post(std::function<void()> fn) { fn(); }
};

using Handler = std::function<void(Request&& request, std::shared_ptr<ResponseWriter> writer)>;

struct ServerOptions {
  std::string address = "127.0.0.1:7700";  // host:port; port 0 picks a free one
  int threads = 1;
  size_t max_request_line_bytes = 8 * 1024;  // longer: 414
  size_t max_header_bytes = 64 * 1024;       // longer: 431
  size_t max_headers = 100;                  // more: 431
  size_t max_body_bytes = 4 * 1024 * 1024;   // larger: 413
  int idle_timeout_ms = 60'000;              // keep-alive idle close
  int header_timeout_ms = 10'000;            // slowloris guard
  // Terminates TLS with this context (core/http/tls.h); null: plain HTTP.
  std::shared_ptr<const TlsServerContext> tls;
};

class Server {
 public:
  // Binds and listens at once (so the caller learns the port); serves after Start.
  static Result<std::unique_ptr<Server>> Listen(ServerOptions options, Handler handler);
  virtual ~Server() = default;
  // Starts the worker threads; returns immediately.
  virtual void Start() = 0;
  // Stops accepting, closes connections, joins the workers. Idempotent. Not from a handler
  // (it would join its own thread). Writers that outlive the server become inert.
  virtual void Stop() = 0;
  // The bound "host:port".
  virtual std::string address() const = 0;
  virtual uint16_t port() const = 0;
};

}  // namespace berth::http
