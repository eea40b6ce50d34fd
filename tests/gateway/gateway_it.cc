// Integration tests of the gateway against real upstream processes on loopback
// (upstream_server.cc), through real sockets: balancing, outlier ejection, retries, live
// route changes, JWT, request smuggling, streaming, WebSocket, limits, drain and reload.
// No timed assertions: waits are upper bounds for "never happened".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/http/parser.h"
#include "gateway/gateway.h"
#include "gateway/router/config.h"
#include "gateway/testing/jwt_signer.h"
#include "harness/harness.h"

namespace berth::gateway {
namespace {

using berth::testing::BinaryPath;
using berth::testing::FreePort;
using berth::testing::Process;
using berth::testing::TempDir;
using berth::testing::WaitFor;
using berth::testing::WaitForTcp;

struct Resp {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool keep_alive = true;
};

// A blocking client connection with a parser, for exact control of the bytes sent.
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Conn() { ::close(fd_); }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response; nullopt when the connection closed or timed out first.
  std::optional<Resp> Read(std::string_view method = "GET", size_t stop_after_body_bytes = 0) {
    http::Parser p(http::MessageKind::kResponse);
    p.SetRequestMethod(method);
    Resp r;
    for (;;) {
      for (;;) {
        auto step = p.Feed(buf_);
        if (!step) return std::nullopt;
        // step->body is a view into buf_: take it before the erase moves the bytes after it
        // (the next pipelined response) to the front.
        if (step->event == http::ParseEvent::kBody) r.body.append(step->body);
        buf_.erase(0, step->consumed);
        if (step->event == http::ParseEvent::kHead) {
          r.status = p.head().status;
          r.keep_alive = p.head().keep_alive;
          for (auto& h : p.head().headers) {
            std::string n(h.name);
            for (auto& c : n) c = static_cast<char>(std::tolower(c));
            r.headers[n] = std::string(h.value);
          }
          if (r.status >= 100 && r.status < 200 && r.status != 101) {
            interim_.push_back(r.status);
            r = Resp{};
            continue;
          }
          if (r.status == 101) return r;
        } else if (step->event == http::ParseEvent::kBody) {
          if (stop_after_body_bytes && r.body.size() >= stop_after_body_bytes) return r;
        } else if (step->event == http::ParseEvent::kComplete) {
          if (r.status != 0) return r;
        } else {
          break;
        }
      }
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        auto fin = p.Finish();
        if (fin && fin->event == http::ParseEvent::kComplete && r.status != 0) return r;
        return std::nullopt;
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  // Raw bytes until the peer closes (or times out).
  std::string ReadAll() {
    std::string out = std::move(buf_);
    buf_.clear();
    char tmp[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) break;
      out.append(tmp, static_cast<size_t>(n));
    }
    return out;
  }
  // Exactly `n` raw bytes (or fewer on close).
  std::string ReadExactly(size_t n) {
    std::string out;
    char tmp[4096];
    if (!buf_.empty()) {
      out = buf_.substr(0, n);
      buf_.erase(0, out.size());
    }
    while (out.size() < n) {
      ssize_t r = ::recv(fd_, tmp, std::min(sizeof(tmp), n - out.size()), 0);
      if (r <= 0) break;
      out.append(tmp, static_cast<size_t>(r));
    }
    return out;
  }
  // True when the peer closed the connection (reads EOF).
  bool PeerClosed() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0;
  }
  const std::vector<int>& interim() const { return interim_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
  std::vector<int> interim_;
};

std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

// One request on a fresh connection.
std::optional<Resp> Fetch(int port, std::string_view path, std::string_view extra = "") {
  Conn c(port);
  if (!c.Send(Get(path, extra))) return std::nullopt;
  return c.Read();
}

std::string Replace(std::string s, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    for (size_t pos; (pos = s.find(k)) != std::string::npos;) s.replace(pos, k.size(), v);
  }
  return s;
}

struct Upstream {
  std::string name;
  int port = 0;
  std::string log;
  std::string fail_file;
  std::unique_ptr<Process> process;

