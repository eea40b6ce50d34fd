// OrchestratorTest: the one GoogleTest fixture of the orchestrator's tests that need a store
// (reconciler, controller and its duties, autoscaling). It holds the real embedded store
// (sqlite back-end, not durable) in a temporary directory, a ManualClock that only the test
// moves, a seeded Random and an AppStore, and helpers that play the other parties: the agents
// (nodes, instance reports), the users (apply) and the gateways (request rates).
// Tests call Tick() on their controllers instead of starting their loop threads.
// Thread-safety: one test thread.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/testing/random.h"
#include "orchestrator/app_store.h"
#include "orchestrator/codec.h"
#include "orchestrator/controller.h"
#include "store/sqlite/temp_store.h"

namespace berth::orchestrator::testing {

inline constexpr int64_t kGi = 1LL << 30;

class OrchestratorTest : public ::testing::Test {
 protected:
  explicit OrchestratorTest(uint64_t seed = 7) : random_(seed) {}
  void SetUp() override;
  void TearDown() override;

  // ---- the agents
  // Registers node `id` (labels zone=a) as its agent does.
  void PutNode(const std::string& id, Resources capacity = {4000, 8 * kGi, 1000},
               NodeStatus status = NodeStatus::kReady);
  void PutNode(const std::string& id, NodeStatus status,
               Resources capacity = {4000, 8 * kGi, 1000}) {
    PutNode(id, capacity, status);
  }
  // Every assignment in the store, and the same by node.
  std::vector<Assignment> Assignments();
  std::map<std::string, std::vector<Assignment>> AssignmentsByNode();
  int CountImage(std::string_view image);
  // What the instance's agent reports: `state` (ready since now), CPU use (-1: none), the
  // container restarts.
  void Report(const Instance& instance, InstanceState state, int64_t cpu_millis = -1,
              int64_t restarts = 0);
  // Reports every assignment of `image` (all when empty) in `state`.
  void ReportAll(InstanceState state, std::string_view image = "");

  // ---- the users
  App Parse(std::string_view yaml);
  // Through the AppStore, as `berth apply` does (history, events, canary records).
  void Apply(std::string_view yaml);
  // Straight into the store, as the reconciler's own tests want it.
  void PutApp(std::string_view yaml);
  std::vector<std::string> EventReasons(std::string_view app, std::string_view ns = "default");

  // ---- the gateways
  // What gateway `id` reports: requests per second by "ns/svc".
  void GatewayReports(const std::string& id, const std::map<std::string, double>& rps);

  // ---- controllers
  Controller& NewController(const std::string& id);
  TickResult Tick(Controller& c);
  // Moves time on a second at a time, ticking `c` after each (its lease stays alive);
  // returns what it rolled back meanwhile.
  std::vector<std::string> AdvanceTicking(Controller& c, int seconds);

  // The value at `key`; empty when absent.
  std::string Get(std::string_view key);
  // The store's revision now.
  int64_t Revision();
  // Every write to the store from revision `from` to now, in revision order (from the
  // store's history, through a watch).
  std::vector<store::Event> EventsSince(int64_t from);

  std::unique_ptr<store::TempSqliteStore> temp_;
  ManualClock clock_;
  store::Store* store_ = nullptr;
  SeededRandom random_;
  std::unique_ptr<AppStore> apps_;
  std::vector<std::unique_ptr<Controller>> controllers_;
};

}  // namespace berth::orchestrator::testing
