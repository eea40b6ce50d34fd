#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>
#include <memory>

#include <fmt/core.h>

#include "registry/health/probe.h"

namespace berth::registry::health {
namespace {

struct Target {
  std::string host;
  std::string port;
  std::string path = "/";
};

bool SplitHostPort(std::string_view hp, std::string_view default_port, Target& t) {
  if (hp.empty()) return false;
  if (hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return false;
    t.host = hp.substr(1, close - 1);
    auto rest = hp.substr(close + 1);
    if (rest.empty()) {
      t.port = default_port;
    } else if (rest.front() == ':') {
      t.port = rest.substr(1);
    } else {
      return false;
    }
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string_view::npos) {
      t.host = hp;
      t.port = default_port;
    } else {
      t.host = hp.substr(0, colon);
      t.port = hp.substr(colon + 1);
    }
  }
  return !t.host.empty() && !t.port.empty();
}

// One probe: resolve, connect, (for HTTP) write the request and read the status line,
// all under one deadline timer. Keeps itself alive through the handlers.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::io_context& io, Target target, bool http, std::chrono::milliseconds timeout,
          ProbeDone done)
      : resolver_(io),
        socket_(io),
        timer_(io),
        target_(std::move(target)),
        http_(http),
        timeout_(timeout),
        done_(std::move(done)) {}

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(timeout_);
    timer_.async_wait([self](const asio::error_code& ec) {
      if (ec) return;
      self->Finish({Health::kCritical, fmt::format("timeout after {}ms", self->timeout_.count())});
    });
    asio::error_code ec;
    auto addr = asio::ip::make_address(target_.host, ec);
    if (!ec) {
      int port = std::atoi(target_.port.c_str());
      Connect(asio::ip::tcp::endpoint(addr, static_cast<uint16_t>(port)));
      return;
    }
    resolver_.async_resolve(
        target_.host, target_.port,
        [self](const asio::error_code& ec, asio::ip::tcp::resolver::results_type results) {
          if (self->finished_) return;
          if (ec) return self->Finish({Health::kCritical, "resolve: " + ec.message()});
          self->ConnectAny(results);
        });
  }

 private:
  void Connect(const asio::ip::tcp::endpoint& ep) {
    auto self = shared_from_this();
    socket_.async_connect(ep, [self](const asio::error_code& ec) { self->OnConnect(ec); });
  }
  void ConnectAny(const asio::ip::tcp::resolver::results_type& results) {
    auto self = shared_from_this();
    asio::async_connect(socket_, results,
                        [self](const asio::error_code& ec, const asio::ip::tcp::endpoint&) {
                          self->OnConnect(ec);
                        });
  }
  void OnConnect(const asio::error_code& ec) {
    if (finished_) return;
    if (ec) return Finish({Health::kCritical, "connect: " + ec.message()});
    if (!http_) return Finish({Health::kPassing, "TCP connect ok"});
    request_ = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: berth-health-check\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n",
        target_.path, target_.host, target_.port);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(request_), [self](const asio::error_code& ec, size_t) {
      if (self->finished_) return;
      if (ec) return self->Finish({Health::kCritical, "write: " + ec.message()});
      self->ReadStatus();
    });
  }
  void ReadStatus() {
    auto self = shared_from_this();
    asio::async_read_until(socket_, buf_, "\r\n", [self](const asio::error_code& ec, size_t n) {
      if (self->finished_) return;
      if (ec) {
        return self->Finish({Health::kCritical, "read: " + ec.message()});
      }
      std::string line(asio::buffers_begin(self->buf_.data()),
                       asio::buffers_begin(self->buf_.data()) + n);
      self->OnStatusLine(line);
    });
  }
  void OnStatusLine(std::string_view line) {
    // "HTTP/1.1 200 OK"
    if (!line.starts_with("HTTP/1.") || line.size() < 12 || line[8] != ' ') {
      return Finish({Health::kCritical, "malformed HTTP status line"});
    }
    int code = 0;
    for (int i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9') {
        return Finish({Health::kCritical, "malformed HTTP status code"});
      }
      code = code * 10 + (line[i] - '0');
    }
    Health h = (code >= 200 && code < 400) ? Health::kPassing
               : code == 429               ? Health::kWarning
                                           : Health::kCritical;
    Finish({h, fmt::format("HTTP {}", code)});
  }
  void Finish(ProbeResult r) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    resolver_.cancel();
    asio::error_code ignored;
    socket_.close(ignored);
    auto done = std::move(done_);
    done(std::move(r));
  }

  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  Target target_;
  bool http_;
  std::chrono::milliseconds timeout_;
  ProbeDone done_;
  bool finished_ = false;
  std::string request_;
  asio::streambuf buf_{8192};
};

void FailSoon(asio::io_context& io, std::string why, ProbeDone done) {
  asio::post(io, [why = std::move(why), done = std::move(done)]() {
    done({Health::kCritical, why});
  });
}

}  // namespace

void RunHttpProbe(asio::io_context& io, const std::string& url, std::chrono::milliseconds timeout,
                  ProbeDone done) {
  std::string_view u = url;
  if (u.starts_with("https://")) {
    return FailSoon(io, "https checks are not supported yet", std::move(done));
  }
  if (!u.starts_with("http://")) return FailSoon(io, "not an http:// URL", std::move(done));
  u.remove_prefix(7);
  Target t;
  auto slash = u.find('/');
  if (!SplitHostPort(u.substr(0, slash), "80", t)) {
    return FailSoon(io, "bad host in URL", std::move(done));
  }
  if (slash != std::string_view::npos) t.path = u.substr(slash);
  std::make_shared<Session>(io, std::move(t), true, timeout, std::move(done))->Start();
}

void RunTcpProbe(asio::io_context& io, const std::string& host_port,
                 std::chrono::milliseconds timeout, ProbeDone done) {
  Target t;
  if (!SplitHostPort(host_port, "", t)) return FailSoon(io, "bad host:port", std::move(done));
  std::make_shared<Session>(io, std::move(t), false, timeout, std::move(done))->Start();
}

}  // namespace berth::registry::health