  int Requests() const {
    std::ifstream in(log);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.starts_with("REQ ");
    return n;
  }
  std::string LogText() const {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void SetFailing(bool failing) const {
    if (failing) {
      std::ofstream(fail_file) << "1";
    } else {
      ::unlink(fail_file.c_str());
    }
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

class GatewayIt : public ::testing::Test {
 protected:
  Upstream& StartUpstream(const std::string& name) {
    auto u = std::make_unique<Upstream>();
    u->name = name;
    u->port = FreePort();
    u->log = dir_.Sub(name + ".log");
    u->fail_file = dir_.Sub(name + ".fail");
    std::string error;
    u->process = Process::Start(
        name,
        {BinaryPath("tests/gateway/gateway_upstream_server"), "--port", std::to_string(u->port),
         "--name", name, "--log", u->log, "--fail-file", u->fail_file},
        {}, &error);
    EXPECT_TRUE(u->process) << error;
    EXPECT_TRUE(WaitForTcp(u->port)) << name << " never listened";
    upstreams_.push_back(std::move(u));
    return *upstreams_.back();
  }

  std::string WriteConfig(const std::string& yaml, const std::string& file = "routes.yaml") {
    std::string path = dir_.Sub(file);
    std::ofstream(path) << yaml;
    return path;
  }

  void StartGateway(const std::string& yaml, int workers = 1,
                    std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(60'000)) {
    GatewayOptions o;
    o.listen = "127.0.0.1:0";
    o.workers = workers;
    o.idle_timeout = idle_timeout;
    o.config_path = WriteConfig(yaml);
    o.admin_listen = "127.0.0.1:0";
    o.access_log_path = dir_.Sub("access.log");
    auto gw = Gateway::Create(o);
    ASSERT_TRUE(gw) << gw.error().message;
    gw_ = std::move(*gw);
    auto started = gw_->Start();
    ASSERT_TRUE(started) << started.error().message;
    port_ = gw_->port();
  }

  void Apply(const std::string& yaml) {
    auto snap = router::ParseConfig(yaml, "test");
    ASSERT_TRUE(snap) << snap.error().message;
    gw_->Apply(*snap);
  }

  void TearDown() override {
    if (gw_) gw_->Stop();
  }

  TempDir dir_{"gateway-it"};
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::unique_ptr<Gateway> gw_;
  int port_ = 0;
};

TEST_F(GatewayIt, ProxiesAndRewritesForwardingHeaders) {
  auto& a = StartUpstream("a");
  StartGateway(Replace(R"(
routes:
  - name: api
    match: {prefix: /api}
    rewrite: {prefix: /v1}
    upstreams: ["A"]
)",
                       {{"A", a.addr()}}));
  Conn c(port_);
  ASSERT_TRUE(
      c.Send("GET /api/items?x=1 HTTP/1.1\r\nHost: test\r\nConnection: keep-alive, X-Secret\r\n"
             "X-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Request-Id: abc-123\r\n"
             "X-Forwarded-For: 10.0.0.9\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["x-upstream"], "a");
  EXPECT_NE(r->body.find("target=/v1/items?x=1\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("X-Forwarded-For: 10.0.0.9, 127.0.0.1\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("X-Forwarded-Proto: http\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("X-Request-Id: abc-123\n"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("X-Secret"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("Keep-Alive"), std::string::npos) << r->body;
  EXPECT_EQ(r->headers["x-request-id"], "");  // responses pass the upstream's headers only
  // An invalid request id is replaced by a generated one.
  ASSERT_TRUE(c.Send(Get("/api/x", "X-Request-Id: bad id!\r\n")));
  r = c.Read();
  ASSERT_TRUE(r);
  auto pos = r->body.find("X-Request-Id: ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_EQ(r->body.substr(pos + 14, 36).size(), 36u);
  EXPECT_EQ(r->body.find("bad id"), std::string::npos);
  // Unknown paths: 404 from the gateway, on the same keep-alive connection.
  ASSERT_TRUE(c.Send(Get("/nope")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(GatewayIt, SpreadsRequestsPerPolicy) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  auto& c = StartUpstream("c");
  StartGateway(Replace(R"(
services:
  rr: {endpoints: ["A", "B", "C"], lb: round_robin}
  wrr:
    endpoints: [{address: "A", weight: 3}, {address: "B", weight: 1}, {address: "C", weight: 1}]
    lb: weighted_round_robin
  lr: {endpoints: ["A", "B", "C"], lb: least_request}
  rnd: {endpoints: ["A", "B", "C"], lb: random}
  ring: {endpoints: ["A", "B", "C"], lb: ring_hash}
  mag: {endpoints: ["A", "B", "C"], lb: maglev}
routes:
  - {name: rr, match: {prefix: /rr}, service: rr}
  - {name: wrr, match: {prefix: /wrr}, service: wrr}
  - {name: lr, match: {prefix: /lr}, service: lr}
  - {name: rnd, match: {prefix: /rnd}, service: rnd}
  - {name: ring, match: {prefix: /ring}, service: ring, hash_on: {header: x-user}}
  - {name: mag, match: {prefix: /mag}, service: mag, hash_on: {cookie: sid}}
)",
                       {{"A", a.addr()}, {"B", b.addr()}, {"C", c.addr()}}));
  Conn conn(port_);
  auto spread = [&](const std::string& path, int n, const std::string& extra = "") {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(conn.Send(Get(path, extra)));
      auto r = conn.Read();
      EXPECT_TRUE(r && r->status == 200);
      if (r) ++seen[r->headers["x-upstream"]];
    }
    return seen;
  };
  auto rr = spread("/rr", 30);
  EXPECT_EQ(rr["a"], 10);
  EXPECT_EQ(rr["b"], 10);
  EXPECT_EQ(rr["c"], 10);
  auto wrr = spread("/wrr", 50);
  EXPECT_EQ(wrr["a"], 30);
  EXPECT_EQ(wrr["b"], 10);
  EXPECT_EQ(wrr["c"], 10);
  EXPECT_EQ(spread("/lr", 60).size(), 3u);
  EXPECT_EQ(spread("/rnd", 60).size(), 3u);
  // Hashing: one key always lands on one host; many keys spread over all of them.
  EXPECT_EQ(spread("/ring", 10, "X-User: alice\r\n").size(), 1u);
  EXPECT_EQ(spread("/mag", 10, "Cookie: a=1; sid=xyz\r\n").size(), 1u);
  std::map<std::string, int> users;
  for (int i = 0; i < 60; ++i) {
    for (auto& [k, v] : spread("/ring", 1, "X-User: u" + std::to_string(i) + "\r\n")) users[k] += v;
  }
  EXPECT_EQ(users.size(), 3u);
}

TEST_F(GatewayIt, EjectedHostGetsNoTrafficUntilEjectionEnds) {
  auto& good = StartUpstream("good");
  auto& bad = StartUpstream("bad");
  StartGateway(Replace(R"(
services:
  s:
    endpoints: ["G", "B"]
    outlier: {consecutive_5xx: 3, base_ejection_ms: 1500}
    panic_threshold: 0
routes:
  - {name: r, service: s}
)",
                       {{"G", good.addr()}, {"B", bad.addr()}}));
  bad.SetFailing(true);
  Conn conn(port_);
  int failures = 0;
  for (int i = 0; i < 6; ++i) {  // round robin: 3 of these reach `bad`, which is then ejected
    ASSERT_TRUE(conn.Send(Get("/x")));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    failures += r->status == 503;
  }
  EXPECT_EQ(failures, 3);
  const int bad_seen = bad.Requests();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(conn.Send(Get("/x")));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers["x-upstream"], "good");
  }
  EXPECT_EQ(bad.Requests(), bad_seen) << "an ejected host received traffic";
  // The host heals; once its ejection ends it gets traffic again.
  bad.SetFailing(false);
  EXPECT_TRUE(WaitFor([&] {
    conn.Send(Get("/x"));
    auto r = conn.Read();
    return r && r->headers["x-upstream"] == "bad";
  })) << "the host never came back after its ejection";
  auto metrics = gw_->RenderMetrics();
  EXPECT_NE(metrics.find("berth_gateway_upstream_ejections_total{upstream=\"s\"} 1"),
            std::string::npos)
      << metrics;
}

TEST_F(GatewayIt, PanicModeKeepsTrafficFlowing) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  StartGateway(Replace(R"(
services:
  s:
    endpoints: ["A", "B"]
    outlier: {consecutive_5xx: 1, base_ejection_ms: 60000, max_ejection_percent: 100}
    panic_threshold: 50
routes:
  - {name: r, service: s}
)",
                       {{"A", a.addr()}, {"B", b.addr()}}));
  a.SetFailing(true);
  b.SetFailing(true);
  Conn conn(port_);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(conn.Send(Get("/x")));
    ASSERT_TRUE(conn.Read());
  }
  // Both ejected: below the panic threshold the balancer uses all hosts anyway.
  a.SetFailing(false);
  b.SetFailing(false);
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(conn.Send(Get("/x")));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    ++seen[r->headers["x-upstream"]];
  }
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(GatewayIt, RetriesHideAKilledUpstream) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  StartGateway(Replace(R"(
services:
  s: {endpoints: ["A", "B"]}
routes:
  - {name: r, service: s, retry: {attempts: 2, on: [connect_failure, 503]}}
)",
                       {{"A", a.addr()}, {"B", b.addr()}}));
  Conn conn(port_);
  for (int i = 0; i < 10; ++i) {  // warm pooled connections to both
    ASSERT_TRUE(conn.Send(Get("/x")));
    ASSERT_TRUE(conn.Read());
  }
  a.process->Kill(SIGKILL);
  a.process->Wait();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(conn.Send(Get("/x?i=" + std::to_string(i))));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "request " << i;
    EXPECT_EQ(r->headers["x-upstream"], "b");
  }
  // A 503 on one host is retried on another for idempotent requests.
  auto& c = StartUpstream("c");
  Apply(Replace(R"(
services:
  s: {endpoints: ["B", "C"], outlier: {consecutive_5xx: 0}}
routes:
  - {name: r, service: s, retry: {attempts: 2, on: [connect_failure, 503]}}
)",
                {{"B", b.addr()}, {"C", c.addr()}}));
  c.SetFailing(true);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(conn.Send(Get("/y")));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_GT(c.Requests(), 0);
  // Not for a POST: it gets the 503.
  bool saw_503 = false;
  for (int i = 0; i < 4 && !saw_503; ++i) {
    ASSERT_TRUE(conn.Send("POST /z HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    saw_503 = r->status == 503;
  }
  EXPECT_TRUE(saw_503);
  EXPECT_NE(gw_->RenderMetrics().find("berth_gateway_upstream_retries_total{upstream=\"s\"}"),
            std::string::npos);
}

TEST_F(GatewayIt, RouteChangesUnderLoadDropNoRequest) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  const std::string one = Replace(R"(
routes:
  - {name: r, match: {prefix: /}, upstreams: ["A"]}
)",
                                  {{"A", a.addr()}});
  const std::string two = Replace(R"(
services:
  s: {endpoints: ["A", "B"], lb: least_request}
routes:
  - {name: other, match: {prefix: /other}, upstreams: ["B"]}
  - {name: r2, match: {prefix: /}, service: s}
)",
                                  {{"A", a.addr()}, {"B", b.addr()}});
  StartGateway(one, 2);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto conn = std::make_unique<Conn>(port_);
      int i = 0;
      while (!stop) {
        // Keep-alive, with a new connection every 50 requests.
        if (++i % 50 == 0) conn = std::make_unique<Conn>(port_);
        auto r = conn->Send(Get("/load?t=" + std::to_string(t))) ? conn->Read() : std::nullopt;
        (r && r->status == 200 ? ok : failed)++;
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    Apply(i % 2 ? one : two);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 100);
}

