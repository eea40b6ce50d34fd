#include "gateway/server/http1_heads.h"

#include <gtest/gtest.h>

namespace berth::gateway::server {
namespace {

// The head of `bytes` as the request (or response) parser reports it.
struct Parsed {
  explicit Parsed(std::string bytes, http::MessageKind kind = http::MessageKind::kRequest)
      : parser(kind), text(std::move(bytes)) {
    auto step = parser.Feed(text);
    EXPECT_TRUE(step && step->event == http::ParseEvent::kHead) << text;
  }
  const http::MessageHead& head() const { return parser.head(); }
  http::Parser parser;
  std::string text;
};

TEST(Http1HeadsTest, UpstreamRequestDropsHopByHopFieldsAndAddsForwardingOnes) {
  Parsed req(
      "POST /a?b=1 HTTP/1.1\r\nHost: api\r\nConnection: keep-alive, X-Private\r\n"
      "Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: x\r\nProxy-Authorization: basic\r\n"
      "Transfer-Encoding: chunked\r\nX-Private: secret\r\nExpect: 100-continue\r\n"
      "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: gopher\r\nX-Request-Id: old\r\n"
      "Accept: */*\r\n\r\n");
  HeaderList add{{"x-user", "alice"}};
  std::string out;
  AppendUpstreamRequestHead(out, req.head(),
                            {"POST", "/rewritten?b=1", "192.0.2.7", true, "rid-1", &add});
  EXPECT_EQ(out,
            "POST /rewritten?b=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\n"
            "Transfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
            "X-Forwarded-Proto: https\r\nX-Request-Id: rid-1\r\nx-user: alice\r\n\r\n");
}

TEST(Http1HeadsTest, UpstreamRequestKeepsAnUpgradeAndItsProtocol) {
  Parsed req(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: k\r\n\r\n");
  std::string out;
  AppendUpstreamRequestHead(out, req.head(), {"GET", "/ws", "1.2.3.4", false, "r", nullptr});
  EXPECT_EQ(out,
            "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\n"
            "X-Request-Id: r\r\n\r\n");
}

TEST(Http1HeadsTest, DownstreamResponseFramedForTheClient) {
  Parsed resp(
      "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: t\r\n"
      "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
      http::MessageKind::kResponse);
  HeaderList cors{{"access-control-allow-origin", "*"}};
  struct Case {
    DownstreamHead d;
    std::string tail;
  };
  const Case cases[] = {
      {{&cors, false, false, false, false},
       "Transfer-Encoding: chunked\r\naccess-control-allow-origin: *\r\n\r\n"},
      {{nullptr, false, true, false, false},
       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"},
      {{nullptr, false, true, true, true}, "Connection: close\r\n\r\n"},
      {{nullptr, false, false, false, true},
       "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"},
  };
  for (const auto& c : cases) {
    std::string out;
    AppendDownstreamResponseHead(out, resp.head(), c.d);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + c.tail);
  }
}

TEST(Http1HeadsTest, SwitchingProtocolsKeepsTheUpgrade) {
  Parsed resp(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
      http::MessageKind::kResponse);
  std::string out;
  AppendDownstreamResponseHead(out, resp.head(), {nullptr, true, false, false, false});
  EXPECT_EQ(
      out, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
}

TEST(Http1HeadsTest, LocalReplyHasLengthTypeIdAndNoBodyForHead) {
  HeaderList headers{{"retry-after", "1"}};
  HeaderList add{{"vary", "origin"}};
  std::string out;
  AppendLocalReply(out, 503, "busy\n", headers, &add, "rid", true, false);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nretry-after: 1\r\nvary: origin\r\n"
            "X-Request-Id: rid\r\nConnection: close\r\n\r\nbusy\n");
  out.clear();
  AppendLocalReply(out, 404, "no route\n", {}, nullptr, "", false, /*head_only=*/true);
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n");
}

TEST(Http1HeadsTest, ConnectionTokensAndCookies) {
  EXPECT_TRUE(NamedInConnection("close, X-Foo ,bar", "x-foo"));
  EXPECT_TRUE(NamedInConnection("close, X-Foo ,bar", "BAR"));
  EXPECT_FALSE(NamedInConnection("close, X-Foo", "x-fo"));
  EXPECT_EQ(CookieValue("a=1; sid=xyz; b=2", "sid"), "xyz");
  EXPECT_EQ(CookieValue("a=1", "sid"), std::nullopt);
  EXPECT_TRUE(IEquals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(IEquals("a[", "A{"));  // only letters fold
}

TEST(Http1HeadsTest, RequestIds) {
  EXPECT_TRUE(ValidRequestId("abc-DEF_1.2"));
  EXPECT_FALSE(ValidRequestId(""));
  EXPECT_FALSE(ValidRequestId("a b"));
  EXPECT_FALSE(ValidRequestId(std::string(129, 'a')));
  char id[36];
  FormatRequestId(id, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
  EXPECT_EQ(std::string_view(id, 36), "01234567-89ab-4def-bedc-ba9876543210");
}

TEST(Http1HeadsTest, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(IdempotentMethod(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT"}) EXPECT_FALSE(IdempotentMethod(m)) << m;
}

}  // namespace
}  // namespace berth::gateway::server
