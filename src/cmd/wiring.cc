#include "cmd/wiring.h"

#include <fmt/core.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "api/admission_endpoints.h"
#include "api/app_endpoints.h"
#include "api/change_feed.h"
#include "api/config_endpoints.h"
#include "api/container_endpoints.h"
#include "api/logs_endpoints.h"
#include "api/node_endpoints.h"
#include "api/registry_endpoints.h"
#include "api/route_endpoints.h"
#include "api/scan_endpoints.h"
#include "cmd/agent_role.h"
#include "config/config_center.h"
#include "config/delivery_hub.h"
#include "config/secrets.h"
#include "core/log.h"
#include "core/units.h"
#include "gateway/endpoint_source.h"
#include "gateway/gateway.h"
#include "gateway/load_reporter.h"
#include "gateway/registry_source.h"
#include "gateway/route_store.h"
#include "orchestrator/codec.h"
#include "orchestrator/controller.h"
#include "orchestrator/spec.h"
#include "registry/component.h"
#include "registry/health/container_exec_runner.h"
#include "store/compactor.h"

namespace berth {
namespace {

// Exec health checks of the registry, run inside containers by the in-process agent. The
// registry starts before the agent: until the agent is set, execs fail with a clear error.
class AgentContainerExec final : public registry::health::ContainerExec {
 public:
  void SetAgent(agent::Agent* agent) { agent_.store(agent); }
  Result<Outcome> Exec(const std::string& container, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout, std::stop_token stop) override {
    agent::Agent* agent = agent_.load();
    if (agent == nullptr) return Fail(ErrorCode::kUnavailable, "the node agent is not running");
    auto r = agent->Exec(container, argv, {.timeout = timeout, .stop = std::move(stop)});
    if (!r) return std::unexpected(r.error());
    return Outcome{r->exit_code, r->out + r->err, r->timed_out};
  }

 private:
  std::atomic<agent::Agent*> agent_{nullptr};
};

class Started final : public Components {
 public:
  ~Started() override {
    // Reverse order: the edge first, then the registry (its exec checks use the agent), then
    // the containers' supervisor.
    if (load) load->Stop();  // its key goes with its lease
    load.reset();
    if (gateway) gateway->Drain(std::chrono::seconds(5));
    gateway.reset();
    gateway_source.reset();
    if (controller) controller->Stop();  // steps down so another server leads at once
    controller.reset();
    delivery.reset();  // its streams post to the registry's io context
    registry.reset();
    container_exec.reset();
    if (scanner) scanner->Stop();  // it reads the image store's layers
    scanner.reset();
    agent.Reset();
    logs.reset();       // flushes what is in memory into segments
    compactor.reset();  // resigns, so another server compacts at once
  }

  std::string RenderMetrics() const override {
    std::string out;
    if (registry) out += registry->RenderMetrics();
    if (gateway) out += gateway->RenderMetrics();
    if (load) out += load->RenderMetrics();
    if (compactor) out += compactor->RenderMetrics();
    if (logs) out += logs->RenderMetrics();
    return out;
  }

  std::vector<std::string> Banner() const override { return banner; }

