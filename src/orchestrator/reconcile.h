// Step 1 of the scheduler pipeline (see README.md): reconcile one service's desired spec
// with its live instances into what to do — how many new instances to place, which
// instances to stop and why, which to update in place. Rolling updates and drains follow
// Kubernetes' Deployment arithmetic: never more than replicas + maxSurge instances, never
// fewer than replicas - maxUnavailable available ones (ready for at least minReadySeconds).
// Instances on a draining node are replaced like outdated ones, so a drain honours the
// same budget; instances on a down or unknown node are lost and replaced at once.
// Pure function of its inputs. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "orchestrator/types.h"

namespace berth::orchestrator {

enum class StopReason {
  kScaleDown,  // more instances than replicas
  kOutdated,   // runs an older spec; a rolling update replaces it
  kMigrate,    // its node is draining
  kLost,       // its node is down or gone
  kRemoved,    // its service or app was deleted
};
std::string_view ToString(StopReason r);

struct Stop {
  const Instance* instance = nullptr;
  StopReason reason = StopReason::kScaleDown;
};

struct ServiceDiff {
  int64_t place = 0;                    // new instances of the current spec to place
  std::vector<Stop> stop;               // instances to stop
  std::vector<const Instance*> update;  // current deploy hash, older spec: rewrite in place
  // Counts after classification, for status and tests.
  int64_t current = 0;    // live instances of the current spec on usable nodes
  int64_t outdated = 0;   // live instances to be replaced (old spec or draining node)
  int64_t available = 0;  // ready for minReadySeconds, of either kind
  bool rolling = false;   // outdated instances remain
};

// How the reconciler sees a node: kReady/kCordoned keep their instances, kDraining
// migrates them, kDown (and nodes it does not know) loses them.
using NodeStatusFn = std::function<NodeStatus(std::string_view node_id)>;

// `spec` null means the service is gone: every instance stops with kRemoved.
// `instances` are the service's live instances (Instance::Live()); `now_ms` is wall-clock
// millis compared with Instance::ready_since_ms for minReadySeconds.
ServiceDiff Reconcile(const ServiceSpec* spec, std::span<const Instance* const> instances,
                      const NodeStatusFn& node_status, int64_t now_ms);

}  // namespace berth::orchestrator
