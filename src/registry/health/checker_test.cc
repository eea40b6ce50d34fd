// Health checks against real sockets (a local HTTP stub, closed ports, local processes) with
// the fake store. The integration test in tests/registry does the same over sqlite.
#include "registry/health/checker.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <thread>

#include "registry/testing/http_stub.h"
#include "registry/testing/local_exec_runner.h"
#include "store/testing/fake_store.h"

namespace berth::registry::health {
namespace {

using namespace std::chrono_literals;

// Polls `cond` until true or a generous deadline; returns whether it became true.
bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds deadline = 20s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

class CheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (checker_) checker_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  void StartChecker() {
    checker_ = std::make_unique<HealthChecker>(io_, registry_, &exec_,
                                               HealthCheckerOptions{.sweep_interval = 0ms});
    ASSERT_TRUE(checker_->Start().has_value());
  }
  Health HealthOf(const std::string& id) {
    auto in = registry_.GetInstance("default", "web", id);
    return in ? in->health : Health::kCritical;
  }
  // An HTTP check of `stub` every 100 ms.
  static CheckSpec QuickHttpCheck(const registry::testing::HttpStub& stub) {
    CheckSpec check;
    check.http = fmt::format("http://127.0.0.1:{}/", stub.port());
    check.interval = 100ms;
    check.timeout = 100ms;
    return check;
  }
  Instance WithCheck(std::string id, CheckSpec check) {
    Instance in;
    in.service = "web";
    in.id = std::move(id);
    in.address = "127.0.0.1";
    in.port = 1;
    if (check.kind == CheckSpec::Kind::kExec) in.metadata[std::string(kContainerMetadataKey)] = "c";
    in.check = std::move(check);
    return in;
  }

  SystemClock clock_;
  store::testing::FakeStore store_{clock_};
  Registry registry_{store_, clock_};
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread thread_;
  testing::LocalExecRunner exec_{io_};
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(CheckerTest, HttpInstanceLeavesWithinFallAndReturnsWithinRise) {
  registry::testing::HttpStub stub;
  CheckSpec check;
  check.http = fmt::format("http://127.0.0.1:{}/health", stub.port());
  check.interval = 100ms;
  check.timeout = 100ms;
  check.rise = 2;
  check.fall = 3;
  StartChecker();
  ASSERT_TRUE(registry_.Register(WithCheck("a", check)).has_value());
  ASSERT_TRUE(WaitFor([&] { return HealthOf("a") == Health::kPassing; }));

  stub.SetStatus(500);
  ASSERT_TRUE(WaitFor([&] { return HealthOf("a") == Health::kCritical; }));
  auto in = registry_.GetInstance("default", "web", "a");
  EXPECT_EQ(in->health_output, "HTTP 500 (3 consecutive)");
  // Exactly `fall` failing answers led to it; one more may be in flight by now.
  EXPECT_GE(stub.Served(500), 3);
  EXPECT_LE(stub.Served(500), 4);

  stub.SetStatus(200);
  int64_t ok_before = stub.Served(200);
  ASSERT_TRUE(WaitFor([&] { return HealthOf("a") == Health::kPassing; }));
  in = registry_.GetInstance("default", "web", "a");
  EXPECT_EQ(in->health_output, "HTTP 200 (2 consecutive)");
  EXPECT_GE(stub.Served(200) - ok_before, 2);
  EXPECT_LE(stub.Served(200) - ok_before, 3);
}

TEST_F(CheckerTest, OneBadAnswerDoesNotFlap) {
  registry::testing::HttpStub stub;
  CheckSpec check;
  check.http = fmt::format("http://127.0.0.1:{}/", stub.port());
  check.interval = 100ms;
  check.timeout = 100ms;
  check.fall = 3;
  StartChecker();
  ASSERT_TRUE(registry_.Register(WithCheck("a", check)).has_value());
  ASSERT_TRUE(WaitFor([&] { return HealthOf("a") == Health::kPassing; }));
  // The count goes up just after the write becomes visible: wait for it too.
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().transitions >= 1; }));
  int64_t transitions = checker_->stats().transitions;
  stub.SetStatus(503);
  ASSERT_TRUE(WaitFor([&] { return stub.Served(503) >= 1; }));
  stub.SetStatus(200);
  int64_t after = stub.Served(200);
  ASSERT_TRUE(WaitFor([&] { return stub.Served(200) >= after + 3; }));
  EXPECT_EQ(HealthOf("a"), Health::kPassing);
  EXPECT_EQ(checker_->stats().transitions, transitions);
}

