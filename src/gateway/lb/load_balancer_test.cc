#include "gateway/lb/load_balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/testing/random.h"
#include "gateway/lb/maglev.h"
#include "gateway/lb/outlier_detector.h"

namespace berth::gateway::lb {
namespace {

std::vector<HostPtr> MakeHosts(std::vector<uint32_t> weights) {
  std::vector<HostPtr> hosts;
  for (size_t i = 0; i < weights.size(); ++i) {
    hosts.push_back(std::make_shared<Host>("10.0.0." + std::to_string(i + 1) + ":80", weights[i]));
  }
  return hosts;
}

std::map<std::string, int> Spread(LoadBalancer& lb, int n, bool hashed = false) {
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) {
    LbContext ctx;
    if (hashed) ctx.hash = HashKey("client-" + std::to_string(i));
    Host* h = lb.ChooseHost(ctx);
    EXPECT_NE(h, nullptr);
    if (h) ++counts[h->address()];
  }
  return counts;
}

TEST(PolicyTest, ParsesEveryNameAndRejectsOthers) {
  for (auto name :
       {"round_robin", "weighted_round_robin", "least_request", "ring_hash", "maglev", "random"}) {
    auto p = ParsePolicy(name);
    ASSERT_TRUE(p.has_value()) << name;
    EXPECT_EQ(PolicyName(*p), name);
  }
  EXPECT_FALSE(ParsePolicy("fastest").has_value());
}

TEST(RoundRobinTest, SpreadsEvenlyIgnoringWeights) {
  HostSet set(MakeHosts({1, 5, 1}));
  FastRandom random(1);
  auto lb = CreateLoadBalancer(Policy::kRoundRobin, set, random);
  auto counts = Spread(*lb, 300);
  ASSERT_EQ(counts.size(), 3u);
  for (auto& [addr, n] : counts) EXPECT_EQ(n, 100) << addr;
}

TEST(WeightedRoundRobinTest, SmoothInterleavingMatchesWeights) {
  HostSet set(MakeHosts({5, 1, 1}));
  FastRandom random(1);
  auto lb = CreateLoadBalancer(Policy::kWeightedRoundRobin, set, random);
  std::string order;
  for (int i = 0; i < 7; ++i) order += lb->ChooseHost({})->address()[7];
  EXPECT_EQ(order, "1121311");  // NGINX's a a b a c a a
  auto counts = Spread(*lb, 700);
  EXPECT_EQ(counts["10.0.0.1:80"], 500);
  EXPECT_EQ(counts["10.0.0.2:80"], 100);
  EXPECT_EQ(counts["10.0.0.3:80"], 100);
}

TEST(LeastRequestTest, PrefersTheLessLoadedOfTwo) {
  auto hosts = MakeHosts({1, 1});
  HostSet set(hosts);
  FastRandom random(7);
  auto lb = CreateLoadBalancer(Policy::kLeastRequest, set, random);
  for (int i = 0; i < 5; ++i) hosts[0]->AddActiveRequest();
  auto counts = Spread(*lb, 100);
  EXPECT_EQ(counts["10.0.0.2:80"], 100);
}

TEST(LeastRequestTest, SpreadsEvenlyWhenIdle) {
  HostSet set(MakeHosts({1, 1, 1, 1}));
  FastRandom random(3);
  auto lb = CreateLoadBalancer(Policy::kLeastRequest, set, random);
  auto counts = Spread(*lb, 4000);
  ASSERT_EQ(counts.size(), 4u);
  for (auto& [addr, n] : counts) EXPECT_NEAR(n, 1000, 150) << addr;
}

TEST(RandomTest, SpreadsRoughlyEvenly) {
  HostSet set(MakeHosts({1, 1, 1}));
  FastRandom random(5);
  auto lb = CreateLoadBalancer(Policy::kRandom, set, random);
  auto counts = Spread(*lb, 3000);
  for (auto& [addr, n] : counts) EXPECT_NEAR(n, 1000, 150) << addr;
}

TEST(RandomTest, FollowsTheInjectedRandom) {
  HostSet set(MakeHosts({1, 1, 1}));
  ScriptedRandom random({2, 0, 1});
  auto lb = CreateLoadBalancer(Policy::kRandom, set, random);
  EXPECT_EQ(lb->ChooseHost({})->address(), "10.0.0.3:80");
  EXPECT_EQ(lb->ChooseHost({})->address(), "10.0.0.1:80");
  EXPECT_EQ(lb->ChooseHost({})->address(), "10.0.0.2:80");
}

class HashPolicyTest : public ::testing::TestWithParam<Policy> {};

TEST_P(HashPolicyTest, SameKeySameHostAndWeightedSpread) {
  HostSet set(MakeHosts({1, 1, 2}));
  FastRandom random(9);
  auto lb = CreateLoadBalancer(GetParam(), set, random);
  LbContext ctx{HashKey("user-42")};
  Host* first = lb->ChooseHost(ctx);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(lb->ChooseHost(ctx), first);
  auto counts = Spread(*lb, 8000, /*hashed=*/true);
  EXPECT_NEAR(counts["10.0.0.1:80"], 2000, 500);
  EXPECT_NEAR(counts["10.0.0.2:80"], 2000, 500);
  EXPECT_NEAR(counts["10.0.0.3:80"], 4000, 600);
}

TEST_P(HashPolicyTest, RemovingAHostMovesOnlyItsKeys) {
  auto hosts = MakeHosts({1, 1, 1, 1});
  HostSet set(hosts);
  FastRandom random(9);
  auto lb = CreateLoadBalancer(GetParam(), set, random);
  std::vector<Host*> before;
  for (int i = 0; i < 1000; ++i) before.push_back(lb->ChooseHost({HashKey(std::to_string(i))}));
  hosts[3]->set_health_failed(true);
  set.Recompute();
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    Host* now = lb->ChooseHost({HashKey(std::to_string(i))});
    EXPECT_NE(now, hosts[3].get());
    if (before[i] != hosts[3].get() && now != before[i]) ++moved;
  }
  EXPECT_LT(moved, 100);  // keys of surviving hosts mostly stay put
}

