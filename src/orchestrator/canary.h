// Canary rollouts (update.canary, see README.md): the record that says a service runs a
// canary, at /orchestrator/canary/<ns>/<app>/<svc>.
//
//   AppStore::Apply     a new deploy hash for a service with update.canary > 0 and a
//                       previous version: state canary {stable spec, canary hash}, written in
//                       the same transaction as the app (so the reconciler never sees one
//                       without the other)
//   AppStore::Promote   canary -> promoted (the rest rolls out as a rolling update)
//   AppStore::Abort     the stable spec back into the app, state aborted (also Undo, and the
//                       controller's automatic rollback of a failed canary)
//   Controller          deletes promoted records once their rollout completes, aborted ones
//                       once no instance of another version is left, and orphans
//   Scheduler           state canary: the service is reconciled as two halves, the stable spec
//                       at `replicas` and the new spec at `update.canary`
//   Controller routes   canary: stable/canary split by expose.canaryWeight on the registry's
//                       `deploy=<hash>` tags; aborted: all to stable; promoted: the service
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/error.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

inline constexpr std::string_view kCanaryPrefix = "/orchestrator/canary/";

enum class CanaryState { kCanary, kPromoted, kAborted };
std::string_view ToString(CanaryState s);

struct CanaryRecord {
  CanaryState state = CanaryState::kCanary;
  uint64_t stable_hash = 0;  // DeployHash of `stable`
  uint64_t canary_hash = 0;  // the new version's DeployHash
  ServiceSpec stable;        // what the stable instances run (its replicas are not used)
  int64_t started_ms = 0;
  int64_t mod_revision = 0;  // the store's, when read (not in the JSON)
};

std::string CanaryKey(std::string_view ns, std::string_view app, std::string_view svc);
std::string CanaryToJson(const CanaryRecord& record);
Result<CanaryRecord> CanaryFromJson(std::string_view json);

// Canary records by "ns/app/svc".
using CanaryMap = std::map<std::string, CanaryRecord>;

// The registry tag the node agent gives every instance of a deploy hash.
std::string DeployTag(uint64_t deploy_hash);

}  // namespace berth::orchestrator