  std::unique_ptr<registry::Component> registry;
  std::unique_ptr<gateway::RouteStore> routes;
  std::unique_ptr<config::ConfigCenter> configs;
  std::unique_ptr<config::SecretStore> secrets;
  std::unique_ptr<config::DeliveryHub> delivery;  // pushes config changes to consumers
  AgentParts agent;
  std::unique_ptr<AgentContainerExec> container_exec;    // the registry's exec checks
  std::unique_ptr<security::scan::ScanService> scanner;  // beside the image store
  std::unique_ptr<security::admission::AdmissionController> admission;
  std::shared_ptr<gateway::RegistryEndpointSource> gateway_source;
  std::unique_ptr<gateway::Gateway> gateway;
  std::unique_ptr<gateway::LoadReporter> load;  // the gateway's request rates → the store
  std::unique_ptr<FastRandom> random;
  std::unique_ptr<orchestrator::Controller> controller;
  std::unique_ptr<store::Compactor> compactor;
  std::unique_ptr<logs::LogCenter> logs;
  std::vector<std::string> banner;
};

// Publishes the gateway's per-service request rates for the autoscalers (load_reporter.h).
std::unique_ptr<gateway::LoadReporter> StartLoadReporter(store::Store& store, Clock& clock,
                                                         gateway::Gateway& gw) {
  auto r = std::make_unique<gateway::LoadReporter>(
      store, clock, [&gw] { return gw.ServiceRequestTotals(); },
      gateway::LoadReporterOptions{.id = gateway::DefaultGatewayId(gw.address())});
  r->Start();
  return r;
}

// Gateway (when --gateway is not "none"): static routes from a file when given, otherwise
// live from the store's /gateway/ keys with endpoints from the registry.
Result<void> StartGateway(Wiring& w, Started& started) {
  if (w.flags.gateway.empty() || w.flags.gateway == "none") return {};
  gateway::GatewayOptions go;
  go.listen = w.flags.gateway;
  go.workers = w.flags.gateway_workers;
  // With an agent here, containers call the gateway at their bridge's address (the
  // BERTH_GATEWAY_URL the node agent gives them); the bridge appears with the first one.
  if (started.agent.node_agent) {
    if (auto bridge_ip = agent::node::FirstHost(w.flags.subnet)) {
      go.extra_listen.push_back(fmt::format("{}:0", *bridge_ip));
    }
  }
  if (!w.flags.gateway_config.empty()) {
    go.config_path = w.flags.gateway_config;
  } else {
    started.gateway_source = std::make_shared<gateway::RegistryEndpointSource>(
        w.store, started.registry->registry(),
        gateway::RegistrySourceOptions{.base_dir = w.data_dir});
    go.source = started.gateway_source;
  }
  auto gw = gateway::Gateway::Create(go);
  if (!gw) return std::unexpected(Wrap(gw.error(), "gateway"));
  if (auto s = (*gw)->Start(); !s) return std::unexpected(Wrap(s.error(), "gateway"));
  started.gateway = std::move(*gw);
  started.load = StartLoadReporter(w.store, w.clock, *started.gateway);
  started.banner.push_back(
      fmt::format("gateway http://{} (routes from {})", started.gateway->address(),
                  w.flags.gateway_config.empty() ? "the store" : w.flags.gateway_config));
  return {};
}

// The dev agent's token: the admin token berthd wrote at first start, or (when that file is
// gone) a fresh operator token.
Result<std::string> LocalNodeToken(Wiring& w) {
  std::ifstream in(w.data_dir + "/admin.token");
  std::string token;
  std::getline(in, token);
  if (!token.empty()) return token;
  auto issued = w.tokens.Create("node-local", {.role = security::Role::kOperator}, "berthd");
  if (!issued) return std::unexpected(issued.error());
  return issued->secret;
}

// How `berthd dev`'s own agent and log shipper reach this process's API: over loopback, without
// checking the certificate when it serves HTTPS (its CA need not be known to the process).
Result<NodeJoin> LocalJoin(Wiring& w) {
  auto token = LocalNodeToken(w);
  if (!token) return std::unexpected(token.error());
  std::string api = w.flags.api_address;
  if (api.starts_with("0.0.0.0:")) api = "127.0.0.1:" + api.substr(8);
  NodeJoin join{.server = (w.flags.api_tls ? "https://" : "http://") + api, .token = *token};
  join.tls.tls_verify = false;
  return join;
}

Result<void> StartLocalNode(Wiring& w, AgentParts& parts) {
  auto join = LocalJoin(w);
  if (!join) return std::unexpected(join.error());
  agent::node::NodeAgentOptions o;
  o.node = "local";
  o.address = "127.0.0.1";
  o.state_dir = w.data_dir + "/agent/node";
  // Containers reach the gateway at the bridge's address (the host side of their network).
  auto bridge_ip = agent::node::FirstHost(w.flags.subnet);
  auto colon = w.flags.gateway.rfind(':');
  if (bridge_ip && colon != std::string::npos && w.flags.gateway != "none") {
    o.gateway_url = fmt::format("http://{}:{}", *bridge_ip, w.flags.gateway.substr(colon + 1));
  }
  return StartNodeAgent(parts, *join, o, w.clock);
}

// The image scanner over this node's image store: its own advisory database under
// <data-dir>/security/, images scanned when they arrive and again when the database changes.
Result<std::unique_ptr<security::scan::ScanService>> StartScanner(
    Wiring& w, agent::image::ImageStore& images) {
  security::scan::ScanServiceOptions o;
  o.db_path = w.data_dir + "/security/advisories.db";
  o.image = [&images](std::string_view ref) -> Result<security::scan::ScanImage> {
    auto im = images.Inspect(ref);
    if (!im) return std::unexpected(im.error());
    auto dirs = images.LayerDirs(im->id);
    if (!dirs) return std::unexpected(dirs.error());
    security::scan::ScanImage out;
    out.ref = agent::image::NormalizeRef(ref);
    out.id = im->id;
    out.user = im->config.user;
    out.layer_dirs = std::move(*dirs);
    for (const auto& l : im->layers) out.layer_ids.push_back(l.diff_id);
    return out;
  };
  o.images = [&images] {
    std::vector<std::string> refs;
    for (const auto& im : images.List()) {
      for (const auto& n : im.names) refs.push_back(n);
    }
    return refs;
  };
  return security::scan::ScanService::Start(std::move(o), w.store, w.clock);
}

// This process as a candidate for the leader keys servers sharing a store elect through
// (controller, health checks, compactor): "host:data-dir", and --leader-ttl in seconds.
struct Candidacy {
  std::string id;
  int64_t ttl_seconds = 10;
};

Result<Candidacy> LeaderCandidate(const Wiring& w) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  auto ttl = berth::ParseDuration(w.flags.leader_ttl);
  if (!ttl) return std::unexpected(Wrap(ttl.error(), "--leader-ttl"));
  Candidacy c{.id = fmt::format("{}:{}", host, w.data_dir),
              .ttl_seconds = std::chrono::ceil<std::chrono::seconds>(*ttl).count()};
  if (c.ttl_seconds < 2) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--leader-ttl {} is below 2s: etcd keeps leases at least that long, "
                            "and a leader renews every third of it",
                            w.flags.leader_ttl));
  }
  return c;
}

