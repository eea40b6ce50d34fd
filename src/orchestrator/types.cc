#include "orchestrator/types.h"

#include <fmt/core.h>

#include <algorithm>
#include <set>
#include <utility>

namespace berth::orchestrator {
namespace {

Result<void> Invalid(std::string_view path, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", path, what));
}

std::string Join(std::string_view a, std::string_view b) { return fmt::format("{}.{}", a, b); }

// FNV-1a over a stream of fields, each prefixed by its length so ("ab","c") != ("a","bc").
class Hasher {
 public:
  void Add(std::string_view s) {
    AddInt(static_cast<int64_t>(s.size()));
    for (unsigned char c : s) Byte(c);
  }
  void AddInt(int64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<unsigned char>(v >> (8 * i)));
  }
  uint64_t value() const { return h_; }

 private:
  void Byte(unsigned char c) {
    h_ ^= c;
    h_ *= 1099511628211ull;
  }
  uint64_t h_ = 14695981039346656037ull;
};

void HashProbe(Hasher& h, const std::optional<Probe>& p) {
  h.AddInt(p.has_value());
  if (!p) return;
  h.AddInt(static_cast<int>(p->kind));
  h.Add(p->path);
  h.AddInt(p->port);
  h.AddInt(static_cast<int64_t>(p->command.size()));
  for (const auto& c : p->command) h.Add(c);
  h.AddInt(p->initial_delay.count());
  h.AddInt(p->period.count());
  h.AddInt(p->timeout.count());
  h.AddInt(p->success_threshold);
  h.AddInt(p->failure_threshold);
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  if (name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Result<void> Resources::Validate(std::string_view path) const {
  if (cpu_millis < 0) return Invalid(Join(path, "cpu"), "must not be negative");
  if (memory_bytes < 0) return Invalid(Join(path, "memory"), "must not be negative");
  if (pids < 0) return Invalid(Join(path, "pids"), "must not be negative");
  return {};
}

Resources& Resources::operator+=(const Resources& o) {
  cpu_millis += o.cpu_millis;
  memory_bytes += o.memory_bytes;
  pids += o.pids;
  return *this;
}

Resources& Resources::operator-=(const Resources& o) {
  cpu_millis -= o.cpu_millis;
  memory_bytes -= o.memory_bytes;
  pids -= o.pids;
  return *this;
}

Result<void> PortSpec::Validate(std::string_view path) const {
  if (container_port < 1 || container_port > 65535) {
    return Invalid(Join(path, "containerPort"),
                   fmt::format("must be between 1 and 65535, got {}", container_port));
  }
  if (host_port < 0 || host_port > 65535) {
    return Invalid(Join(path, "hostPort"),
                   fmt::format("must be between 0 and 65535, got {}", host_port));
  }
  if (!name.empty() && !IsValidName(name)) {
    return Invalid(Join(path, "name"), fmt::format("\"{}\" is not a valid port name", name));
  }
  return {};
}

Result<void> Probe::Validate(std::string_view path) const {
  switch (kind) {
    case ProbeKind::kHttp:
      if (this->path.empty() || this->path.front() != '/') {
        return Invalid(Join(path, "http.path"), "must start with '/'");
      }
      [[fallthrough]];
    case ProbeKind::kTcp:
      if (port < 1 || port > 65535) {
        return Invalid(Join(path, "port"),
                       fmt::format("must be between 1 and 65535, got {}", port));
      }
      break;
    case ProbeKind::kExec:
      if (command.empty()) return Invalid(Join(path, "exec"), "must name a command");
      break;
  }
  if (period.count() <= 0) return Invalid(Join(path, "period"), "must be positive");
  if (timeout.count() <= 0) return Invalid(Join(path, "timeout"), "must be positive");
  if (timeout > period) return Invalid(Join(path, "timeout"), "must not exceed the period");
  if (initial_delay.count() < 0) return Invalid(Join(path, "initialDelay"), "must not be negative");
  if (success_threshold < 1) return Invalid(Join(path, "successThreshold"), "must be at least 1");
  if (failure_threshold < 1) return Invalid(Join(path, "failureThreshold"), "must be at least 1");
  return {};
}

Result<void> Probes::Validate(std::string_view path) const {
  if (startup) {
    if (auto r = startup->Validate(Join(path, "startup")); !r) return r;
  }
  if (readiness) {
    if (auto r = readiness->Validate(Join(path, "readiness")); !r) return r;
  }
  if (liveness) {
    if (auto r = liveness->Validate(Join(path, "liveness")); !r) return r;
  }
  return {};
}

Result<void> RestartPolicy::Validate(std::string_view path) const {
  if (backoff_initial.count() <= 0) return Invalid(Join(path, "backoff"), "must be positive");
  if (backoff_max < backoff_initial) {
    return Invalid(Join(path, "maxBackoff"), "must be at least the initial backoff");
  }
  if (max_restarts < 0) return Invalid(Join(path, "maxRestarts"), "must not be negative");
  return {};
}

int64_t IntOrPercent::Resolve(int64_t total, bool round_up) const {
  if (!percent) return value;
  return round_up ? (total * value + 99) / 100 : (total * value) / 100;
}

Result<void> UpdateStrategy::Validate(std::string_view path) const {
  auto check = [&](const IntOrPercent& v, std::string_view name) -> Result<void> {
    if (v.value < 0) return Invalid(Join(path, name), "must not be negative");
    if (v.percent && v.value > 100) return Invalid(Join(path, name), "must be at most 100%");
    return {};
  };
  if (auto r = check(max_surge, "maxSurge"); !r) return r;
  if (auto r = check(max_unavailable, "maxUnavailable"); !r) return r;
  if (max_surge.value == 0 && max_unavailable.value == 0) {
    return Invalid(path, "maxSurge and maxUnavailable must not both be 0");
  }
  if (min_ready.count() < 0) return Invalid(Join(path, "minReadySeconds"), "must not be negative");
  if (progress_deadline.count() <= 0) {
    return Invalid(Join(path, "progressDeadline"), "must be positive");
  }
  if (progress_deadline <= min_ready) {
    return Invalid(Join(path, "progressDeadline"), "must be longer than minReadySeconds");
  }
  if (canary < 0 || canary > 10'000) {
    return Invalid(Join(path, "canary.replicas"),
                   fmt::format("must be between 0 and 10000, got {}", canary));
  }
  return {};
}

std::pair<int64_t, int64_t> UpdateStrategy::Resolve(int64_t replicas) const {
  int64_t surge = max_surge.Resolve(replicas, /*round_up=*/true);
  int64_t unavailable = max_unavailable.Resolve(replicas, /*round_up=*/false);
  if (surge == 0 && unavailable == 0) unavailable = 1;
  return {surge, unavailable};
}

Result<void> Constraint::Validate(std::string_view path) const {
  if (key.empty()) return Invalid(path, "constraint needs a label key");
  switch (op) {
    case Op::kEqual:
    case Op::kNotEqual:
      if (values.size() != 1) return Invalid(path, "= and != take exactly one value");
      break;
    case Op::kIn:
      if (values.empty()) return Invalid(path, "in takes at least one value");
      break;
    case Op::kExists:
    case Op::kNotExists:
      if (!values.empty()) return Invalid(path, "exists takes no value");
      break;
  }
  return {};
}

bool Constraint::Matches(const std::map<std::string, std::string>& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  switch (op) {
    case Op::kEqual:
      return has && it->second == values.front();
    case Op::kNotEqual:
      return !has || it->second != values.front();
    case Op::kIn:
      return has && std::find(values.begin(), values.end(), it->second) != values.end();
    case Op::kExists:
      return has;
    case Op::kNotExists:
      return !has;
  }
  return false;
}

std::string Constraint::ToString() const {
  switch (op) {
    case Op::kEqual:
      return fmt::format("{} = {}", key, values.empty() ? "" : values.front());
    case Op::kNotEqual:
      return fmt::format("{} != {}", key, values.empty() ? "" : values.front());
    case Op::kIn: {
      std::string out = key + " in (";
      for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
      return out + ")";
    }
    case Op::kExists:
      return key + " exists";
    case Op::kNotExists:
      return key + " not-exists";
  }
  return key;
}

Result<void> Placement::Validate(std::string_view path) const {
  for (size_t i = 0; i < constraints.size(); ++i) {
    if (auto r = constraints[i].Validate(fmt::format("{}.constraints[{}]", path, i)); !r) return r;
  }
  return {};
}

Result<void> Expose::Validate(std::string_view path) const {
  if (this->path.empty() || this->path.front() != '/') {
    return Invalid(Join(path, "path"), "must start with '/'");
  }
  if (canary_weight < 0 || canary_weight > 100) {
    return Invalid(Join(path, "canaryWeight"),
                   fmt::format("must be between 0 and 100, got {}", canary_weight));
  }
  return {};
}

Result<void> Autoscale::Validate(std::string_view path, const Resources& request) const {
  if (min < 1) return Invalid(Join(path, "min"), "must be at least 1 (no scaling to zero)");
  if (max < min) return Invalid(Join(path, "max"), "must be at least min");
  if (target_cpu_percent == 0 && target_rps == 0) {
    return Invalid(path, "needs targetCpu or targetRps (or metric: cpu|rps with target:)");
  }
  if (target_cpu_percent < 0 || target_rps < 0) return Invalid(path, "targets must be positive");
  if (target_cpu_percent > 0 && request.cpu_millis == 0) {
    return Invalid(Join(path, "targetCpu"), "needs resources.cpu to be set");
  }
  if (cooldown.count() < 0) return Invalid(Join(path, "cooldown"), "must not be negative");
  return {};
}

Result<void> SecurityContext::Validate(std::string_view path) const {
  if (run_as_user && (*run_as_user < 0 || *run_as_user > 2147483647)) {
    return Invalid(Join(path, "runAsUser"),
                   fmt::format("must be a uid between 0 and 2147483647, got {}", *run_as_user));
  }
  if (run_as_non_root && run_as_user == 0) {
    return Invalid(Join(path, "runAsUser"), "is 0 (root), and runAsNonRoot is set");
  }
  return {};
}

Result<void> ServiceSpec::Validate(std::string_view path) const {
  if (!IsValidName(name)) {
    return Invalid(path, fmt::format("\"{}\" is not a valid service name (lower case letters, "
                                     "digits and '-', starting with a letter, at most 63)",
                                     name));
  }
  if (image.empty()) return Invalid(Join(path, "image"), "is required");
  if (replicas < 0) return Invalid(Join(path, "replicas"), "must not be negative");
  if (auto r = resources.Validate(Join(path, "resources")); !r) return r;
  std::set<int> host_ports;
  std::set<std::string> port_names;
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string p = fmt::format("{}.ports[{}]", path, i);
    if (auto r = ports[i].Validate(p); !r) return r;
    if (ports[i].host_port != 0 && !host_ports.insert(ports[i].host_port).second) {
      return Invalid(p, fmt::format("host port {} is used twice", ports[i].host_port));
    }
    if (!ports[i].name.empty() && !port_names.insert(ports[i].name).second) {
      return Invalid(p, fmt::format("port name \"{}\" is used twice", ports[i].name));
    }
  }
  if (auto r = probes.Validate(Join(path, "probes")); !r) return r;
  if (auto r = restart.Validate(Join(path, "restart")); !r) return r;
  if (auto r = update.Validate(Join(path, "update")); !r) return r;
  if (auto r = placement.Validate(Join(path, "placement")); !r) return r;
  for (size_t i = 0; i < expose.size(); ++i) {
    if (auto r = expose[i].Validate(fmt::format("{}.expose[{}]", path, i)); !r) return r;
  }
  if (autoscale) {
    if (auto r = autoscale->Validate(Join(path, "autoscale"), resources); !r) return r;
  }
  if (auto r = security.Validate(Join(path, "securityContext")); !r) return r;
  for (const auto& [k, v] : env) {
    if (k.empty() || k.find('=') != std::string::npos) {
      return Invalid(Join(path, "env"), fmt::format("\"{}\" is not a valid variable name", k));
    }
  }
  return {};
}

uint64_t ServiceSpec::DeployHash() const {
  Hasher h;
  h.Add(image);
  h.AddInt(static_cast<int64_t>(command.size()));
  for (const auto& c : command) h.Add(c);
  h.AddInt(static_cast<int64_t>(env.size()));
  for (const auto& [k, v] : env) {
    h.Add(k);
    h.Add(v);
  }
  h.AddInt(static_cast<int64_t>(ports.size()));
  for (const auto& p : ports) {
    h.Add(p.name);
    h.AddInt(p.container_port);
    h.AddInt(p.host_port);
    h.AddInt(static_cast<int>(p.protocol));
  }
  h.AddInt(resources.cpu_millis);
  h.AddInt(resources.memory_bytes);
  h.AddInt(resources.pids);
  HashProbe(h, probes.startup);
  HashProbe(h, probes.readiness);
  HashProbe(h, probes.liveness);
  h.AddInt(static_cast<int>(restart.mode));
  h.AddInt(restart.backoff_initial.count());
  h.AddInt(restart.backoff_max.count());
  h.AddInt(restart.max_restarts);
  // Only when set, so the deploy hash of every spec without one stays as it was (no
  // rollout of running apps after an upgrade).
  if (!security.IsDefault()) {
    h.Add("securityContext");
    h.AddInt(security.read_only_root_filesystem);
    h.AddInt(security.run_as_non_root);
    h.AddInt(security.run_as_user.value_or(-1));
  }
  return h.value();
}

uint64_t ServiceSpec::SpecHash() const {
  Hasher h;
  h.AddInt(static_cast<int64_t>(DeployHash()));
  h.Add(name);
  h.AddInt(update.max_surge.value);
  h.AddInt(update.max_surge.percent);
  h.AddInt(update.max_unavailable.value);
  h.AddInt(update.max_unavailable.percent);
  h.AddInt(update.min_ready.count());
  h.AddInt(update.progress_deadline.count());
  h.AddInt(update.auto_rollback);
  h.AddInt(update.canary);
  h.AddInt(static_cast<int64_t>(placement.constraints.size()));
  for (const auto& c : placement.constraints) h.Add(c.ToString());
  h.AddInt(static_cast<int>(placement.strategy));
  h.AddInt(static_cast<int>(placement.anti_affinity));
  h.AddInt(static_cast<int64_t>(expose.size()));
  for (const auto& e : expose) {
    h.Add(e.host);
    h.Add(e.path);
    h.Add(e.port);
    h.AddInt(e.canary_weight);
  }
  h.AddInt(autoscale.has_value());
  if (autoscale) {
    h.AddInt(autoscale->min);
    h.AddInt(autoscale->max);
    h.AddInt(autoscale->target_cpu_percent);
    h.AddInt(autoscale->target_rps);
    h.AddInt(autoscale->cooldown.count());
  }
  return h.value();
}

Result<void> App::Validate() const {
  if (!IsValidName(ns)) return Invalid("namespace", fmt::format("\"{}\" is not a valid name", ns));
  if (!IsValidName(name)) return Invalid("name", fmt::format("\"{}\" is not a valid name", name));
  std::set<std::string> names;
  for (const auto& s : services) {
    std::string path = "services." + s.name;
    if (auto r = s.Validate(path); !r) return r;
    if (!names.insert(s.name).second) return Invalid(path, "service defined twice");
  }
  return {};
}

const ServiceSpec* App::FindService(std::string_view n) const {
  for (const auto& s : services) {
    if (s.name == n) return &s;
  }
  return nullptr;
}

ServiceSpec* App::FindService(std::string_view n) {
  return const_cast<ServiceSpec*>(std::as_const(*this).FindService(n));
}

Result<void> Node::Validate() const {
  if (id.empty()) return Invalid("node", "id is required");
  if (auto r = capacity.Validate("node." + id + ".capacity"); !r) return r;
  return {};
}

Resources Node::Free() const {
  Resources f = capacity;
  f -= allocated;
  return f;
}

std::string_view ToString(NodeStatus s) {
  switch (s) {
    case NodeStatus::kReady:
      return "ready";
    case NodeStatus::kDown:
      return "down";
    case NodeStatus::kCordoned:
      return "cordoned";
    case NodeStatus::kDraining:
      return "draining";
  }
  return "unknown";
}

std::string_view ToString(InstanceState s) {
  switch (s) {
    case InstanceState::kPending:
      return "pending";
    case InstanceState::kStarting:
      return "starting";
    case InstanceState::kReady:
      return "ready";
    case InstanceState::kUnready:
      return "unready";
    case InstanceState::kStopping:
      return "stopping";
    case InstanceState::kStopped:
      return "stopped";
    case InstanceState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string_view ToString(PlacementStrategy s) {
  return s == PlacementStrategy::kSpread ? "spread" : "binpack";
}

std::string_view ToString(AntiAffinity a) {
  switch (a) {
    case AntiAffinity::kNone:
      return "none";
    case AntiAffinity::kPreferred:
      return "preferred";
    case AntiAffinity::kRequired:
      return "required";
  }
  return "unknown";
}

std::string_view ToString(RestartMode m) {
  switch (m) {
    case RestartMode::kAlways:
      return "always";
    case RestartMode::kOnFailure:
      return "on-failure";
    case RestartMode::kNever:
      return "never";
  }
  return "unknown";
}

std::string_view ToString(ProbeKind k) {
  switch (k) {
    case ProbeKind::kHttp:
      return "http";
    case ProbeKind::kTcp:
      return "tcp";
    case ProbeKind::kExec:
      return "exec";
  }
  return "unknown";
}

std::string_view ToString(Protocol p) { return p == Protocol::kTcp ? "tcp" : "udp"; }

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while ((v >= 1024 || v <= -1024) && unit < 5) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    return fmt::format("{} {}", static_cast<int64_t>(v), kUnits[unit]);
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

std::string FormatCpu(int64_t millis) {
  if (millis % 1000 == 0) return fmt::format("{} cpu", millis / 1000);
  return fmt::format("{}m cpu", millis);
}

}  // namespace berth::orchestrator
