// bench/scheduler: places 100,000 instances (1,000 services x 100 replicas, with a mix of
// label constraints, spread and binpack, preferred and required anti-affinity, a few host
// ports) on 10,000 simulated nodes with labels and capacities, on one thread, and prints
// placements per second and memory beside the published figures of Nomad's C1M and the
// Kubernetes scheduler.
// Output: `name value unit` lines. Flags: --nodes N --services N --replicas N --seed N
// --limit N (candidates scored per placement; 0 = default).
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/testing/random.h"
#include "orchestrator/node_table.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/types.h"

namespace {

using namespace berth::orchestrator;
using berth::Random;
using berth::SeededRandom;

// Published peers (not measured here).
constexpr double kNomadC1MPlacementsPerSecond = 3750;  // 1M containers, 5 servers (2020)
constexpr double kKubernetesPodsPerSecond = 100;       // kube-scheduler, default config
constexpr double kTargetPlacementsPerSecond = 20000;
constexpr double kTargetBytesPerInstance = 2048;

int64_t ReadStatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::atoll(line.c_str() + len + 1);
    }
  }
  return 0;
}

struct Flags {
  int nodes = 10'000;
  int services = 1'000;
  int replicas = 100;
  uint64_t seed = 1;
  int limit = 0;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    long long v = std::atoll(argv[i + 1]);
    if (k == "--nodes")
      f.nodes = static_cast<int>(v);
    else if (k == "--services")
      f.services = static_cast<int>(v);
    else if (k == "--replicas")
      f.replicas = static_cast<int>(v);
    else if (k == "--seed")
      f.seed = static_cast<uint64_t>(v);
    else if (k == "--limit")
      f.limit = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return f;
}

std::vector<Node> MakeNodes(int count, Random& random) {
  static const Resources kShapes[] = {
      {8'000, 32LL << 30, 32'768}, {16'000, 64LL << 30, 65'536}, {32'000, 128LL << 30, 131'072}};
  std::vector<Node> nodes(count);
  for (int i = 0; i < count; ++i) {
    Node& n = nodes[i];
    n.id = fmt::format("node-{:05d}", i);
    n.capacity = kShapes[random.Uniform(3)];
    n.labels["zone"] = fmt::format("z{}", random.Uniform(8));
    n.labels["rack"] = fmt::format("r{:03d}", i / 40);  // 250 racks
    n.labels["disk"] = random.Uniform(3) == 0 ? "hdd" : "ssd";
    n.labels["arch"] = random.Uniform(10) == 0 ? "arm64" : "amd64";
    if (random.Uniform(20) == 0) n.labels["gpu"] = "a100";
    // 1% of nodes are down, 1% cordoned: the filters must skip them.
    uint64_t r = random.Uniform(100);
    n.status = r == 0 ? NodeStatus::kDown : r == 1 ? NodeStatus::kCordoned : NodeStatus::kReady;
  }
  return nodes;
}

