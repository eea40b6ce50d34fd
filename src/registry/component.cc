#include "registry/component.h"

#include <fmt/core.h>

namespace berth::registry {

Result<std::unique_ptr<Component>> Component::Start(store::Store& store, Clock& clock,
                                                    ComponentOptions options) {
  std::unique_ptr<Component> c(new Component());
  c->work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      asio::make_work_guard(c->io_));
  c->blocking_ = std::make_unique<asio::thread_pool>(std::max(1, options.blocking_threads));
  c->registry_ = std::make_unique<Registry>(store, clock, options.registry);
  if (options.local_exec) c->local_exec_ = std::make_unique<health::LocalExecRunner>(c->io_);
  if (options.container_exec) {
    c->exec_ = std::make_unique<health::ContainerExecRunner>(
        c->io_, *options.container_exec,
        health::ContainerExecRunnerOptions{.fallback = c->local_exec_.get()});
  }
  health::ExecRunner* exec = c->exec_ ? c->exec_.get() : c->local_exec_.get();
  if (options.run_checks) {
    c->checker_ =
        std::make_unique<health::HealthChecker>(c->io_, *c->registry_, exec, options.health);
    if (auto r = c->checker_->Start(); !r) return std::unexpected(Wrap(r.error(), "health checks"));
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
  return c;
}

Component::~Component() {
  if (checker_) checker_->Stop();
  if (dns_) dns_->Stop();
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
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
  if (checker_) {
    const auto& h = checker_->stats();
    counter("berth_registry_checks", "Health checks scheduled", h.checks, "gauge");
    counter("berth_registry_probes_total", "Health probes run", h.probes);
    counter("berth_registry_probes_failed_total", "Probes with a non-passing result",
            h.probes_failed);
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
