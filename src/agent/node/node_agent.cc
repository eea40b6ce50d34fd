#include "agent/node/node_agent.h"

#include <fmt/core.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/backoff.h"
#include "core/json.h"
#include "core/log.h"
#include "orchestrator/codec.h"
#include "registry/health/probe.h"
#include "registry/model.h"

namespace berth::agent::node {

namespace orch = berth::orchestrator;
using std::chrono::milliseconds;

namespace {

enum ProbeIndex { kStartup = 0, kReadiness = 1, kLiveness = 2 };
constexpr const char* kProbeNames[] = {"startup", "readiness", "liveness"};
constexpr auto kRetry = std::chrono::seconds(1);
constexpr int kDeleteAttempts = 3;

std::string KeyOf(const orch::Instance& i) { return i.ns + "/" + i.app + "/" + i.id; }

const std::optional<orch::Probe>& ProbeOf(const orch::ServiceSpec& s, int which) {
  switch (which) {
    case kStartup:
      return s.probes.startup;
    case kReadiness:
      return s.probes.readiness;
    default:
      return s.probes.liveness;
  }
}

std::string ExitText(const ContainerInfo& c) {
  if (c.oom_killed) return "OOM-killed (memory limit reached)";
  if (c.exit_signal != 0) return fmt::format("killed by signal {}", c.exit_signal);
  return fmt::format("exited with code {}", c.exit_code);
}

std::string Seconds(milliseconds d) { return fmt::format("{:.1f}s", d.count() / 1000.0); }

}  // namespace

struct NodeAgent::ProbeState {
  int successes = 0;
  int failures = 0;
  Clock::TimePoint next_due{};
  bool in_flight = false;
  bool passed = false;  // startup: passed once for this container
};

struct NodeAgent::Inst {
  enum class Phase { kNew, kStarting, kRunning, kBackoff, kStopping, kDone };
  std::string key;
  orch::Assignment assignment;
  Phase phase = Phase::kNew;
  bool busy = false;        // an op is in flight
  uint64_t generation = 0;  // +1 per container start; older probe results are dropped
  int64_t started_ms = 0;
  std::string ip;
  bool ready = false;
  bool was_ready = false;
  int64_t ready_since_ms = 0;
  int pid = 0;              // the container's init process while running
  int64_t cpu_millis = -1;  // reported CPU use; -1: not measured
  orch::InstanceState state = orch::InstanceState::kPending;
  std::string message;
  // Restarts reported: those of earlier containers of this instance (a failed probe, a
  // removed container) plus the current container's own (its restart policy).
  int64_t restarts = 0;
  int64_t restarts_before = 0;
  ProbeState probes[3];
  Clock::TimePoint restart_at{};
  Backoff probe_backoff;
  Clock::TimePoint last_start{};

  // Sends (status reports, registry calls) for this instance, one at a time.
  std::mutex send_mu;
  StatusReport sent;                // guarded by send_mu
  uint64_t sent_epoch = 0;          // guarded by send_mu; 0: nothing sent yet
  bool in_registry = false;         // guarded by send_mu (read racily for views)
  Clock::TimePoint registry_due{};  // guarded by send_mu
  bool removed = false;             // guarded by send_mu: the stop sequence finished
};

struct NodeAgent::Pools {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread io_thread;
  asio::thread_pool ops;
  asio::thread_pool exec{2};
  explicit Pools(int op_threads) : ops(static_cast<size_t>(std::max(1, op_threads))) {
    io_thread = std::thread([this] { io.run(); });
  }
  ~Pools() {
    ops.join();
    exec.join();
    guard.reset();
    io.stop();
    if (io_thread.joinable()) io_thread.join();
  }
};

NodeAgent::NodeAgent(NodeAgentOptions options, Clock& clock, ControlPlane& control,
                     Containers& containers)
    : options_(std::move(options)), clock_(clock), control_(control), containers_(containers) {}

Result<std::unique_ptr<NodeAgent>> NodeAgent::Start(NodeAgentOptions options, Clock& clock,
                                                    ControlPlane& control, Containers& containers) {
  if (!orch::IsValidName(options.node)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("node name \"{}\" is not valid: use 1-63 lower-case letters, digits "
                            "and '-', starting with a letter",
                            options.node));
  }
  if (options.ttl_seconds < 1) return Fail(ErrorCode::kInvalidArgument, "node ttl must be >= 1s");
  orch::Resources host = HostCapacity();
  if (options.capacity.cpu_millis == 0) options.capacity.cpu_millis = host.cpu_millis;
  if (options.capacity.memory_bytes == 0) options.capacity.memory_bytes = host.memory_bytes;
  if (options.capacity.pids == 0) options.capacity.pids = host.pids;
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return Fail(ErrorCode::kInternal,
                fmt::format("create {}: {}", options.state_dir, ec.message()));
  }
  std::unique_ptr<NodeAgent> n(new NodeAgent(std::move(options), clock, control, containers));
  if (auto r = n->LoadOwned(); !r) return std::unexpected(r.error());
  n->pools_ = std::make_unique<Pools>(n->options_.op_threads);
  n->lease_thread_ = std::thread([p = n.get()] { p->LeaseLoop(); });
  n->watch_thread_ = std::thread([p = n.get()] { p->WatchLoop(); });
  n->worker_thread_ = std::thread([p = n.get()] { p->WorkerLoop(); });
  log::Info("node", "node {} joining {} (cpu {}, memory {}, pids {}, address {})", n->options_.node,
            n->control_.server(), orch::FormatCpu(n->options_.capacity.cpu_millis),
            orch::FormatBytes(n->options_.capacity.memory_bytes), n->options_.capacity.pids,
            n->options_.address);
  return n;
}

