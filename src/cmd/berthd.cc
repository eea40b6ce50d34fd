// berthd: the Berth daemon. `berthd dev` runs the control plane, an agent and the gateway in
// one process over an embedded store; `berthd server` runs the control plane (with a gateway
// when --gateway is given); `berthd gateway` runs the gateway alone over a shared store.
// Flags and wiring only: every piece is built by its own component.
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "api/api_server.h"
#include "api/endpoints.h"
#include "api/ui_assets.h"
#include "api/ui_endpoints.h"
#include "cmd/agent_role.h"
#include "cmd/process.h"
#include "cmd/wiring.h"
#include "core/clock.h"
#include "core/http/tls.h"
#include "core/log.h"
#include "security/audit.h"
#include "security/login_links.h"
#include "security/tokens.h"
#include "store/store.h"

namespace berth {
namespace {

constexpr std::string_view kVersion = "0.1.0";

std::string DefaultDataDir() {
  if (geteuid() == 0) return "/var/lib/berth";
  const char* state = std::getenv("XDG_STATE_HOME");
  std::string base =
      state && *state
          ? state
          : std::string(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") + "/.local/state";
  return base + "/berth";
}

struct DaemonFlags {
  std::string data_dir;
  std::string api = "127.0.0.1:7700";
  std::string store = "sqlite";
  std::string log_level = "info";
  bool log_json = false;
  int api_threads = 2;
  // HTTPS for the API (and the client CA that makes client certificates required).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // TLS to etcd.
  std::string etcd_cacert;
  std::string etcd_cert;
  std::string etcd_key;
  ComponentFlags components;
  GatewayRoleFlags gateway;  // `berthd gateway`
};

// Creates the first admin token when the store has none; writes it to <data-dir>/admin.token
// (0600) and prints it once.
Result<void> BootstrapAdminToken(security::TokenService& tokens, const std::string& data_dir) {
  auto empty = tokens.Empty();
  if (!empty) return std::unexpected(empty.error());
  if (!*empty) return {};
  auto issued = tokens.Create("admin", {.role = security::Role::kAdmin}, "berthd");
  if (!issued) return std::unexpected(issued.error());
  std::string path = data_dir + "/admin.token";
  std::string tmp = path + ".tmp";
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return Fail(ErrorCode::kInternal, "cannot write " + tmp);
    std::string line = issued->secret + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) return Fail(ErrorCode::kInternal, "cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail(ErrorCode::kInternal, "cannot rename " + tmp);
  std::printf("admin token (shown once, also in %s): %s\n", path.c_str(), issued->secret.c_str());
  std::fflush(stdout);
  return {};
}

// Process-wide gauges every role exports.
void AddProcessMetrics(metrics::Registry& metrics, store::Store& store) {
  metrics.AddGaugeCallback("berth_process_resident_memory_bytes", "Resident set size", [] {
    std::ifstream in("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    in >> pages_total >> pages_resident;
    return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
  });
  metrics.AddGaugeCallback("berth_store_revision", "The store's current revision", [&store] {
    auto r = store.CurrentRevision();
    return r ? static_cast<double>(*r) : -1.0;
  });
}

int RunControlPlane(const DaemonFlags& flags, std::string_view role) {
  log::Level level;
  if (!log::ParseLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "error: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::Configure(level, flags.log_json);
  std::string data_dir = flags.data_dir.empty() ? DefaultDataDir() : flags.data_dir;
  if (auto ready = PrepareDataDir(data_dir); !ready) {
    std::fprintf(stderr, "error: %s\n", ready.error().message.c_str());
    return 1;
  }
  // Stop signals are blocked in every thread; the main thread waits for them below.
  sigset_t stop_signals = BlockStopSignals();

  SystemClock clock;
  std::shared_ptr<const http::TlsServerContext> tls;
  if (!flags.tls_cert.empty() || !flags.tls_key.empty() || !flags.tls_client_ca.empty()) {
    auto loaded = http::TlsServerContext::Load({.cert_file = flags.tls_cert,
                                                .key_file = flags.tls_key,
                                                .client_ca_file = flags.tls_client_ca});
    if (!loaded) {
      std::fprintf(stderr, "error: --tls-cert/--tls-key/--tls-client-ca: %s\n",
                   loaded.error().message.c_str());
      return 2;
    }
    tls = std::move(*loaded);
  }
  auto store = store::OpenStore({.url = flags.store,
                                 .data_dir = data_dir,
                                 .clock = &clock,
                                 .uncached_prefixes = {std::string(security::kAuditKeyPrefix)},
                                 .etcd_ca_file = flags.etcd_cacert,
                                 .etcd_cert_file = flags.etcd_cert,
                                 .etcd_key_file = flags.etcd_key});
  if (!store) {
    std::fprintf(stderr, "error: open store %s: %s\n", flags.store.c_str(),
                 store.error().message.c_str());
    return 1;
  }
  security::TokenService tokens(**store, clock);
  security::AuditLog audit(**store, clock);
  if (auto b = BootstrapAdminToken(tokens, data_dir); !b) {
    std::fprintf(stderr, "error: bootstrap admin token: %s\n", b.error().message.c_str());
    return 1;
  }

  metrics::Registry metrics;
  AddProcessMetrics(metrics, **store);
  Wiring wiring{.store = **store,
                .clock = clock,
                .tokens = tokens,
                .audit = audit,
                .metrics = metrics,
                .data_dir = data_dir,
                .role = std::string(role),
                .flags = flags.components};
  wiring.flags.api_address = flags.api;
  wiring.flags.api_tls = tls != nullptr;
  api::Router router;
  api::RegisterSystemEndpoints(router, **store, clock,
                               {.version = std::string(kVersion),
                                .role = std::string(role),
                                .store_backend = std::string((*store)->backend()),
                                .started_ms = clock.WallMillis()});
  api::RegisterKvEndpoints(router, **store);
  api::RegisterSecurityEndpoints(router, tokens, audit);
  security::LoginLinks login_links(**store, clock, tokens);
  api::RegisterLoginEndpoints(router, login_links);
  api::RegisterUiEndpoints(router, api::UiAssets());
  auto components = StartComponents(wiring, router);
  if (!components) {
    std::fprintf(stderr, "error: %s\n", components.error().message.c_str());
    return 1;
  }

  auto api = api::ApiServer::Start(
      {.address = flags.api, .threads = flags.api_threads, .tls = tls},
      {.tokens = &tokens,
       .audit = &audit,
       .clock = &clock,
       .metrics = &metrics,
       .extra_metrics = [&components] { return (*components)->RenderMetrics(); }},
      std::move(router));
  if (!api) {
    std::fprintf(stderr, "error: %s\n", api.error().message.c_str());
    return 1;
  }
  const char* scheme = tls ? "https" : "http";
  log::Info("berthd", "{} ready: api {}://{} store {} data {}", role, scheme, (*api)->address(),
            (*store)->backend(), data_dir);
  std::printf("berthd %s listening on %s://%s\n", std::string(role).c_str(), scheme,
              (*api)->address().c_str());
  for (const auto& line : (*components)->Banner()) std::printf("  %s\n", line.c_str());
  if (!api::UiAssets().empty()) {
    std::string host = (*api)->address();
    if (host.starts_with("0.0.0.0:")) host = "127.0.0.1:" + host.substr(8);
    std::printf("  console http://%s/ui/ (sign in with a token, or run `berth ui`)\n",
                host.c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::Info("berthd", "signal {}: shutting down", sig);
  // Stop accepting and finish in-flight calls, stop the components, store the audit records
  // still queued (bounded), and only then let the store close (when `store` leaves scope).
  (*api)->Stop();
  components->reset();
  audit.Close();
  log::Info("berthd", "stopped");
  return 0;
}

// `berthd gateway`: the data plane alone, fed by a shared store (etcd) or a static file.
int RunGateway(const DaemonFlags& flags) {
  log::Level level;
  if (!log::ParseLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "error: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::Configure(level, flags.log_json);
  const bool from_store = flags.gateway.config.empty();
  if (from_store && !flags.store.starts_with("etcd://")) {
    std::fprintf(stderr,
                 "error: berthd gateway reads routes from a shared store: give --store "
                 "etcd://h1:p1,... (an embedded sqlite store is not shared between processes), "
                 "or --gateway-config FILE\n");
    return 2;
  }
  std::string data_dir = flags.data_dir.empty() ? DefaultDataDir() : flags.data_dir;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SystemClock clock;
  std::unique_ptr<store::Store> store;
  if (from_store) {
    auto opened = store::OpenStore({.url = flags.store,
                                    .data_dir = data_dir,
                                    .clock = &clock,
                                    .etcd_ca_file = flags.etcd_cacert,
                                    .etcd_cert_file = flags.etcd_cert,
                                    .etcd_key_file = flags.etcd_key});
    if (!opened) {
      std::fprintf(stderr, "error: open store %s: %s\n", flags.store.c_str(),
                   opened.error().message.c_str());
      return 1;
    }
    store = std::move(*opened);
  }
  auto role = StartGatewayRole(store.get(), clock, data_dir, flags.gateway);
  if (!role) {
    std::fprintf(stderr, "error: %s\n", role.error().message.c_str());
    return 1;
  }
  std::printf("berthd gateway running\n");
  for (const auto& line : (*role)->Banner()) std::printf("  %s\n", line.c_str());
  std::fflush(stdout);
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (auto r = (*role)->Reload(); !r) {
      log::Warn("berthd", "reload: {}", r.error().message);
    }
  }
  log::Info("berthd", "gateway draining");
  (*role)->Drain(std::chrono::seconds(10));
  role->reset();
  log::Info("berthd", "stopped");
  return 0;
}

// TLS to etcd (--etcd-cacert, --etcd-cert, --etcd-key).
void AddEtcdTlsFlags(CLI::App* cmd, DaemonFlags& flags) {
  cmd->add_option("--etcd-cacert", flags.etcd_cacert,
                  "TLS to etcd: CA that signs the members' certificates (endpoints become https)");
  cmd->add_option("--etcd-cert", flags.etcd_cert, "TLS to etcd: client certificate (PEM)");
  cmd->add_option("--etcd-key", flags.etcd_key, "TLS to etcd: client key (PEM)");
}

// The flags of every control-plane role (dev, server).
void AddCommonFlags(CLI::App* cmd, DaemonFlags& flags) {
  cmd->add_option(
      "--data-dir", flags.data_dir,
      "State directory (default /var/lib/berth as root, $XDG_STATE_HOME/berth otherwise)");
  cmd->add_option("--api", flags.api, "Control-plane API address host:port")->capture_default_str();
  cmd->add_option("--store", flags.store, "sqlite | sqlite:///path/db | etcd://h1:p1,h2:p2")
      ->capture_default_str();
  cmd->add_option("--log-level", flags.log_level, "debug|info|warn|error")->capture_default_str();
  cmd->add_flag("--log-json", flags.log_json, "Log as JSON lines");
  cmd->add_option("--tls-cert", flags.tls_cert, "Serve the API over HTTPS: certificate (PEM)");
  cmd->add_option("--tls-key", flags.tls_key, "Private key of --tls-cert (PEM)");
  cmd->add_option("--tls-client-ca", flags.tls_client_ca,
                  "Require API clients to present a certificate signed by these CAs (PEM)");
  AddEtcdTlsFlags(cmd, flags);
  cmd->add_option("--api-threads", flags.api_threads, "API worker threads")->capture_default_str();
  cmd->add_option("--dns", flags.components.dns, "Registry DNS address host:port, or none")
      ->capture_default_str();
  cmd->add_option("--secrets-key-file", flags.components.secrets_key_file,
                  "Secrets' master key (64 hex digits) instead of <data-dir>/secrets/master.keys "
                  "(BERTH_SECRETS_KEY comes first)");
  cmd->add_option("--leader-ttl", flags.components.leader_ttl,
                  "Lease of the controller, health-check and compactor leaders among servers: "
                  "a dead leader is replaced within about this long (>= 2s)")
      ->capture_default_str();
  cmd->add_option("--node-grace", flags.components.node_grace,
                  "How long a lost node keeps its instances before they move (e.g. 30s)")
      ->capture_default_str();
  cmd->add_option("--auto-compaction-mode", flags.components.compaction_mode,
                  "Store history compaction: periodic, revision or off")
      ->check(CLI::IsMember({"periodic", "revision", "off"}))
      ->capture_default_str();
  cmd->add_option("--auto-compaction-retention", flags.components.compaction_retention,
                  "History kept: a duration (periodic; 5m, 1h, bare number = hours) or a "
                  "count of revisions (revision); 0: off")
      ->capture_default_str();
  cmd->add_flag("!--no-controller", flags.components.controller,
                "Do not run the orchestrator's controller (apps are stored, not scheduled)");
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  using berth::DaemonFlags;
  CLI::App app{"berthd — the Berth daemon"};
  app.require_subcommand(1);
  DaemonFlags flags;
  std::string chosen;
  auto add_etcd_tls = [&flags](CLI::App* cmd) { berth::AddEtcdTlsFlags(cmd, flags); };
  auto add_common = [&flags](CLI::App* cmd) { berth::AddCommonFlags(cmd, flags); };
  auto add_gateway = [&flags](CLI::App* cmd, const char* default_listen) {
    cmd->add_option(
        "--gateway", flags.components.gateway,
        fmt::format("Gateway listener host:port, or none (default {})", default_listen));
    cmd->add_option("--gateway-config", flags.components.gateway_config,
                    "Static routes.yaml (default: routes from the store, endpoints from the "
                    "registry)");
    cmd->add_option("--gateway-workers", flags.components.gateway_workers, "0: one per core");
    cmd->add_flag("!--no-logs", flags.components.logs, "Run without the log center");
    cmd->add_option("--logs-retention", flags.components.log_center.retention,
                    "Keep logs this long, per namespace (7d, 12h)")
        ->capture_default_str();
    cmd->add_option("--logs-max-bytes", flags.components.log_center.max_bytes,
                    "Stored log bytes per namespace, oldest dropped first (10Gi); 0: no limit")
        ->capture_default_str();
    cmd->add_option("--logs-max-streams", flags.components.log_center.max_streams,
                    "Log streams per namespace (more are refused, naming the label)")
        ->capture_default_str();
  };
  auto* dev = app.add_subcommand("dev", "Control plane, agent and gateway in one process");
  add_common(dev);
  add_gateway(dev, "127.0.0.1:8080");
  dev->add_option("--runtime", flags.components.runtime, "OCI runtime: runc or crun")
      ->check(CLI::IsMember({"runc", "crun"}))
      ->capture_default_str();
  dev->add_option("--subnet", flags.components.subnet, "Container network")->capture_default_str();
  dev->add_option("--bridge", flags.components.bridge, "Linux bridge of the container network")
      ->capture_default_str();
  dev->add_flag("!--no-agent", flags.components.agent, "Run without the node agent");
  dev->callback([&] { chosen = "dev"; });
  auto* server = app.add_subcommand("server", "The control plane (and a gateway with --gateway)");
  add_common(server);
  add_gateway(server, "none");
  server->callback([&] {
    chosen = "server";
    if (server->count("--gateway") == 0) flags.components.gateway = "none";
  });
  auto* gw = app.add_subcommand("gateway", "The gateway alone, fed by a shared store");
  gw->add_option("--store", flags.store, "etcd://h1:p1,h2:p2 (where routes and the registry are)");
  add_etcd_tls(gw);
  gw->add_option("--listen", flags.gateway.listen, "Listener host:port")->capture_default_str();
  gw->add_option("--admin", flags.gateway.admin, "Admin listener (/metrics, /ready), or none")
      ->capture_default_str();
  gw->add_option("--workers", flags.gateway.workers, "0: one per core");
  gw->add_option("--gateway-config", flags.gateway.config,
                 "Static routes.yaml instead of the store");
  gw->add_option("--access-log", flags.gateway.access_log, "JSON access log file");
  gw->add_option("--data-dir", flags.data_dir, "Relative file paths of stored routes resolve here");
  gw->add_option("--log-level", flags.log_level, "debug|info|warn|error")->capture_default_str();
  gw->add_flag("--log-json", flags.log_json, "Log as JSON lines");
  gw->callback([&] { chosen = "gateway"; });
  berth::AgentRoleFlags agent_flags;
  auto* agent = app.add_subcommand("agent", "A node agent joining a control plane");
  agent
      ->add_option("--server", agent_flags.server,
                   "Control plane API: host:port or https://host:port, several comma-separated "
                   "(calls fail over between them)")
      ->required();
  agent->add_option("--ca-file", agent_flags.ca_file, "CA that signs the servers' certificates");
  agent->add_option("--tls-cert", agent_flags.tls_cert,
                    "Client certificate for servers that require one (PEM)");
  agent->add_option("--tls-key", agent_flags.tls_key, "Private key of --tls-cert (PEM)");
  auto* tok = agent->add_option("--token", agent_flags.token, "API token (operator or admin)");
  agent->add_option("--token-file", agent_flags.token_file, "File holding the API token")
      ->excludes(tok);
  agent->add_option("--node-name", agent_flags.node, "This node's name")->required();
  agent->add_option("--labels", agent_flags.labels, "Node labels k=v,k2=v2");
  agent->add_option("--capacity", agent_flags.capacity,
                    "Override what the host reports: cpu=2,memory=4Gi,pids=4096");
  agent->add_option("--data-dir", agent_flags.data_dir, "State directory");
  agent->add_option("--runtime", agent_flags.runtime, "OCI runtime: runc or crun")
      ->check(CLI::IsMember({"runc", "crun"}))
      ->capture_default_str();
  agent->add_option("--subnet", agent_flags.subnet, "Container network")->capture_default_str();
  agent->add_option("--bridge", agent_flags.bridge, "Linux bridge of the container network")
      ->capture_default_str();
  agent->add_option("--address", agent_flags.address, "Node address: published ports bind here")
      ->capture_default_str();
  agent->add_option("--gateway-url", agent_flags.gateway_url,
                    "BERTH_GATEWAY_URL given to containers");
  agent->add_option("--ttl", agent_flags.ttl_seconds, "Node lease TTL in seconds")
      ->capture_default_str();
  agent
      ->add_option("--drain-pause", agent_flags.drain_pause,
                   "Pause between leaving the registry and SIGTERM")
      ->capture_default_str();
  agent->add_option("--stop-grace", agent_flags.stop_grace, "SIGTERM to SIGKILL")
      ->capture_default_str();
  agent->add_option("--log-level", agent_flags.log_level, "debug|info|warn|error")
      ->capture_default_str();
  agent->add_flag("--log-json", agent_flags.log_json, "Log as JSON lines");
  agent->callback([&] { chosen = "agent"; });
  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([&] { chosen = "version"; });
  CLI11_PARSE(app, argc, argv);
  if (chosen == "version") {
    std::printf("berthd %s\n", std::string(berth::kVersion).c_str());
    return 0;
  }
  if (chosen == "gateway") return berth::RunGateway(flags);
  if (chosen == "agent") return berth::RunAgentRole(agent_flags, berth::DefaultDataDir());
  return berth::RunControlPlane(flags, chosen);
}