TEST_F(GatewayIt, JwtRefusesBadSignatureExpiredAndWrongAudience) {
  auto& a = StartUpstream("a");
  testing::JwtSigner signer(testing::JwtSigner::Alg::kRS256, "k1");
  testing::JwtSigner other(testing::JwtSigner::Alg::kRS256, "k1");
  std::ofstream(dir_.Sub("jwks.json")) << testing::Jwks({signer.Jwk()});
  StartGateway(Replace(R"(
routes:
  - name: secure
    upstreams: ["A"]
    filters:
      - jwt: {jwks_file: jwks.json, issuer: berth, audiences: [shop], forward_subject_header: x-user}
)",
                       {{"A", a.addr()}}));
  const int64_t now = time(nullptr);
  auto token = [&](const testing::JwtSigner& s, int64_t exp, const std::string& aud) {
    return "Authorization: Bearer " +
           s.Sign("{\"sub\":\"alice\",\"iss\":\"berth\",\"aud\":\"" + aud +
                  "\",\"exp\":" + std::to_string(exp) + "}") +
           "\r\n";
  };
  const int before = a.Requests();
  auto r = Fetch(port_, "/", token(other, now + 600, "shop"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->headers["www-authenticate"].find("bad signature"), std::string::npos);
  r = Fetch(port_, "/", token(signer, now - 600, "shop"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->headers["www-authenticate"].find("expired"), std::string::npos);
  r = Fetch(port_, "/", token(signer, now + 600, "bank"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->headers["www-authenticate"].find("wrong audience"), std::string::npos);
  r = Fetch(port_, "/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(a.Requests(), before);  // none of those reached the upstream
  r = Fetch(port_, "/", token(signer, now + 600, "shop"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("x-user: alice\n"), std::string::npos) << r->body;
}

struct SmugglingCase {
  const char* name;
  std::string request;
  int status;
};

TEST_F(GatewayIt, SmugglingAndMalformedRequestsNeverReachTheUpstream) {
  auto& a = StartUpstream("a");
  StartGateway(Replace(R"(
routes:
  - {name: r, upstreams: ["A"]}
)",
                       {{"A", a.addr()}}));
  const std::vector<SmugglingCase> cases = {
      {"CL+TE",
       "POST /smuggle1 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"duplicate CL",
       "POST /smuggle2 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
       400},
      {"bad CL", "POST /smuggle3 HTTP/1.1\r\nHost: t\r\nContent-Length: 4x\r\n\r\nabcd", 400},
      {"bad chunk size",
       "POST /smuggle4 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
       "chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
       400},
      {"obs-fold", "GET /smuggle5 HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400},
      {"bare CR", "GET /smuggle6 HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400},
      {"bare LF", "GET /smuggle7 HTTP/1.1\nHost: t\n\n", 400},
      {"space before colon", "GET /smuggle8 HTTP/1.1\r\nHost : t\r\n\r\n", 400},
      // RFC 9112 6.3: a request whose final coding is not chunked has no knowable length.
      {"TE gzip", "POST /smuggle9 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"TE chunked twice",
       "POST /smuggle10 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"TE gzip, chunked",
       "POST /smuggle16 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
       501},
      {"two TE fields",
       "POST /smuggle17 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"no host", "GET /smuggle11 HTTP/1.1\r\n\r\n", 400},
      {"two hosts", "GET /smuggle12 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"HTTP/2.0", "GET /smuggle13 HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      {"long URI", "GET /smuggle14" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"big header",
       "GET /smuggle15 HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(70000, 'b') + "\r\n\r\n", 431},
  };
  for (const auto& c : cases) {
    Conn conn(port_);
    ASSERT_TRUE(conn.Send(c.request)) << c.name;
    auto r = conn.Read();
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(r->status, c.status) << c.name;
    EXPECT_FALSE(r->keep_alive) << c.name;
    EXPECT_TRUE(conn.PeerClosed()) << c.name;
  }
  // A valid request afterwards, then check the upstream saw only that one.
  auto r = Fetch(port_, "/fine");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const std::string log = a.LogText();
  EXPECT_EQ(log.find("smuggle"), std::string::npos) << log;
  EXPECT_NE(log.find("REQ GET /fine"), std::string::npos) << log;
}

TEST_F(GatewayIt, PipelinedRequestsAnsweredInOrder) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  Conn conn(port_);
  ASSERT_TRUE(conn.Send(
      Get("/p1") + "POST /p2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + Get("/p3")));
  for (const char* p : {"target=/p1\n", "target=/p2\n", "target=/p3\n"}) {
    auto r = conn.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find(p), std::string::npos) << r->body;
  }
}

// Many pipelined requests per write, mixed kinds (bodiless, Content-Length and chunked
// bodies echoed back, answers larger than a gateway buffer, a slow answer), over many rounds
// on one connection: every answer must be the one for its request, in order. Every other
// round reads only after the upstream has seen the round's last request, so the earlier
// answers arrive together in one read (the client must split them correctly too).
TEST_F(GatewayIt, ManyPipelinedMixedRequestsEachAnsweredByItsOwnResponse) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  Conn conn(port_);
  struct Expect {
    std::string method;
    std::string target;
    std::string echo;  // the body the answer must equal (echo requests)
    size_t size = 0;   // the body size the answer must have (size requests)
  };
  for (int round = 0; round < 24; ++round) {
    std::string wire;
    std::vector<Expect> want;
    const int count = 3 + round % 8;
    for (int i = 0; i < count; ++i) {
      const std::string id = "/r" + std::to_string(round) + "-" + std::to_string(i);
      Expect e;
      switch ((round + i) % 5) {
        case 0:
          e = {"GET", id, "", 0};
          wire += Get(id);
          break;
        case 1: {
          e = {"POST", id + "?echo=1", std::string(7 + i * 13 + round, 'a' + i % 26), 0};
          wire += "POST " + e.target +
                  " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(e.echo.size()) +
                  "\r\n\r\n" + e.echo;
          break;
        }
        case 2: {
          e = {"POST", id + "?echo=1", "chunked:" + id + std::string(i + 1, 'c'), 0};
          const std::string half1 = e.echo.substr(0, e.echo.size() / 2);
          const std::string half2 = e.echo.substr(e.echo.size() / 2);
          char l1[16], l2[16];
          std::snprintf(l1, sizeof(l1), "%zx", half1.size());
          std::snprintf(l2, sizeof(l2), "%zx", half2.size());
          wire += "POST " + e.target +
                  " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + l1 + "\r\n" +
                  half1 + "\r\n" + l2 + "\r\n" + half2 + "\r\n0\r\n\r\n";
          break;
        }
        case 3: {
          // Larger than the gateway's 16 KiB buffer: forwarded in several pieces.
          const size_t size = 20000 + static_cast<size_t>(round * 16 + i);
          e = {"GET", id + "?size=" + std::to_string(size), "", size};
          wire += Get(e.target);
          break;
        }
        default:
          e = {"GET", id + "?delay_ms=2", "", 0};
          wire += Get(e.target);
          break;
      }
      want.push_back(std::move(e));
    }
    ASSERT_TRUE(conn.Send(wire)) << "round " << round;
    if (round % 2 == 1) {
      const std::string last = "DONE " + want.back().method + " " + want.back().target + " ";
      ASSERT_TRUE(WaitFor([&] { return a.LogText().find(last) != std::string::npos; }))
          << "round " << round;
    }
    for (const auto& e : want) {
      auto r = conn.Read();
      ASSERT_TRUE(r) << "round " << round << " " << e.target;
      EXPECT_EQ(r->status, 200) << e.target;
      EXPECT_EQ(r->headers["x-upstream"], "a") << e.target;
      if (!e.echo.empty()) {
        EXPECT_EQ(r->body, e.echo) << e.target;
      } else if (e.size > 0) {
        EXPECT_EQ(r->body.size(), e.size) << e.target;
        EXPECT_EQ(r->body.find_first_not_of('x'), std::string::npos) << e.target;
      } else {
        EXPECT_NE(r->body.find("method=" + e.method + "\ntarget=" + e.target + "\n"),
                  std::string::npos)
            << e.target << " got:\n"
            << r->body;
      }
    }
  }
  // Nothing more than the answers came back.
  ASSERT_TRUE(conn.Send(Get("/last")));
  auto r = conn.Read();
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("target=/last\n"), std::string::npos) << r->body;
}

// The gateway waits for a keep-alive client's next request, and for an upstream's answer,
// without trying a read it knows would find nothing (server/ready_wait.h): after a short
// read it waits for the socket's next readiness edge. Requests and answers that arrive in
// pieces, right away or after a pause, must each wake it: a missed wake-up hangs the
// connection (the client's 30 s receive timeout fails the test).
TEST_F(GatewayIt, KeepAliveRequestsAndAnswersArrivingInPiecesAreAllServed) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  Conn conn(port_);
  const auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); };
  for (int round = 0; round < 36; ++round) {
    const std::string id = "/k" + std::to_string(round);
    // Every third answer is chunked and larger than one read: the upstream sends it in
    // many pieces, so the gateway reads it short, then waits for more.
    const std::string target = round % 3 == 2 ? id + "?chunked=1&size=30000" : id;
    std::string body;
    switch (round % 4) {
      case 0:  // at once
        ASSERT_TRUE(conn.Send(Get(target)));
        break;
      case 1: {  // the head in two pieces
        const std::string req = Get(target);
        ASSERT_TRUE(conn.Send(req.substr(0, 9)));
        pause();
        ASSERT_TRUE(conn.Send(req.substr(9)));
        break;
      }
      case 2:  // after a pause (the gateway went idle first)
        pause();
        ASSERT_TRUE(conn.Send(Get(target)));
        break;
      default: {  // a body in two pieces
        body = std::string(100 + round, 'b');
        ASSERT_TRUE(conn.Send("POST " + target + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 40)));
        pause();
        ASSERT_TRUE(conn.Send(body.substr(40)));
        break;
      }
    }
    auto r = conn.Read(body.empty() ? "GET" : "POST");
    ASSERT_TRUE(r) << "round " << round;
    EXPECT_EQ(r->status, 200) << "round " << round;
    if (round % 3 == 2) {
      EXPECT_EQ(r->body, std::string(30000, 'x')) << "round " << round;
    } else {
      EXPECT_NE(r->body.find("target=" + target + "\n"), std::string::npos) << r->body;
      EXPECT_NE(r->body.find("body-bytes=" + std::to_string(body.size()) + "\n"), std::string::npos)
          << r->body;
    }
  }
  EXPECT_EQ(a.Requests(), 36);
}

// A keep-alive connection waits for its next request inside its coroutine for a short while
// (ConnectionManager::kHotIdle), then without one: it is served the same either way, its idle
// timeout still closes it, and a drain closes it at once whichever way it waits.
TEST_F(GatewayIt, KeepAliveConnectionIsServedAndTimedOutAfterItsCoroutineEnds) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}), 1,
               std::chrono::milliseconds(2000));
  Conn conn(port_);
  ASSERT_TRUE(conn.Send(Get("/first")));
  auto r = conn.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Well past kHotIdle and the worker's tick: the coroutine has given the connection up.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(conn.Send(Get("/second")));
  r = conn.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->keep_alive);
  // Nothing more sent: the idle timeout closes it (the client gives up after 30 s).
  EXPECT_TRUE(conn.PeerClosed());
  EXPECT_EQ(a.Requests(), 2);

  // Drain closes idle connections at once (here most likely one still waiting in its
  // coroutine); it stops the gateway only when none is left or after its deadline, and the
  // idle timeout is 60 s, both beyond the client's 30 s: a connection drain left open would
  // time the client's read out instead of reading EOF.
  gw_->Stop();
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  Conn idle(port_);
  ASSERT_TRUE(idle.Send(Get("/third")));
  r = idle.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::thread drain([&] { gw_->Drain(std::chrono::milliseconds(60'000)); });
  EXPECT_TRUE(idle.PeerClosed());
  drain.join();
}

TEST_F(GatewayIt, StreamsLargeChunkedBodiesWithoutBuffering) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  // Upload: the upstream sees the first chunk while the client still holds the rest.
  Conn conn(port_);
  const std::string chunk(1 << 20, 'u');
  auto chunk_frame = "100000\r\n" + chunk + "\r\n";
  ASSERT_TRUE(conn.Send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                        chunk_frame));
  ASSERT_TRUE(WaitFor([&] { return a.LogText().find("BODYSTART") != std::string::npos; }))
      << "the first chunk was held back";
  for (int i = 0; i < 63; ++i) ASSERT_TRUE(conn.Send(chunk_frame));
  ASSERT_TRUE(conn.Send("0\r\n\r\n"));
  auto r = conn.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("body-bytes=67108864\n"), std::string::npos) << r->body;

  // Download: the client gets the first chunk while the upstream still holds the rest.
  const std::string gate = dir_.Sub("gate");
  Conn down(port_);
  ASSERT_TRUE(down.Send(Get("/download?chunked=1&size=8000000&wait_file=" + gate)));
  auto first = down.Read("GET", 4096);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->headers["transfer-encoding"], "chunked");
  std::ofstream(gate) << "go";
  // The rest: read the raw stream to its end (the 0-chunk).
  std::string rest;
  while (rest.find("\r\n0\r\n\r\n") == std::string::npos) {
    auto more = down.ReadExactly(65536);
    if (more.empty()) break;
    rest += more;
    if (rest.size() > 9'000'000) break;
  }
  EXPECT_NE(rest.find("\r\n0\r\n\r\n"), std::string::npos);
  EXPECT_GT(rest.size(), 7'900'000u);
}