NodeAgent::~NodeAgent() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  control_.Shutdown();
  exec_stop_.request_stop();  // kills running exec probes
  for (auto* t : {&lease_thread_, &watch_thread_, &worker_thread_})
    if (t->joinable()) t->join();
  pools_.reset();  // waits for ops in flight (a stop finishes its sequence)
}

bool NodeAgent::Sleep(milliseconds d) {
  std::unique_lock lock(wake_mu_);
  wake_cv_.wait_for(lock, d, [&] { return stopping_; });
  return !stopping_;
}

void NodeAgent::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

// ---------------------------------------------------------------- lease

void NodeAgent::LeaseLoop() {
  NodeRegistration reg{options_.node, options_.labels, options_.capacity, options_.address,
                       options_.ttl_seconds};
  int failures = 0;
  while (true) {
    {
      std::lock_guard lock(wake_mu_);
      if (stopping_) return;
    }
    if (lease_.load() == 0) {
      auto r = control_.Register(reg);
      if (r) {
        lease_ = *r;
        epoch_++;
        failures = 0;
        log::Info("node", "node {} registered with {} (lease {}, ttl {}s)", options_.node,
                  control_.server(), *r, options_.ttl_seconds);
        Wake();
        continue;
      }
      // The first attempt races a control plane that is still starting (berthd dev).
      if (failures++ % 30 == 1) {
        log::Warn("node", "node {}: register with {}: {} (retrying)", options_.node,
                  control_.server(), r.error().message);
      }
      if (!Sleep(kRetry)) return;
      continue;
    }
    if (!Sleep(milliseconds(options_.ttl_seconds * 1000 / 3))) return;
    auto r = control_.Heartbeat(options_.node, lease_.load());
    if (r) {
      failures = 0;
      continue;
    }
    if (r.error().code == ErrorCode::kNotFound) {
      log::Warn("node", "node {}: lease gone ({}); registering again", options_.node,
                r.error().message);
      lease_ = 0;
    } else if (failures++ % 10 == 0) {
      log::Warn("node", "node {}: heartbeat: {}", options_.node, r.error().message);
    }
  }
}

// ---------------------------------------------------------------- assignments

