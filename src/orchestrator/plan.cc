#include "orchestrator/plan.h"

#include <algorithm>
#include <bit>

namespace berth::orchestrator {

Instance Plan::MakeInstance(const Placement& p, const NodeTable& nodes) const {
  const Service& s = services[p.service];
  Instance i;
  i.id = p.instance_id;
  i.ns = s.app->ns;
  i.app = s.app->name;
  i.service = s.spec->name;
  i.node_id = nodes.id(p.node);
  i.deploy_hash = s.spec->DeployHash();
  i.spec_hash = s.spec->SpecHash();
  i.state = InstanceState::kPending;
  i.resources = s.spec->resources;
  for (const auto& port : s.spec->ports) {
    if (port.host_port != 0) i.host_ports.push_back(port.host_port);
  }
  return i;
}

Selector::Selector(const NodeTable& nodes, Random& random, int limit) {
  const size_t n = nodes.size();
  order_.resize(n);
  for (size_t i = 0; i < n; ++i) order_[i] = static_cast<uint32_t>(i);
  for (size_t i = n; i > 1; --i) std::swap(order_[i - 1], order_[random.Uniform(i)]);
  if (limit <= 0) {
    int log2 = n <= 1 ? 1 : static_cast<int>(std::bit_width(n - 1));  // ceil(log2 n)
    limit = std::max(16, log2);
  }
  limit_ = static_cast<int>(std::min<size_t>(static_cast<size_t>(limit), std::max<size_t>(n, 1)));
}

}  // namespace berth::orchestrator
