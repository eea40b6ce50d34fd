#include "orchestrator/canary.h"

#include <fmt/core.h>

#include <charconv>

#include "core/json.h"
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
         {"stable", fmt::format("{:016x}", r.stable_hash)},
         {"canary", fmt::format("{:016x}", r.canary_hash)},
         {"started_ms", r.started_ms},
         {"stableSpec", ServiceSpecToJson(r.stable)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<CanaryRecord> CanaryFromJson(std::string_view json) {
  auto j = ParseJson(json);
  if (!j) return std::unexpected(Wrap(j.error(), "canary record"));
  if (!j->is_object()) return Fail(ErrorCode::kInvalidArgument, "canary record: not an object");
  CanaryRecord r;
  auto hex = [&](const char* field, uint64_t* out) -> Result<void> {
    auto it = j->find(field);
    if (it == j->end() || !it->is_string()) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("canary record: no {}", field));
    }
    const auto& s = it->get_ref<const std::string&>();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
    if (ec != std::errc() || p != s.data() + s.size()) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("canary record: bad {}", field));
    }
    return {};
  };
  if (auto h = hex("stable", &r.stable_hash); !h) return std::unexpected(h.error());
  if (auto h = hex("canary", &r.canary_hash); !h) return std::unexpected(h.error());
  const std::string state = j->value("state", std::string());
  if (state == "canary") {
    r.state = CanaryState::kCanary;
  } else if (state == "promoted") {
    r.state = CanaryState::kPromoted;
  } else if (state == "aborted") {
    r.state = CanaryState::kAborted;
  } else {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("canary record: state \"{}\"", state));
  }
  r.started_ms = j->value("started_ms", int64_t{0});
  if (!j->contains("stableSpec")) {
    return Fail(ErrorCode::kInvalidArgument, "canary record: no stableSpec");
  }
  auto spec = ServiceSpecFromJson((*j)["stableSpec"]);
  if (!spec) return std::unexpected(Wrap(spec.error(), "canary record"));
  r.stable = std::move(*spec);
  return r;
}

}  // namespace berth::orchestrator
