#include "cmd/agent_role.h"

#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cmd/process.h"
#include "core/log.h"
#include "core/units.h"
#include "orchestrator/spec.h"

namespace berth {

Result<AgentParts> StartAgentParts(const AgentPartsOptions& o, Clock& clock) {
  AgentParts parts;
  std::string dir = o.data_dir + "/agent";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto images = agent::image::ImageStore::Open(o.data_dir + "/images");
  if (!images) return std::unexpected(Wrap(images.error(), "image store"));
  parts.images = std::move(*images);
  auto runtime = agent::runtime::MakeRuntime(o.runtime, dir + "/" + o.runtime);
  if (!runtime) return std::unexpected(Wrap(runtime.error(), "runtime"));
  parts.runtime = std::move(*runtime);
  agent::network::CniOptions cni;
  cni.subnet = o.subnet;
  cni.bridge = o.bridge;
  cni.ipam_dir = dir + "/ipam";
  parts.network = std::make_unique<agent::network::CniNetwork>(cni);
  parts.puller = std::make_unique<agent::image::Puller>(*parts.images);
  agent::AgentOptions options;
  options.data_dir = dir;
  auto a = agent::Agent::Create(options, clock, *parts.images, *parts.runtime, *parts.network);
  if (!a) return std::unexpected(Wrap(a.error(), "agent"));
  parts.agent = std::move(*a);
  return parts;
}

Result<void> StartNodeAgent(AgentParts& parts, const NodeJoin& join,
                            agent::node::NodeAgentOptions options, Clock& clock) {
  if (join.server.empty()) return Fail(ErrorCode::kInvalidArgument, "no control plane address");
  if (join.token.empty()) return Fail(ErrorCode::kInvalidArgument, "no API token");
  parts.control = std::make_unique<agent::node::ControlClient>(join.server, join.token, join.tls);
  parts.containers = std::make_unique<agent::node::AgentContainers>(
      *parts.agent, *parts.images, parts.puller.get(), options.node);
  auto node = agent::node::NodeAgent::Start(options, clock, *parts.control, *parts.containers);
  if (!node) return std::unexpected(node.error());
  auto checks = agent::node::NodeChecks::Start(
      {.server = join.server, .tls = join.tls, .token = join.token, .node = options.node},
      *parts.containers);
  if (!checks) return std::unexpected(Wrap(checks.error(), "exec checks"));
  parts.node_agent = std::move(*node);
  parts.checks = std::move(*checks);
  return {};
}

namespace {

Result<orchestrator::Resources> ParseCapacity(std::string_view text) {
  orchestrator::Resources r;
  auto pairs = agent::node::ParseLabels(text);
  if (!pairs) return std::unexpected(Wrap(pairs.error(), "--capacity"));
  for (const auto& [k, v] : *pairs) {
    if (k == "cpu") {
      auto c = ParseCpu(v);
      if (!c) return std::unexpected(Wrap(c.error(), "--capacity cpu"));
      r.cpu_millis = *c;
    } else if (k == "memory") {
      auto m = ParseBytes(v);
      if (!m) return std::unexpected(Wrap(m.error(), "--capacity memory"));
      r.memory_bytes = *m;
    } else if (k == "pids") {
      char* end = nullptr;
      long long p = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || p < 0) {
        return Fail(ErrorCode::kInvalidArgument, "--capacity pids must be a count, got " + v);
      }
      r.pids = p;
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--capacity: unknown resource \"{}\" (cpu, memory, pids)", k));
    }
  }
  return r;
}

int Die(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

}  // namespace