TEST_F(GatewayIt, ExpectContinueThenBody) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  Conn conn(port_);
  ASSERT_TRUE(conn.Send(
      "PUT /put HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(conn.ReadExactly(25), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(conn.Send("hello"));
  auto r = conn.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("body-bytes=5\n"), std::string::npos);
  EXPECT_EQ(r->body.find("Expect"), std::string::npos);
}

TEST_F(GatewayIt, WebSocketUpgradeIsPassedThrough) {
  auto& a = StartUpstream("a");
  StartGateway(
      Replace("routes: [{name: ws, match: {prefix: /ws}, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  Conn conn(port_);
  ASSERT_TRUE(conn.Send(
      "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  auto r = conn.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 101);
  EXPECT_EQ(r->headers["upgrade"], "websocket");
  for (int i = 0; i < 3; ++i) {
    std::string frame = "\x81\x05hello" + std::to_string(i);
    ASSERT_TRUE(conn.Send(frame));
    EXPECT_EQ(conn.ReadExactly(frame.size()), frame);
  }
}

// Opens a WebSocket on `conn` through the gateway; the status of the answer.
int OpenWebSocket(Conn& conn, std::string_view path = "/ws") {
  if (!conn.Send(
          "GET " + std::string(path) +
          " HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")) {
    return 0;
  }
  auto r = conn.Read();
  return r ? r->status : 0;
}

bool Echoes(Conn& conn, const std::string& text) {
  const std::string frame = "\x81" + std::string(1, static_cast<char>(text.size())) + text;
  return conn.Send(frame) && conn.ReadExactly(frame.size()) == frame;
}

TEST_F(GatewayIt, WebSocketSurvivesRouteChangesAndIsClosedWhenIdle) {
  auto& a = StartUpstream("a");
  const std::string routes = Replace(
      "routes: [{name: ws, match: {prefix: /ws}, upstreams: [\"A\"], websocket: "
      "{idle_timeout_ms: 500}}]",
      {{"A", a.addr()}});
  StartGateway(routes);
  Conn conn(port_);
  ASSERT_EQ(OpenWebSocket(conn), 101);
  for (int i = 0; i < 6; ++i) {
    // Another table (the route renamed, then back): the open connection is not touched.
    Apply(i % 2 ? routes
                : Replace("routes: [{name: other, match: {prefix: /}, upstreams: [\"A\"]}]",
                          {{"A", a.addr()}}));
    EXPECT_TRUE(Echoes(conn, "after change " + std::to_string(i)));
  }
  // Nothing either way for the route's idle_timeout_ms: the gateway closes the connection
  // (the 30 s receive timeout of Conn is only the upper bound of the wait).
  EXPECT_TRUE(conn.PeerClosed());
}

TEST_F(GatewayIt, WebSocketsBeyondTheRouteLimitAre503AndASlotFreesOnClose) {
  auto& a = StartUpstream("a");
  StartGateway(
      Replace("routes: [{name: ws, match: {prefix: /ws}, upstreams: [\"A\"], websocket: "
              "{max_connections: 2}}, {name: plain, match: {prefix: /}, upstreams: [\"A\"]}]",
              {{"A", a.addr()}}));
  auto first = std::make_unique<Conn>(port_);
  Conn second(port_);
  ASSERT_EQ(OpenWebSocket(*first), 101);
  ASSERT_EQ(OpenWebSocket(second), 101);
  {
    Conn third(port_);
    EXPECT_EQ(OpenWebSocket(third), 503);
  }
  EXPECT_TRUE(Echoes(second, "still open"));
  auto r = Fetch(port_, "/plain");  // other requests are not limited
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  first.reset();  // closes: its slot frees once the gateway sees the close
  int status = 0;
  WaitFor([&] {
    Conn next(port_);
    status = OpenWebSocket(next);
    return status == 101;
  });
  EXPECT_EQ(status, 101);
}

TEST_F(GatewayIt, RateLimitCircuitBreakerAndTimeout) {
  auto& a = StartUpstream("a");
  StartGateway(Replace(R"(
services:
  slow: {endpoints: ["A"], circuit_breakers: {max_requests: 1}}
routes:
  - name: limited
    match: {prefix: /limited}
    upstreams: ["A"]
    filters: [{rate_limit: {requests_per_second: 0.001, burst: 2, key: client_ip}}]
  - {name: timeout, match: {prefix: /timeout}, upstreams: ["A"], timeouts: {request_ms: 300}}
  - {name: cb, match: {prefix: /cb}, service: slow}
)",
                       {{"A", a.addr()}}));
  Conn conn(port_);
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn.Send(Get("/limited")));
    auto r = conn.Read();
    ASSERT_TRUE(r);
    statuses.push_back(r->status);
    if (r->status == 429) EXPECT_FALSE(r->headers["retry-after"].empty());
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429}));

  auto t = Fetch(port_, "/timeout?delay_ms=20000");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, 504);

  // One request in flight fills max_requests: the next one gets 503 at once.
  std::thread slow([&] {
    auto r = Fetch(port_, "/cb?delay_ms=3000");
    EXPECT_TRUE(r && r->status == 200);
  });
  ASSERT_TRUE(
      WaitFor([&] { return a.LogText().find("REQ GET /cb?delay_ms=3000") != std::string::npos; }));
  auto r = Fetch(port_, "/cb");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->headers["x-berth-overloaded"], "true");
  slow.join();
  const auto m = gw_->RenderMetrics();
  EXPECT_NE(m.find("berth_gateway_route_rate_limited_total{route=\"limited\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("berth_gateway_upstream_circuit_open_total{upstream=\"slow\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("berth_gateway_upstream_timeouts_total{upstream=\"timeout#0\"} 1"),
            std::string::npos)
      << m;
  // The admin listener serves the same text.
  auto admin = berth::testing::HttpGet(gw_->admin_port(), "/metrics");
  ASSERT_TRUE(admin);
  EXPECT_NE(admin->find("berth_gateway_route_requests_total{route=\"limited\",class=\"2xx\"} 2"),
            std::string::npos);
}

TEST_F(GatewayIt, AccessLogHasOneJsonLinePerRequest) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: logged, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  ASSERT_TRUE(Fetch(port_, "/one", "X-Request-Id: rid-1\r\n"));
  ASSERT_TRUE(Fetch(port_, "/two"));
  gw_->Stop();  // flushes
  std::ifstream in(dir_.Sub("access.log"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"route\":\"logged\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"status\":200"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"request_id\":\"rid-1\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"upstream\":\"" + a.addr() + "\""), std::string::npos) << lines[0];
}

