#include "orchestrator/node_grace.h"

#include <unordered_set>

namespace berth::orchestrator {

void NodeGrace::Apply(Clock::TimePoint now, std::vector<Node>& nodes,
                      std::vector<Instance>& instances) {
  std::unordered_set<std::string> known;
  for (const Node& n : nodes) known.insert(n.id);
  std::unordered_map<std::string, Clock::TimePoint> still_missing;
  auto in_grace = [&](const std::string& id) {
    auto [it, fresh] = still_missing.emplace(id, now);
    if (fresh) {
      if (auto old = missing_since_.find(id); old != missing_since_.end()) it->second = old->second;
    }
    return now - it->second < grace_;
  };
  for (Node& n : nodes) {
    if (n.status == NodeStatus::kDown && in_grace(n.id)) n.status = NodeStatus::kCordoned;
  }
  for (const Instance& i : instances) {
    if (known.count(i.node_id) || !in_grace(i.node_id)) continue;
    Node ghost;
    ghost.id = i.node_id;
    ghost.status = NodeStatus::kCordoned;
    known.insert(ghost.id);
    nodes.push_back(std::move(ghost));
  }
  missing_since_ = std::move(still_missing);
  for (Instance& i : instances) {
    if (missing_since_.count(i.node_id) && i.Live()) i.state = InstanceState::kUnready;
  }
}

}  // namespace berth::orchestrator