std::vector<App> MakeApps(int services, int replicas, Random& random) {
  std::vector<App> apps;
  const int per_app = 10;
  for (int s = 0; s < services; ++s) {
    if (s % per_app == 0) {
      apps.emplace_back();
      apps.back().ns = "bench";
      apps.back().name = fmt::format("app-{:04d}", s / per_app);
    }
    ServiceSpec spec;
    spec.name = fmt::format("svc-{:04d}", s);
    spec.image = fmt::format("registry.local/svc-{}:1", s);
    spec.replicas = replicas;
    spec.resources = {100 + static_cast<int64_t>(random.Uniform(10)) * 100,
                      (128LL << 20) * (1 + static_cast<int64_t>(random.Uniform(8))), 100};
    // The constraint mix: 40% none, the rest one or two label constraints.
    switch (s % 20) {
      case 0:
      case 1:
      case 2:
      case 3:
        spec.placement.constraints = {{"zone", Constraint::Op::kIn, {"z1", "z2"}}};
        break;
      case 4:
      case 5:
      case 6:
        spec.placement.constraints = {{"disk", Constraint::Op::kEqual, {"ssd"}}};
        break;
      case 7:
      case 8:
        spec.placement.constraints = {{"arch", Constraint::Op::kNotEqual, {"arm64"}}};
        break;
      case 9:
        spec.placement.constraints = {{"gpu", Constraint::Op::kExists, {}}};
        spec.resources.cpu_millis = 100;
        spec.resources.memory_bytes = 128LL << 20;
        break;
      case 10:
        spec.placement.constraints = {{"zone", Constraint::Op::kEqual, {"z3"}},
                                      {"disk", Constraint::Op::kEqual, {"ssd"}}};
        break;
      case 11:
        spec.placement.constraints = {{"gpu", Constraint::Op::kNotExists, {}}};
        break;
      default:
        break;
    }
    if (s % 5 == 0) spec.placement.strategy = PlacementStrategy::kBinpack;
    if (s % 20 == 13) spec.placement.anti_affinity = AntiAffinity::kRequired;
    if (s % 50 == 17) spec.ports = {{"http", 8080, 20000 + s, Protocol::kTcp}};
    apps.back().services.push_back(std::move(spec));
  }
  return apps;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  const int64_t baseline_kb = ReadStatusKb("VmHWM");

  SeededRandom random(flags.seed);
  std::vector<Node> node_list = MakeNodes(flags.nodes, random);
  std::vector<App> apps = MakeApps(flags.services, flags.replicas, random);
  auto t0 = std::chrono::steady_clock::now();
  NodeTable nodes;
  for (const Node& n : node_list) nodes.Upsert(n);
  auto t1 = std::chrono::steady_clock::now();
  node_list.clear();
  node_list.shrink_to_fit();
  const int64_t input_kb = ReadStatusKb("VmHWM");

  Scheduler scheduler(nodes, random, {.candidate_limit = flags.limit});
  auto t2 = std::chrono::steady_clock::now();
  Plan plan = scheduler.Schedule(apps, {}, 0);
  auto t3 = std::chrono::steady_clock::now();
  const int64_t peak_kb = ReadStatusKb("VmHWM");

  // Check the plan: every placement satisfies its constraints; count spread quality.
  int64_t violations = 0;
  int max_same_node = 0;
  {
    std::unordered_map<uint64_t, int> per_service_node;
    for (const auto& p : plan.placements) {
      const ServiceSpec& spec = *plan.services[p.service].spec;
      const auto& labels = nodes.class_labels(nodes.label_class(p.node));
      std::map<std::string, std::string> named;
      for (const auto& [k, v] : labels) named[nodes.keys().Name(k)] = nodes.values().Name(v);
      for (const auto& c : spec.placement.constraints) violations += !c.Matches(named);
      if (nodes.status(p.node) != NodeStatus::kReady) ++violations;
      int& n = per_service_node[(uint64_t{p.service} << 32) | p.node];
      max_same_node = std::max(max_same_node, ++n);
    }
    for (uint32_t row = 0; row < nodes.size(); ++row) {
      if (nodes.free_cpu(row) < 0 || nodes.free_memory(row) < 0 || nodes.free_pids(row) < 0) {
        ++violations;
      }
    }
  }
  int64_t unplaced = 0;
  for (const auto& f : plan.failures) unplaced += f.count;

  // Phase 2: the same cluster with its 100,000 instances running (ready), every service gets
  // a new image: one reconcile pass of the rolling update (25% surge, 25% unavailable).
  std::vector<Instance> instances;
  instances.reserve(plan.placements.size());
  for (const auto& p : plan.placements) {
    instances.push_back(plan.MakeInstance(p, nodes));
    instances.back().state = InstanceState::kReady;
  }
  for (App& app : apps) {
    for (ServiceSpec& spec : app.services) spec.image += "-v2";
  }
  auto t4 = std::chrono::steady_clock::now();
  Plan rollout = scheduler.Schedule(apps, instances, 0);
  auto t5 = std::chrono::steady_clock::now();
  const int64_t state_peak_kb = ReadStatusKb("VmHWM");

  const double seconds = std::chrono::duration<double>(t3 - t2).count();
  const double load_seconds = std::chrono::duration<double>(t1 - t0).count();
  const double placements = static_cast<double>(plan.placements.size());
  const double rate = placements / seconds;
  const double bytes_total = static_cast<double>(peak_kb - baseline_kb) * 1024.0;
  const double bytes_schedule = static_cast<double>(peak_kb - input_kb) * 1024.0;
  const double per_instance = bytes_total / std::max(placements, 1.0);

  fmt::print("nodes {} count\n", nodes.size());
  fmt::print("services {} count\n", plan.services.size());
  fmt::print("instances_requested {} count\n",
             static_cast<int64_t>(flags.services) * flags.replicas);
  fmt::print("placements {} count\n", plan.placements.size());
  fmt::print("unplaced {} count\n", unplaced);
  fmt::print("constraint_or_capacity_violations {} count\n", violations);
  fmt::print("max_replicas_of_one_service_on_one_node {} count\n", max_same_node);
  fmt::print("candidates_per_placement {} count\n", Selector(nodes, random, flags.limit).limit());
  fmt::print("node_table_load_seconds {:.4f} s\n", load_seconds);
  fmt::print("schedule_seconds {:.4f} s\n", seconds);
  fmt::print("placements_per_second {:.0f} /s\n", rate);
  fmt::print("peer_nomad_c1m_placements_per_second {:.0f} /s\n", kNomadC1MPlacementsPerSecond);
  fmt::print("peer_kubernetes_scheduler_pods_per_second {:.0f} /s\n", kKubernetesPodsPerSecond);
  fmt::print("ratio_vs_nomad_c1m {:.1f} x\n", rate / kNomadC1MPlacementsPerSecond);
  fmt::print("ratio_vs_kubernetes_scheduler {:.1f} x\n", rate / kKubernetesPodsPerSecond);
  fmt::print("ratio_vs_target_20000 {:.2f} x\n", rate / kTargetPlacementsPerSecond);
  fmt::print("peak_rss_bytes {} B\n", peak_kb * 1024);
  fmt::print("baseline_rss_bytes {} B\n", baseline_kb * 1024);
  fmt::print("node_table_bytes {} B\n", nodes.MemoryBytes());
  fmt::print("bytes_per_instance {:.0f} B (peak minus baseline, inputs included; target < {})\n",
             per_instance, kTargetBytesPerInstance);
  fmt::print("bytes_per_instance_scheduling_only {:.0f} B\n",
             bytes_schedule / std::max(placements, 1.0));
  const double rollout_seconds = std::chrono::duration<double>(t5 - t4).count();
  fmt::print("rollout_pass_instances {} count\n", instances.size());
  fmt::print("rollout_pass_placements {} count\n", rollout.placements.size());
  fmt::print("rollout_pass_stops {} count\n", rollout.stops.size());
  fmt::print("rollout_pass_seconds {:.4f} s\n", rollout_seconds);
  fmt::print("rollout_pass_instances_reconciled_per_second {:.0f} /s\n",
             static_cast<double>(instances.size()) / rollout_seconds);
  fmt::print("peak_rss_with_instance_state_bytes {} B\n", state_peak_kb * 1024);
  fmt::print("bytes_per_instance_with_instance_state {:.0f} B (target < {})\n",
             static_cast<double>(state_peak_kb - baseline_kb) * 1024.0 / std::max(placements, 1.0),
             kTargetBytesPerInstance);
  if (!plan.failures.empty()) {
    fmt::print("# first unplaceable: {} x {}: {}\n", plan.failures[0].count,
               plan.services[plan.failures[0].service].spec->name, plan.failures[0].reason);
  }
  return violations == 0 ? 0 : 1;
}
