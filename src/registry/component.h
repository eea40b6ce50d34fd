// The registry as berthd runs it: the Registry over the store, an io_context with a few
// threads for health checks and DNS, the HealthChecker (which also runs the sweep) and the
// DNS server. cmd/wiring.cc builds one of these; tests build the pieces directly.
//
// Several control planes over one store run the checks once: with `health_leader_id` set,
// each runs a store::LeaderElection on kHealthLeaderKey on a thread of its own, and only the
// leader runs a HealthChecker (checks and sweeps). A candidate ticks every second and at
// once when the key is deleted (a resigned or expired leader), so a follower takes over
// within about a second of the old leader's lease ending; the leader renews every ttl/3 and
// stops its checker when a renewal fails. Destroying the component resigns.
// Thread-safety: Start/destroy from one thread; accessors from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "registry/dns/answerer.h"
#include "registry/dns/server.h"
#include "registry/health/checker.h"
#include "registry/health/container_exec_runner.h"
#include "registry/registry.h"
#include "store/leader.h"

namespace berth::registry {

// The key whose holder runs the health checks and sweeps.
inline constexpr std::string_view kHealthLeaderKey = "/registry-health/leader";

struct ComponentOptions {
  RegistryOptions registry;
  health::HealthCheckerOptions health;
  bool run_checks = true;  // false: this process never runs checks or sweeps
  // Non-empty: run checks only while this candidate (unique among the control planes) leads
  // on kHealthLeaderKey. Empty: always run them (one control plane per store).
  std::string health_leader_id;
  int64_t health_leader_ttl_seconds = 10;
  std::string dns_address = "127.0.0.1:8600";  // empty: no DNS server
  dns::AnswererOptions dns;
  int io_threads = 1;
  // Threads for calls that wait on the store (REST handlers hand registrations to these so
  // HTTP workers never wait on an fsync; concurrent waits let the store group-commit).
  int blocking_threads = 32;
  // Exec checks run inside the instance's container through `container_exec` (berthd dev
  // with its agent); without it they are refused at registration (see exec_checks()) and a
  // stored one reports critical. They never run as local processes.
  health::ContainerExec* container_exec = nullptr;  // must outlive the Component
};

class Component {
 public:
  static Result<std::unique_ptr<Component>> Start(store::Store& store, Clock& clock,
                                                  ComponentOptions options = {});
  ~Component();

  Registry& registry() { return *registry_; }
  asio::io_context& io() { return io_; }
  asio::thread_pool& blocking() { return *blocking_; }
  uint16_t dns_port() const { return dns_ ? dns_->port() : 0; }
  // Whether this control plane can run exec checks (it has an agent's ContainerExec).
  bool exec_checks() const { return exec_ != nullptr; }
  // Whether this process runs the health checks now.
  bool checking() const;
  // Prometheus text of the registry, health checker and DNS counters.
  std::string RenderMetrics() const;

 private:
  Component() = default;
  void LeaderLoop();
  Result<void> StartChecker();
  void StopChecker();

  ComponentOptions options_;
  asio::io_context io_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::unique_ptr<asio::thread_pool> blocking_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<health::ExecRunner> exec_;  // in containers (null without container_exec)
  mutable std::mutex checker_mu_;             // guards checker_ (leader thread vs metrics)
  std::unique_ptr<health::HealthChecker> checker_;
  // Leader election for the checks (with health_leader_id).
  std::unique_ptr<store::LeaderElection> election_;
  std::unique_ptr<store::Watcher> leader_watch_;
  std::thread leader_thread_;
  std::mutex leader_mu_;  // guards leader_stop_, leader_wake_
  std::condition_variable leader_cv_;
  bool leader_stop_ = false;
  bool leader_wake_ = false;
  std::unique_ptr<dns::Answerer> answerer_;
  std::unique_ptr<dns::DnsServer> dns_;
};

}  // namespace berth::registry