TEST_F(CheckerTest, TooManyRequestsIsAWarning) {
  registry::testing::HttpStub stub;
  stub.SetStatus(429);
  CheckSpec check;
  check.http = fmt::format("http://127.0.0.1:{}/", stub.port());
  check.interval = 100ms;
  check.timeout = 100ms;
  StartChecker();
  ASSERT_TRUE(registry_.Register(WithCheck("a", check)).has_value());
  ASSERT_TRUE(WaitFor([&] { return HealthOf("a") == Health::kWarning; }));
}

TEST_F(CheckerTest, TcpChecksPassOnConnectAndFailOnRefusal) {
  registry::testing::HttpStub stub;  // something listening
  CheckSpec up;
  up.kind = CheckSpec::Kind::kTcp;
  up.tcp = fmt::format("127.0.0.1:{}", stub.port());
  up.interval = 100ms;
  up.timeout = 100ms;
  CheckSpec down = up;
  down.tcp = "127.0.0.1:1";  // nothing listens on port 1
  StartChecker();
  ASSERT_TRUE(registry_.Register(WithCheck("up", up)).has_value());
  ASSERT_TRUE(registry_.Register(WithCheck("down", down)).has_value());
  ASSERT_TRUE(WaitFor([&] { return HealthOf("up") == Health::kPassing; }));
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().probes_failed >= 2; }));
  EXPECT_EQ(HealthOf("down"), Health::kCritical);
}

TEST_F(CheckerTest, ExecChecksMapExitCodes) {
  auto exec = [](std::vector<std::string> argv) {
    CheckSpec c;
    c.kind = CheckSpec::Kind::kExec;
    c.command = std::move(argv);
    c.interval = 200ms;
    c.timeout = 100ms;
    return c;
  };
  StartChecker();
  ASSERT_TRUE(registry_.Register(WithCheck("ok", exec({"true"}))).has_value());
  ASSERT_TRUE(
      registry_.Register(WithCheck("warn", exec({"sh", "-c", "echo busy; exit 1"}))).has_value());
  ASSERT_TRUE(registry_.Register(WithCheck("slow", exec({"sleep", "5"}))).has_value());
  ASSERT_TRUE(WaitFor([&] { return HealthOf("ok") == Health::kPassing; }));
  ASSERT_TRUE(WaitFor([&] { return HealthOf("warn") == Health::kWarning; }));
  EXPECT_EQ(registry_.GetInstance("default", "web", "warn")->health_output,
            "exit 1: busy (first result)");
  // The slow one is killed at its timeout and stays critical; the checker goes on.
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().probes >= 6; }));
  EXPECT_EQ(HealthOf("slow"), Health::kCritical);
}

TEST_F(CheckerTest, ChecksStopWhenTheInstanceGoes) {
  registry::testing::HttpStub stub;
  const CheckSpec check = QuickHttpCheck(stub);
  StartChecker();
  ASSERT_TRUE(registry_.Register(WithCheck("a", check)).has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 1; }));
  ASSERT_TRUE(registry_.Deregister("default", "web", "a").has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 0; }));
}

// The scheduler skips instances without a check unless it had scheduled one for their key:
// dropping a check by re-registering must still reach it, and instances that never had a
// check must not count as checks.
TEST_F(CheckerTest, ACheckStopsWhenItsInstanceIsReRegisteredWithoutOne) {
  registry::testing::HttpStub stub;
  const CheckSpec check = QuickHttpCheck(stub);
  StartChecker();
  Instance plain;
  plain.service = "web";
  plain.id = "plain";
  plain.address = "127.0.0.1";
  plain.port = 2;
  ASSERT_TRUE(registry_.Register(plain).has_value());
  ASSERT_TRUE(registry_.Register(WithCheck("a", check)).has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 1; }));
  Instance without = WithCheck("a", check);
  without.check.reset();
  ASSERT_TRUE(registry_.Register(without).has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 0; }));
  // Checked again after the check comes back.
  ASSERT_TRUE(registry_.Register(WithCheck("a", check)).has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 1; }));
  ASSERT_TRUE(registry_.Deregister("default", "web", "plain").has_value());
  ASSERT_TRUE(registry_.Deregister("default", "web", "a").has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 0; }));
}

