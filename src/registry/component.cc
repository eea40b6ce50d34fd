#include "registry/component.h"

#include <fmt/core.h>

#include "core/log.h"

namespace berth::registry {

Result<std::unique_ptr<Component>> Component::Start(store::Store& store, Clock& clock,
                                                    ComponentOptions options) {
  std::unique_ptr<Component> c(new Component());
  c->options_ = options;
  c->work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      asio::make_work_guard(c->io_));
  c->blocking_ = std::make_unique<asio::thread_pool>(std::max(1, options.blocking_threads));
  c->registry_ = std::make_unique<Registry>(store, clock, options.registry);
  if (options.container_exec) {
    c->exec_ = std::make_unique<health::ContainerExecRunner>(c->io_, *options.container_exec);
  }
  if (!options.dns_address.empty()) {
    c->answerer_ = std::make_unique<dns::Answerer>(*c->registry_, options.dns);
    auto d = dns::DnsServer::Listen(c->io_, *c->answerer_, {.address = options.dns_address});
    if (!d) return std::unexpected(d.error());
    c->dns_ = std::move(*d);
    c->dns_->Start();
  }
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    c->threads_.emplace_back([io = &c->io_] { io->run(); });
  }
  if (options.run_checks && options.health_leader_id.empty()) {
    if (auto r = c->StartChecker(); !r) return std::unexpected(Wrap(r.error(), "health checks"));
  } else if (options.run_checks) {
    c->election_ = std::make_unique<store::LeaderElection>(
        store, clock,
        store::LeaderElectionOptions{.key = std::string(kHealthLeaderKey),
                                     .id = options.health_leader_id,
                                     .ttl_seconds = options.health_leader_ttl_seconds});
    // A deleted key (the leader resigned or its lease ran out) wakes the candidates at once.
    auto w = store.Watch(kHealthLeaderKey, {}, [raw = c.get()](store::WatchResponse&&) {
      std::lock_guard lock(raw->leader_mu_);
      raw->leader_wake_ = true;
      raw->leader_cv_.notify_all();
    });
    if (!w) return std::unexpected(Wrap(w.error(), "watch " + std::string(kHealthLeaderKey)));
    c->leader_watch_ = std::move(*w);
    // The first campaign before returning, so a lone control plane checks from the start.
    if (auto r = c->election_->Tick(); !r) {
      log::Warn("registry", "health leader: {}", r.error().message);
    } else if (*r) {
      log::Info("registry", "{} runs the health checks (leader)", options.health_leader_id);
      if (auto s = c->StartChecker(); !s) {
        log::Warn("registry", "health checks: {}", s.error().message);
        c->election_->Resign();  // let another control plane try
      }
    }
    c->leader_thread_ = std::thread([raw = c.get()] { raw->LeaderLoop(); });
  }
  return c;
}

Result<void> Component::StartChecker() {
  auto checker =
      std::make_unique<health::HealthChecker>(io_, *registry_, exec_.get(), options_.health);
  if (auto r = checker->Start(); !r) {
    checker->Stop();
    return r;
  }
  std::lock_guard lock(checker_mu_);
  checker_ = std::move(checker);
  return {};
}

void Component::StopChecker() {
  std::unique_ptr<health::HealthChecker> checker;
  {
    std::lock_guard lock(checker_mu_);
    checker = std::move(checker_);
  }
  if (checker) checker->Stop();
}

bool Component::checking() const {
  std::lock_guard lock(checker_mu_);
  return checker_ != nullptr;
}

void Component::LeaderLoop() {
  const auto period = std::min<std::chrono::milliseconds>(
      std::chrono::seconds(1),
      std::chrono::seconds(std::max<int64_t>(1, options_.health_leader_ttl_seconds)) / 3);
  while (true) {
    {
      std::unique_lock lock(leader_mu_);
      leader_cv_.wait_for(lock, period, [&] { return leader_stop_ || leader_wake_; });
      if (leader_stop_) return;
      leader_wake_ = false;
    }
    const bool was = election_->leading();
    auto r = election_->Tick();
    if (!r) {
      log::Warn("registry", "health leader: {}", r.error().message);
      continue;
    }
    bool have_checker = checking();
    if (*r && !have_checker) {
      log::Info("registry", "{} runs the health checks (leader)", options_.health_leader_id);
      if (auto s = StartChecker(); !s) {
        log::Warn("registry", "health checks: {}", s.error().message);
        election_->Resign();  // let another control plane try
      }
    } else if (!*r && have_checker) {
      log::Warn("registry", "{} stops the health checks: {}", options_.health_leader_id,
                was ? election_->last_loss() : std::string("not the leader"));
      StopChecker();
    }
  }
}

Component::~Component() {
  if (leader_thread_.joinable()) {
    {
      std::lock_guard lock(leader_mu_);
      leader_stop_ = true;
      leader_cv_.notify_all();
    }
    leader_thread_.join();
  }
  if (leader_watch_) leader_watch_->Cancel();
  StopChecker();
  if (election_) election_->Resign();  // another control plane takes over at once
  if (dns_) dns_->Stop();
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  exec_.reset();  // kills running exec checks
  if (blocking_) blocking_->join();
}

std::string Component::RenderMetrics() const {
  std::string out;
  auto counter = [&out](std::string_view name, std::string_view help, int64_t v,
                        std::string_view type = "counter") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  const RegistryStats& s = registry_->stats();
  counter("berth_registry_registrations_total", "Registrations written", s.registrations);
  counter("berth_registry_deregistrations_total", "Explicit deregistrations", s.deregistrations);
  counter("berth_registry_heartbeats_total", "Heartbeats (lease renewals)", s.heartbeats);
  counter("berth_registry_health_transitions_total", "Health transitions written",
          s.health_transitions);
  counter("berth_registry_self_preservation_activations_total",
          "Sweeps that kept a service's expiring instances", s.self_preservation_activations);
  counter("berth_registry_self_preserved_instances_total",
          "Instance leases renewed by self-preservation", s.self_preserved_instances);
  counter("berth_registry_deregistered_critical_total", "Instances removed by deregister_after",
          s.deregistered_critical);
  counter("berth_registry_watchers", "Live registry watchers", s.watchers, "gauge");
  {
    std::lock_guard lock(checker_mu_);
    counter("berth_registry_health_leader",
            "1 when this control plane runs the health checks (holds the health lease)",
            checker_ ? 1 : 0, "gauge");
    if (checker_) {
      const auto& h = checker_->stats();
      counter("berth_registry_checks", "Health checks scheduled", h.checks, "gauge");
      counter("berth_registry_probes_total", "Health probes run", h.probes);
      counter("berth_registry_probes_failed_total", "Probes with a non-passing result",
              h.probes_failed);
      counter("berth_registry_node_checks",
              "Exec checks run by the agent of the instance's node (watched for node loss)",
              checker_->node_checks(), "gauge");
    }
  }
  if (answerer_) {
    auto& d = answerer_->stats();
    counter("berth_dns_queries_total", "DNS messages received", d.queries);
    counter("berth_dns_nxdomain_total", "NXDOMAIN answers", d.nxdomain);
    counter("berth_dns_refused_total", "REFUSED answers", d.refused);
    counter("berth_dns_formerr_total", "FORMERR/NOTIMP answers", d.formerr);
    counter("berth_dns_truncated_total", "Answers truncated (TC)", d.truncated);
  }
  return out;
}

}  // namespace berth::registry
