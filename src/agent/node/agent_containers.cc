#include "agent/node/agent_containers.h"

#include <fmt/core.h>

#include "core/log.h"

namespace berth::agent::node {

bool NamesRegistry(std::string_view ref) {
  size_t slash = ref.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view host = ref.substr(0, slash);
  return host == "localhost" || host.find('.') != std::string_view::npos ||
         host.find(':') != std::string_view::npos;
}

bool PullsPlainHttp(std::string_view ref) {
  std::string_view host = ref.substr(0, ref.find('/'));
  return host.starts_with("localhost") || host.starts_with("127.");
}

AgentContainers::AgentContainers(Agent& agent, image::ImageStore& images, image::Puller* puller,
                                 std::string node)
    : agent_(agent), images_(images), puller_(puller), node_(std::move(node)) {}

Result<ContainerInfo> AgentContainers::Run(const RunSpec& spec) {
  if (!images_.Inspect(spec.image)) {
    if (puller_ == nullptr || !NamesRegistry(spec.image)) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("image {} is not on node {}: build or import it there (berth image "
                              "build|import), or name a registry host in the reference",
                              spec.image, node_));
    }
    image::PullOptions po;
    po.plain_http = PullsPlainHttp(spec.image);
    log::Info("node", "node {}: pulling {}", node_, spec.image);
    auto pulled = puller_->Pull(spec.image, po);
    if (!pulled) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("image {} is not on node {} and the pull failed: {}", spec.image,
                              node_, pulled.error().message));
    }
  }
  return agent_.Run(spec);
}

Result<ContainerInfo> AgentContainers::Inspect(std::string_view name) {
  return agent_.Inspect(name);
}

Result<ContainerInfo> AgentContainers::Stop(std::string_view name,
                                            std::chrono::milliseconds grace) {
  return agent_.Stop(name, grace);
}

Result<void> AgentContainers::Remove(std::string_view name, bool force) {
  return agent_.Remove(name, force);
}

Result<runtime::ExecResult> AgentContainers::Exec(std::string_view name,
                                                  const std::vector<std::string>& args,
                                                  const runtime::ExecOptions& options) {
  return agent_.Exec(name, args, options);
}

}  // namespace berth::agent::node