// The standalone binary: SIGHUP reloads without dropping a connection, SIGTERM drains.
TEST_F(GatewayIt, BinaryReloadsOnSighupAndDrainsOnSigterm) {
  auto& a = StartUpstream("a");
  auto& b = StartUpstream("b");
  const std::string config = WriteConfig(
      Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}), "bin.yaml");
  const int port = FreePort();
  std::string error;
  auto gw = Process::Start("gateway",
                           {BinaryPath("src/gateway/berth-gateway"), "--config", config, "--listen",
                            "127.0.0.1:" + std::to_string(port), "--workers", "2"},
                           {}, &error);
  ASSERT_TRUE(gw) << error;
  ASSERT_TRUE(WaitForTcp(port));
  Conn kept(port);
  ASSERT_TRUE(kept.Send(Get("/")));
  auto r = kept.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers["x-upstream"], "a");

  WriteConfig(Replace("routes: [{name: r, upstreams: [\"B\"]}]", {{"B", b.addr()}}), "bin.yaml");
  gw->Kill(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    auto x = Fetch(port, "/");
    return x && x->headers["x-upstream"] == "b";
  }));
  // The connection opened before the reload still works, now routed by the new table.
  ASSERT_TRUE(kept.Send(Get("/")));
  r = kept.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers["x-upstream"], "b");
  // A broken file is refused and the old configuration stays.
  WriteConfig("routes: [", "bin.yaml");
  gw->Kill(SIGHUP);
  ASSERT_TRUE(kept.Send(Get("/")));
  r = kept.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // Drain: an in-flight request finishes; the process exits 0.
  Conn slow(port);
  ASSERT_TRUE(slow.Send(Get("/slow?delay_ms=1500")));
  ASSERT_TRUE(WaitFor([&] { return b.LogText().find("REQ GET /slow") != std::string::npos; }));
  gw->Kill(SIGTERM);
  r = slow.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->keep_alive);  // drain closes it after the response
  auto status = gw->Wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// TLS termination: certificate per SNI name, TLS 1.2+ only, X-Forwarded-Proto: https.
