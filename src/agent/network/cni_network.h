// CNI networking by executing the standard plugin binaries (containernetworking-plugins):
// a `bridge` plugin with `host-local` IPAM on `subnet` (default 100.64.0.0/16) chained with
// `portmap` for published ports. Each plugin gets CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
// CNI_IFNAME and CNI_PATH in its environment and its network configuration (with
// prevResult and runtimeConfig.portMappings) on stdin, as the CNI spec for network
// configuration lists says. The namespace itself is made natively, as `ip netns add` makes
// it (bind-mounted at /run/netns/berth-<id>, /run/netns a shared mount), with `lo` brought
// up as the `loopback` plugin would: two process executions fewer on every start (the
// start path's slowest part), and removed on Detach.
// Thread-safety: safe from any thread; host-local serializes its own allocations.
#pragma once

#include "agent/network/network.h"

namespace berth::agent::network {

struct CniOptions {
  std::string name = "berth";
  std::string bridge = "berth0";
  std::string subnet = "100.64.0.0/16";
  std::string plugin_dir = "/usr/lib/cni";
  std::string ipam_dir;  // host-local allocation state; required
};

class CniNetwork final : public Network {
 public:
  explicit CniNetwork(CniOptions options) : options_(std::move(options)) {}
  Result<std::string> Namespace(const std::string& id) override;
  Result<Attachment> Attach(const std::string& id, const std::vector<PortMapping>& ports) override;
  Result<void> Detach(const std::string& id, const std::vector<PortMapping>& ports,
                      const std::string& result) override;

  // The conflist this network runs (exposed for tests and `berth inspect`).
  std::string ConfigList() const;
  static std::string NetnsName(const std::string& id) { return "berth-" + id; }

 private:
  Result<std::string> Exec(const std::string& plugin, const std::string& command,
                           const std::string& id, const std::string& netns,
                           const std::string& ifname, const std::string& config);
  const CniOptions options_;
};

}  // namespace berth::agent::network
