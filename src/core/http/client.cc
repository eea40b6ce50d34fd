#include "core/http/client.h"

#include <fmt/core.h>
#include <openssl/ssl.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <optional>

#include "core/http/failover_client.h"
#include "core/http/parser.h"

namespace berth::http {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 80;
  std::string target = "/";  // path and query
};

Result<Url> ParseUrl(std::string_view url) {
  Url u;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("url \"{}\" has no scheme", url));
  }
  std::string_view scheme = url.substr(0, scheme_end);
  if (EqualsIgnoreCase(scheme, "https")) {
    u.tls = true;
    u.port = 443;
  } else if (!EqualsIgnoreCase(scheme, "http")) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url \"{}\": scheme must be http or https", url));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  if (path_start != std::string_view::npos) {
    u.target = std::string(rest.substr(path_start));
    if (u.target[0] == '?') u.target = "/" + u.target;
  }
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("url \"{}\": bad IPv6 host", url));
    }
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("url \"{}\": bad authority", url));
      }
      port = authority.substr(close + 2);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty())
    return Fail(ErrorCode::kInvalidArgument, fmt::format("url \"{}\" has no host", url));
  u.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("url \"{}\": bad port", url));
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("url \"{}\": bad port", url));
    }
    u.port = static_cast<uint16_t>(value);
  }
  return u;
}

class ClientImpl final : public Client {
 public:
  ClientImpl(Url url, ClientOptions options) : url_(std::move(url)), options_(std::move(options)) {
    host_header_ = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    if (url_.port != (url_.tls ? 443 : 80)) host_header_ += ":" + std::to_string(url_.port);
  }