void NodeAgent::WatchLoop() {
  int64_t from = 0;  // 0: list first
  int failures = 0;
  auto stopping = [&] {
    std::lock_guard lock(wake_mu_);
    return stopping_;
  };
  while (!stopping()) {
    if (from == 0) {
      auto list = control_.ListAssignments(options_.node);
      if (!list) {
        if (failures++ % 30 == 1) {
          log::Warn("node", "node {}: list assignments: {} (retrying)", options_.node,
                    list.error().message);
        }
        if (!Sleep(kRetry)) return;
        continue;
      }
      failures = 0;
      std::map<std::string, orch::Assignment> desired;
      for (auto& a : list->assignments) {
        if (a.instance.node_id != options_.node) continue;
        std::string key = KeyOf(a.instance);
        desired.emplace(std::move(key), std::move(a));
      }
      {
        std::lock_guard lock(mu_);
        desired_ = std::move(desired);
        listed_ = true;
      }
      log::Info("node", "node {}: {} assignment(s) at revision {}", options_.node,
                list->assignments.size(), list->revision);
      Wake();
      from = list->revision + 1;
    }
    // Resume from the last revision seen, not the one after: a revision's events may have
    // been cut in the middle, and applying a put or delete twice changes nothing.
    int64_t last = from;
    auto r = control_.WatchAssignments(options_.node, from, [&](AssignmentEvent&& ev) {
      if (stopping()) return false;
      if (ev.type == AssignmentEvent::Type::kProgress) return true;
      {
        std::lock_guard lock(mu_);
        if (ev.type == AssignmentEvent::Type::kPut) {
          if (ev.assignment->instance.node_id == options_.node) {
            std::string key = KeyOf(ev.assignment->instance);
            desired_[key] = std::move(*ev.assignment);
          }
        } else if (auto parts = orch::ParseNodeKey(ev.key);
                   parts && parts->kind == orch::NodeKeyParts::Kind::kAssignment) {
          desired_.erase(parts->ns + "/" + parts->app + "/" + parts->instance);
        }
      }
      last = std::max(last, ev.revision);
      Wake();
      return true;
    });
    from = last;
    if (stopping()) return;
    if (!r && r.error().code == ErrorCode::kCompacted) {
      log::Warn("node", "node {}: watch revision compacted; listing again", options_.node);
      from = 0;
      continue;
    }
    if (!r && failures++ % 30 == 0) {
      log::Warn("node", "node {}: assignment watch: {} (resuming from revision {})", options_.node,
                r.error().message, from);
    }
    if (!Sleep(r ? milliseconds(200) : milliseconds(kRetry))) return;
  }
}

// ---------------------------------------------------------------- worker

