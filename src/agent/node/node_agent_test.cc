// NodeAgent against a fake control plane and fake containers: joining, running and
// stopping assignments, reports, the registry, probes, adoption, and the regressions of
// issue 15 (exec probes without a way to stop them).
#include "agent/node/node_agent.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "agent/node/testing/fake_containers.h"
#include "agent/node/testing/fake_control_plane.h"
#include "orchestrator/codec.h"

namespace berth::agent::node {
namespace {

namespace orch = berth::orchestrator;
using namespace std::chrono_literals;
using testing::FakeContainers;
using testing::FakeControlPlane;

bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds deadline = 20s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

orch::Assignment MakeAssignment(const std::string& id, const std::string& node = "n1") {
  orch::Assignment a;
  a.spec.name = "api";
  a.spec.image = "shop-api:v1";
  a.spec.ports = {{.name = "http", .container_port = 8081}};
  a.instance.id = id;
  a.instance.ns = "shop";
  a.instance.app = "store";
  a.instance.service = "api";
  a.instance.node_id = node;
  a.instance.deploy_hash = a.spec.DeployHash();
  return a;
}

orch::Probe ExecProbe(orch::Millis timeout = 1s, int failure_threshold = 3) {
  orch::Probe p;
  p.kind = orch::ProbeKind::kExec;
  p.command = {"/bin/check"};
  p.timeout = timeout;
  p.failure_threshold = failure_threshold;
  return p;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class NodeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/node-agent-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    agent_.reset();
    std::filesystem::remove_all(dir_);
  }

  NodeAgentOptions Options() {
    NodeAgentOptions o;
    o.node = "n1";
    o.labels = {{"zone", "eu-1"}};
    o.capacity = {.cpu_millis = 2000, .memory_bytes = 1 << 30, .pids = 1000};
    o.address = "192.0.2.10";
    o.state_dir = dir_;
    o.ttl_seconds = 1;
    o.tick = 5ms;
    o.drain_pause = 0ms;
    o.stop_grace = 0ms;
    return o;
  }

  void Start(NodeAgentOptions options) {
    auto a = NodeAgent::Start(std::move(options), clock_, control_, containers_);
    ASSERT_TRUE(a) << a.error().message;
    agent_ = std::move(*a);
  }
  void Start() { Start(Options()); }

  std::optional<StatusReport> StatusOf(const std::string& id) {
    auto all = control_.statuses();
    auto it = all.find(id);
    if (it == all.end()) return std::nullopt;
    return it->second;
  }
  bool StateIs(const std::string& id, orch::InstanceState state) {
    auto s = StatusOf(id);
    return s && s->status.state == state;
  }
  bool MessageHas(const std::string& id, const std::string& text) {
    auto s = StatusOf(id);
    return s && s->status.message.find(text) != std::string::npos;
  }

  std::string dir_;
  ManualClock clock_;
  FakeControlPlane control_;
  FakeContainers containers_;
  std::unique_ptr<NodeAgent> agent_;
};

TEST_F(NodeAgentTest, RefusesANodeNameThatIsNotADnsLabel) {
  auto o = Options();
  o.node = "Node_1";
  auto a = NodeAgent::Start(o, clock_, control_, containers_);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(a.error().message.find("\"Node_1\""), std::string::npos) << a.error().message;
}

TEST_F(NodeAgentTest, JoinsWithItsCapacityAndLabelsAndJoinsAgainWhenItsLeaseIsGone) {
  Start();
  ASSERT_TRUE(WaitFor([&] { return agent_->registered(); }));
  auto regs = control_.registrations();
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].node, "n1");
  EXPECT_EQ(regs[0].labels.at("zone"), "eu-1");
  EXPECT_EQ(regs[0].capacity.cpu_millis, 2000);
  EXPECT_EQ(regs[0].capacity.memory_bytes, 1 << 30);
  EXPECT_EQ(regs[0].address, "192.0.2.10");
  EXPECT_EQ(regs[0].ttl_seconds, 1);

  control_.ExpireLease();
  ASSERT_TRUE(WaitFor([&] { return control_.registrations().size() == 2; }));
}

TEST_F(NodeAgentTest, KeepsTryingToJoinAControlPlaneThatIsNotUpYet) {
  control_.FailCalls("Register", Error(ErrorCode::kUnavailable, "connection refused"), 2);
  Start();
  ASSERT_TRUE(WaitFor([&] { return agent_->registered(); }));
  EXPECT_EQ(control_.registrations().size(), 1u);
  auto calls = control_.calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "Register n1"), 3);
}