  Result<void> Init() {
    if (!url_.tls) return {};
    ssl_ctx_.emplace(asio::ssl::context::tls_client);
    asio::error_code ec;
    ssl_ctx_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                              asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                              asio::ssl::context::no_tlsv1_1,
                          ec);
    ssl_ctx_->set_default_verify_paths(ec);
    if (!options_.tls_ca_file.empty()) {
      ssl_ctx_->load_verify_file(options_.tls_ca_file, ec);
      if (ec) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("http client: CA file {}: {}", options_.tls_ca_file, ec.message()));
      }
    }
    if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "http client: a client certificate needs both a certificate and a key file");
    }
    if (!options_.tls_cert_file.empty()) {
      ssl_ctx_->use_certificate_chain_file(options_.tls_cert_file, ec);
      if (!ec) ssl_ctx_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
      if (ec) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("http client: client certificate {} / key {}: {}",
                                options_.tls_cert_file, options_.tls_key_file, ec.message()));
      }
    }
    if (options_.tls_verify) {
      ssl_ctx_->set_verify_mode(asio::ssl::verify_peer);
      ssl_ctx_->set_verify_callback(asio::ssl::host_name_verification(url_.host));
    } else {
      ssl_ctx_->set_verify_mode(asio::ssl::verify_none);
    }
    return {};
  }

  Result<Response> Send(const Request& request) override {
    Response response;
    auto ok = Exchange(
        request, /*streaming=*/false,
        [&](const MessageHead& head) { FillResponse(head, &response); },
        [&](std::string_view data) {
          response.body.append(data);
          return true;
        });
    if (!ok) return std::unexpected(ok.error());
    return response;
  }

  Result<void> Stream(const Request& request,
                      const std::function<void(const Response& head)>& on_head,
                      const std::function<bool(std::string_view data)>& on_data) override {
    return Exchange(
        request, /*streaming=*/true,
        [&](const MessageHead& head) {
          Response r;
          FillResponse(head, &r);
          if (on_head) on_head(r);
        },
        [&](std::string_view data) { return on_data ? on_data(data) : true; });
  }

  bool last_request_sent() const override { return sent_; }

  void Shutdown() override {
    shutdown_.store(true);
    asio::post(ctx_, [this] { CloseSocket(); });
  }

 private:
  template <typename OnHead, typename OnData>
  Result<void> Exchange(const Request& request, bool streaming, OnHead&& on_head,
                        OnData&& on_data) {
    if (shutdown_.load()) return Fail(ErrorCode::kUnavailable, "http client: shut down");
    Request req = request;
    if (req.method.empty()) req.method = "GET";
    if (!req.headers.Has("Host")) req.headers.Add("Host", host_header_);
    std::string wire = Serialize(req);

    // sent_ stays true once any attempt wrote the request: a server that read it and died may
    // have acted on it, whatever the retry below finds.
    sent_ = false;
    for (int attempt = 0;; ++attempt) {
      deadline_ = Clock::now() + options_.timeout;
      bool reused = connected_;
      if (!connected_) {
        if (auto ok = Connect(); !ok) return ok;
      }
      received_any_ = false;
      sent_ = true;
      auto ok = WriteAll(wire);
      if (ok) ok = ReadResponse(req.method, streaming, on_head, on_data);
      if (ok) return ok;
      // A kept-alive connection that the server closed while idle: retry once, fresh.
      if (reused && attempt == 0 && !received_any_ && !shutdown_.load() &&
          ok.error().code == ErrorCode::kUnavailable) {
        CloseSocket();
        continue;
      }
      return ok;
    }
  }

  Result<void> Connect() {
    CloseSocket();
    auto deadline = Clock::now() + options_.connect_timeout;
    if (deadline > deadline_) deadline = deadline_;
    tcp::resolver resolver(ctx_);
    tcp::resolver::results_type endpoints;
    asio::error_code ec;
    bool done = false;
    resolver.async_resolve(url_.host, std::to_string(url_.port),
                           [&](const asio::error_code& e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    if (!RunUntil(done, deadline, [&] { resolver.cancel(); })) {
      return Fail(ErrorCode::kDeadlineExceeded,
                  fmt::format("http client: resolving {} timed out", url_.host));
    }
    if (ec) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("http client: resolve {}: {}", url_.host, ec.message()));
    }
    tls_.reset();  // it refers to the old socket
    socket_.emplace(ctx_);
    done = false;
    asio::async_connect(*socket_, endpoints, [&](const asio::error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!RunUntil(done, deadline, [&] { CloseSocket(); })) {
      return Fail(ErrorCode::kDeadlineExceeded,
                  fmt::format("http client: connect to {}:{} timed out", url_.host, url_.port));
    }
    if (ec || shutdown_.load()) {
      CloseSocket();
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("http client: connect to {}:{}: {}", url_.host, url_.port,
                              shutdown_ ? "shut down" : ec.message()));
    }
    socket_->set_option(tcp::no_delay(true), ec);
    if (url_.tls) {
      tls_.emplace(*socket_, *ssl_ctx_);
      // SNI, unless the host is an IP address.
      asio::error_code ip_ec;
      asio::ip::make_address(url_.host, ip_ec);
      if (ip_ec) SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str());
      done = false;
      tls_->async_handshake(asio::ssl::stream_base::client, [&](const asio::error_code& e) {
        ec = e;
        done = true;
      });
      if (!RunUntil(done, deadline, [&] { CloseSocket(); })) {
        return Fail(ErrorCode::kDeadlineExceeded,
                    fmt::format("http client: TLS handshake with {} timed out", url_.host));
      }
      if (ec) {
        CloseSocket();
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("http client: TLS handshake with {}:{}: {}", url_.host, url_.port,
                                ec.message()));
      }
    }
    connected_ = true;
    buffer_.clear();
    return {};
  }

  Result<void> WriteAll(const std::string& wire) {
    asio::error_code ec;
    bool done = false;
    auto handler = [&](const asio::error_code& e, size_t) {
      ec = e;
      done = true;
    };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(wire), handler);
    } else {
      asio::async_write(*socket_, asio::buffer(wire), handler);
    }
    if (!RunUntil(done, deadline_, [&] { CloseSocket(); })) {
      return Fail(ErrorCode::kDeadlineExceeded, "http client: request timed out while sending");
    }
    if (ec || shutdown_.load()) {
      CloseSocket();
      return Fail(ErrorCode::kUnavailable, fmt::format("http client: send to {}: {}", url_.host,
                                                       shutdown_ ? "shut down" : ec.message()));
    }
    return {};
  }

  // Reads into buffer_; returns 0 bytes on EOF. Errors are unavailable/deadline.
  Result<size_t> ReadSome() {
    char chunk[16 * 1024];
    asio::error_code ec;
    size_t n = 0;
    bool done = false;
    auto handler = [&](const asio::error_code& e, size_t got) {
      ec = e;
      n = got;
      done = true;
    };
    if (tls_) {
      tls_->async_read_some(asio::buffer(chunk), handler);
    } else {
      socket_->async_read_some(asio::buffer(chunk), handler);
    }
    if (!RunUntil(done, deadline_, [&] { CloseSocket(); })) {
      return Fail(ErrorCode::kDeadlineExceeded,
                  fmt::format("http client: response from {} timed out", url_.host));
    }
    if (shutdown_.load()) return Fail(ErrorCode::kUnavailable, "http client: shut down");
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return size_t{0};
    if (ec) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("http client: read from {}: {}", url_.host, ec.message()));
    }
    buffer_.append(chunk, n);
    return n;
  }

  template <typename OnHead, typename OnData>
  Result<void> ReadResponse(const std::string& method, bool streaming, OnHead& on_head,
                            OnData& on_data) {
    ParserLimits limits;
    limits.max_body_bytes = options_.max_response_bytes;
    limits.max_header_bytes = 256 * 1024;
    limits.max_headers = 1000;
    Parser parser(MessageKind::kResponse, limits);
    parser.SetRequestMethod(method);
    bool stopped = false;
    for (;;) {
      std::string_view in(buffer_);
      bool need_more = false;
      while (!need_more) {
        auto step = parser.Feed(in);
        if (!step) {
          CloseSocket();
          return Fail(ErrorCode::kUnavailable, fmt::format("http client: bad response from {}: {}",
                                                           url_.host, step.error().message));
        }
        in.remove_prefix(step->consumed);
        switch (step->event) {
          case ParseEvent::kNeedMore:
            need_more = true;
            break;
          case ParseEvent::kHead:
            if (parser.head().status >= 100 && parser.head().status < 200 &&
                parser.head().status != 101) {
              break;  // interim response: the real one follows
            }
            on_head(parser.head());
            break;
          case ParseEvent::kBody:
            if (!on_data(step->body)) stopped = true;
            break;
          case ParseEvent::kComplete: {
            int status = parser.head().status;
            if (status >= 100 && status < 200 && status != 101) break;
            bool keep = parser.head().keep_alive && status != 101;
            buffer_.erase(0, buffer_.size() - in.size());
            if (!keep) CloseSocket();
            return {};
          }
        }
        if (stopped) {
          CloseSocket();  // the rest of the stream is unwanted; the connection is spent
          return {};
        }
      }
      buffer_.clear();
      if (streaming) deadline_ = Clock::now() + options_.timeout;  // between pieces
      auto n = ReadSome();
      if (!n) return std::unexpected(n.error());
      if (*n == 0) {
        auto fin = parser.Finish();
        if (fin && fin->event == ParseEvent::kComplete) {
          CloseSocket();
          return {};
        }
        CloseSocket();
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("http client: {} closed the connection {}", url_.host,
                                received_any_ ? "mid-response" : "before responding"));
      }
      received_any_ = true;
    }
  }

  // Runs the loop until `done` or the deadline; on the deadline calls cancel() and drains.
  template <typename Cancel>
  bool RunUntil(bool& done, Clock::time_point deadline, Cancel&& cancel) {
    ctx_.restart();
    while (!done) {
      auto now = Clock::now();
      if (now >= deadline) {
        cancel();
        ctx_.restart();
        while (!done) ctx_.run_one();  // let the cancelled operation complete
        return false;
      }
      ctx_.run_one_for(deadline - now);
    }
    return true;
  }

  void CloseSocket() {
    connected_ = false;
    asio::error_code ec;
    if (socket_) {
      socket_->shutdown(tcp::socket::shutdown_both, ec);
      socket_->close(ec);
    }
  }

  Url url_;
  ClientOptions options_;
  std::string host_header_;
  asio::io_context ctx_{1};
  std::optional<asio::ssl::context> ssl_ctx_;
  std::optional<tcp::socket> socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  std::string buffer_;  // bytes read but not parsed
  bool connected_ = false;
  bool received_any_ = false;
  bool sent_ = false;  // see last_request_sent
  Clock::time_point deadline_;
  std::atomic<bool> shutdown_{false};
};

}  // namespace