void NodeAgent::WorkerLoop() {
  while (true) {
    {
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_for(lock, options_.tick, [&] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
    Tick();
  }
}

void NodeAgent::Tick() {
  std::vector<std::shared_ptr<Inst>> start, stop, follow, all;
  std::vector<std::pair<std::shared_ptr<Inst>, int>> probes;
  {
    std::lock_guard lock(mu_);
    if (!listed_) return;  // nothing is started or stopped before the first list
    for (const auto& [key, a] : desired_) {
      auto& inst = insts_[key];
      if (!inst) {
        inst = std::make_shared<Inst>();
        inst->key = key;
        inst->probe_backoff = Backoff(BackoffPolicy{.initial = a.spec.restart.backoff_initial,
                                                    .cap = a.spec.restart.backoff_max});
        log::Info("node", "node {}: assigned {} ({})", options_.node, key, a.spec.image);
      }
      inst->assignment = a;  // in-place updates (same deploy hash) change nothing running
    }
    bool changed = false;
    for (auto& [key, inst] : insts_) {
      bool wanted = desired_.count(key) > 0;
      if (!wanted) {
        if (!inst->busy && inst->phase != Inst::Phase::kStopping) {
          inst->phase = Inst::Phase::kStopping;
          inst->busy = true;
          inst->state = orch::InstanceState::kStopping;
          stop.push_back(inst);
        }
        continue;
      }
      if (inst->busy) continue;
      switch (inst->phase) {
        case Inst::Phase::kNew:
          inst->phase = Inst::Phase::kStarting;
          inst->busy = true;
          start.push_back(inst);
          break;
        case Inst::Phase::kBackoff:
          if (clock_.Now() >= inst->restart_at) {
            inst->phase = Inst::Phase::kStarting;
            inst->busy = true;
            start.push_back(inst);
          }
          break;
        case Inst::Phase::kRunning:
          follow.push_back(inst);
          break;
        default:
          break;
      }
      changed = true;
    }
    (void)changed;
    for (auto& [key, inst] : insts_) all.push_back(inst);
  }
  for (auto& inst : start) asio::post(pools_->ops, [this, inst] { StartOp(inst); });
  for (auto& inst : stop) asio::post(pools_->ops, [this, inst] { StopOp(inst); });
  for (auto& inst : follow) Follow(inst);
  // Due probes, for running containers.
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    for (auto& inst : follow) {
      if (inst->phase != Inst::Phase::kRunning || inst->busy) continue;
      const auto& spec = inst->assignment.spec;
      for (int which : {kStartup, kReadiness, kLiveness}) {
        const auto& probe = ProbeOf(spec, which);
        if (!probe) continue;
        bool startup_pending = spec.probes.startup && !inst->probes[kStartup].passed;
        if (which == kStartup ? !startup_pending : startup_pending) continue;
        ProbeState& ps = inst->probes[which];
        if (ps.in_flight || now < ps.next_due) continue;
        if (probe->kind != orch::ProbeKind::kExec && inst->ip.empty()) continue;
        ps.in_flight = true;
        probes.emplace_back(inst, which);
      }
    }
  }
  for (auto& [inst, which] : probes) RunProbe(inst, which, inst->generation);
  SampleCpu(follow);
  for (auto& inst : all) Sync(inst);
}

void NodeAgent::SampleCpu(const std::vector<std::shared_ptr<Inst>>& running) {
  const auto now = clock_.Now();
  const int64_t now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::set<std::string> seen;
  for (const auto& inst : running) {
    int pid = 0;
    {
      std::lock_guard lock(mu_);
      if (inst->phase == Inst::Phase::kRunning && !inst->busy) pid = inst->pid;
    }
    if (pid <= 0) continue;
    seen.insert(inst->key);
    auto [it, fresh] = cpu_.try_emplace(inst->key);
    CpuSampler& c = it->second;
    if (fresh) c.window = CpuWindow(options_.cpu_window);
    if (!fresh && now < c.due) continue;
    c.due = now + options_.cpu_sample_interval;
    if (c.pid != pid || !c.accounting) {
      c.pid = pid;
      c.window.Reset();
      auto a = LocateCpuAccountingOf(pid);
      if (!a) {
        c.accounting.reset();
        continue;  // exited meanwhile, or no accounting on this host: not measured
      }
      c.accounting = std::move(*a);
    }
    auto used = ReadCpuUsageNanos(*c.accounting);
    if (!used) {
      c.accounting.reset();
      continue;
    }
    c.window.Add(now_ms, *used);
    auto m = c.window.Millicores();
    if (!m) continue;
    std::lock_guard lock(mu_);
    // Report a change of at least 5% (or 5m): fewer status writes for a steady load.
    int64_t cur = inst->cpu_millis;
    if (cur < 0 || std::abs(*m - cur) >= std::max<int64_t>(5, cur / 20)) inst->cpu_millis = *m;
  }
  std::erase_if(cpu_, [&](const auto& kv) { return !seen.count(kv.first); });
}

// What the container is doing now; updates the instance under mu_.
void NodeAgent::Follow(const std::shared_ptr<Inst>& inst) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    name = inst->assignment.instance.id;
  }
  auto info = containers_.Inspect(name);  // outside mu_: it may wait on the container's lock
  std::lock_guard lock(mu_);
  if (inst->phase != Inst::Phase::kRunning || inst->busy) return;
  const auto& spec = inst->assignment.spec;
  const auto now = clock_.Now();
  if (!info) {
    log::Warn("node", "node {}: container {} is gone; starting it again", options_.node, name);
    inst->phase = Inst::Phase::kNew;
    inst->ready = false;
    inst->state = orch::InstanceState::kPending;
    inst->message = "container was removed; starting it again";
    inst->restarts_before = ++inst->restarts;
    return;
  }
  inst->restarts = inst->restarts_before + info->restart_count;
  switch (info->status) {
    case ContainerStatus::kRunning:
      inst->pid = info->pid;
      if (info->started_ms != inst->started_ms) {
        // First sight, or restarted by its policy: a new container life, probed afresh.
        inst->generation++;
        inst->started_ms = info->started_ms;
        inst->ip = info->ip;
        inst->cpu_millis = -1;  // measured afresh for this life
        inst->ready = false;
        for (int w : {kStartup, kReadiness, kLiveness}) {
          const auto& p = ProbeOf(spec, w);
          inst->probes[w] = ProbeState{};
          inst->probes[w].next_due = now + (p ? p->initial_delay : milliseconds(0));
        }
        if (!inst->message.empty() && inst->state != orch::InstanceState::kUnready)
          inst->message.clear();
      }
      break;
    case ContainerStatus::kRestarting: {
      inst->ready = false;
      inst->state = orch::InstanceState::kUnready;
      inst->message = fmt::format("{}; restart {} in {}", ExitText(*info), info->restart_count,
                                  Seconds(milliseconds(info->next_restart_in_ms)));
      int max = spec.restart.max_restarts;
      if (max > 0 && info->restart_count >= static_cast<uint32_t>(max)) {
        inst->busy = true;
        inst->message = fmt::format("{}; gave up after {} restarts (maxRestarts {})",
                                    ExitText(*info), info->restart_count, max);
        asio::post(pools_->ops, [this, inst, name] {
          (void)containers_.Stop(name, options_.stop_grace);
          std::lock_guard lock(mu_);
          inst->busy = false;
          inst->phase = Inst::Phase::kDone;
          inst->state = orch::InstanceState::kFailed;
          Wake();
        });
      }
      return;
    }
    case ContainerStatus::kExited:
    case ContainerStatus::kCreated: {
      inst->ready = false;
      inst->phase = Inst::Phase::kDone;
      bool clean = info->exit_code == 0 && info->exit_signal == 0 && !info->oom_killed &&
                   info->error.empty();
      inst->state = clean ? orch::InstanceState::kStopped : orch::InstanceState::kFailed;
      inst->message = info->error.empty() ? ExitText(*info) : info->error;
      log::Info("node", "node {}: {} {}", options_.node, inst->key, inst->message);
      return;
    }
  }
  // Running: the state follows the probes.
  bool startup_pending = spec.probes.startup && !inst->probes[kStartup].passed;
  if (startup_pending) {
    inst->state = orch::InstanceState::kStarting;
  } else if (!spec.probes.readiness) {
    inst->ready = true;
  }
  if (!startup_pending) {
    if (inst->ready) {
      if (inst->state != orch::InstanceState::kReady) {
        inst->ready_since_ms = clock_.WallMillis();
        inst->message.clear();
        log::Info("node", "node {}: {} ready at {}", options_.node, inst->key, inst->ip);
      }
      inst->state = orch::InstanceState::kReady;
      inst->was_ready = true;
    } else {
      inst->state =
          inst->was_ready ? orch::InstanceState::kUnready : orch::InstanceState::kStarting;
    }
  }
}

