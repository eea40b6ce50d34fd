// HTTP/2 from clients on the fake loop: a ConnectionManager on one end of a socket pair, an
// nghttp2 client session (or hand-written frames, for the attacks) on the other, and
// HTTP/1.1 upstreams as pooled socket pairs. Everything runs when the test says so.
#include <nghttp2/nghttp2.h>

#include <gtest/gtest.h>

#include <map>

#include "gateway/server/cluster_manager.h"
#include "gateway/server/connection_manager.h"
#include "gateway/testing/worker_loop.h"

namespace berth::gateway::server {
namespace {

using namespace std::chrono_literals;
using testing::Peer;
using testing::WorkerLoop;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::string_view kRoutes = R"(routes: [{name: r, upstreams: ["127.0.0.1:9"]}])";

// One frame on the wire.
std::string Frame(uint8_t type, uint8_t flags, int32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f += static_cast<char>(n >> 16);
  f += static_cast<char>(n >> 8);
  f += static_cast<char>(n);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>(stream >> 24 & 0x7f);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  f += payload;
  return f;
}

// The frames in `bytes` (the gateway's side), by type.
struct Frames {
  struct F {
    uint8_t type, flags;
    int32_t stream;
    std::string payload;
  };
  std::vector<F> all;
  explicit Frames(std::string_view bytes) {
    while (bytes.size() >= 9) {
      const size_t n = (uint8_t(bytes[0]) << 16) | (uint8_t(bytes[1]) << 8) | uint8_t(bytes[2]);
      if (bytes.size() < 9 + n) break;
      F f{uint8_t(bytes[3]), uint8_t(bytes[4]),
          int32_t((uint8_t(bytes[5]) & 0x7f) << 24 | uint8_t(bytes[6]) << 16 |
                  uint8_t(bytes[7]) << 8 | uint8_t(bytes[8])),
          std::string(bytes.substr(9, n))};
      all.push_back(std::move(f));
      bytes.remove_prefix(9 + n);
    }
  }
  // The error code of the GOAWAY, or -1 when there is none.
  int64_t goaway() const {
    for (const auto& f : all) {
      if (f.type == NGHTTP2_GOAWAY && f.payload.size() >= 8) {
        return (uint8_t(f.payload[4]) << 24) | (uint8_t(f.payload[5]) << 16) |
               (uint8_t(f.payload[6]) << 8) | uint8_t(f.payload[7]);
      }
    }
    return -1;
  }
};

// An nghttp2 client over the test's end of the socket pair.
class H2Client {
 public:
  struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
    std::map<std::string, std::string> trailers;
    bool closed = false;
    uint32_t error = 0;
  };

  explicit H2Client(Peer& peer, uint32_t window = 1 << 20) : peer_(peer) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
               const uint8_t* v, size_t vl, uint8_t, void* u) {
          auto& r = static_cast<H2Client*>(u)->responses[f->hd.stream_id];
          std::string name(reinterpret_cast<const char*>(n), nl),
              value(reinterpret_cast<const char*>(v), vl);
          if (name == ":status") {
            r.status = std::stoi(value);
          } else if (r.status != 0 && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
            r.trailers[name] = value;
          } else {
            r.headers[name] = value;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session* s, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          auto* self = static_cast<H2Client*>(u);
          self->responses[id].body.append(reinterpret_cast<const char*>(d), n);
          if (self->consume_) nghttp2_session_consume(s, id, n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, [](nghttp2_session*, int32_t id, uint32_t error, void* u) {
          auto& r = static_cast<H2Client*>(u)->responses[id];
          r.closed = true;
          r.error = error;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          if (f->hd.type == NGHTTP2_GOAWAY) {
            static_cast<H2Client*>(u)->goaway = static_cast<int64_t>(f->goaway.error_code);
          }
          return 0;
        });
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&session_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  }
  ~H2Client() { nghttp2_session_del(session_); }

  // Submits a request; the stream id.
  int32_t Request(const std::string& method, const std::string& path,
                  std::vector<std::pair<std::string, std::string>> extra = {},
                  const std::string* body = nullptr) {
    std::vector<nghttp2_nv> nva;
    // Views only: the names and values live until nghttp2 copies them below.
    auto add = [&](std::string_view n, std::string_view v) {
      nva.push_back({(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), 0});
    };
    std::string m = method, s = "http", a = "test", p = path;
    add(":method", m);
    add(":scheme", s);
    add(":authority", a);
    add(":path", p);
    for (auto& [n, v] : extra) add(n, v);
    nghttp2_data_provider provider;
    if (body != nullptr) {
      body_ = *body;
      provider.source.ptr = this;
      provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len,
                                  uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
        auto* self = static_cast<H2Client*>(src->ptr);
        const size_t n = std::min(len, self->body_.size());
        std::memcpy(buf, self->body_.data(), n);
        self->body_.erase(0, n);
        if (self->body_.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
    }
    return nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                  body ? &provider : nullptr, nullptr);
  }
  // Sends what the session queued and takes what arrived, once each.
  void Pump() {
    for (;;) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      if (!sent_preface_) sent_preface_ = true;
      peer_.Send(std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n)));
    }
    std::string in = peer_.Receive();
    if (!in.empty()) {
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(in.data()), in.size());
    }
  }
  void set_consume(bool c) { consume_ = c; }
  nghttp2_session* session() { return session_; }

  std::map<int32_t, Response> responses;
  int64_t goaway = -1;

 private:
  Peer& peer_;
  nghttp2_session* session_;
  std::string body_;
  bool sent_preface_ = false;
  bool consume_ = true;
};

