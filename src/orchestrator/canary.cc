#include "orchestrator/canary.h"

#include <fmt/core.h>

#include "core/json.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator {

std::string_view ToString(CanaryState s) {
  switch (s) {
    case CanaryState::kCanary:
      return "canary";
    case CanaryState::kPromoted:
      return "promoted";
    case CanaryState::kAborted:
      return "aborted";
  }
  return "unknown";
}

std::string CanaryKey(std::string_view ns, std::string_view app, std::string_view svc) {
  return fmt::format("{}{}/{}/{}", kCanaryPrefix, ns, app, svc);
}

std::string DeployTag(uint64_t deploy_hash) { return fmt::format("deploy={:016x}", deploy_hash); }

std::string CanaryToJson(const CanaryRecord& r) {
  Json j{{"state", std::string(ToString(r.state))},
         {"stable", HashToHex(r.stable_hash)},
         {"canary", HashToHex(r.canary_hash)},
         {"started_ms", r.started_ms},
         {"stableSpec", ServiceSpecToJson(r.stable)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<CanaryRecord> CanaryFromJson(std::string_view json) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json, "canary record"));
  CanaryRecord r;
  input::Object o(doc.root());
  o.Required("state", r.state,
             input::Enum<CanaryState>({{"canary", CanaryState::kCanary},
                                       {"promoted", CanaryState::kPromoted},
                                       {"aborted", CanaryState::kAborted}}))
      .Required("stable", r.stable_hash, ReadHexHash)
      .Required("canary", r.canary_hash, ReadHexHash)
      .Optional("started_ms", r.started_ms, input::Int(INT64_MIN, INT64_MAX))
      .Required("stableSpec", r.stable, ServiceSpecFromNode);
  BERTH_TRY(o.Done());
  return r;
}

}  // namespace berth::orchestrator