// ---------------------------------------------------------------- probes

void NodeAgent::RunProbe(std::shared_ptr<Inst> inst, int which, uint64_t generation) {
  orch::Probe probe;
  std::string ip, name;
  int port = 0;
  {
    std::lock_guard lock(mu_);
    probe = *ProbeOf(inst->assignment.spec, which);
    ip = inst->ip;
    name = inst->assignment.instance.id;
    port = ProbePort(probe, inst->assignment.spec);
  }
  auto done = [this, inst, which, generation](registry::health::ProbeResult r) {
    OnProbe(inst, which, generation, r.status == registry::Health::kPassing, r.output);
  };
  switch (probe.kind) {
    case orch::ProbeKind::kHttp: {
      std::string path = probe.path.empty() || probe.path[0] != '/' ? "/" + probe.path : probe.path;
      registry::health::RunHttpProbe(pools_->io, fmt::format("http://{}:{}{}", ip, port, path),
                                     probe.timeout, std::move(done));
      break;
    }
    case orch::ProbeKind::kTcp:
      registry::health::RunTcpProbe(pools_->io, fmt::format("{}:{}", ip, port), probe.timeout,
                                    std::move(done));
      break;
    case orch::ProbeKind::kExec:
      asio::post(pools_->exec, [this, inst, which, generation, probe, name] {
        RunExecProbe(inst, which, generation, probe, name);
      });
      break;
  }
}

// Killed at its timeout, so a hung probe holds an exec thread no longer than that, and when
// the NodeAgent stops, so it does not hold up the stop either.
void NodeAgent::RunExecProbe(std::shared_ptr<Inst> inst, int which, uint64_t generation,
                             const orch::Probe& probe, const std::string& name) {
  const auto t0 = clock_.Now();
  auto r = containers_.Exec(name, probe.command,
                            {.timeout = probe.timeout, .stop = exec_stop_.get_token()});
  if (r && r->stopped) return;  // the NodeAgent is stopping: no verdict
  const auto took = std::chrono::duration_cast<milliseconds>(clock_.Now() - t0);
  std::string out;
  if (!r) {
    out = r.error().message;
  } else if (r->timed_out) {
    out = fmt::format("timed out after {} (killed)", Seconds(probe.timeout));
  } else if (took > probe.timeout) {
    out = fmt::format("took {} (timeout {})", Seconds(took), Seconds(probe.timeout));
  } else {
    out = fmt::format("exit code {}", r->exit_code);
  }
  const bool ok = r && r->exit_code == 0 && !r->timed_out && took <= probe.timeout;
  OnProbe(inst, which, generation, ok, std::move(out));
}

