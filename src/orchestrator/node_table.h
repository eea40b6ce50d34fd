// NodeTable: the scheduler's compact view of the cluster. One row per node, stored as a
// struct of arrays so the feasibility and rank steps touch only the columns they read
// (status, free cpu/memory/pids, label class). Labels are interned: keys and values become
// small integers, and nodes with the same label set share one "class" (Nomad's computed
// node class), so a service's constraints are evaluated once per class, not once per node.
// Built from `Node` values by whoever runs the scheduler (the reconciler, the bench, tests);
// the scheduler allocates and releases resources in it as it plans.
// Thread-safety: not thread-safe; one scheduler owns a table for the length of a plan.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "orchestrator/types.h"

namespace berth::orchestrator {

// Interns strings to dense ids (0, 1, 2, ...).
class Interner {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;
  uint32_t Intern(std::string_view s);
  uint32_t Find(std::string_view s) const;  // kAbsent when never interned
  const std::string& Name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<std::string> names_;
};

class NodeTable {
 public:
  using LabelSet = std::vector<std::pair<uint32_t, uint32_t>>;  // (key id, value id), by key

  // Adds a node (or replaces the row of a node with the same id); returns its row.
  uint32_t Upsert(const Node& node);
  std::optional<uint32_t> Find(std::string_view id) const;
  size_t size() const { return ids_.size(); }

  const std::string& id(uint32_t row) const { return ids_[row]; }
  NodeStatus status(uint32_t row) const { return status_[row]; }
  void set_status(uint32_t row, NodeStatus s) { status_[row] = s; }
  Resources capacity(uint32_t row) const { return {cap_cpu_[row], cap_mem_[row], cap_pids_[row]}; }
  Resources free(uint32_t row) const { return {free_cpu_[row], free_mem_[row], free_pids_[row]}; }
  int64_t free_cpu(uint32_t row) const { return free_cpu_[row]; }
  int64_t free_memory(uint32_t row) const { return free_mem_[row]; }
  int64_t free_pids(uint32_t row) const { return free_pids_[row]; }
  int64_t capacity_cpu(uint32_t row) const { return cap_cpu_[row]; }
  int64_t capacity_memory(uint32_t row) const { return cap_mem_[row]; }

  // The node's label class; classes() holds each class's label set.
  uint32_t label_class(uint32_t row) const { return class_[row]; }
  size_t classes() const { return class_labels_.size(); }
  const LabelSet& class_labels(uint32_t cls) const { return class_labels_[cls]; }
  // The value id of `key` on nodes of `cls`, or Interner::kAbsent.
  uint32_t LabelValue(uint32_t cls, uint32_t key) const;
  const Interner& keys() const { return keys_; }
  const Interner& values() const { return values_; }

  bool PortFree(uint32_t row, int port) const;
  bool PortsFree(uint32_t row, std::span<const int> ports) const;

  // Takes (or gives back) an instance's resources and host ports on a node.
  void Allocate(uint32_t row, const Resources& r, std::span<const int> ports);
  void Release(uint32_t row, const Resources& r, std::span<const int> ports);

  // Bytes held by the table (for the bench's memory figures).
  size_t MemoryBytes() const;

 private:
  uint32_t ClassFor(const std::map<std::string, std::string>& labels);

  std::vector<std::string> ids_;
  std::unordered_map<std::string, uint32_t> rows_;
  std::vector<NodeStatus> status_;
  std::vector<int64_t> cap_cpu_, cap_mem_, cap_pids_;
  std::vector<int64_t> free_cpu_, free_mem_, free_pids_;
  std::vector<uint32_t> class_;
  std::vector<std::vector<uint16_t>> ports_;  // sorted host ports in use; most are empty

  Interner keys_, values_;
  std::vector<LabelSet> class_labels_;
  std::map<LabelSet, uint32_t> class_ids_;
};

}  // namespace berth::orchestrator