// Automatic compaction of the store's history: on a shared store (etcd) only the holder of
// the compactor's leader key compacts; the embedded store has one process.
Result<std::unique_ptr<store::Compactor>> StartCompactor(Wiring& w, const Candidacy& lead) {
  auto co = store::ParseCompactorFlags(w.flags.compaction_mode, w.flags.compaction_retention);
  if (!co) return std::unexpected(co.error());
  if (w.store.backend() != "sqlite") co->leader_id = lead.id;
  co->leader_ttl_seconds = lead.ttl_seconds;
  auto compactor = std::make_unique<store::Compactor>(w.store, w.clock, *co);
  compactor->Start();
  return compactor;
}

// Configuration center: versioned config items in the store (/v1/configs), secrets under
// the master key, and delivery of changes to programs (decision 0014).
Result<void> StartConfigCenter(Wiring& w, Started& started, api::Router& router) {
  started.configs = std::make_unique<config::ConfigCenter>(w.store, w.clock);
  api::RegisterConfigEndpoints(router, *started.configs);
  const char* env = std::getenv("BERTH_SECRETS_KEY");
  auto keys = config::LoadMasterKeys(w.data_dir, w.flags.secrets_key_file, env ? env : "");
  if (!keys) return std::unexpected(Wrap(keys.error(), "secrets' master key"));
  started.secrets =
      std::make_unique<config::SecretStore>(w.store, w.clock, *started.configs, std::move(*keys));
  api::RegisterSecretEndpoints(router, *started.secrets);
  started.delivery = std::make_unique<config::DeliveryHub>(w.store, *started.configs);
  if (auto s = started.delivery->Start(); !s)
    return std::unexpected(Wrap(s.error(), "config delivery"));
  api::RegisterConfigDeliveryEndpoints(router, *started.configs, *started.delivery,
                                       started.registry->io());
  return {};
}

}  // namespace