std::string TlsGet(int port, const char* sni, std::string* cn, int max_version = 0) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_security_level(ctx, 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (sni) SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_connect(ssl) == 1) {
      X509* cert = SSL_get1_peer_certificate(ssl);
      char buf[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
      *cn = buf;
      X509_free(cert);
      std::string req = "GET /tls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      SSL_write(ssl, req.data(), static_cast<int>(req.size()));
      char tmp[4096];
      for (int n; (n = SSL_read(ssl, tmp, sizeof(tmp))) > 0;) out.append(tmp, n);
    }
    SSL_free(ssl);
  }
  ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

TEST_F(GatewayIt, TerminatesTlsWithSni) {
  auto& a = StartUpstream("a");
  for (const char* cn : {"default.test", "api.test"}) {
    std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" +
        std::string(cn) + " -keyout " + dir_.Sub(std::string(cn) + ".key") + " -out " +
        dir_.Sub(std::string(cn) + ".crt") + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  StartGateway(Replace(R"(
tls:
  cert: default.test.crt
  key: default.test.key
  sni: [{names: [api.test], cert: api.test.crt, key: api.test.key}]
routes: [{name: r, upstreams: ["A"]}]
)",
                       {{"A", a.addr()}}));
  std::string cn;
  std::string resp = TlsGet(port_, "api.test", &cn);
  EXPECT_EQ(cn, "api.test");
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 200")) << resp;
  EXPECT_NE(resp.find("X-Forwarded-Proto: https\n"), std::string::npos) << resp;
  resp = TlsGet(port_, "other.test", &cn);
  EXPECT_EQ(cn, "default.test");
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 200")) << resp;
  cn.clear();
  resp = TlsGet(port_, "api.test", &cn, TLS1_1_VERSION);
  EXPECT_EQ(resp, "");  // TLS 1.1 refused
  EXPECT_EQ(cn, "");
}

