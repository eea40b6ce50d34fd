#include "orchestrator/node_table.h"

#include <algorithm>

namespace berth::orchestrator {

uint32_t Interner::Intern(std::string_view s) {
  auto it = ids_.find(std::string(s));
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(s);
  ids_.emplace(names_.back(), id);
  return id;
}

uint32_t Interner::Find(std::string_view s) const {
  auto it = ids_.find(std::string(s));
  return it == ids_.end() ? kAbsent : it->second;
}

uint32_t NodeTable::ClassFor(const std::map<std::string, std::string>& labels) {
  LabelSet set;
  set.reserve(labels.size());
  for (const auto& [k, v] : labels) set.emplace_back(keys_.Intern(k), values_.Intern(v));
  std::sort(set.begin(), set.end());
  auto [it, inserted] = class_ids_.emplace(set, static_cast<uint32_t>(class_labels_.size()));
  if (inserted) class_labels_.push_back(std::move(set));
  return it->second;
}

uint32_t NodeTable::Upsert(const Node& node) {
  uint32_t row;
  if (auto it = rows_.find(node.id); it != rows_.end()) {
    row = it->second;
  } else {
    row = static_cast<uint32_t>(ids_.size());
    ids_.push_back(node.id);
    rows_.emplace(node.id, row);
    status_.emplace_back();
    cap_cpu_.emplace_back();
    cap_mem_.emplace_back();
    cap_pids_.emplace_back();
    free_cpu_.emplace_back();
    free_mem_.emplace_back();
    free_pids_.emplace_back();
    class_.emplace_back();
    ports_.emplace_back();
  }
  status_[row] = node.status;
  cap_cpu_[row] = node.capacity.cpu_millis;
  cap_mem_[row] = node.capacity.memory_bytes;
  cap_pids_[row] = node.capacity.pids;
  Resources f = node.Free();
  free_cpu_[row] = f.cpu_millis;
  free_mem_[row] = f.memory_bytes;
  free_pids_[row] = f.pids;
  class_[row] = ClassFor(node.labels);
  auto& ports = ports_[row];
  ports.clear();
  for (int p : node.ports_in_use) {
    if (p > 0 && p <= 65535) ports.push_back(static_cast<uint16_t>(p));
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return row;
}

std::optional<uint32_t> NodeTable::Find(std::string_view id) const {
  auto it = rows_.find(std::string(id));
  if (it == rows_.end()) return std::nullopt;
  return it->second;
}

uint32_t NodeTable::LabelValue(uint32_t cls, uint32_t key) const {
  for (const auto& [k, v] : class_labels_[cls]) {
    if (k == key) return v;
    if (k > key) break;
  }
  return Interner::kAbsent;
}

bool NodeTable::PortFree(uint32_t row, int port) const {
  const auto& ports = ports_[row];
  return !std::binary_search(ports.begin(), ports.end(), static_cast<uint16_t>(port));
}

bool NodeTable::PortsFree(uint32_t row, std::span<const int> ports) const {
  if (ports_[row].empty()) return true;
  for (int p : ports) {
    if (!PortFree(row, p)) return false;
  }
  return true;
}

void NodeTable::Allocate(uint32_t row, const Resources& r, std::span<const int> ports) {
  free_cpu_[row] -= r.cpu_millis;
  free_mem_[row] -= r.memory_bytes;
  free_pids_[row] -= r.pids;
  auto& used = ports_[row];
  for (int p : ports) {
    auto v = static_cast<uint16_t>(p);
    auto it = std::lower_bound(used.begin(), used.end(), v);
    if (it == used.end() || *it != v) used.insert(it, v);
  }
}

void NodeTable::Release(uint32_t row, const Resources& r, std::span<const int> ports) {
  free_cpu_[row] += r.cpu_millis;
  free_mem_[row] += r.memory_bytes;
  free_pids_[row] += r.pids;
  auto& used = ports_[row];
  for (int p : ports) {
    auto it = std::lower_bound(used.begin(), used.end(), static_cast<uint16_t>(p));
    if (it != used.end() && *it == static_cast<uint16_t>(p)) used.erase(it);
  }
}

size_t NodeTable::MemoryBytes() const {
  size_t n = ids_.size();
  size_t bytes = n * (sizeof(std::string) + sizeof(NodeStatus) + 6 * sizeof(int64_t) +
                      sizeof(uint32_t) + sizeof(std::vector<uint16_t>));
  for (const auto& id : ids_) bytes += id.capacity() > 15 ? id.capacity() : 0;
  for (const auto& p : ports_) bytes += p.capacity() * sizeof(uint16_t);
  for (const auto& c : class_labels_) bytes += c.capacity() * sizeof(c[0]) + sizeof(c);
  return bytes;
}

}  // namespace berth::orchestrator