TEST_F(NodeAgentTest, RunsItsOwnAssignmentsReportsThemReadyAndRegistersThem) {
  control_.SetAssignments(7, {MakeAssignment("api-1"), MakeAssignment("api-2", "n2")});
  Start();
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-1", orch::InstanceState::kReady); }));

  auto runs = containers_.runs();
  ASSERT_EQ(runs.size(), 1u);  // api-2 is another node's
  EXPECT_EQ(runs[0].name, "api-1");
  EXPECT_EQ(runs[0].image, "shop-api:v1");
  auto c = containers_.Find("api-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(StatusOf("api-1")->ip, c->ip);
  EXPECT_EQ(control_.watches_from().front(), 8);  // the list's revision + 1

  ASSERT_TRUE(WaitFor([&] { return control_.registry().count("api-1") == 1; }));
  RegistryEntry e = control_.registry().at("api-1");
  EXPECT_EQ(e.ns, "shop");
  EXPECT_EQ(e.service, "api");
  EXPECT_EQ(e.address, c->ip);
  EXPECT_EQ(e.port, 8081);
  EXPECT_EQ(e.tags, (std::vector<std::string>{
                        "app=store",
                        fmt::format("deploy={:016x}", MakeAssignment("api-1").spec.DeployHash())}));
  EXPECT_EQ(e.metadata.at(std::string(registry::kNodeMetadataKey)), "n1");
  ASSERT_EQ(agent_->Instances().size(), 1u);
  EXPECT_TRUE(agent_->Instances()[0].in_registry);
}

TEST_F(NodeAgentTest, StopsAnInstanceWhoseAssignmentIsDeletedOutOfTheRegistryFirst) {
  control_.SetAssignments(7, {MakeAssignment("api-1")});
  Start();
  ASSERT_TRUE(WaitFor([&] { return control_.registry().count("api-1") == 1; }));
  std::atomic<bool> registered_at_stop{true};
  containers_.OnStop(
      [&](const std::string&) { registered_at_stop = control_.registry().count("api-1") == 1; });

  control_.Push({.type = AssignmentEvent::Type::kDelete,
                 .revision = 9,
                 .key = orch::AssignmentKey(MakeAssignment("api-1").instance)});
  ASSERT_TRUE(WaitFor([&] {
    return !containers_.Find("api-1") && !StatusOf("api-1") && agent_->Instances().empty();
  }));
  EXPECT_FALSE(registered_at_stop);
  auto calls = containers_.calls();
  auto stop = std::find(calls.begin(), calls.end(), "Stop api-1");
  auto remove = std::find(calls.begin(), calls.end(), "Remove api-1");
  ASSERT_NE(stop, calls.end());
  EXPECT_LT(stop, remove);
  EXPECT_TRUE(Contains(control_.calls(), "PutStatus api-1 stopping"));
}

TEST_F(NodeAgentTest, StartsAnInstanceAssignedByTheWatch) {
  control_.SetAssignments(7, {});
  Start();
  ASSERT_TRUE(WaitFor([&] { return control_.watches_from().size() == 1; }));
  control_.Push({.type = AssignmentEvent::Type::kPut,
                 .revision = 8,
                 .key = orch::AssignmentKey(MakeAssignment("api-3").instance),
                 .assignment = MakeAssignment("api-3")});
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-3", orch::InstanceState::kReady); }));
}

TEST_F(NodeAgentTest, ReportsAStartThatFailsAsFailedWithItsReason) {
  containers_.FailRuns("shop-api:v1",
                       Error(ErrorCode::kNotFound, "image shop-api:v1 is not on node n1"));
  control_.SetAssignments(7, {MakeAssignment("api-1")});
  Start();
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-1", orch::InstanceState::kFailed); }));
  EXPECT_EQ(StatusOf("api-1")->status.message, "image shop-api:v1 is not on node n1");
  EXPECT_TRUE(control_.registry().empty());
}

TEST_F(NodeAgentTest, ListsAgainWhenItsWatchRevisionWasCompacted) {
  control_.SetAssignments(7, {MakeAssignment("api-1")});
  Start();
  ASSERT_TRUE(WaitFor([&] { return control_.watches_from().size() == 1; }));
  control_.SetAssignments(12, {MakeAssignment("api-1"), MakeAssignment("api-3")});
  control_.EndWatch(Error(ErrorCode::kCompacted, "revision 8 compacted"));
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-3", orch::InstanceState::kReady); }));
  EXPECT_EQ(control_.lists(), 2);
  ASSERT_TRUE(WaitFor([&] { return control_.watches_from().size() == 2; }));
  EXPECT_EQ(control_.watches_from()[1], 13);
}

TEST_F(NodeAgentTest, ResumesItsWatchFromTheLastRevisionSeen) {
  control_.SetAssignments(7, {});
  Start();
  ASSERT_TRUE(WaitFor([&] { return control_.watches_from().size() == 1; }));
  // Another node's assignment (the server sends only this node's; it is ignored here).
  control_.Push({.type = AssignmentEvent::Type::kPut,
                 .revision = 20,
                 .key = orch::AssignmentKey(MakeAssignment("api-2", "n2").instance),
                 .assignment = MakeAssignment("api-2", "n2")});
  control_.EndWatch(Error(ErrorCode::kUnavailable, "connection reset"));
  ASSERT_TRUE(WaitFor([&] { return control_.watches_from().size() == 2; }));
  // A revision's events may have been cut in the middle: the last one seen again.
  EXPECT_EQ(control_.watches_from()[1], 20);
  EXPECT_EQ(control_.lists(), 1);
  EXPECT_TRUE(containers_.runs().empty());
}

TEST_F(NodeAgentTest, AdoptsTheContainersOfItsStateFileAndStopsTheUnassignedOnes) {
  {
    std::ofstream out(dir_ + "/instances.json");
    out << R"({"node":"n1","containers":{"api-1":"shop/store/api-1","api-9":"shop/store/api-9"}})";
  }
  containers_.AddRunning("api-1", "shop-api:v1");
  containers_.AddRunning("api-9", "shop-api:v1");
  control_.SetAssignments(7, {MakeAssignment("api-1")});
  Start();
  ASSERT_TRUE(WaitFor([&] { return !containers_.Find("api-9").has_value(); }));
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-1", orch::InstanceState::kReady); }));
  EXPECT_TRUE(containers_.runs().empty());  // adopted, not started again
}

TEST_F(NodeAgentTest, StopsNothingBeforeTheFirstAssignmentList) {
  {
    std::ofstream out(dir_ + "/instances.json");
    out << R"({"node":"n1","containers":{"api-9":"shop/store/api-9"}})";
  }
  containers_.AddRunning("api-9", "shop-api:v1");
  control_.FailCalls("ListAssignments", Error(ErrorCode::kUnavailable, "connection refused"), -1);
  Start();
  ASSERT_TRUE(WaitFor([&] { return control_.lists() >= 2; }));
  EXPECT_TRUE(containers_.Find("api-9").has_value());
  EXPECT_FALSE(Contains(containers_.calls(), "Stop api-9"));
  // Once listed (api-9 not in it), it goes.
  control_.Heal("ListAssignments");
  ASSERT_TRUE(WaitFor([&] { return !containers_.Find("api-9").has_value(); }));
}

TEST_F(NodeAgentTest, TakesAnInstanceWhoseReadinessProbeFailsOutOfTheRegistry) {
  auto a = MakeAssignment("api-1");
  a.spec.probes.readiness = ExecProbe(1s, /*failure_threshold=*/2);
  std::atomic<int> exit_code{0};
  containers_.SetExec([&](const std::string&, const std::vector<std::string>& args,
                          const runtime::ExecOptions&) -> Result<runtime::ExecResult> {
    EXPECT_EQ(args, std::vector<std::string>{"/bin/check"});
    return runtime::ExecResult{.exit_code = exit_code.load()};
  });
  control_.SetAssignments(7, {a});
  Start();
  ASSERT_TRUE(WaitFor([&] { return control_.registry().count("api-1") == 1; }));

  exit_code = 1;
  for (int i = 0; i < 2; ++i) {
    int before = containers_.execs();
    clock_.Advance(10s);  // the probe's period
    ASSERT_TRUE(WaitFor([&] { return containers_.execs() > before; }));
  }
  ASSERT_TRUE(WaitFor([&] { return control_.registry().empty(); }));
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-1", orch::InstanceState::kUnready); }));
  EXPECT_TRUE(MessageHas("api-1", "readiness probe failed 2 times: exit code 1"))
      << StatusOf("api-1")->status.message;
  EXPECT_FALSE(Contains(containers_.calls(), "Stop api-1"));  // unready, not restarted
}

TEST_F(NodeAgentTest, RestartsAContainerWhoseLivenessProbeFailsAfterItsBackOff) {
  auto a = MakeAssignment("api-1");
  a.spec.probes.liveness = ExecProbe(1s, /*failure_threshold=*/1);
  a.spec.restart.backoff_initial = 2s;
  std::atomic<int> execs{0};  // the first fails, later ones pass
  containers_.SetExec([&](const std::string&, const std::vector<std::string>&,
                          const runtime::ExecOptions&) -> Result<runtime::ExecResult> {
    return runtime::ExecResult{.exit_code = execs++ == 0 ? 1 : 0};
  });
  control_.SetAssignments(7, {a});
  Start();
  ASSERT_TRUE(WaitFor([&] { return MessageHas("api-1", "restarting in 2.0s"); }));
  EXPECT_TRUE(MessageHas("api-1", "liveness probe failed 1 times: exit code 1"));
  EXPECT_TRUE(WaitFor([&] { return Contains(containers_.calls(), "Stop api-1"); }));
  EXPECT_EQ(containers_.runs().size(), 1u);

  clock_.Advance(2s);
  ASSERT_TRUE(WaitFor([&] { return containers_.runs().size() == 2; }));
  ASSERT_TRUE(WaitFor([&] {
    auto s = StatusOf("api-1");
    return s && s->status.restarts == 1;
  }));
}

// Issue 15: "Agent::Exec has no timeout, so a hung exec check holds a runner thread and
// delays shutdown". An exec probe now gets its timeout and a stop that the NodeAgent
// requests when it stops; the fake exec below hangs until that stop comes.
TEST_F(NodeAgentTest, BugHungExecProbeHeldItsThreadAndDelayedStop) {
  auto a = MakeAssignment("api-1");
  a.spec.probes.readiness = ExecProbe(30s);
  std::mutex mu;
  std::condition_variable_any cv;
  bool stop_possible = false, stopped = false;
  orch::Millis timeout{0};
  containers_.SetExec([&](const std::string&, const std::vector<std::string>&,
                          const runtime::ExecOptions& o) -> Result<runtime::ExecResult> {
    std::unique_lock lock(mu);
    timeout = std::chrono::duration_cast<orch::Millis>(o.timeout);
    stop_possible = o.stop.stop_possible();
    if (!stop_possible) return runtime::ExecResult{.exit_code = 0};  // would hang for good
    cv.wait(lock, o.stop, [] { return false; });
    stopped = o.stop.stop_requested();
    return runtime::ExecResult{.exit_code = -1, .stopped = true};
  });
  control_.SetAssignments(7, {a});
  Start();
  ASSERT_TRUE(WaitFor([&] { return containers_.execs() == 1; }));

  agent_.reset();  // returns once the hung probe is killed
  std::lock_guard lock(mu);
  EXPECT_TRUE(stop_possible);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(timeout, 30s);
  // A probe cut short by the stop is no verdict on the container.
  EXPECT_FALSE(MessageHas("api-1", "readiness probe failed"));
}

// Issue 15: a timed-out exec is killed and reported as such.
TEST_F(NodeAgentTest, BugTimedOutExecProbeWasNotReportedAsTimedOut) {
  auto a = MakeAssignment("api-1");
  a.spec.probes.liveness = ExecProbe(1500ms, /*failure_threshold=*/1);
  containers_.SetExec([](const std::string&, const std::vector<std::string>&,
                         const runtime::ExecOptions&) -> Result<runtime::ExecResult> {
    return runtime::ExecResult{.exit_code = -1, .timed_out = true};
  });
  control_.SetAssignments(7, {a});
  Start();
  ASSERT_TRUE(WaitFor([&] {
    return MessageHas("api-1", "liveness probe failed 1 times: timed out after 1.5s (killed)");
  })) << (StatusOf("api-1") ? StatusOf("api-1")->status.message : "no status");
  // The restart follows the report (it raced the check when it was read at once).
  EXPECT_TRUE(WaitFor([&] { return Contains(containers_.calls(), "Stop api-1"); }));
}

TEST_F(NodeAgentTest, ReportsEveryInstanceAgainAfterJoiningAgain) {
  control_.SetAssignments(7, {MakeAssignment("api-1")});
  Start();
  ASSERT_TRUE(WaitFor([&] { return StateIs("api-1", orch::InstanceState::kReady); }));
  auto reports = [&] {
    auto calls = control_.calls();
    return std::count(calls.begin(), calls.end(), "PutStatus api-1 ready");
  };
  const auto before = reports();
  control_.ExpireLease();
  ASSERT_TRUE(WaitFor([&] { return control_.registrations().size() == 2; }));
  ASSERT_TRUE(WaitFor([&] { return reports() > before; }));
}

}  // namespace
}  // namespace berth::agent::node
