#include "agent/node/run_spec.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace berth::agent::node {

namespace orch = berth::orchestrator;

RunSpec ToRunSpec(const orch::Assignment& a, const RunSpecContext& ctx) {
  const orch::ServiceSpec& spec = a.spec;
  const orch::Instance& in = a.instance;
  RunSpec s;
  s.name = in.id;
  s.ns = in.ns;
  s.hostname = in.id;
  s.image = spec.image;
  s.entrypoint = spec.command;  // a spec's command replaces the image's entrypoint and cmd
  for (const auto& [k, v] : spec.env) s.env.push_back(k + "=" + v);
  s.env.push_back("BERTH_NAMESPACE=" + in.ns);
  s.env.push_back("BERTH_APP=" + in.app);
  s.env.push_back("BERTH_SERVICE=" + in.service);
  s.env.push_back("BERTH_INSTANCE=" + in.id);
  if (!ctx.node.empty()) s.env.push_back("BERTH_NODE=" + ctx.node);
  if (!ctx.gateway_url.empty()) s.env.push_back("BERTH_GATEWAY_URL=" + ctx.gateway_url);
  s.resources.memory_bytes = spec.resources.memory_bytes;
  s.resources.cpus = static_cast<double>(spec.resources.cpu_millis) / 1000.0;
  s.resources.pids = spec.resources.pids;
  s.network = runtime::NetworkMode::kBridge;
  s.security.read_only_rootfs = spec.security.read_only_root_filesystem;
  s.run_as_non_root = spec.security.run_as_non_root;
  if (spec.security.run_as_user) s.user = std::to_string(*spec.security.run_as_user);
  for (const auto& p : spec.ports) {
    if (p.host_port == 0) continue;
    network::PortMapping m;
    m.host_port = static_cast<uint16_t>(p.host_port);
    m.container_port = static_cast<uint16_t>(p.container_port);
    m.protocol = p.protocol == orch::Protocol::kUdp ? "udp" : "tcp";
    m.host_ip = ctx.address.empty() ? "127.0.0.1" : ctx.address;
    s.ports.push_back(m);
  }
  switch (spec.restart.mode) {
    case orch::RestartMode::kAlways:
      s.restart = RestartPolicy::kAlways;
      break;
    case orch::RestartMode::kOnFailure:
      s.restart = RestartPolicy::kOnFailure;
      break;
    case orch::RestartMode::kNever:
      s.restart = RestartPolicy::kNever;
      break;
  }
  s.backoff.initial = spec.restart.backoff_initial;
  s.backoff.cap = std::max(spec.restart.backoff_max, spec.restart.backoff_initial);
  s.backoff.factor = 2.0;
  return s;
}

int ProbePort(const orch::Probe& probe, const orch::ServiceSpec& spec) {
  if (probe.port != 0) return probe.port;
  return spec.ports.empty() ? 0 : spec.ports.front().container_port;
}

int64_t ParseMemTotal(std::string_view meminfo) {
  std::istringstream in{std::string(meminfo)};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("MemTotal:")) continue;
    std::istringstream fields(line.substr(9));
    int64_t kb = 0;
    std::string unit;
    fields >> kb >> unit;
    return unit == "kB" || unit.empty() ? kb * 1024 : kb;
  }
  return 0;
}

orch::Resources HostCapacity() {
  orch::Resources r;
  long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  r.cpu_millis = (cores > 0 ? cores : 1) * 1000;
  std::ifstream meminfo("/proc/meminfo");
  std::stringstream text;
  text << meminfo.rdbuf();
  r.memory_bytes = ParseMemTotal(text.str());
  std::ifstream pid_max("/proc/sys/kernel/pid_max");
  int64_t pids = 0;
  if (pid_max >> pids) r.pids = pids;
  if (r.pids <= 0) r.pids = 32768;
  return r;
}

Result<std::map<std::string, std::string>> ParseLabels(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view pair = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("label \"{}\" must be key=value", pair));
    }
    out[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  return out;
}

Result<std::string> FirstHost(std::string_view cidr) {
  size_t slash = cidr.find('/');
  std::string ip(cidr.substr(0, slash));
  in_addr addr{};
  if (slash == std::string_view::npos || ::inet_pton(AF_INET, ip.c_str(), &addr) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("\"{}\" is not an IPv4 CIDR like 100.64.0.0/16", cidr));
  }
  int bits = 0;
  auto tail = cidr.substr(slash + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), bits);
  if (ec != std::errc() || p != tail.data() + tail.size() || bits < 1 || bits > 30) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("\"{}\": the prefix length must be 1..30", cidr));
  }
  uint32_t host = ntohl(addr.s_addr);
  uint32_t mask = bits == 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
  addr.s_addr = htonl((host & mask) + 1);
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &addr, buf, sizeof(buf));
  return std::string(buf);
}

}  // namespace berth::agent::node
