// ContainerExecRunner with a fake ContainerExec: verdicts by exit code, the container named
// in metadata, instances without one, errors, the timeout and the busy limit.
#include "registry/health/container_exec_runner.h"

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace berth::registry::health {
namespace {

using namespace std::chrono_literals;

// Answers from a script by command name; "block" waits until Release().
class FakeExec final : public ContainerExec {
 public:
  Result<Outcome> Exec(const std::string& container, const std::vector<std::string>& argv,
                       std::chrono::milliseconds, std::stop_token stop) override {
    {
      std::lock_guard lock(mu_);
      calls_.push_back(container + ":" + argv.at(0));
    }
    const std::string& cmd = argv.at(0);
    if (container == "gone") return Fail(ErrorCode::kNotFound, "no container gone");
    if (cmd == "block") {  // a hung command: ends on Release() or when stopped (killed)
      std::unique_lock lock(mu_);
      cv_.wait(lock, stop, [&] { return released_; });
      if (!released_) ++killed_;
      return Outcome{released_ ? 0 : -1, "late"};
    }
    if (cmd == "hang") {  // as the agent answers a command it killed at the timeout
      return Outcome{.exit_code = -1, .timed_out = true};
    }
    if (cmd == "ok") return Outcome{0, "fine\n"};
    if (cmd == "warn") return Outcome{1, "degraded"};
    return Outcome{2, ""};
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int killed() {
    std::lock_guard lock(mu_);
    return killed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  int killed_ = 0;
  bool released_ = false;
  std::vector<std::string> calls_;
};

class ContainerExecRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    exec_.Release();
    runner_.reset();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  void Make(ContainerExecRunnerOptions options = {}) {
    runner_ = std::make_unique<ContainerExecRunner>(io_, exec_, options);
  }
  static Instance In(std::string container) {
    Instance in;
    in.service = "web";
    in.id = "i1";
    if (!container.empty()) in.metadata[std::string(kContainerMetadataKey)] = container;
    return in;
  }
  ProbeResult RunOnce(const Instance& in, std::string cmd,
                      std::chrono::milliseconds timeout = 20s) {
    std::promise<ProbeResult> p;
    auto f = p.get_future();
    runner_->Run(in, {std::move(cmd)}, timeout, [&p](ProbeResult r) { p.set_value(std::move(r)); });
    return f.get();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread thread_;
  FakeExec exec_;
  std::unique_ptr<ContainerExecRunner> runner_;
};

TEST_F(ContainerExecRunnerTest, RunsInTheContainerNamedInMetadataAndMapsExitCodes) {
  Make();
  auto ok = RunOnce(In("shop-web-1"), "ok");
  EXPECT_EQ(ok.status, Health::kPassing);
  EXPECT_EQ(ok.output, "exit 0: fine");
  EXPECT_EQ(RunOnce(In("shop-web-1"), "warn").status, Health::kWarning);
  auto bad = RunOnce(In("shop-web-1"), "fail");
  EXPECT_EQ(bad.status, Health::kCritical);
  EXPECT_EQ(bad.output, "exit 2");
  EXPECT_EQ(exec_.calls(),
            (std::vector<std::string>{"shop-web-1:ok", "shop-web-1:warn", "shop-web-1:fail"}));
}

TEST_F(ContainerExecRunnerTest, UnknownContainerIsCriticalWithTheReason) {
  Make();
  auto r = RunOnce(In("gone"), "ok");
  EXPECT_EQ(r.status, Health::kCritical);
  EXPECT_NE(r.output.find("no container gone"), std::string::npos) << r.output;
}

TEST_F(ContainerExecRunnerTest, InstanceWithoutContainerIsCriticalAndNothingRuns) {
  Make();
  auto r = RunOnce(In(""), "ok");
  EXPECT_EQ(r.status, Health::kCritical);
  EXPECT_NE(r.output.find("berth.container"), std::string::npos) << r.output;
  EXPECT_TRUE(exec_.calls().empty());
}

TEST_F(ContainerExecRunnerTest, ACommandKilledAtItsTimeoutIsCritical) {
  Make();
  auto r = RunOnce(In("c"), "hang");
  EXPECT_EQ(r.status, Health::kCritical);
  EXPECT_EQ(r.output, "timeout");
}

TEST_F(ContainerExecRunnerTest, DestroyingTheRunnerStopsAHungCommandInsteadOfWaitingForIt) {
  Make({.threads = 1});
  auto r = RunOnce(In("c"), "block", 50ms);
  EXPECT_EQ(r.status, Health::kCritical);
  EXPECT_EQ(r.output, "timeout");
  runner_.reset();  // never released: returns only because the command is told to stop
  EXPECT_EQ(exec_.killed(), 1);
}

TEST_F(ContainerExecRunnerTest,
       ACommandPastItsTimeoutIsCriticalAndFurtherChecksAreRefusedWhileBusy) {
  Make({.threads = 1});
  auto r = RunOnce(In("c"), "block", 50ms);
  EXPECT_EQ(r.status, Health::kCritical);
  EXPECT_EQ(r.output, "timeout");
  // The blocked command still holds the only thread.
  auto busy = RunOnce(In("c"), "ok");
  EXPECT_EQ(busy.status, Health::kCritical);
  EXPECT_NE(busy.output.find("busy"), std::string::npos) << busy.output;
  exec_.Release();
  runner_.reset();  // waits for the blocked command; its late answer is dropped
  Make({.threads = 1});
  EXPECT_EQ(RunOnce(In("c"), "ok").status, Health::kPassing);
}

}  // namespace
}  // namespace berth::registry::health