Result<std::unique_ptr<Components>> StartComponents(Wiring& w, api::Router& router) {
  auto started = std::make_unique<Started>();

  // Service registry: the Registry over the store, health checks, DNS. Exec checks run only
  // in the container the instance names (metadata "berth.container") through the agent in
  // this process; without one they are refused. Health checks run on one control plane
  // among those sharing the store: the holder of the registry's health lease.
  const bool with_agent = w.role == "dev" && w.flags.agent && ::geteuid() == 0;
  auto lead = LeaderCandidate(w);
  if (!lead) return std::unexpected(lead.error());
  const std::string& candidate = lead->id;
  const int64_t leader_ttl_seconds = lead->ttl_seconds;
  auto compactor = StartCompactor(w, *lead);
  if (!compactor) return std::unexpected(compactor.error());
  started->compactor = std::move(*compactor);
  registry::ComponentOptions ro;
  ro.dns_address = w.flags.dns == "none" ? "" : w.flags.dns;
  ro.health_leader_id = candidate;
  ro.health_leader_ttl_seconds = leader_ttl_seconds;
  // Node-local exec checks (metadata "berth.node") are run by that node's agent; the health
  // leader marks them critical once the node's key (under its lease) is gone.
  ro.health.node_alive = [&store = w.store](const std::string& node) -> Result<bool> {
    auto r = store.Get(orchestrator::NodeKey(node), {.count_only = true});
    if (!r) return std::unexpected(r.error());
    return r->count > 0;
  };
  if (with_agent) {
    started->container_exec = std::make_unique<AgentContainerExec>();
    ro.container_exec = started->container_exec.get();
  }
  auto reg = registry::Component::Start(w.store, w.clock, ro);
  if (!reg) return std::unexpected(Wrap(reg.error(), "registry"));
  started->registry = std::move(*reg);
  api::RegisterRegistryEndpoints(router, started->registry->registry(), started->registry->io(),
                                 started->registry->blocking(),
                                 {.exec_checks = started->registry->exec_checks()});
  // Nodes: agents register, heartbeat, watch their assignments and report status.
  api::RegisterNodeEndpoints(router, w.store, w.clock, started->registry->io(),
                             started->registry->blocking());
  api::RegisterChangeEndpoints(router, w.store, started->registry->io());  // live pages
  if (started->registry->dns_port() != 0) {
    started->banner.push_back(fmt::format("dns udp+tcp {}", w.flags.dns));
  }

  // Gateway routes in the store: /v1/routes and /v1/gateway/services.
  started->routes = std::make_unique<gateway::RouteStore>(w.store, w.data_dir);
  api::RegisterRouteEndpoints(router, *started->routes);
  if (auto c = StartConfigCenter(w, *started, router); !c) return std::unexpected(c.error());

  // Admission policy per namespace: judged on apply, run, scale-up and rollouts.
  started->admission =
      std::make_unique<security::admission::AdmissionController>(w.store, &w.audit, w.clock);
  api::RegisterAdmissionEndpoints(router, *started->admission, w.store);

  // Orchestrator: the /v1/apps API and the controller (leads when it holds the store lease).
  {
    auto grace = ParseDuration(w.flags.node_grace);
    if (!grace) return std::unexpected(Wrap(grace.error(), "--node-grace"));
    orchestrator::ControllerOptions co;
    co.id = candidate;
    co.lease_ttl_seconds = leader_ttl_seconds;
    co.reconciler.down_grace = *grace;
    started->random = std::make_unique<FastRandom>();
    started->controller =
        std::make_unique<orchestrator::Controller>(w.store, w.clock, *started->random, co);
    if (!w.flags.controller) {
      started->controller.reset();  // apps are stored but nobody schedules them
    } else if (auto s = started->controller->Start(); !s) {
      return std::unexpected(s.error());
    }
    api::RegisterAppEndpoints(router, w.store, w.clock, started->admission.get());
  }

  // Log center: Loki's push and query API over segment files in <data dir>/logs; callers
  // read and write only the namespaces their roles allow (api/logs_endpoints.h).
  if (w.flags.logs) {
    auto center = logs::LogCenter::Open(w.data_dir, w.flags.log_center, w.clock);
    if (!center) return std::unexpected(Wrap(center.error(), "log center"));
    started->logs = std::move(*center);
    api::RegisterLogsEndpoints(router, started->logs->store(), started->logs->engine(), w.clock);
    api::RegisterLogAnalysisEndpoints(router, started->logs->engine(), w.clock);
  }

  // Node agent (dev only): containers need root; without it the control plane runs alone.
  if (w.role == "dev" && w.flags.agent && ::geteuid() != 0) {
    log::Warn("berthd",
              "not root: the node agent is off (containers need root); the control "
              "plane runs alone");
  } else if (w.role == "dev" && w.flags.agent) {
    auto parts = StartAgentParts({.data_dir = w.data_dir,
                                  .runtime = w.flags.runtime,
                                  .subnet = w.flags.subnet,
                                  .bridge = w.flags.bridge},
                                 w.clock);
    if (!parts) return std::unexpected(parts.error());
    started->agent = std::move(*parts);
    if (started->container_exec) started->container_exec->SetAgent(started->agent.agent.get());
    auto scanner = StartScanner(w, *started->agent.images);
    if (!scanner) return std::unexpected(Wrap(scanner.error(), "scanner"));
    started->scanner = std::move(*scanner);
    api::RegisterContainerEndpoints(
        router, *started->agent.agent, *started->agent.images, *started->agent.puller,
        [s = started->scanner.get()](const std::string& ref) { s->ScanSoon(ref); },
        started->admission.get());
    api::RegisterContainerTerminal(router, *started->agent.agent);
    // The agent joins this control plane as node "local", over loopback, through the same
    // NodeAgent as `berthd agent`: dev is a one-node cluster.
    if (auto node = StartLocalNode(w, started->agent); !node)
      return std::unexpected(Wrap(node.error(), "node agent"));
    // Containers' output to this process's log center, as a remote agent ships it.
    if (started->logs) {
      auto join = LocalJoin(w);
      if (!join) return std::unexpected(join.error());
      auto shipper = StartLogShipper(started->agent, *join, "local", w.data_dir, w.clock);
      if (!shipper) return std::unexpected(shipper.error());
      started->agent.log_shipper = std::move(*shipper);
    }
    started->banner.push_back(
        fmt::format("agent runtime {} network {} node local", w.flags.runtime, w.flags.subnet));
  }

  // The image scanner's endpoints (without an image store here: findings and ignores only).
  api::RegisterScanEndpoints(router, started->scanner.get(), w.store, w.clock);

  if (auto gw = StartGateway(w, *started); !gw) return std::unexpected(gw.error());
  return std::unique_ptr<Components>(std::move(started));
}