Result<std::unique_ptr<agent::logship::LogShipper>> StartLogShipper(AgentParts& parts,
                                                                    const NodeJoin& join,
                                                                    const std::string& node,
                                                                    const std::string& data_dir,
                                                                    Clock& clock) {
  agent::logship::ShipperOptions o;
  o.server = http::WithSchemes(join.server);
  o.tls = join.tls;
  o.token = join.token;
  o.source = "node/" + node;
  o.state_dir = data_dir + "/agent/logs";
  auto containers = [p = &parts, node] {
    std::map<std::string, orchestrator::Instance> instances;
    if (p->node_agent) {
      for (const auto& v : p->node_agent->Instances()) instances[v.instance.id] = v.instance;
    }
    std::vector<agent::logship::ShippedContainer> out;
    for (const auto& c : p->agent->List(true)) {
      agent::logship::ShippedContainer s{c.id, c.log_path, {}};
      if (auto it = instances.find(c.name); it != instances.end()) {
        const auto& in = it->second;
        s.labels = {
            {"namespace", in.ns}, {"app", in.app}, {"service", in.service}, {"instance", in.id}};
      } else {
        s.labels = {{"namespace", "default"}, {"container", c.name}};
      }
      s.labels.emplace_back("node", node);
      std::erase_if(s.labels, [](const auto& kv) { return kv.second.empty(); });
      out.push_back(std::move(s));
    }
    return out;
  };
  return agent::logship::LogShipper::Start(o, containers, clock);
}

int RunAgentRole(const AgentRoleFlags& flags, const std::string& default_data_dir) {
  log::Level level;
  if (!log::ParseLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "error: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::Configure(level, flags.log_json);
  if (::geteuid() != 0) return Die("berthd agent runs containers and needs root");
  std::string token = flags.token;
  if (token.empty() && !flags.token_file.empty()) {
    std::ifstream in(flags.token_file);
    std::getline(in, token);
    if (token.empty()) return Die("--token-file " + flags.token_file + " is empty or unreadable");
  }
  if (token.empty() && std::getenv("BERTH_TOKEN")) token = std::getenv("BERTH_TOKEN");
  if (token.empty()) return Die("give the API token with --token, --token-file or BERTH_TOKEN");
  auto labels = agent::node::ParseLabels(flags.labels);
  if (!labels) return Die("--labels: " + labels.error().message);
  auto capacity = ParseCapacity(flags.capacity);
  if (!capacity) return Die(capacity.error().message);
  auto drain = ParseDuration(flags.drain_pause);
  if (!drain) return Die("--drain-pause: " + drain.error().message);
  auto grace = ParseDuration(flags.stop_grace);
  if (!grace) return Die("--stop-grace: " + grace.error().message);
  if (auto first = agent::node::FirstHost(flags.subnet); !first)
    return Die("--subnet: " + first.error().message);

  std::string data_dir = flags.data_dir.empty() ? default_data_dir : flags.data_dir;
  if (auto ready = PrepareDataDir(data_dir); !ready) return Die(ready.error().message);
  sigset_t stop_signals = BlockStopSignals();

  SystemClock clock;
  auto parts = StartAgentParts({.data_dir = data_dir,
                                .runtime = flags.runtime,
                                .subnet = flags.subnet,
                                .bridge = flags.bridge},
                               clock);
  if (!parts) return Die(parts.error().message);
  agent::node::NodeAgentOptions no;
  no.node = flags.node;
  no.labels = *labels;
  no.capacity = *capacity;
  no.address = flags.address;
  no.state_dir = data_dir + "/agent/node";
  no.gateway_url = flags.gateway_url;
  no.ttl_seconds = flags.ttl_seconds;
  no.drain_pause = *drain;
  no.stop_grace = *grace;
  const NodeJoin join{.server = flags.server,
                      .token = token,
                      .tls = {.tls_ca_file = flags.ca_file,
                              .tls_cert_file = flags.tls_cert,
                              .tls_key_file = flags.tls_key}};
  if (auto node = StartNodeAgent(*parts, join, no, clock); !node) return Die(node.error().message);
  auto shipper = StartLogShipper(*parts, join, flags.node, data_dir, clock);
  if (!shipper) return Die(shipper.error().message);
  parts->log_shipper = std::move(*shipper);
  std::printf("berthd agent: node %s joining %s (data %s, runtime %s, network %s on %s)\n",
              flags.node.c_str(), flags.server.c_str(), data_dir.c_str(), flags.runtime.c_str(),
              flags.subnet.c_str(), flags.bridge.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::Info("berthd", "signal {}: stopping the node agent (containers keep running)", sig);
  parts->Reset();
  log::Info("berthd", "stopped");
  return 0;
}

}  // namespace berth