void NodeAgent::OnProbe(const std::shared_ptr<Inst>& inst, int which, uint64_t generation, bool ok,
                        std::string output) {
  std::string restart_why;
  {
    std::lock_guard lock(mu_);
    if (inst->generation != generation) return;  // a container life that has ended
    const auto& probe = ProbeOf(inst->assignment.spec, which);
    if (!probe) return;
    ProbeState& ps = inst->probes[which];
    ps.in_flight = false;
    ps.next_due = clock_.Now() + probe->period;
    if (ok) {
      ps.successes++;
      ps.failures = 0;
    } else {
      ps.failures++;
      ps.successes = 0;
    }
    if (inst->phase != Inst::Phase::kRunning || inst->busy) return;
    switch (which) {
      case kStartup:
        if (ps.successes >= probe->success_threshold) {
          ps.passed = true;
          for (int w : {kReadiness, kLiveness}) inst->probes[w].next_due = clock_.Now();
        } else if (ps.failures >= probe->failure_threshold) {
          restart_why = fmt::format("startup probe failed {} times: {}", ps.failures, output);
        }
        break;
      case kReadiness:
        if (ok && ps.successes >= probe->success_threshold && !inst->ready) {
          inst->ready = true;
        } else if (!ok && ps.failures >= probe->failure_threshold && inst->ready) {
          inst->ready = false;
          inst->message = fmt::format("readiness probe failed {} times: {}", ps.failures, output);
          log::Info("node", "node {}: {} not ready: {}", options_.node, inst->key, inst->message);
        }
        break;
      case kLiveness:
        if (ps.failures >= probe->failure_threshold) {
          restart_why = fmt::format("liveness probe failed {} times: {}", ps.failures, output);
        }
        break;
    }
    if (!restart_why.empty()) {
      inst->busy = true;
      inst->ready = false;
      inst->state = orch::InstanceState::kUnready;
      inst->message = restart_why;
      inst->generation++;
    }
  }
  if (!restart_why.empty()) {
    asio::post(pools_->ops, [this, inst, restart_why] { RestartOp(inst, restart_why); });
  }
  Wake();
}

// ---------------------------------------------------------------- ops

void NodeAgent::StartOp(std::shared_ptr<Inst> inst) {
  orch::Assignment a;
  {
    std::lock_guard lock(mu_);
    a = inst->assignment;
    inst->last_start = clock_.Now();
  }
  const std::string& name = a.instance.id;
  Result<ContainerInfo> r = Fail(ErrorCode::kInternal, "not started");
  auto existing = containers_.Inspect(name);
  if (existing && (existing->status == ContainerStatus::kRunning ||
                   existing->status == ContainerStatus::kRestarting)) {
    r = existing;  // adopted
  } else {
    if (existing) (void)containers_.Remove(name, true);  // ours, exited: a fresh container
    {
      std::lock_guard lock(mu_);
      owned_[name] = inst->key;
      SaveOwnedLocked();
    }
    r = containers_.Run(
        ToRunSpec(a, RunSpecContext{options_.node, options_.address, options_.gateway_url}));
  }
  std::lock_guard lock(mu_);
  inst->busy = false;
  if (!r) {
    inst->phase = Inst::Phase::kDone;
    inst->state = orch::InstanceState::kFailed;
    inst->message = r.error().message;
    owned_.erase(name);
    SaveOwnedLocked();
    log::Warn("node", "node {}: {} failed to start: {}", options_.node, inst->key,
              r.error().message);
  } else {
    inst->phase = Inst::Phase::kRunning;
    inst->started_ms = 0;  // Follow starts the probes of this container life
    inst->ip = r->ip;
    inst->state = orch::InstanceState::kStarting;
    log::Info("node", "node {}: started {} as container {} ({})", options_.node, inst->key,
              r->id.substr(0, 12), r->ip.empty() ? "no ip" : r->ip);
  }
  Wake();
}

