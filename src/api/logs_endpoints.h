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
// Bad queries answer 400 with Loki's text ("parse error at line 1, col 12: ..."). Pushing
// needs the operator role (agents' node tokens may push); reading needs viewer, and a reader
// sees only the namespaces `readable` allows for its principal.
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

// Which namespaces a principal may read: null means all of them.
using NamespaceFilterFor =
    std::function<std::function<bool(std::string_view)>(const security::Principal&)>;

void RegisterLogsEndpoints(Router& router, logs::LogStore& store, const logs::logql::Engine& engine,
                           Clock& clock, NamespaceFilterFor readable);

// Loki's timestamp forms: integer nanoseconds (seconds when 10 digits or fewer), float
// seconds, or RFC 3339. Exposed for tests.
Result<int64_t> ParseLokiTime(std::string_view text, std::string_view param);

}  // namespace berth::api
