// The orchestrator's domain types, in one place (after Nomad's nomad/structs): what a user
// asks for (App, ServiceSpec and its parts), what the cluster has (Node), and what the
// scheduler decides (Instance, Assignment). Plain values: copy them, compare them with ==
// (the Equal of Nomad's structs), and call Validate() on what came from outside. Parsers
// (spec.h, codec.h) fill them; the scheduler (scheduler.h) reads them.
// To add a field: declare it here with its default, check it in Validate(), read it in
// spec.cc (YAML) and codec.cc (JSON), and say whether it is destructive (DeployHash).
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::orchestrator {

using Millis = std::chrono::milliseconds;

// CPU in millicores, memory in bytes, pids as a count. A zero means "no request/limit".
struct Resources {
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  int64_t pids = 0;

  Result<void> Validate(std::string_view path) const;
  bool Fits(const Resources& free) const {
    return cpu_millis <= free.cpu_millis && memory_bytes <= free.memory_bytes && pids <= free.pids;
  }
  Resources& operator+=(const Resources& o);
  Resources& operator-=(const Resources& o);
  bool operator==(const Resources&) const = default;
};

enum class Protocol { kTcp, kUdp };

struct PortSpec {
  std::string name;        // optional, for probes and expose ("http")
  int container_port = 0;  // 1..65535
  int host_port = 0;       // 0: none; otherwise the node port reserved for this instance
  Protocol protocol = Protocol::kTcp;

  Result<void> Validate(std::string_view path) const;
  bool operator==(const PortSpec&) const = default;
};

enum class ProbeKind { kHttp, kTcp, kExec };

struct Probe {
  ProbeKind kind = ProbeKind::kHttp;
  std::string path = "/";            // http
  int port = 0;                      // http, tcp: container port
  std::vector<std::string> command;  // exec
  Millis initial_delay{0};
  Millis period{10'000};
  Millis timeout{1'000};
  int success_threshold = 1;
  int failure_threshold = 3;

  Result<void> Validate(std::string_view path) const;
  bool operator==(const Probe&) const = default;
};

struct Probes {
  std::optional<Probe> startup;
  std::optional<Probe> readiness;
  std::optional<Probe> liveness;

  Result<void> Validate(std::string_view path) const;
  bool operator==(const Probes&) const = default;
};

enum class RestartMode { kAlways, kOnFailure, kNever };

// What the agent does when a container exits: restart with exponential back-off from
// `backoff_initial` to `backoff_max`; `max_restarts` 0 means no limit.
struct RestartPolicy {
  RestartMode mode = RestartMode::kAlways;
  Millis backoff_initial{1'000};
  Millis backoff_max{300'000};
  int max_restarts = 0;

  Result<void> Validate(std::string_view path) const;
  bool operator==(const RestartPolicy&) const = default;
};

// A count ("2") or a percentage of the desired replicas ("25%").
struct IntOrPercent {
  int64_t value = 0;
  bool percent = false;

  // Resolves against `total`; percentages round up or down as Kubernetes does
  // (surge up, unavailable down).
  int64_t Resolve(int64_t total, bool round_up) const;
  bool operator==(const IntOrPercent&) const = default;
};

struct UpdateStrategy {
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{25, true};
  Millis min_ready{0};
  Millis progress_deadline{600'000};
  bool auto_rollback = true;
  // Canary strategy (`canary: {replicas: N}`): a new version starts as N instances beside
  // the stable ones, gets `expose[].canaryWeight` percent of the gateway's traffic, and
  // waits for `berth rollout promote` (the rest rolls out) or `abort` (back to stable).
  // 0: a plain rolling update.
  int64_t canary = 0;

  Result<void> Validate(std::string_view path) const;
  // The resolved pair for `replicas`; never both zero (unavailable becomes 1 then, as in
  // Kubernetes), so every rollout can make progress.
  std::pair<int64_t, int64_t> Resolve(int64_t replicas) const;
  bool operator==(const UpdateStrategy&) const = default;
};

// A node-label constraint: `key = v`, `key != v`, `key in (a, b)`, `key exists`,
// `key not-exists`. A node without the label fails =, in and exists, and passes !=.
struct Constraint {
  enum class Op { kEqual, kNotEqual, kIn, kExists, kNotExists };
  std::string key;
  Op op = Op::kEqual;
  std::vector<std::string> values;  // one for = and !=, one or more for in, none otherwise

  Result<void> Validate(std::string_view path) const;
  bool Matches(const std::map<std::string, std::string>& labels) const;
  std::string ToString() const;  // "zone in (a, b)"
  bool operator==(const Constraint&) const = default;
};

enum class PlacementStrategy { kSpread, kBinpack };
// Between replicas of one service: kPreferred is a score penalty per replica already on a
// node (Nomad's job anti-affinity), kRequired a filter (at most one replica per node).
enum class AntiAffinity { kNone, kPreferred, kRequired };

struct Placement {
  std::vector<Constraint> constraints;
  PlacementStrategy strategy = PlacementStrategy::kSpread;
  AntiAffinity anti_affinity = AntiAffinity::kPreferred;

  Result<void> Validate(std::string_view path) const;
  bool operator==(const Placement&) const = default;
};

// A gateway route to the service. `canary_weight` (0..100) is the share of traffic sent to
// the new version while a canary rollout waits for promotion.
struct Expose {
  std::string host;  // empty: any host
  std::string path = "/";
  std::string port;  // port name or number; empty: the first port
  int canary_weight = 0;

  Result<void> Validate(std::string_view path) const;
  bool operator==(const Expose&) const = default;
};

// Scales `replicas` between min and max to hold a target: CPU use as a percentage of the
// requested cpu, and/or requests per second per instance (from the gateway's metrics).
// After one scaling action the next waits for `cooldown`.
struct Autoscale {
  int64_t min = 1;
  int64_t max = 1;
  int64_t target_cpu_percent = 0;  // 0: not a target
  int64_t target_rps = 0;          // per instance; 0: not a target
  Millis cooldown{300'000};

  Result<void> Validate(std::string_view path, const Resources& request) const;
  bool operator==(const Autoscale&) const = default;
};

// securityContext: how the service's containers run, after Kubernetes' container
// securityContext. The defaults are Berth's hardened profile as it was (root filesystem
// writable, the image's user).
struct SecurityContext {
  bool read_only_root_filesystem = false;  // the container's root filesystem mounted read-only
  bool run_as_non_root = false;            // the agent refuses to start it as uid 0
  std::optional<int64_t> run_as_user;      // the uid it runs as; nullopt: the image's user

  Result<void> Validate(std::string_view path) const;
  bool IsDefault() const { return *this == SecurityContext{}; }
  bool operator==(const SecurityContext&) const = default;
};

struct ServiceSpec {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::vector<PortSpec> ports;
  Resources resources;
  int64_t replicas = 1;
  Probes probes;
  RestartPolicy restart;
  UpdateStrategy update;
  Placement placement;
  std::vector<Expose> expose;
  std::optional<Autoscale> autoscale;
  SecurityContext security;

  Result<void> Validate(std::string_view path) const;
  // Hash of the fields whose change needs a new container (image, command, env, ports,
  // resources, probes, restart, securityContext when set): a changed DeployHash rolls out; any
  // other change (replicas, update, placement, expose) is applied in place.
  uint64_t DeployHash() const;
  // Hash of every field but `replicas`: a live instance whose SpecHash differs from its
  // service's, with the same DeployHash, gets its assignment rewritten in place.
  uint64_t SpecHash() const;
  bool operator==(const ServiceSpec&) const = default;
};

struct App {
  std::string ns = "default";
  std::string name;
  std::vector<ServiceSpec> services;

  Result<void> Validate() const;
  const ServiceSpec* FindService(std::string_view name) const;
  ServiceSpec* FindService(std::string_view name);
  std::string Key() const { return ns + "/" + name; }  // the store key suffix /apps/<ns>/<app>
  bool operator==(const App&) const = default;
};

enum class NodeStatus { kReady, kDown, kCordoned, kDraining };

struct Node {
  std::string id;
  std::map<std::string, std::string> labels;
  Resources capacity;
  Resources allocated;
  std::vector<int> ports_in_use;  // host ports taken (sorted or not)
  NodeStatus status = NodeStatus::kReady;

  Result<void> Validate() const;
  Resources Free() const;
  // Accepts new instances: ready and not cordoned or draining.
  bool Schedulable() const { return status == NodeStatus::kReady; }
  bool operator==(const Node&) const = default;
};

enum class InstanceState { kPending, kStarting, kReady, kUnready, kStopping, kStopped, kFailed };

// One replica of a service as the cluster sees it.
struct Instance {
  std::string id;  // unique within the service: "<service>-<8 hex>"
  std::string ns;
  std::string app;
  std::string service;
  std::string node_id;       // empty while unplaced
  uint64_t deploy_hash = 0;  // ServiceSpec::DeployHash of the spec it runs
  uint64_t spec_hash = 0;    // ServiceSpec::SpecHash of the spec it was assigned with
  InstanceState state = InstanceState::kPending;
  int64_t ready_since_ms = 0;  // wall-clock millis of the last transition to kReady
  int64_t cpu_millis = -1;     // CPU use its agent reports (millicores, averaged); -1: none
  int32_t restarts = 0;        // container restarts its agent reported
  Resources resources;
  std::vector<int> host_ports;

  bool Live() const {
    return state != InstanceState::kStopping && state != InstanceState::kStopped &&
           state != InstanceState::kFailed;
  }
  bool operator==(const Instance&) const = default;
};

// What the control plane writes to /nodes/<node>/assignments/<instance> for the agent:
// the instance and the full spec to run it with.
struct Assignment {
  Instance instance;
  ServiceSpec spec;
  bool operator==(const Assignment&) const = default;
};

std::string_view ToString(NodeStatus s);
std::string_view ToString(InstanceState s);
std::string_view ToString(PlacementStrategy s);
std::string_view ToString(AntiAffinity a);
std::string_view ToString(RestartMode m);
std::string_view ToString(ProbeKind k);
std::string_view ToString(Protocol p);

// "512Mi", "1.5Gi", "2 GiB" style rendering of a byte count for messages.
std::string FormatBytes(int64_t bytes);
// "500m", "2 cores" style rendering of millicores for messages.
std::string FormatCpu(int64_t millis);

// Names: DNS-label-like (lower case letters, digits, '-', 1..63, starts with a letter).
bool IsValidName(std::string_view name);

}  // namespace berth::orchestrator