void NodeAgent::RestartOp(std::shared_ptr<Inst> inst, std::string why) {
  std::string name;
  milliseconds delay{0};
  {
    std::lock_guard lock(mu_);
    name = inst->assignment.instance.id;
    auto ran = std::chrono::duration_cast<milliseconds>(clock_.Now() - inst->last_start);
    delay = inst->probe_backoff.Next(ran);
  }
  Sync(inst);  // out of the registry before the container goes
  log::Info("node", "node {}: restarting {}: {} (in {})", options_.node, name, why, Seconds(delay));
  (void)containers_.Stop(name, options_.stop_grace);
  std::lock_guard lock(mu_);
  inst->restarts_before = ++inst->restarts;  // the next container starts counting afresh
  inst->busy = false;
  inst->phase = Inst::Phase::kBackoff;
  inst->restart_at = clock_.Now() + delay;
  inst->message = fmt::format("{}; restarting in {}", why, Seconds(delay));
  Wake();
}

void NodeAgent::StopOp(std::shared_ptr<Inst> inst) {
  orch::Instance instance;
  {
    std::lock_guard lock(mu_);
    instance = inst->assignment.instance;
  }
  bool was_registered = false;
  {
    std::lock_guard send(inst->send_mu);
    if (inst->in_registry) {
      auto r = control_.DeregisterInstance(instance.ns, instance.service, instance.id);
      if (!r)
        log::Warn("node", "node {}: deregister {}: {}", options_.node, inst->key,
                  r.error().message);
      inst->in_registry = false;
      was_registered = true;
    }
    StatusReport stopping = inst->sent;
    stopping.status.state = orch::InstanceState::kStopping;
    stopping.status.message.clear();
    if (inst->sent_epoch != 0 && lease_.load() != 0) (void)control_.PutStatus(instance, stopping);
  }
  // Let the gateway and other clients see the instance leave before it stops answering.
  if (was_registered) std::this_thread::sleep_for(options_.drain_pause);
  log::Info("node", "node {}: stopping {}", options_.node, inst->key);
  auto s = containers_.Stop(instance.id, options_.stop_grace);
  if (!s && s.error().code != ErrorCode::kNotFound &&
      s.error().code != ErrorCode::kFailedPrecondition)
    log::Warn("node", "node {}: stop {}: {}", options_.node, instance.id, s.error().message);
  auto rm = containers_.Remove(instance.id, true);
  if (!rm && rm.error().code != ErrorCode::kNotFound)
    log::Warn("node", "node {}: remove {}: {}", options_.node, instance.id, rm.error().message);
  {
    std::lock_guard lock(mu_);
    owned_.erase(instance.id);
    SaveOwnedLocked();
  }
  {
    std::lock_guard send(inst->send_mu);
    for (int i = 0; i < kDeleteAttempts; ++i) {
      auto d = control_.DeleteStatus(instance);
      if (d || d.error().code == ErrorCode::kNotFound) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    inst->removed = true;
  }
  std::lock_guard lock(mu_);
  if (auto it = insts_.find(inst->key); it != insts_.end() && it->second == inst) insts_.erase(it);
  Wake();
}

// ---------------------------------------------------------------- reports

void NodeAgent::Sync(const std::shared_ptr<Inst>& inst) {
  std::lock_guard send(inst->send_mu);
  if (inst->removed) return;
  StatusReport report;
  orch::Instance instance;
  bool should_register = false;
  RegistryEntry entry;
  {
    std::lock_guard lock(mu_);
    if (inst->phase == Inst::Phase::kStopping) return;  // the stop sequence reports
    instance = inst->assignment.instance;
    report.status.state = inst->state;
    report.status.ready_since_ms =
        inst->state == orch::InstanceState::kReady ? inst->ready_since_ms : 0;
    report.status.message = inst->message;
    report.status.cpu_millis = inst->phase == Inst::Phase::kRunning ? inst->cpu_millis : -1;
    report.status.restarts = inst->restarts;
    report.ip = inst->ip;
    for (const auto& p : inst->assignment.spec.ports) report.ports[p.container_port] = p.host_port;
    const auto& spec = inst->assignment.spec;
    should_register = inst->state == orch::InstanceState::kReady &&
                      inst->phase == Inst::Phase::kRunning && !inst->busy && !spec.ports.empty() &&
                      !inst->ip.empty();
    if (should_register) {
      entry.ns = instance.ns;
      entry.service = spec.name;
      entry.id = instance.id;
      entry.address = inst->ip;
      entry.port = spec.ports.front().container_port;
      entry.tags = {"app=" + instance.app, fmt::format("deploy={:016x}", instance.deploy_hash)};
      // The node named as the registry expects: a node token may change only instances
      // that name its node (registry::AuthorizeNodeWrite).
      entry.metadata = {{std::string(registry::kNodeMetadataKey), options_.node},
                        {"app", instance.app}};
      entry.ttl_seconds = options_.registry_ttl_seconds;
    }
  }
  const uint64_t epoch = epoch_.load();
  if (lease_.load() != 0 && (inst->sent_epoch != epoch || !(report == inst->sent))) {
    auto r = control_.PutStatus(instance, report);
    if (r) {
      inst->sent = report;
      inst->sent_epoch = epoch;
    } else if (r.error().code != ErrorCode::kNotFound) {
      log::Warn("node", "node {}: report {}: {}", options_.node, inst->key, r.error().message);
    }
  }
  const auto now = clock_.Now();
  const auto beat = std::chrono::seconds(std::max<int64_t>(1, options_.registry_ttl_seconds / 3));
  if (should_register && !inst->in_registry) {
    auto r = control_.RegisterInstance(entry);
    if (r) {
      inst->in_registry = true;
      inst->registry_due = now + beat;
      log::Info("node", "node {}: {} in the registry as {}/{} {}:{}", options_.node, inst->key,
                entry.ns, entry.service, entry.address, entry.port);
    } else {
      log::Warn("node", "node {}: register {}: {}", options_.node, inst->key, r.error().message);
    }
  } else if (!should_register && inst->in_registry) {
    auto r = control_.DeregisterInstance(instance.ns, inst->assignment.spec.name, instance.id);
    if (r) {
      inst->in_registry = false;
      log::Info("node", "node {}: {} out of the registry", options_.node, inst->key);
    }
  } else if (inst->in_registry && now >= inst->registry_due) {
    auto r = control_.HeartbeatInstance(instance.ns, entry.service, instance.id);
    if (!r && r.error().code == ErrorCode::kNotFound) r = control_.RegisterInstance(entry);
    if (r) inst->registry_due = now + beat;
  }
}

std::vector<InstanceView> NodeAgent::Instances() const {
  std::vector<InstanceView> out;
  std::lock_guard lock(mu_);
  for (const auto& [key, inst] : insts_) {
    InstanceView v;
    v.instance = inst->assignment.instance;
    v.state = inst->state;
    v.message = inst->message;
    v.ip = inst->ip;
    v.in_registry = inst->in_registry;
    out.push_back(std::move(v));
  }
  return out;
}

// ---------------------------------------------------------------- state file

Result<void> NodeAgent::LoadOwned() {
  const std::string path = options_.state_dir + "/instances.json";
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  auto j = ParseJson(text.str());
  if (!j || !j->is_object() || !(*j)["containers"].is_object()) {
    log::Warn("node", "{} is not valid; starting without it", path);
    return {};
  }
  for (const auto& [name, key] : (*j)["containers"].items()) {
    if (!key.is_string()) continue;
    auto info = containers_.Inspect(name);
    if (!info) continue;  // gone while the agent was away
    owned_[name] = key.get<std::string>();
    // Adopted: the assignment list decides whether it stays (then it is followed and
    // probed like any other) or is stopped.
    auto inst = std::make_shared<Inst>();
    inst->key = key.get<std::string>();
    auto slash1 = inst->key.find('/');
    auto slash2 = inst->key.find('/', slash1 + 1);
    if (slash1 == std::string::npos || slash2 == std::string::npos) continue;
    inst->assignment.instance.ns = inst->key.substr(0, slash1);
    inst->assignment.instance.app = inst->key.substr(slash1 + 1, slash2 - slash1 - 1);
    inst->assignment.instance.id = name;
    inst->assignment.instance.node_id = options_.node;
    inst->phase = Inst::Phase::kRunning;
    inst->ip = info->ip;
    inst->state = orch::InstanceState::kStarting;
    insts_[inst->key] = inst;
    log::Info("node", "node {}: adopting container {} ({})", options_.node, name,
              ContainerStatusName(info->status));
  }
  return {};
}

void NodeAgent::SaveOwnedLocked() {
  Json containers = Json::object();
  for (const auto& [name, key] : owned_) containers[name] = key;
  const std::string path = options_.state_dir + "/instances.json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << Json{{"node", options_.node}, {"containers", containers}}.dump() << "\n";
    if (!out) {
      log::Warn("node", "cannot write {}", tmp);
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) log::Warn("node", "cannot rename {}: {}", tmp, ec.message());
}

}  // namespace berth::agent::node
