// BodyPump on the fake loop: a client and an upstream as socket pairs, the worker driven by
// the test. Each test feeds bytes from one side and checks what the other side received.
#include "gateway/server/body_pump.h"

#include <gtest/gtest.h>

#include "gateway/server/cluster_manager.h"
#include "gateway/server/retry_state.h"
#include "gateway/server/stats.h"
#include "gateway/testing/worker_loop.h"

namespace berth::gateway::server {
namespace {

using namespace std::chrono_literals;

using testing::Peer;
using testing::TestConnection;
using testing::WorkerLoop;
using Send = BodyPump::Send;
using End = BodyPump::End;

class BodyPumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_.SetRoutes(
        R"(routes: [{name: r, upstreams: ["127.0.0.1:9"], retry: {attempts: 1, on: [503]}}])");
    auto [down, client] = loop_.SocketPair();
    client_ = std::move(client);
    conn_ = std::make_unique<TestConnection>(loop_, std::move(down));
    auto [up, upstream] = loop_.SocketPair();
    up_.emplace(std::move(up));
    upstream_ = std::move(upstream);
  }

  // The request's bytes as received (head and whatever body came with it); the head string
  // to send upstream is "HEAD\r\n\r\n".
  void Receive(std::string_view bytes) {
    conn_->ReceiveHead(bytes);
    conn_->Prepare(ex_);
    ASSERT_NE(ex_.route, nullptr);
    conn_->down().Out() = "HEAD\r\n\r\n";
    pump_.emplace(conn_->down(), ex_);
  }

  // Sends a bodiless GET (of `version`) and starts forwarding the answer.
  std::shared_ptr<std::optional<BodyPump::Response>> Answer(std::string_view version = "1.1") {
    Receive("GET / HTTP/" + std::string(version) + "\r\nHost: t\r\n\r\n");
    EXPECT_EQ(pump_->SendRequestNow(*up_), Send::kDone);
    EXPECT_EQ(upstream_.Receive(), "HEAD\r\n\r\n");
    retry_.emplace(ex_.route->retry, load_, stats_, true, false);
    return loop_.Spawn(pump_->ForwardResponse(*up_, parser_, *retry_));
  }
  std::string Upgrade(std::string_view after);

  WorkerLoop loop_;
  Peer client_;
  Peer upstream_;
  std::unique_ptr<TestConnection> conn_;
  std::optional<asio::ip::tcp::socket> up_;
  Exchange ex_;
  std::optional<BodyPump> pump_;
  http::Parser parser_{http::MessageKind::kResponse};
  ClusterLoad load_;
  ClusterStats stats_;
  std::optional<RetryState> retry_;
};

