#include "gateway/server/routing.h"

#include <algorithm>

#include "gateway/server/access_log.h"
#include "gateway/server/http1_heads.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

void SetHost(Exchange& ex, std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  ex.host.assign(host);
  for (auto& c : ex.host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII, no locale call
  }
}

void SetTarget(Exchange& ex, std::string_view target) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    auto rest = target.substr(target.find("//") + 2);
    auto slash = rest.find('/');
    target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  ex.target = target;
  ex.path = target.substr(0, target.find('?'));
}

void SetRequestId(Exchange& ex, std::optional<std::string_view> client_id, Random& random) {
  if (client_id && ValidRequestId(*client_id)) {
    ex.request_id = *client_id;
    return;
  }
  const uint64_t a = random.Next(), b = random.Next();
  FormatRequestId(ex.request_id_buf, a, b);
  ex.request_id = std::string_view(ex.request_id_buf, sizeof(ex.request_id_buf));
}

namespace {

bool RunFilters(Worker& worker, Exchange& ex, const std::vector<filters::HeaderRef>& headers,
                std::string_view client_ip) {
  filters::RequestContext ctx;
  ctx.method = ex.method;
  ctx.path = ex.path;
  ctx.host = ex.host;
  ctx.client_ip = client_ip;
  ctx.headers = &headers;
  ctx.clock = &worker.clock();
  bool stopped = false;
  for (const auto& factory : ex.route->filters) {
    if (factory->Create()->OnRequest(ctx) == filters::FilterStatus::kStop) {
      stopped = true;
      break;
    }
  }
  ex.add_request_headers = std::move(ctx.add_request_headers);
  // CORS headers decided before a later filter stopped still apply.
  ex.add_response_headers = std::move(ctx.add_response_headers);
  if (!stopped) return true;
  if (ctx.stopped_by == "rate_limit") ex.route_stats->rate_limited.Inc();
  if (ctx.stopped_by == "jwt" || ctx.stopped_by == "api_key") ex.route_stats->auth_denied.Inc();
  ex.flags = std::string(ctx.stopped_by);
  ex.reply_body_owned = std::move(ctx.reply_body);
  ex.reply_headers_owned = std::move(ctx.reply_headers);
  ex.SetReply(ctx.reply_status, ex.reply_body_owned, false, &ex.reply_headers_owned);
  return false;
}

}  // namespace

bool RouteExchange(Worker& worker, Exchange& ex, const HeaderLookup& header,
                   const std::function<void(std::vector<filters::HeaderRef>&)>& all_headers,
                   std::string_view client_ip) {
  ex.table = worker.routes();
  if (!ex.table) {
    ex.SetReply(503, "no route configuration\n", false);
    return false;
  }
  if (ex.method == "CONNECT") {
    ex.SetReply(501, "CONNECT is not supported\n", true);
    return false;
  }
  router::MatchInput in{ex.host, ex.method, ex.path, header};
  ex.route = ex.table->Match(in);
  if (ex.route == nullptr) {
    worker.stats().no_route.Inc();
    ex.SetReply(404, "no route\n", false);
    return false;
  }
  ex.route_stats = worker.RouteStatsFor(ex.route);
  if (ex.route->filters.empty()) return true;
  std::vector<filters::HeaderRef> refs;
  all_headers(refs);
  return RunFilters(worker, ex, refs, client_ip);
}

void RecordExchange(Worker& worker, const Exchange& ex, std::string_view client_ip) {
  const double ms =
      std::chrono::duration<double, std::milli>(worker.clock().Now() - ex.start).count();
  if (ex.route_stats != nullptr) {
    ex.route_stats->requests.Inc();
    ex.route_stats->status_class[std::clamp(ex.status / 100, 1, 5)].Inc();
    ex.route_stats->latency.Observe(ms);
  }
  if (ex.cluster) ex.cluster->stats().latency.Observe(ms);
  if (ex.grpc && ex.route != nullptr) {
    GrpcMethodStats* g = worker.GrpcStatsFor(*ex.route, ex.path);
    g->status[ex.grpc_status >= 0 && ex.grpc_status < 17 ? ex.grpc_status
                                                         : GrpcMethodStats::kNoStatus]
        .Inc();
    g->latency.Observe(ms);
  }
  if (AccessLog* log = worker.access_log(); log != nullptr && log->enabled()) {
    AccessRecord r;
    r.wall_ms = worker.clock().WallMillis();
    r.route = ex.route ? std::string_view(ex.route->name) : std::string_view();
    r.cluster = ex.cluster ? std::string_view(ex.cluster->config().name) : std::string_view();
    r.upstream = ex.upstream;
    r.method = ex.method;
    r.path = ex.target;
    r.request_id = ex.request_id;
    r.client = client_ip;
    r.status = ex.status;
    r.bytes_in = ex.bytes_in;
    r.bytes_out = ex.bytes_out;
    r.duration_ms = ms;
    r.attempts = ex.attempts;
    r.flags = ex.flags;
    log->Write(r);
  }
}

}  // namespace berth::gateway::server
