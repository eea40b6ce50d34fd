// gRPC through the gateway with gRPC's own client and server (Debian's libgrpc++): the four
// call shapes, status and message passing, deadlines, retries on gRPC codes, an instance
// killed under load, per-method metrics. The gateway runs in-process in front of
// grpc_echo_server processes (echo_server.cc) on loopback, upstream protocol h2c.
// No timed assertions: waits are upper bounds for "never happened".
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "echo.grpc.pb.h"
#include "gateway/gateway.h"
#include "gateway/router/config.h"
#include "harness/harness.h"

namespace berth::gateway {
namespace {

using berth::test::Echo;
using berth::test::EchoReply;
using berth::test::EchoRequest;
using berth::testing::BinaryPath;
using berth::testing::FreePort;
using berth::testing::HttpGet;
using berth::testing::Process;
using berth::testing::TempDir;
using berth::testing::WaitFor;
using berth::testing::WaitForTcp;

class GrpcIt : public ::testing::Test {
 protected:
  // A grpc_echo_server named `name`; `extra` flags (--fail-code N).
  int StartServer(const std::string& name, std::vector<std::string> extra = {}) {
    const int port = FreePort();
    std::vector<std::string> argv{BinaryPath("tests/grpc/grpc_echo_server"), "--port",
                                  std::to_string(port), "--name", name};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string error;
    servers_[name] = Process::Start(name, argv, {}, &error);
    EXPECT_TRUE(servers_[name]) << error;
    EXPECT_TRUE(WaitForTcp(port)) << name << " never listened";
    return port;
  }

  void StartGateway(const std::string& yaml) {
    std::string path = dir_.Sub("routes.yaml");
    std::ofstream(path) << yaml;
    GatewayOptions o;
    o.listen = "127.0.0.1:0";
    o.workers = 2;
    o.config_path = path;
    o.admin_listen = "127.0.0.1:0";
    auto gw = Gateway::Create(o);
    ASSERT_TRUE(gw) << gw.error().message;
    gw_ = std::move(*gw);
    auto started = gw_->Start();
    ASSERT_TRUE(started) << started.error().message;
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(gw_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = Echo::NewStub(channel_);
  }

  // Routes to the given servers ("127.0.0.1:P"), upstream h2c, with `extra` route settings.
  static std::string Routes(const std::vector<int>& ports, const std::string& extra = "") {
    std::string list;
    for (int p : ports)
      list += (list.empty() ? "" : ", ") + ("\"127.0.0.1:" + std::to_string(p) + "\"");
    return "routes:\n  - {name: grpc, match: {prefix: /berth.test.Echo/}, upstreams: [" + list +
           "], upstream_protocol: h2c" + (extra.empty() ? "" : ", " + extra) + "}\n";
  }

  grpc::Status Unary(const std::string& message, EchoReply* reply, int fail_code = 0,
                     std::chrono::milliseconds deadline = std::chrono::seconds(30),
                     int delay_ms = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    EchoRequest req;
    req.set_message(message);
    req.set_fail_code(fail_code);
    req.set_fail_message(fail_code ? "asked to fail: " + message : "");
    req.set_delay_ms(delay_ms);
    return stub_->Unary(&ctx, req, reply);
  }

  void TearDown() override {
    if (gw_) gw_->Stop();
  }

  TempDir dir_{"grpc-it"};
  std::map<std::string, std::unique_ptr<Process>> servers_;
  std::unique_ptr<Gateway> gw_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Echo::Stub> stub_;
};

TEST_F(GrpcIt, UnaryCallsReachTheServiceAndItsAnswerComesBack) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  for (int i = 0; i < 20; ++i) {
    EchoReply reply;
    grpc::Status st = Unary("hello " + std::to_string(i), &reply);
    ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    EXPECT_EQ(reply.message(), "hello " + std::to_string(i));
    EXPECT_EQ(reply.server(), "a");
  }
}

// Regression: requests that arrived while the first upstream HTTP/2 connection was opening
// waited for it on a one-waiter event; all but one slept until their deadline.
TEST_F(GrpcIt, CallsArrivingWhileTheUpstreamConnectionOpensAllComplete) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  std::atomic<int> ok{0};
  std::vector<std::thread> calls;
  for (int t = 0; t < 8; ++t) {
    calls.emplace_back([&] {
      EchoReply reply;
      if (Unary("first", &reply, 0, std::chrono::seconds(20)).ok()) ++ok;
    });
  }
  for (auto& c : calls) c.join();
  EXPECT_EQ(ok, 8);
}

TEST_F(GrpcIt, StatusCodeAndMessagePassThrough) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  EchoReply reply;
  grpc::Status st = Unary("x", &reply, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "asked to fail: x");
}

TEST_F(GrpcIt, ServerStreamingDeliversEveryMessageInOrder) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  grpc::ClientContext ctx;
  EchoRequest req;
  req.set_message("s");
  req.set_count(200);
  auto reader = stub_->ServerStream(&ctx, req);
  EchoReply reply;
  int n = 0;
  while (reader->Read(&reply)) {
    EXPECT_EQ(reply.index(), n);
    ++n;
  }
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(n, 200);
}

