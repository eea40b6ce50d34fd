// The registry as berthd runs it: the Registry over the store, an io_context with a few
// threads for health checks and DNS, the HealthChecker (which also runs the sweep) and the
// DNS server. cmd/wiring.cc builds one of these; tests build the pieces directly.
// Thread-safety: Start/destroy from one thread; accessors from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "registry/dns/answerer.h"
#include "registry/dns/server.h"
#include "registry/health/checker.h"
#include "registry/health/container_exec_runner.h"
#include "registry/health/local_exec_runner.h"
#include "registry/registry.h"

namespace berth::registry {

struct ComponentOptions {
  RegistryOptions registry;
  health::HealthCheckerOptions health;
  bool run_checks = true;                      // false on servers that are not the leader
  std::string dns_address = "127.0.0.1:8600";  // empty: no DNS server
  dns::AnswererOptions dns;
  int io_threads = 1;
  // Threads for calls that wait on the store (REST handlers hand registrations to these so
  // HTTP workers never wait on an fsync; concurrent waits let the store group-commit).
  int blocking_threads = 32;
  // Exec checks: inside the instance's container through `container_exec` when given
  // (berthd dev with its agent), else as local processes when `local_exec`, else critical.
  // With both, instances that name no container run locally.
  health::ContainerExec* container_exec = nullptr;  // must outlive the Component
  bool local_exec = true;
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
  // Prometheus text of the registry, health checker and DNS counters.
  std::string RenderMetrics() const;

 private:
  Component() = default;
  asio::io_context io_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::unique_ptr<asio::thread_pool> blocking_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<health::ExecRunner> local_exec_;
  std::unique_ptr<health::ExecRunner> exec_;  // in containers (null without container_exec)
  std::unique_ptr<health::HealthChecker> checker_;
  std::unique_ptr<dns::Answerer> answerer_;
  std::unique_ptr<dns::DnsServer> dns_;
};

}  // namespace berth::registry
