// Container networking as the agent uses it: Attach gives a container a network namespace
// of its own, configured (address, routes, published ports), and Detach undoes all of it.
// Implementation: cni_network.h (CNI plugin binaries: bridge + host-local + portmap +
// loopback). `none` and `host` modes need no Network call (the bundle asks runc for an
// empty namespace, or none).
// Thread-safety: implementations are safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace berth::agent::network {

struct PortMapping {
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  std::string protocol = "tcp";
  std::string host_ip = "127.0.0.1";
};

struct Attachment {
  std::string netns_path;  // bind-mounted namespace for the bundle
  std::string ip;          // container address, no prefix length
  std::string gateway;
  std::string result;  // the plugin chain's result, kept for DEL
};

class Network {
 public:
  virtual ~Network() = default;
  // Creates the (unconfigured) namespace for container `id` if it does not exist yet and
  // returns its path: a runtime may create the container in it while Attach configures it.
  virtual Result<std::string> Namespace(const std::string& id) = 0;
  // Creates the namespace for container `id` (unless Namespace did) and configures it.
  virtual Result<Attachment> Attach(const std::string& id,
                                    const std::vector<PortMapping>& ports) = 0;
  // Tears down what Attach made (tolerates a half-made attachment, and being called twice).
  virtual Result<void> Detach(const std::string& id, const std::vector<PortMapping>& ports,
                              const std::string& result) = 0;
};

}  // namespace berth::agent::network