TEST_F(GrpcIt, ServerStreamThatFailsAfterMessagesKeepsThemAndItsStatus) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  grpc::ClientContext ctx;
  EchoRequest req;
  req.set_count(3);
  req.set_fail_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
  req.set_fail_message("out of quota");
  auto reader = stub_->ServerStream(&ctx, req);
  EchoReply reply;
  int n = 0;
  while (reader->Read(&reply)) ++n;
  grpc::Status st = reader->Finish();
  EXPECT_EQ(n, 3);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(), "out of quota");
}

TEST_F(GrpcIt, ClientStreamingSendsEveryMessage) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  grpc::ClientContext ctx;
  EchoReply reply;
  auto writer = stub_->ClientStream(&ctx, &reply);
  std::string expect;
  for (int i = 0; i < 100; ++i) {
    EchoRequest req;
    req.set_message(std::to_string(i % 10));
    expect += req.message();
    ASSERT_TRUE(writer->Write(req));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status st = writer->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(reply.message(), expect);
  EXPECT_EQ(reply.index(), 100);
}

TEST_F(GrpcIt, BidirectionalStreamAnswersEachMessageAsItComes) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  grpc::ClientContext ctx;
  auto stream = stub_->Bidi(&ctx);
  for (int i = 0; i < 50; ++i) {
    EchoRequest req;
    req.set_message("m" + std::to_string(i));
    ASSERT_TRUE(stream->Write(req));
    EchoReply reply;
    // The answer to this message arrives before the next one is sent: the streams are not
    // buffered whole in either direction.
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.message(), "m" + std::to_string(i));
    EXPECT_EQ(reply.index(), i);
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcIt, DeadlineFromTheClientEndsTheCallAtTheGateway) {
  const int a = StartServer("a");
  StartGateway(Routes({a}));
  EchoReply reply;
  grpc::Status st = Unary("slow", &reply, 0, std::chrono::milliseconds(300), /*delay_ms=*/5000);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(GrpcIt, UnavailableInstanceIsRetriedOnTheOther) {
  const int bad = StartServer("bad", {"--fail-code", "14"});
  const int good = StartServer("good");
  StartGateway(Routes({bad, good}, "retry: {attempts: 2, on: [unavailable]}"));
  for (int i = 0; i < 40; ++i) {
    EchoReply reply;
    grpc::Status st = Unary("r", &reply);
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_code() << " " << st.error_message();
    EXPECT_EQ(reply.server(), "good");
  }
  auto metrics = HttpGet(gw_->admin_port(), "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("berth_gateway_grpc_requests_total{route=\"grpc\",method=\"/berth.test."
                          "Echo/Unary\",code=\"ok\"} 40"),
            std::string::npos)
      << *metrics;
}

TEST_F(GrpcIt, KilledInstanceUnderLoadFailsNoCall) {
  const int a = StartServer("a");
  const int b = StartServer("b");
  StartGateway(Routes({a, b}, "retry: {attempts: 3, on: [unavailable], min_retry_concurrency: 8}"));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string last_error;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (!stop) {
        EchoReply reply;
        grpc::Status st = Unary("k", &reply);
        if (st.ok()) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard lock(mu);
          last_error = std::to_string(st.error_code()) + " " + st.error_message();
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ok > 200; })) << "calls never flowed";
  servers_["a"]->Kill(SIGKILL);
  servers_["a"]->Wait();
  const int at_kill = ok;
  ASSERT_TRUE(WaitFor([&] { return ok > at_kill + 500; })) << "calls stopped after the kill";
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed, 0) << last_error;
}

TEST_F(GrpcIt, RouteChangesEvery100msBreakNoStreamAndFailNoCall) {
  const int a = StartServer("a");
  const int b = StartServer("b");
  StartGateway(Routes({a}));
  // Two tables, swapped every 100 ms while calls run: a different endpoint list and policy.
  auto one = router::ParseConfig(Routes({a}), "one");
  auto two = router::ParseConfig(Routes({a, b}, "lb: least_request"), "two");
  ASSERT_TRUE(one && two);
  std::atomic<bool> stop{false};
  std::atomic<int> changes{0};
  std::thread changer([&] {
    while (!stop) {
      gw_->Apply(changes % 2 ? *one : *two);
      ++changes;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::atomic<int> failed{0}, ok{0};
  std::thread unary([&] {
    while (!stop) {
      EchoReply reply;
      (Unary("u", &reply).ok() ? ok : failed)++;
    }
  });
  // One bidirectional stream lives through all the changes (the deadline only bounds a hang).
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub_->Bidi(&ctx);
  bool broken = false;
  int i = 0;
  for (; !broken && (changes < 20 || i < 50); ++i) {
    EchoRequest req;
    req.set_message("m" + std::to_string(i));
    EchoReply reply;
    broken = !stream->Write(req) || !stream->Read(&reply) || reply.index() != i;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  changer.join();
  unary.join();
  EXPECT_FALSE(broken) << "the stream broke at message " << i - 1 << " after " << changes
                       << " changes";
  stream->WritesDone();
  const grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_GE(changes, 20);
  EXPECT_GT(ok, 0);
  EXPECT_EQ(failed, 0);
}

}  // namespace
}  // namespace berth::gateway
