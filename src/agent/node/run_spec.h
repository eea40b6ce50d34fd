// What the node agent turns an orchestrator Assignment into: the agent's RunSpec (image,
// command, env, published ports, limits, restart policy with back-off, bridge network), and
// the node's capacity as read from the host. Pure functions (apart from HostCapacity,
// which reads /proc); NodeAgent calls them, tests check them alone.
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "agent/agent.h"
#include "core/error.h"
#include "orchestrator/types.h"

namespace berth::agent::node {

struct RunSpecContext {
  std::string node;         // BERTH_NODE
  std::string address;      // host IP that published ports bind to
  std::string gateway_url;  // BERTH_GATEWAY_URL for containers; empty: not set
};

// The container for `assignment`: named by its instance id, on the bridge network, ports
// with a host port published on `context.address`, resources as cgroup limits (cpu millis
// → cores), the restart policy with its back-off. Env gains BERTH_NAMESPACE, BERTH_APP,
// BERTH_SERVICE, BERTH_INSTANCE, BERTH_NODE (and BERTH_GATEWAY_URL when known).
RunSpec ToRunSpec(const orchestrator::Assignment& assignment, const RunSpecContext& context);

// The container port a probe checks: its own, or the service's first port; 0 when none.
int ProbePort(const orchestrator::Probe& probe, const orchestrator::ServiceSpec& spec);

// The node's capacity: cores × 1000 millicores, MemTotal bytes, kernel.pid_max.
orchestrator::Resources HostCapacity();
// MemTotal from the text of /proc/meminfo, in bytes; 0 when absent.
int64_t ParseMemTotal(std::string_view meminfo);

// "k=v,k2=v2" → map; errors name the bad pair.
Result<std::map<std::string, std::string>> ParseLabels(std::string_view text);

// The first usable address of an IPv4 CIDR ("100.64.0.0/16" → "100.64.0.1"): the bridge's
// address, which containers use as their gateway.
Result<std::string> FirstHost(std::string_view cidr);

}  // namespace berth::agent::node
