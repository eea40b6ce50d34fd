// The protocol-neutral steps of preparing and recording one request: reading its host,
// target and request id into the Exchange, finding its route, running the route's filters
// (Envoy's filter chain), and, once it ended, its stats and access log line. The HTTP/1.1
// connection manager and the HTTP/2 connection both use them.
// Thread-safety: the worker thread of the exchange.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "core/random.h"
#include "gateway/filters/filter.h"
#include "gateway/server/exchange.h"

namespace berth::gateway::server {

class Worker;

// A request header by name (any case), or nullopt.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view)>;

// ex.host: `host` (a Host or :authority value) lower-cased, without its port.
void SetHost(Exchange& ex, std::string_view host);
// ex.target (origin form; an absolute-form target is reduced to its path) and ex.path.
void SetTarget(Exchange& ex, std::string_view target);
// ex.request_id: the client's X-Request-Id when it is a sane one, else a new UUID.
void SetRequestId(Exchange& ex, std::optional<std::string_view> client_id, Random& random);

// The route for the prepared exchange (ex.table, ex.route, ex.route_stats), then its filters
// over `headers` (filled by `all_headers` only when the route has filters). False: ex's reply
// is set (503 without configuration, 404 without a route, or the filter's answer).
bool RouteExchange(Worker& worker, Exchange& ex, const HeaderLookup& header,
                   const std::function<void(std::vector<filters::HeaderRef>&)>& all_headers,
                   std::string_view client_ip);

// After the exchange: the route's and cluster's stats and the access log line.
void RecordExchange(Worker& worker, const Exchange& ex, std::string_view client_ip);

}  // namespace berth::gateway::server
