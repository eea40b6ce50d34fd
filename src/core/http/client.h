// Blocking HTTP/1.1 client over one keep-alive connection (plain TCP; TLS where the
// scheme is https). For the CLI, the node agent, tests, the image puller. It reconnects
// once on a connection that the server closed while idle.
//
// Several servers of one service: a base of comma-separated URLs
// ("https://a:7700,https://b:7700,https://c:7700") makes a client that sends each request to
// the server that answered last and fails over to the next one when a server cannot be
// reached, or, for an idempotent method (GET HEAD PUT DELETE OPTIONS), when the connection
// broke after sending or the server answered 503. A POST that may have reached a server is
// never sent again: its error says the outcome is unknown.
// Thread-safety: one Client per thread; it is not safe to share.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/http/message.h"

namespace berth::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{30000};  // per request, whole exchange
  size_t max_response_bytes = 256 * 1024 * 1024;
  bool tls_verify = true;
  std::string tls_ca_file;  // extra CA bundle; empty: system default
  // Client certificate and key (PEM) for servers that ask for one; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class Client {
 public:
  // `base` is "http://host:port" or "https://host:port" (path ignored).
  static Result<std::unique_ptr<Client>> Create(std::string_view base, ClientOptions options = {});
  virtual ~Client() = default;

  // Sends `request` (Host and Content-Length filled in) and reads the whole response.
  virtual Result<Response> Send(const Request& request) = 0;

  // Sends `request` and delivers the response body as it arrives (chunked or not):
  // `on_head` once with status and headers, then `on_data` per piece. Return false from
  // `on_data` to stop early. Used for watch streams and large downloads. The timeout
  // applies between pieces, not to the whole stream.
  virtual Result<void> Stream(const Request& request,
                              const std::function<void(const Response& head)>& on_head,
                              const std::function<bool(std::string_view data)>& on_data) = 0;

  // Closes the connection from another thread, making a blocked Stream/Send return.
  virtual void Shutdown() = 0;

  // Whether the last Send/Stream wrote any of its request to a server (false: it failed
  // before, e.g. connecting, and may go elsewhere whatever its method).
  virtual bool last_request_sent() const = 0;
};

// A base (or comma-separated bases) as given by a user: each bare "host:port" gets http://, and
// trailing slashes go ("a:7700,https://b:7700/" -> "http://a:7700,https://b:7700").
std::string WithSchemes(std::string_view bases);

// Whether HTTP says repeating `method` has the effect of sending it once (RFC 9110 9.2.2).
bool IdempotentMethod(std::string_view method);

// One request with `target` ("/path?q") on a fresh client for `base`: one base URL, or a
// comma-separated list of them that fails over (see above).
Result<Response> FetchFrom(std::string_view base, std::string_view method, std::string_view target,
                           std::string body = {}, Headers headers = {}, ClientOptions options = {});

// Convenience: one request on a fresh client. `url` is absolute ("http://h:p/path?q").
Result<Response> Fetch(std::string_view method, std::string_view url, std::string body = {},
                       Headers headers = {}, ClientOptions options = {});

}  // namespace berth::http
