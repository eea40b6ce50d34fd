// The log center's HTTP API: Loki's, so Promtail, Grafana and other Loki clients work
// against Berth unchanged (logs_endpoints.cc):
//   POST /loki/api/v1/push            JSON, or snappy protobuf (Content-Type
//                                     application/x-protobuf); 204, or 400/429 naming what
//                                     was refused (the rest is stored)
//   GET  /loki/api/v1/query           instant query (metric or log)
//   GET  /loki/api/v1/query_range     range query: start, end, step, limit, direction
//   GET  /loki/api/v1/labels          label names;  /loki/api/v1/label/{name}/values
//   GET  /loki/api/v1/series          streams matching match[]
//   GET  /loki/api/v1/tail            live tail as a stream of JSON lines (one Loki tail
//                                     message each), not a WebSocket
//   GET  /loki/api/v1/status/buildinfo, /loki/api/v1/format_query
// Bad queries answer 400 with Loki's text ("parse error at line 1, col 12: ..."). A stream's
// namespace is its `namespace` label (the store's default namespace without one). Pushing
// needs the operator role in the namespace of every stream pushed (a push with one stream
// the caller may not write is refused whole, 403, nothing stored; node tokens may push);
// reading needs a role somewhere and shows only the streams of namespaces the caller may read.
#pragma once

#include <functional>
#include <string_view>

#include "api/router.h"
#include "core/clock.h"

namespace berth::logs {
class LogStore;
namespace logql {
class Engine;
}
}  // namespace berth::logs

namespace berth::api {

void RegisterLogsEndpoints(Router& router, logs::LogStore& store, const logs::logql::Engine& engine,
                           Clock& clock);

// The analyses (logs_analysis_endpoints.cc): GET /v1/logs/patterns, /v1/logs/exceptions and
// /v1/logs/slow-routes over what a log query selects, in the namespaces the caller may read.
void RegisterLogAnalysisEndpoints(Router& router, const logs::logql::Engine& engine, Clock& clock);

// For Access::kList endpoints over streams: the namespaces `call`'s token may read (null:
// every one), only the one named by the `namespace` query parameter when it is given.
// Counts as the call's authorization (Call::FilterByNamespace).
std::function<bool(std::string_view)> ReadableNamespaces(Call& call);

// Loki's timestamp forms: integer nanoseconds (seconds when 10 digits or fewer), float
// seconds, or RFC 3339. Exposed for tests.
Result<int64_t> ParseLokiTime(std::string_view text, std::string_view param);

}  // namespace berth::api
