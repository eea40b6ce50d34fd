// The request rates a gateway publishes for the orchestrator's autoscalers (targetRps), as
// both sides read them: one key per gateway, under the gateway's lease (docs/api.md):
//
//   /load/gateway/<gateway-id>  {"time_ms", "window_ms",
//                                "services": {"<ns>/<svc>": {"rps", "requests"}}}
//
// The gateway owns the format (LoadReporter writes it); readers decode it here.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/error.h"

namespace berth::gateway {

inline constexpr std::string_view kGatewayLoadPrefix = "/load/gateway/";

struct ServiceLoad {
  double rps = 0;         // requests per second over the window
  uint64_t requests = 0;  // requests since the gateway started
};

struct LoadReport {
  int64_t time_ms = 0;                          // wall time of the sample
  int64_t window_ms = 0;                        // the interval the rates cover
  std::map<std::string, ServiceLoad> services;  // by "<ns>/<svc>"
};

std::string EncodeLoadReport(const LoadReport& report);
// kInvalidArgument for anything but a report of the form above (negative rates included).
Result<LoadReport> DecodeLoadReport(std::string_view json);

}  // namespace berth::gateway