// ---- HTTP/2 with real clients: curl (--http2-prior-knowledge, --http2 over TLS with ALPN)
// and nghttp, from Debian's curl and nghttp2-client (scripts/deps.sh).

// Runs `cmd` through the shell; its standard output.
std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, n);
  ::pclose(f);
  return out;
}

TEST_F(GatewayIt, Http2PriorKnowledgeFromCurlAndNghttpBesideHttp11OnOneListener) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  std::string out = Sh("curl -sS -i --http2-prior-knowledge '" + url + "/h2?x=1' 2>&1");
  EXPECT_TRUE(out.starts_with("HTTP/2 200")) << out;
  EXPECT_NE(out.find("x-upstream: a"), std::string::npos) << "names lower-cased: " << out;
  EXPECT_NE(out.find("target=/h2?x=1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x-forwarded-proto: http\n"), std::string::npos) << out;
  // A request body of 300 KB: more than the stream's first window, so WINDOW_UPDATEs flow.
  const std::string body_file = dir_.Sub("body.bin");
  std::ofstream(body_file) << std::string(300'000, 'b');
  out = Sh("curl -sS --http2-prior-knowledge --data-binary @" + body_file + " '" + url +
           "/upload' 2>&1");
  EXPECT_NE(out.find("body-bytes=300000\n"), std::string::npos) << out;
  out = Sh("nghttp -v '" + url + "/ng' 2>&1");
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  EXPECT_NE(out.find("target=/ng\n"), std::string::npos) << out;
  // Several streams on one connection (nghttp -m repeats the request on it).
  out = Sh("nghttp -n -s -m 20 '" + url + "/many' 2>&1");
  EXPECT_EQ(out.find("error"), std::string::npos) << out;
  EXPECT_EQ(a.Requests(), 1 + 1 + 1 + 20);
  // HTTP/1.1 on the same listener still works.
  auto r = Fetch(port_, "/h1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("target=/h1\n"), std::string::npos);
}

TEST_F(GatewayIt, Http2OverTlsIsChosenByAlpnAndHttp11StillServed) {
  auto& a = StartUpstream("a");
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
      "-subj /CN=h2.test -keyout " +
      dir_.Sub("h2.key") + " -out " + dir_.Sub("h2.crt") + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  StartGateway(Replace("tls: {cert: h2.crt, key: h2.key}\nroutes: [{name: r, upstreams: [\"A\"]}]",
                       {{"A", a.addr()}}));
  const std::string url = "https://127.0.0.1:" + std::to_string(port_) + "/tls";
  std::string out = Sh("curl -sS -k -i --http2 '" + url + "' 2>&1");
  EXPECT_TRUE(out.starts_with("HTTP/2 200")) << out;
  EXPECT_NE(out.find("x-forwarded-proto: https\n"), std::string::npos) << out;
  out = Sh("curl -sS -k -i --http1.1 '" + url + "' 2>&1");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  out = Sh("nghttp -v '" + url + "' 2>&1");
  EXPECT_NE(out.find("negotiated protocol: h2"), std::string::npos) << out;
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
}

// An HTTP/1.1 client and an HTTP/2 client through a front gateway whose upstream is another
// gateway spoken to in h2c (pooled HTTP/2 connections), which proxies to an HTTP/1.1 server.
TEST_F(GatewayIt, RequestsCrossProtocolsThroughAnH2cUpstream) {
  auto& a = StartUpstream("a");
  StartGateway(Replace("routes: [{name: r, upstreams: [\"A\"]}]", {{"A", a.addr()}}));
  const int back_port = port_;
  std::unique_ptr<Gateway> back = std::move(gw_);
  StartGateway("routes: [{name: front, upstreams: [\"127.0.0.1:" + std::to_string(back_port) +
               "\"], upstream_protocol: h2c}]");
  Conn c(port_);
  for (int i = 0; i < 5; ++i) {  // keep-alive requests over one pooled h2c connection
    ASSERT_TRUE(c.Send(Get("/x" + std::to_string(i), "Cookie: a=1\r\n")));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers["x-upstream"], "a");
    EXPECT_NE(r->body.find("target=/x" + std::to_string(i) + "\n"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("cookie: a=1\n"), std::string::npos) << r->body;
  }
  ASSERT_TRUE(
      c.Send("POST /post HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto r = c.Read("POST");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("body-bytes=11\n"), std::string::npos) << r->body;
  const std::string out =
      Sh("curl -sS -i --http2-prior-knowledge 'http://127.0.0.1:" + std::to_string(port_) +
         "/via-h2' 2>&1");
  EXPECT_TRUE(out.starts_with("HTTP/2 200")) << out;
  EXPECT_NE(out.find("target=/via-h2\n"), std::string::npos) << out;
  gw_->Stop();
  back->Stop();
}

}  // namespace
}  // namespace berth::gateway
