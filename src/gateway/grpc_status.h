// gRPC status codes (grpc/doc/statuscodes.md) by number and by the names routes use
// ("unavailable", "resource_exhausted"), and the code a gateway's own HTTP status maps to
// when it answers a gRPC request itself (grpc/doc/http-grpc-status-mapping.md).
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

namespace berth::gateway {

inline constexpr int kGrpcOk = 0;
inline constexpr int kGrpcDeadlineExceeded = 4;
inline constexpr int kGrpcUnavailable = 14;

// "unavailable" -> 14; nullopt for an unknown name.
std::optional<int> GrpcStatusFromName(std::string_view name);
// 14 -> "unavailable"; "unknown" outside 0-16.
std::string_view GrpcStatusName(int code);
// The gRPC status for an HTTP status the gateway answers with (404 -> 12 unimplemented, 429
// -> 14... as gRPC's mapping), 2 (unknown) for the rest.
int GrpcStatusForHttp(int http_status);
// Parses a grpc-status value ("14"); nullopt unless it is 0-99 in decimal.
std::optional<int> ParseGrpcStatus(std::string_view value);

}  // namespace berth::gateway
