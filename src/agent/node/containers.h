// Containers: what NodeAgent and NodeChecks need of the node's containers — run an
// assignment's container (fetching its image when the reference names a registry), follow
// it, stop and remove it, and run commands in it. AgentContainers (agent_containers.h) is
// the real one, over this node's Agent, ImageStore and Puller; testing/fake_containers.h is
// an in-memory one for unit tests. Containers are named by instance id.
// Thread-safety: implementations take calls from several threads at once.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent.h"
#include "agent/runtime/runtime.h"
#include "core/error.h"

namespace berth::agent::node {

class Containers {
 public:
  virtual ~Containers() = default;

  // Creates and starts `spec`'s container. kNotFound naming the image and the node when the
  // image is not here and cannot be pulled.
  virtual Result<ContainerInfo> Run(const RunSpec& spec) = 0;
  // kNotFound when there is no such container.
  virtual Result<ContainerInfo> Inspect(std::string_view name) = 0;
  // SIGTERM, up to `grace`, then SIGKILL. No restart.
  virtual Result<ContainerInfo> Stop(std::string_view name, std::chrono::milliseconds grace) = 0;
  virtual Result<void> Remove(std::string_view name, bool force) = 0;
  // Runs `args` in the running container; past `options.timeout` or once `options.stop` is
  // requested the command is killed and the result says which.
  virtual Result<runtime::ExecResult> Exec(std::string_view name,
                                           const std::vector<std::string>& args,
                                           const runtime::ExecOptions& options) = 0;
};

}  // namespace berth::agent::node