namespace {

class GatewayOnly final : public GatewayRole {
 public:
  ~GatewayOnly() override {
    if (load) load->Stop();
    load.reset();
    if (gateway) gateway->Stop();
    gateway.reset();
    source.reset();
    registry.reset();
  }
  Result<void> Reload() override { return gateway->Reload(); }
  void Drain(std::chrono::milliseconds deadline) override { gateway->Drain(deadline); }
  std::vector<std::string> Banner() const override { return banner; }

  std::unique_ptr<registry::Registry> registry;
  std::shared_ptr<gateway::EndpointSource> source;
  std::unique_ptr<gateway::Gateway> gateway;
  std::unique_ptr<gateway::LoadReporter> load;
  std::vector<std::string> banner;
};

}  // namespace

Result<std::unique_ptr<GatewayRole>> StartGatewayRole(store::Store* store, Clock& clock,
                                                      const std::string& data_dir,
                                                      const GatewayRoleFlags& flags) {
  auto role = std::make_unique<GatewayOnly>();
  gateway::GatewayOptions go;
  go.listen = flags.listen;
  go.workers = flags.workers;
  go.admin_listen = flags.admin == "none" ? "" : flags.admin;
  go.access_log_path = flags.access_log;
  if (!flags.config.empty()) {
    go.config_path = flags.config;
  } else {
    if (!store) {
      return Fail(ErrorCode::kInvalidArgument,
                  "gateway: needs --store (routes from the store) or --gateway-config");
    }
    // The registry read side only: no checks, no sweeps (the control plane runs those).
    role->registry = std::make_unique<registry::Registry>(*store, clock);
    role->source = std::make_shared<gateway::RegistryEndpointSource>(
        *store, *role->registry, gateway::RegistrySourceOptions{.base_dir = data_dir});
    go.source = role->source;
  }
  auto gw = gateway::Gateway::Create(go);
  if (!gw) return std::unexpected(Wrap(gw.error(), "gateway"));
  if (auto s = (*gw)->Start(); !s) return std::unexpected(Wrap(s.error(), "gateway"));
  role->gateway = std::move(*gw);
  if (store) role->load = StartLoadReporter(*store, clock, *role->gateway);
  role->banner.push_back(fmt::format("gateway http://{} (routes from {})", role->gateway->address(),
                                     flags.config.empty() ? "the store" : flags.config));
  if (role->gateway->admin_port() != 0)
    role->banner.push_back(fmt::format("admin http://{} (/metrics, /ready)", flags.admin));
  return std::unique_ptr<GatewayRole>(std::move(role));
}

}  // namespace berth
