#include "gateway/grpc_status.h"

#include <array>

namespace berth::gateway {

namespace {

constexpr std::array<std::string_view, 17> kNames = {
    "ok",        "cancelled",      "unknown",           "invalid_argument",   "deadline_exceeded",
    "not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
    "aborted",   "out_of_range",   "unimplemented",     "internal",           "unavailable",
    "data_loss", "unauthenticated"};

}  // namespace

std::optional<int> GrpcStatusFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::string_view GrpcStatusName(int code) {
  return code >= 0 && code < static_cast<int>(kNames.size()) ? kNames[code] : "unknown";
}

int GrpcStatusForHttp(int http_status) {
  switch (http_status) {
    case 400:
      return 13;  // internal
    case 401:
      return 16;  // unauthenticated
    case 403:
      return 7;  // permission_denied
    case 404:
      return 12;  // unimplemented
    case 429:
    case 502:
    case 503:
      return 14;  // unavailable
    case 504:
      return 4;  // deadline_exceeded
    default:
      return 2;  // unknown
  }
}

std::optional<int> ParseGrpcStatus(std::string_view value) {
  if (value.empty() || value.size() > 2) return std::nullopt;
  int v = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace berth::gateway
