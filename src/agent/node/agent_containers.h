// AgentContainers: the Containers (containers.h) of this host — its Agent, with the image
// store it runs from and the puller that fills it. Run pulls a missing image when the
// reference names a registry host ("registry.local:5000/shop/api:1", "localhost/x"); a plain
// name ("shop-api:v1") must already be here (built or imported on this node).
// Thread-safety: as Agent, ImageStore and Puller: calls from any thread.
#pragma once

#include <string>
#include <string_view>

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/image/puller.h"
#include "agent/node/containers.h"

namespace berth::agent::node {

// Whether `ref` names a registry host (a first path part that is "localhost" or holds a '.'
// or a ':'), so a missing image can be pulled.
bool NamesRegistry(std::string_view ref);
// Whether a pull of `ref` from its registry goes over plain HTTP (a loopback registry).
bool PullsPlainHttp(std::string_view ref);

class AgentContainers final : public Containers {
 public:
  // `puller` may be null (nothing is pulled); `node` names this node in error messages.
  AgentContainers(Agent& agent, image::ImageStore& images, image::Puller* puller, std::string node);

  Result<ContainerInfo> Run(const RunSpec& spec) override;
  Result<ContainerInfo> Inspect(std::string_view name) override;
  Result<ContainerInfo> Stop(std::string_view name, std::chrono::milliseconds grace) override;
  Result<void> Remove(std::string_view name, bool force) override;
  Result<runtime::ExecResult> Exec(std::string_view name, const std::vector<std::string>& args,
                                   const runtime::ExecOptions& options) override;

 private:
  Agent& agent_;
  image::ImageStore& images_;
  image::Puller* puller_;
  const std::string node_;
};

}  // namespace berth::agent::node