TEST_F(CheckerTest, ThousandsOfChecksRunOnOneThread) {
  registry::testing::HttpStub stub;
  CheckSpec check;
  check.kind = CheckSpec::Kind::kTcp;
  check.tcp = fmt::format("127.0.0.1:{}", stub.port());
  check.interval = 1000ms;
  check.timeout = 500ms;
  constexpr int kInstances = 2000;
  for (int i = 0; i < kInstances; ++i) {
    ASSERT_TRUE(registry_.Register(WithCheck("i" + std::to_string(i), check)).has_value());
  }
  StartChecker();
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().probes >= kInstances; }, 60s));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto v = registry_.GetService("default", "web", {.passing_only = true});
        return v && v->instances.size() == kInstances;
      },
      60s));
}

CheckSpec ExecCheck(std::vector<std::string> argv) {
  CheckSpec c;
  c.kind = CheckSpec::Kind::kExec;
  c.command = std::move(argv);
  c.interval = 100ms;
  c.timeout = 100ms;
  return c;
}

TEST_F(CheckerTest, LeaderLeavesNodeLocalExecChecksToTheirNode) {
  // Both would pass if run here (LocalExecRunner runs `true`); only the one without a node is
  // the leader's.
  Instance remote = WithCheck("remote", ExecCheck({"true"}));
  remote.metadata[std::string(kNodeMetadataKey)] = "n2";
  ASSERT_TRUE(registry_.Register(remote).has_value());
  ASSERT_TRUE(registry_.Register(WithCheck("local", ExecCheck({"true"}))).has_value());
  StartChecker();
  ASSERT_TRUE(WaitFor([&] { return HealthOf("local") == Health::kPassing; }));
  EXPECT_EQ(checker_->stats().checks, 1);
  EXPECT_EQ(checker_->node_checks(), 1);
  auto in = registry_.GetInstance("default", "web", "remote");
  EXPECT_EQ(in->health, Health::kCritical);
  EXPECT_EQ(in->health_output, kNoCheckResultYet);

  // Moving a check to a node takes it from the leader; moving it back gives it back.
  Instance moved = WithCheck("local", ExecCheck({"true"}));
  moved.metadata[std::string(kNodeMetadataKey)] = "n1";
  ASSERT_TRUE(registry_.Register(moved).has_value());
  ASSERT_TRUE(WaitFor([&] { return checker_->node_checks() == 2; }));
  ASSERT_TRUE(WaitFor([&] { return checker_->stats().checks == 0; }));
  remote.metadata.erase(std::string(kNodeMetadataKey));
  ASSERT_TRUE(registry_.Register(remote).has_value());
  ASSERT_TRUE(WaitFor([&] { return HealthOf("remote") == Health::kPassing; }));
  EXPECT_EQ(checker_->node_checks(), 1);
}

TEST_F(CheckerTest, NodeLocalChecksTurnCriticalWhenTheirNodeIsDown) {
  std::atomic<bool> n2_alive{true};
  for (const char* id : {"on-n1", "on-n2"}) {
    Instance in = WithCheck(id, ExecCheck({"true"}));
    in.metadata[std::string(kNodeMetadataKey)] = std::string(id).substr(3);
    ASSERT_TRUE(registry_.Register(in).has_value());
    // As their nodes reported.
    ASSERT_TRUE(registry_.SetHealth("default", "web", id, Health::kPassing, "exit 0").has_value());
  }
  HealthCheckerOptions o{.sweep_interval = 0ms, .node_check_interval = 20ms};
  std::atomic<int> asked{0};
  o.node_alive = [&](const std::string& node) -> Result<bool> {
    ++asked;
    if (node == "n1") return true;
    if (node == "n2") return n2_alive.load();
    return Fail(ErrorCode::kInternal, "unexpected node " + node);
  };
  checker_ = std::make_unique<HealthChecker>(io_, registry_, &exec_, o);
  ASSERT_TRUE(checker_->Start().has_value());
  // Nodes that live are asked, and their instances keep what the node reported.
  ASSERT_TRUE(WaitFor([&] { return asked >= 4; }));
  EXPECT_EQ(HealthOf("on-n1"), Health::kPassing);
  EXPECT_EQ(HealthOf("on-n2"), Health::kPassing);

  n2_alive = false;
  ASSERT_TRUE(WaitFor([&] { return HealthOf("on-n2") == Health::kCritical; }));
  auto in = registry_.GetInstance("default", "web", "on-n2");
  EXPECT_NE(in->health_output.find("node n2 is down"), std::string::npos) << in->health_output;
  // Decided in the same pass as n1's, which lives.
  EXPECT_EQ(HealthOf("on-n1"), Health::kPassing);
  EXPECT_EQ(checker_->stats().checks, 0);  // none of them is probed here
}

}  // namespace
}  // namespace berth::registry::health