TEST_F(BodyPumpTest, SendsTheHeadAndABufferedBodyWithoutSuspending) {
  Receive("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(pump_->SendRequestNow(*up_), Send::kDone);
  EXPECT_EQ(upstream_.Receive(), "HEAD\r\n\r\nhello");
  EXPECT_TRUE(ex_.request_complete);
  EXPECT_TRUE(ex_.body_written);
  EXPECT_EQ(ex_.bytes_in, 5u);
}

TEST_F(BodyPumpTest, StreamsABodyAsItArrives) {
  Receive("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhell");
  ASSERT_EQ(pump_->SendRequestNow(*up_), Send::kPending);
  EXPECT_EQ(upstream_.Receive(), "HEAD\r\n\r\nhell");
  auto sent = loop_.Spawn(pump_->SendRequestRest(*up_));
  loop_.RunUntilIdle();
  EXPECT_FALSE(*sent);
  ASSERT_TRUE(client_.Send("o w"));
  loop_.RunUntilIdle();
  EXPECT_FALSE(*sent);
  EXPECT_EQ(upstream_.Receive(), "o w");
  ASSERT_TRUE(client_.Send("orl"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*sent);
  EXPECT_EQ(**sent, Send::kDone);
  EXPECT_EQ(upstream_.Receive(), "orl");
  EXPECT_EQ(ex_.bytes_in, 10u);
}

TEST_F(BodyPumpTest, ChunkedBodyGoesRawAndAMalformedChunkStopsIt) {
  Receive("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  ASSERT_EQ(pump_->SendRequestNow(*up_), Send::kPending);
  EXPECT_EQ(upstream_.Receive(), "HEAD\r\n\r\n5\r\nhello\r\n");
  auto sent = loop_.Spawn(pump_->SendRequestRest(*up_));
  ASSERT_TRUE(client_.Send("zz\r\n"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*sent);
  EXPECT_EQ(**sent, Send::kClientError);
  EXPECT_EQ(pump_->client_error(), 400);
  EXPECT_EQ(upstream_.Receive(), "");
}

TEST_F(BodyPumpTest, MalformedBodyThatCameWithTheHeadIsNeverSent) {
  Receive("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n");
  EXPECT_EQ(pump_->SendRequestNow(*up_), Send::kClientError);
  EXPECT_EQ(upstream_.Receive(), "");
}

TEST_F(BodyPumpTest, ClientLeavingMidBodyEndsTheRequest) {
  Receive("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
  ASSERT_EQ(pump_->SendRequestNow(*up_), Send::kPending);
  auto sent = loop_.Spawn(pump_->SendRequestRest(*up_));
  client_.Close();
  loop_.RunUntilIdle();
  ASSERT_TRUE(*sent);
  EXPECT_EQ(**sent, Send::kClientGone);
}

TEST_F(BodyPumpTest, UpstreamThatClosedFailsTheWrite) {
  Receive("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  upstream_.Close();
  EXPECT_EQ(pump_->SendRequestNow(*up_), Send::kUpstreamFailed);
}

TEST_F(BodyPumpTest, ForwardsASmallAnswerWithItsHeadRebuilt) {
  auto r = Answer();
  ASSERT_TRUE(upstream_.Send(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kComplete);
  EXPECT_EQ((*r)->status, 200);
  EXPECT_TRUE((*r)->reusable);
  EXPECT_FALSE((*r)->close_after);
  EXPECT_EQ(client_.Receive(), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello");
  EXPECT_EQ(ex_.bytes_out, 5u);
}

TEST_F(BodyPumpTest, ChunkedAnswerStaysChunkedForHttp11) {
  auto r = Answer();
  ASSERT_TRUE(
      upstream_.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  loop_.RunUntilIdle();
  EXPECT_EQ(client_.Receive(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  ASSERT_TRUE(upstream_.Send("0\r\nX-Trailer: t\r\n\r\n"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kComplete);
  EXPECT_EQ(client_.Receive(), "0\r\nX-Trailer: t\r\n\r\n");
}

TEST_F(BodyPumpTest, ChunkedAnswerIsDechunkedForHttp10AndClosesAfter) {
  auto r = Answer("1.0");
  ASSERT_TRUE(
      upstream_.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
                     "world\r\n0\r\n\r\n"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kComplete);
  EXPECT_TRUE((*r)->close_after);
  EXPECT_EQ(client_.Receive(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world");
}

TEST_F(BodyPumpTest, InterimAnswersAreDropped) {
  auto r = Answer();
  ASSERT_TRUE(
      upstream_.Send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                     "HTTP/1.1 204 No Content\r\n\r\n"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->status, 204);
  EXPECT_EQ(client_.Receive(), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_F(BodyPumpTest, BodyUntilCloseEndsWithTheUpstreamConnection) {
  auto r = Answer();
  ASSERT_TRUE(upstream_.Send("HTTP/1.1 200 OK\r\n\r\nabc"));
  loop_.RunUntilIdle();
  EXPECT_FALSE(*r);
  upstream_.Close();
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kComplete);
  EXPECT_FALSE((*r)->reusable);
  EXPECT_TRUE((*r)->close_after);
  EXPECT_EQ(client_.Receive(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc");
}

TEST_F(BodyPumpTest, RetriedStatusForwardsNothing) {
  auto r = Answer();
  ASSERT_TRUE(upstream_.Send("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kRetry);
  EXPECT_EQ(stats_.retries.value(), 1u);
  EXPECT_EQ(client_.Receive(), "");
}

TEST_F(BodyPumpTest, UnparseableAnswerForwardsNothing) {
  auto r = Answer();
  ASSERT_TRUE(upstream_.Send("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kBadResponse);
  EXPECT_FALSE((*r)->head_sent);
  EXPECT_EQ(client_.Receive(), "");
}

TEST_F(BodyPumpTest, UpstreamResetMidBodyAfterTheHeadWentOut) {
  auto r = Answer();
  ASSERT_TRUE(upstream_.Send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  loop_.RunUntilIdle();
  upstream_.Close();
  loop_.RunUntilIdle();
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->end, End::kUpstreamFailed);
  EXPECT_TRUE((*r)->head_sent);
  EXPECT_EQ(client_.Receive(), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
}

TEST_F(BodyPumpTest, SlowClientHoldsTheUpstreamBack) {
  auto r = Answer();
  constexpr size_t kBody = 8 << 20;
  ASSERT_TRUE(
      upstream_.Send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"));
  const std::string chunk(64 << 10, 'x');
  // The client reads nothing: the gateway stops reading the upstream once its buffer and the
  // sockets' are full, so the upstream's writes stop being taken long before the body ends.
  size_t written = 0;
  for (int stalls = 0; stalls < 3 && written < kBody;) {
    const size_t n = upstream_.SendSome(chunk);
    written += n;
    stalls = n == 0 ? stalls + 1 : 0;
    loop_.RunUntilIdle();
  }
  EXPECT_LT(written, size_t{4} << 20) << "the gateway kept reading a body nobody took";
  // Once the client reads, the rest flows.
  size_t received = 0;
  while (!*r) {
    if (written < kBody) {
      written += upstream_.SendSome(
          std::string_view(chunk).substr(0, std::min(chunk.size(), kBody - written)));
    }
    loop_.RunUntilIdle();
    received += client_.Receive().size();
  }
  received += client_.Receive().size();
  EXPECT_EQ((*r)->end, End::kComplete);
  EXPECT_EQ(ex_.bytes_out, kBody);
  EXPECT_GT(received, kBody);  // head and body
}

// An upgrade request forwarded and answered 101 (`after` follows the 101's head at once);
// what the client received.
std::string BodyPumpTest::Upgrade(std::string_view after) {
  Receive("GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(pump_->SendRequestNow(*up_), Send::kDone);
  upstream_.Receive();
  retry_.emplace(ex_.route->retry, load_, stats_, true, false);
  auto r = loop_.Spawn(pump_->ForwardResponse(*up_, parser_, *retry_));
  EXPECT_TRUE(upstream_.Send(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
      std::string(after)));
  loop_.RunUntilIdle();
  EXPECT_TRUE(*r && (*r)->end == End::kUpgraded);
  return client_.Receive();
}

TEST_F(BodyPumpTest, UpgradeBecomesATunnelBothWays) {
  EXPECT_EQ(
      Upgrade("hi"),
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  auto done = loop_.Spawn(pump_->Tunnel(*up_, 0ms));
  loop_.RunUntilIdle();
  EXPECT_EQ(client_.Receive(), "hi");  // bytes that came with the 101
  ASSERT_TRUE(client_.Send("ping"));
  loop_.RunUntilIdle();
  EXPECT_EQ(upstream_.Receive(), "ping");
  ASSERT_TRUE(upstream_.Send("pong"));
  loop_.RunUntilIdle();
  EXPECT_EQ(client_.Receive(), "pong");
  EXPECT_FALSE(*done);
  upstream_.Close();
  loop_.RunUntilIdle();
  EXPECT_TRUE(*done);
  EXPECT_TRUE(client_.Closed());
}

TEST_F(BodyPumpTest, TunnelIdleForItsTimeoutIsClosedAndEachByteRestartsTheClock) {
  ASSERT_TRUE(Upgrade("").starts_with("HTTP/1.1 101"));
  conn_->down().WatchUpstream(&*up_);
  auto done = loop_.Spawn(pump_->Tunnel(*up_, 30s));
  loop_.RunUntilIdle();
  loop_.Advance(29s);
  EXPECT_FALSE(*done);
  ASSERT_TRUE(client_.Send("ping"));  // a byte from the client: 30 s more
  loop_.RunUntilIdle();
  EXPECT_EQ(upstream_.Receive(), "ping");
  loop_.Advance(29s);
  EXPECT_FALSE(*done);
  ASSERT_TRUE(upstream_.Send("pong"));  // and one from the upstream
  loop_.RunUntilIdle();
  EXPECT_EQ(client_.Receive(), "pong");
  loop_.Advance(29s);
  EXPECT_FALSE(*done);
  EXPECT_FALSE(client_.Closed());
  loop_.Advance(2s);  // 31 s without a byte
  EXPECT_TRUE(*done);
  EXPECT_TRUE(client_.Closed());
  EXPECT_TRUE(upstream_.Closed());
}

}  // namespace
}  // namespace berth::gateway::server