INSTANTIATE_TEST_SUITE_P(Hashing, HashPolicyTest,
                         ::testing::Values(Policy::kRingHash, Policy::kMaglev));

TEST(OutlierDetectorTest, SkipsEjectedHostsUntilEjectionEnds) {
  auto hosts = MakeHosts({1, 1, 1});
  HostSet set(hosts, /*panic_threshold_percent=*/0);
  ManualClock clock;
  OutlierConfig config;
  config.consecutive_5xx = 3;
  config.base_ejection_time = std::chrono::seconds(10);
  OutlierDetector detector(set, config, clock);
  FastRandom random(1);
  auto lb = CreateLoadBalancer(Policy::kRoundRobin, set, random);

  detector.Report(*hosts[1], Outcome::k5xx);
  detector.Report(*hosts[1], Outcome::kSuccess);  // a success resets the streak
  detector.Report(*hosts[1], Outcome::k5xx);
  detector.Report(*hosts[1], Outcome::k5xx);
  EXPECT_FALSE(hosts[1]->ejected());
  detector.Report(*hosts[1], Outcome::k5xx);
  EXPECT_TRUE(hosts[1]->ejected());
  EXPECT_EQ(detector.ejections_total(), 1u);

  for (int step = 0; step < 9; ++step) {
    detector.Refresh();
    for (int i = 0; i < 30; ++i) EXPECT_NE(lb->ChooseHost({}), hosts[1].get());
    clock.Advance(std::chrono::seconds(1));
  }
  clock.Advance(std::chrono::seconds(1));
  detector.Refresh();
  EXPECT_FALSE(hosts[1]->ejected());
  auto counts = Spread(*lb, 30);
  EXPECT_EQ(counts["10.0.0.2:80"], 10);
}

TEST(OutlierDetectorTest, EjectionTimeGrowsWithEachEjection) {
  auto hosts = MakeHosts({1, 1, 1, 1});
  HostSet set(hosts, 0);
  ManualClock clock;
  OutlierConfig config;
  config.consecutive_connect_failures = 1;
  config.base_ejection_time = std::chrono::seconds(10);
  OutlierDetector detector(set, config, clock);
  detector.Report(*hosts[0], Outcome::kConnectFailure);
  clock.Advance(std::chrono::seconds(10));
  detector.Refresh();
  ASSERT_FALSE(hosts[0]->ejected());
  detector.Report(*hosts[0], Outcome::kConnectFailure);  // second ejection: 20 s
  clock.Advance(std::chrono::seconds(15));
  detector.Refresh();
  EXPECT_TRUE(hosts[0]->ejected());
  clock.Advance(std::chrono::seconds(5));
  detector.Refresh();
  EXPECT_FALSE(hosts[0]->ejected());
}

TEST(OutlierDetectorTest, NeverEjectsMoreThanMaxPercent) {
  auto hosts = MakeHosts({1, 1, 1, 1});
  HostSet set(hosts, 0);
  ManualClock clock;
  OutlierConfig config;
  config.consecutive_5xx = 1;
  config.max_ejection_percent = 50;
  OutlierDetector detector(set, config, clock);
  for (auto& h : hosts) detector.Report(*h, Outcome::k5xx);
  int ejected = 0;
  for (auto& h : hosts) ejected += h->ejected();
  EXPECT_EQ(ejected, 2);
}

TEST(PanicTest, PicksFromAllHostsWhenTooFewAreHealthy) {
  auto hosts = MakeHosts({1, 1, 1, 1});
  HostSet set(hosts, /*panic_threshold_percent=*/50);
  FastRandom random(1);
  auto lb = CreateLoadBalancer(Policy::kRoundRobin, set, random);
  hosts[0]->set_health_failed(true);
  set.Recompute();
  EXPECT_FALSE(set.in_panic());
  EXPECT_EQ(Spread(*lb, 300).size(), 3u);
  hosts[1]->set_health_failed(true);
  hosts[2]->set_health_failed(true);
  set.Recompute();  // 25% healthy < 50%: panic
  EXPECT_TRUE(set.in_panic());
  auto counts = Spread(*lb, 400);
  ASSERT_EQ(counts.size(), 4u);
  for (auto& [addr, n] : counts) EXPECT_EQ(n, 100);
}

TEST(EmptySetTest, EveryPolicyReturnsNull) {
  HostSet set({});
  FastRandom random(1);
  for (auto p : {Policy::kRoundRobin, Policy::kWeightedRoundRobin, Policy::kLeastRequest,
                 Policy::kRingHash, Policy::kMaglev, Policy::kRandom}) {
    EXPECT_EQ(CreateLoadBalancer(p, set, random)->ChooseHost({}), nullptr) << PolicyName(p);
  }
}

}  // namespace
}  // namespace berth::gateway::lb