namespace {

// A list of servers ("a:1,b:2", "http://a:1,http://b:2") has a comma in its first
// authority; a comma after it (in a path or query: "?topics=apps,nodes") belongs to one URL.
bool IsServerList(std::string_view base) {
  size_t start = base.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  const size_t end = base.find_first_of("/?#", start);
  return base.substr(start, end == std::string_view::npos ? end : end - start).find(',') !=
         std::string_view::npos;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(std::string_view base, ClientOptions options) {
  if (IsServerList(base)) return CreateFailoverClient(base, options);
  auto url = ParseUrl(base);
  if (!url) return std::unexpected(url.error());
  auto client = std::make_unique<ClientImpl>(std::move(*url), std::move(options));
  if (auto ok = client->Init(); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<Client>(std::move(client));
}

Result<Response> FetchFrom(std::string_view base, std::string_view method, std::string_view target,
                           std::string body, Headers headers, ClientOptions options) {
  auto client = Client::Create(base, std::move(options));
  if (!client) return std::unexpected(client.error());
  Request request;
  request.method = std::string(method);
  request.target = std::string(target);
  request.headers = std::move(headers);
  request.body = std::move(body);
  return (*client)->Send(request);
}

std::string WithSchemes(std::string_view bases) {
  std::string out;
  for (size_t start = 0; start <= bases.size();) {
    size_t comma = std::min(bases.find(',', start), bases.size());
    std::string one(bases.substr(start, comma - start));
    if (!one.starts_with("http://") && !one.starts_with("https://")) one = "http://" + one;
    while (one.ends_with("/")) one.pop_back();
    out += (out.empty() ? "" : ",") + one;
    start = comma + 1;
  }
  return out;
}

bool IdempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

Result<Response> Fetch(std::string_view method, std::string_view url, std::string body,
                       Headers headers, ClientOptions options) {
  auto parsed = ParseUrl(url);
  if (!parsed) return std::unexpected(parsed.error());
  auto client = Client::Create(url, std::move(options));
  if (!client) return std::unexpected(client.error());
  Request request;
  request.method = std::string(method);
  request.target = parsed->target;
  request.headers = std::move(headers);
  request.body = std::move(body);
  return (*client)->Send(request);
}

}  // namespace berth::http