WorkerOptions Options() {
  WorkerOptions o;
  o.idle_timeout = 60s;
  o.http2.max_concurrent_streams = 4;
  o.http2.reset_burst = 20;
  o.http2.reset_rate = 1;
  o.http2.max_header_list_bytes = 16 << 10;
  return o;
}

class Http2ConnectionTest : public ::testing::Test {
 protected:
  Http2ConnectionTest() : loop_(Options()) { loop_.SetRoutes(kRoutes); }

  Peer Connect() {
    auto [socket, client] = loop_.SocketPair();
    std::make_shared<ConnectionManager>(loop_.worker(), std::move(socket), false)->Start();
    loop_.RunUntilIdle();
    return std::move(client);
  }
  // Runs the client and the loop until neither has anything left to do.
  void Exchange(H2Client& c) {
    for (int i = 0; i < 4; ++i) {
      c.Pump();
      loop_.RunUntilIdle();
    }
  }

  WorkerLoop loop_;
};

TEST_F(Http2ConnectionTest, PriorKnowledgeRequestIsProxiedToAnHttp11Upstream) {
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  H2Client c(peer);
  const int32_t id =
      c.Request("GET", "/a?b=1", {{"x-client", "yes"}, {"cookie", "a=1"}, {"cookie", "b=2"}});
  Exchange(c);
  const std::string sent = up.Receive();
  EXPECT_TRUE(sent.starts_with("GET /a?b=1 HTTP/1.1\r\nHost: test\r\n")) << sent;
  EXPECT_NE(sent.find("x-client: yes\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("cookie: a=1; b=2\r\n"), std::string::npos) << "crumbs joined: " << sent;
  ASSERT_TRUE(
      up.Send("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t=5\r\n"
              "Set-Cookie: s=1\r\nContent-Length: 5\r\n\r\nhello"));
  loop_.RunUntilIdle();
  Exchange(c);
  const auto& r = c.responses[id];
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.headers.count("x-hop"), 0u);
  EXPECT_EQ(r.headers.count("keep-alive"), 0u);
  EXPECT_EQ(r.headers.count("connection"), 0u);
  EXPECT_EQ(r.headers.at("set-cookie"), "s=1");  // names lower-cased for HTTP/2
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(loop_.worker().stats().downstream_http2.value(), 1u);
}

TEST_F(Http2ConnectionTest, RequestBodyAndChunkedTrailersCrossProtocols) {
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  H2Client c(peer);
  const std::string body(40000, 'b');
  const int32_t id = c.Request("POST", "/upload", {}, &body);
  Exchange(c);
  const std::string sent = up.Receive();
  EXPECT_NE(sent.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << sent.substr(0, 300);
  EXPECT_TRUE(sent.ends_with("\r\n0\r\n\r\n")) << "the chunked body ends";
  ASSERT_TRUE(
      up.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: "
              "0\r\n\r\n"));
  Exchange(c);
  const auto& r = c.responses[id];
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(r.trailers.at("grpc-status"), "0");
}

TEST_F(Http2ConnectionTest, NoMoreStreamsThanTheAnnouncedLimitReachUpstreams) {
  std::vector<Peer> ups;
  for (int i = 0; i < 5; ++i) ups.push_back(loop_.AddPooledConnection("r#0", "127.0.0.1:9"));
  Peer peer = Connect();
  H2Client c(peer);
  Exchange(c);  // the gateway's SETTINGS (4 streams at most) arrive first
  std::vector<int32_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(c.Request("GET", "/s" + std::to_string(i)));
  Exchange(c);
  // nghttp2's client holds back what the server's SETTINGS forbid: never more than 4 open.
  int reached = 0;
  for (auto& u : ups) reached += !u.Receive().empty();
  EXPECT_EQ(reached, 4);
}

TEST_F(Http2ConnectionTest, DrainSendsGoawayAndLetsTheOpenStreamFinish) {
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  H2Client c(peer);
  const int32_t id = c.Request("GET", "/slow");
  Exchange(c);
  ASSERT_FALSE(up.Receive().empty());
  loop_.worker().Drain();
  loop_.worker().RunHandedOver();
  Exchange(c);
  EXPECT_EQ(c.goaway, NGHTTP2_NO_ERROR);
  EXPECT_FALSE(peer.Closed());
  ASSERT_TRUE(up.Send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  Exchange(c);
  EXPECT_EQ(c.responses[id].body, "ok");
  EXPECT_TRUE(peer.Closed());
}

TEST_F(Http2ConnectionTest, IdleConnectionGetsGoawayAtTheIdleTimeout) {
  Peer peer = Connect();
  H2Client c(peer);
  Exchange(c);
  loop_.Advance(59s);
  Exchange(c);
  EXPECT_EQ(c.goaway, -1);
  loop_.Advance(1s + 1ms);
  Exchange(c);
  EXPECT_EQ(c.goaway, NGHTTP2_NO_ERROR);
  EXPECT_TRUE(peer.Closed());
}

TEST_F(Http2ConnectionTest, SlowClientWindowHoldsTheUpstreamBack) {
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  H2Client c(peer, /*window=*/16 << 10);
  c.set_consume(false);  // the client reads nothing more than its window
  const int32_t id = c.Request("GET", "/big");
  Exchange(c);
  up.Receive();
  constexpr size_t kBody = 8 << 20;
  ASSERT_TRUE(up.Send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"));
  const std::string chunk(64 << 10, 'x');
  size_t written = 0;
  for (int stalls = 0; stalls < 3 && written < kBody;) {
    const size_t n = up.SendSome(chunk);
    written += n;
    stalls = n == 0 ? stalls + 1 : 0;
    c.Pump();
    loop_.RunUntilIdle();
  }
  EXPECT_LT(written, size_t{4} << 20) << "the gateway read on for a client that took nothing";
  EXPECT_LE(c.responses[id].body.size(), size_t{16} << 10);
}

// The raw attacks: hand-written frames, the gateway's answer read frame by frame.
class Http2AttackTest : public Http2ConnectionTest {
 protected:
  // HEADERS for a GET / (HPACK: indexed :method GET, :scheme http, :path /; :authority test
  // as a literal without indexing: nghttp2 refuses a request without an authority).
  static std::string Get() { return std::string("\x82\x86\x84\x01\x04test", 9); }
  Frames Attack(Peer& peer, const std::string& frames, bool preface = true) {
    const std::string start =
        preface ? std::string(kPreface) + Frame(NGHTTP2_SETTINGS, 0, 0, "") : std::string();
    EXPECT_TRUE(peer.Send(start + frames));
    std::string got;
    for (int i = 0; i < 8; ++i) {
      loop_.RunUntilIdle();
      got += peer.Receive();
    }
    return Frames(got);
  }
};

TEST_F(Http2AttackTest, RapidResetEndsTheConnection) {
  for (int i = 0; i < 4; ++i) loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  // CVE-2023-44487: open a stream and cancel it at once, again and again (the options allow
  // a burst of 20 resets and 1 more a second; the fake clock does not move).
  std::string frames;
  for (int32_t id = 1; id < 1 + 2 * 40; id += 2) {
    frames += Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, id, Get());
    frames += Frame(NGHTTP2_RST_STREAM, 0, id, std::string("\0\0\0\x08", 4));  // CANCEL
  }
  Frames got = Attack(peer, frames);
  EXPECT_EQ(got.goaway(), NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_TRUE(peer.Closed());
}

TEST_F(Http2AttackTest, ResetsWithinTheBudgetKeepTheConnection) {
  for (int i = 0; i < 4; ++i) loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  std::string frames;
  for (int32_t id = 1; id < 1 + 2 * 20; id += 2) {
    frames += Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, id, Get());
    frames += Frame(NGHTTP2_RST_STREAM, 0, id, std::string("\0\0\0\x08", 4));
  }
  Frames got = Attack(peer, frames);
  EXPECT_EQ(got.goaway(), -1);
  EXPECT_FALSE(peer.Closed());
  // A second later one more reset is allowed; two are not.
  loop_.Advance(1s);
  got =
      Attack(peer,
             Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 41, Get()) +
                 Frame(NGHTTP2_RST_STREAM, 0, 41, std::string("\0\0\0\x08", 4)),
             /*preface=*/false);
  EXPECT_EQ(got.goaway(), -1);
  got =
      Attack(peer,
             Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 43, Get()) +
                 Frame(NGHTTP2_RST_STREAM, 0, 43, std::string("\0\0\0\x08", 4)),
             /*preface=*/false);
  EXPECT_EQ(got.goaway(), NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(Http2AttackTest, ContinuationFloodEndsTheConnection) {
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  // CVE-2024-27316 class: a header block that never ends.
  std::string frames = Frame(NGHTTP2_HEADERS, 0, 1, Get());
  for (int i = 0; i < 100; ++i) {
    frames += Frame(NGHTTP2_CONTINUATION, 0, 1, std::string("\x40\x01x\x01y", 5));
  }
  Frames got = Attack(peer, frames);
  EXPECT_NE(got.goaway(), -1) << "no GOAWAY";
  EXPECT_TRUE(peer.Closed());
  EXPECT_EQ(up.Receive(), "");
}

TEST_F(Http2AttackTest, HpackBombIsAnswered431AndThenTheConnectionEnds) {
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer peer = Connect();
  // Stream 1 puts a 4000-byte field in the dynamic table (a literal with incremental
  // indexing, 4038 table bytes: under the 4096 we allow); every later header block names it
  // 20 times in one byte each: 80 KB of headers from 23 bytes.
  std::string fill = Get() + "\x40\x06x-bomb" + "\x7f\xa1\x1e" + std::string(4000, 'a');
  // Three bombs a write: the options allow 4 open streams, and stream 1 stays open.
  std::string frames =
      Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1, fill);
  Frames got("");
  for (int32_t id = 3; id < 3 + 2 * 12; id += 2) {
    frames += Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, id,
                    Get() + std::string(20, '\xbe'));
    if ((id - 1) % 6 == 0) {
      for (auto& f : Attack(peer, frames, /*preface=*/id == 7).all) got.all.push_back(f);
      frames.clear();
    }
  }
  int answered_431 = 0;
  nghttp2_hd_inflater* inflater;
  nghttp2_hd_inflate_new(&inflater);
  for (const auto& f : got.all) {
    if (f.type != NGHTTP2_HEADERS) continue;
    const uint8_t* in = reinterpret_cast<const uint8_t*>(f.payload.data());
    size_t left = f.payload.size();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      const ssize_t n = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
      if (n < 0) break;
      in += n;
      left -= static_cast<size_t>(n);
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) &&
          std::string_view(reinterpret_cast<char*>(nv.name), nv.namelen) == ":status" &&
          std::string_view(reinterpret_cast<char*>(nv.value), nv.valuelen) == "431") {
        ++answered_431;
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater);
        break;
      }
      if (left == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) break;
    }
  }
  nghttp2_hd_inflate_del(inflater);
  EXPECT_EQ(answered_431, Http2Connection::kMaxOversizedHeaders);
  EXPECT_EQ(got.goaway(), NGHTTP2_ENHANCE_YOUR_CALM);
  // Only stream 1 (a normal request) reached the upstream.
  const std::string sent = up.Receive();
  EXPECT_EQ(sent.find("GET / HTTP/1.1"), sent.rfind("GET / HTTP/1.1")) << sent.size();
}

TEST_F(Http2AttackTest, SettingsFloodEndsTheConnection) {
  Peer peer = Connect();
  std::string frames;
  for (int i = 0; i < 300; ++i) frames += Frame(NGHTTP2_SETTINGS, 0, 0, "");
  Frames got = Attack(peer, frames);
  EXPECT_EQ(got.goaway(), NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_TRUE(peer.Closed());
}

}  // namespace
}  // namespace berth::gateway::server
