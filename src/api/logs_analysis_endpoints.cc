// The log center's analyses over what a LogQL log query selects (logs/analysis/):
//   GET /v1/logs/patterns?query=&since=|start=&end=&limit=&buckets=   templates with trend
//   GET /v1/logs/exceptions?query=&since=|start=&end=&limit=           stack traces grouped
//   GET /v1/logs/slow-routes?query=&since=|start=&end=&limit=          latency per route
//   GET /v1/logs/errors?query=&since=|start=&end=&limit=&buckets=      error rate, spikes
// Each reads every entry the query selects in the range (at most kMaxScanned, then
// "truncated": true) in the namespaces the caller may read (Access::kList).
#include <chrono>

#include <fmt/format.h>

#include "api/logs_endpoints.h"
#include "core/json.h"
#include "core/units.h"
#include "logs/analysis/error_rates.h"
#include "logs/analysis/exceptions.h"
#include "logs/analysis/pattern_trends.h"
#include "logs/analysis/routes.h"
#include "logs/log_store.h"
#include "logs/logql/engine.h"
#include "logs/logql/parser.h"
#include "logs/logql/pipeline.h"

namespace berth::api {
namespace {

using logs::logql::EntryState;
using logs::logql::QueryParams;

constexpr int64_t kNanosPerMs = 1'000'000;
constexpr size_t kMaxScanned = 1'000'000;

struct Analysis {
  std::string text;  // the query as given (or the default)
  logs::logql::Expr expr;
  QueryParams params;
  size_t limit = 0;
  const logs::logql::LogQuery& query() const { return std::get<logs::logql::LogQuery>(expr.node); }
};

// query (a log query; `fallback` when absent), since (a duration back from now, default 1h)
// or start/end (Loki's time forms), limit (results, default `limit`).
Result<Analysis> ReadAnalysis(Call& call, Clock& clock, std::string_view fallback, int64_t limit) {
  Analysis a;
  a.text = call.Query("query").value_or(std::string(fallback));
  auto expr = logs::logql::Parse(a.text);
  if (!expr) return std::unexpected(Wrap(expr.error(), "query"));
  if (!expr->is_log()) {
    return Fail(ErrorCode::kInvalidArgument,
                "query: the analyses take a log query ({selector} and a pipeline), not a "
                "metric query");
  }
  a.expr = std::move(*expr);
  const int64_t now = clock.WallMillis() * kNanosPerMs;
  auto end = ParseLokiTime(call.Query("end").value_or(""), "end");
  if (!end) return std::unexpected(end.error());
  a.params.end_ns = call.Query("end") ? *end : now;
  if (auto start = call.Query("start")) {
    auto s = ParseLokiTime(*start, "start");
    if (!s) return std::unexpected(s.error());
    a.params.start_ns = *s;
  } else {
    auto since = ParseDuration(call.Query("since").value_or("1h"));
    if (!since) return std::unexpected(Wrap(since.error(), "since"));
    a.params.start_ns = a.params.end_ns - since->count() * kNanosPerMs;
  }
  if (a.params.end_ns <= a.params.start_ns) {
    return Fail(ErrorCode::kInvalidArgument, "end must be after start");
  }
  auto n = call.QueryInt("limit", limit);
  if (!n) return std::unexpected(n.error());
  if (*n < 1 || *n > 10'000) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("limit: {} is not between 1 and 10000", *n));
  }
  a.limit = static_cast<size_t>(*n);
  a.params.ns_allowed = ReadableNamespaces(call);
  return a;
}

Json Header(const Analysis& a, const logs::logql::ScanStats& scan) {
  return Json{{"query", a.text},
              {"start_ms", a.params.start_ns / kNanosPerMs},
              {"end_ms", a.params.end_ns / kNanosPerMs},
              {"lines_scanned", scan.stats.matched},
              {"truncated", scan.truncated}};
}

// `buckets`: how many slices of the range trends count in (default 12).
Result<int64_t> ReadBuckets(const Call& call) {
  auto buckets = call.QueryInt("buckets", 12);
  if (!buckets) return std::unexpected(buckets.error());
  if (*buckets < 1 || *buckets > 1000) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("buckets: {} is not between 1 and 1000", *buckets));
  }
  return *buckets;
}

void HandlePatterns(const std::shared_ptr<Call>& call, const logs::logql::Engine& engine,
                    Clock& clock) {
  auto a = ReadAnalysis(*call, clock, R"({namespace=~".+"})", 50);
  if (!a) return call->ReplyError(a.error());
  auto buckets = ReadBuckets(*call);
  if (!buckets) return call->ReplyError(buckets.error());
  logs::analysis::PatternTrends trends(a->params.start_ns, a->params.end_ns,
                                       static_cast<size_t>(*buckets));
  auto scan = engine.Scan(
      a->query(), a->params, kMaxScanned,
      [&](const logs::StreamRef&, int64_t ts, EntryState& e) { trends.Add(e.line, ts); });
  if (!scan) return call->ReplyError(scan.error());
  Json list = Json::array();
  for (const auto& t : trends.Top(a->limit)) {
    list.push_back(Json{{"id", t.pattern.id},
                        {"template", t.pattern.tmpl},
                        {"count", t.pattern.count},
                        {"first_seen_ms", t.pattern.first_seen / kNanosPerMs},
                        {"last_seen_ms", t.pattern.last_seen / kNanosPerMs},
                        {"trend", t.trend},
                        {"new", t.is_new}});
  }
  Json out = Header(*a, *scan);
  out["buckets"] = *buckets;
  out["patterns"] = std::move(list);
  call->ReplyJsonText(200, DumpJson(out));
}

// The instance a stream's entries came from: its instance label, else its app, else its
// labels.
std::string InstanceOf(const logs::StreamRef& s) {
  for (std::string_view name : {"instance", "app", "service"}) {
    if (auto v = s.labels.Get(name); !v.empty()) return std::string(v);
  }
  return s.labels.Canonical();
}

void HandleExceptions(const std::shared_ptr<Call>& call, const logs::logql::Engine& engine,
                      Clock& clock) {
  auto a = ReadAnalysis(*call, clock, R"({namespace=~".+"})", 50);
  if (!a) return call->ReplyError(a.error());
  logs::analysis::ExceptionGroups groups;
  auto scan = engine.Scan(a->query(), a->params, kMaxScanned,
                          [&](const logs::StreamRef& s, int64_t ts, EntryState& e) {
                            if (e.line.find('\n') == std::string_view::npos) return;
                            groups.Add(e.line, ts, InstanceOf(s));
                          });
  if (!scan) return call->ReplyError(scan.error());
  Json list = Json::array();
  for (const auto& g : groups.Groups()) {
    if (list.size() >= a->limit) break;
    list.push_back(Json{{"fingerprint", g.fingerprint},
                        {"language", g.language},
                        {"type", g.type},
                        {"message", g.message},
                        {"frames", g.frames},
                        {"count", g.count},
                        {"first_seen_ms", g.first_seen_ns / kNanosPerMs},
                        {"last_seen_ms", g.last_seen_ns / kNanosPerMs},
                        {"instances", g.instances},
                        {"example", g.example}});
  }
  Json out = Header(*a, *scan);
  out["traces"] = groups.traces();
  out["exceptions"] = std::move(list);
  call->ReplyJsonText(200, DumpJson(out));
}

Json LatencyJson(const logs::analysis::Latency& l) {
  return Json{{"count", l.count},   {"errors", l.errors}, {"p50_ms", l.p50_ms},
              {"p95_ms", l.p95_ms}, {"p99_ms", l.p99_ms}, {"max_ms", l.max_ms}};
}

void HandleSlowRoutes(const std::shared_ptr<Call>& call, const logs::logql::Engine& engine,
                      Clock& clock) {
  auto a = ReadAnalysis(*call, clock, R"({app="gateway"})", 20);
  if (!a) return call->ReplyError(a.error());
  logs::analysis::RouteLatencies routes;
  auto scan = engine.Scan(a->query(), a->params, kMaxScanned,
                          [&](const logs::StreamRef&, int64_t, EntryState& e) {
                            auto r = logs::analysis::ReadAccessRecord(
                                e.line, [&e](std::string_view name) { return e.Get(name); });
                            if (r) routes.Add(*r);
                          });
  if (!scan) return call->ReplyError(scan.error());
  Json list = Json::array();
  for (const auto& r : routes.Routes()) {
    if (list.size() >= a->limit) break;
    Json j = LatencyJson(r.all);
    j["route"] = r.route;
    Json ups = Json::array();
    for (const auto& [name, l] : r.upstreams) {
      Json u = LatencyJson(l);
      u["upstream"] = name;
      ups.push_back(std::move(u));
    }
    j["upstreams"] = std::move(ups);
    list.push_back(std::move(j));
  }
  Json out = Header(*a, *scan);
  out["records"] = routes.records();
  out["routes"] = std::move(list);
  call->ReplyJsonText(200, DumpJson(out));
}

// A stream's service for error rates: namespace/service (else namespace/app).
std::string ServiceOf(const logs::StreamRef& s) {
  for (std::string_view name : {"service", "app"}) {
    if (auto v = s.labels.Get(name); !v.empty()) return s.ns + "/" + std::string(v);
  }
  return s.ns + "/" + s.labels.Canonical();
}

void HandleErrors(const std::shared_ptr<Call>& call, const logs::logql::Engine& engine,
                  Clock& clock) {
  auto a = ReadAnalysis(*call, clock, R"({namespace=~".+"})", 50);
  if (!a) return call->ReplyError(a.error());
  auto buckets = ReadBuckets(*call);
  if (!buckets) return call->ReplyError(buckets.error());
  logs::analysis::ErrorRates rates(a->params.start_ns, a->params.end_ns,
                                   static_cast<size_t>(*buckets));
  auto scan = engine.Scan(a->query(), a->params, kMaxScanned,
                          [&](const logs::StreamRef& s, int64_t ts, EntryState& e) {
                            bool error = logs::analysis::IsErrorLine(
                                e.line, [&e](std::string_view name) { return e.Get(name); });
                            rates.Add(ServiceOf(s), ts, error);
                          });
  if (!scan) return call->ReplyError(scan.error());
  const int64_t slice_ns = (a->params.end_ns - a->params.start_ns) / *buckets;
  Json list = Json::array();
  for (const auto& s : rates.Services()) {
    if (list.size() >= a->limit) break;
    Json lines = Json::array(), errors = Json::array();
    for (const auto& slice : s.slices) {
      lines.push_back(slice.lines);
      errors.push_back(slice.errors);
    }
    Json spike = nullptr;
    if (s.spike) {
      const auto& at = s.slices[s.spike_slice];
      spike =
          Json{{"start_ms", (a->params.start_ns + slice_ns * static_cast<int64_t>(s.spike_slice)) /
                                kNanosPerMs},
               {"errors", at.errors},
               {"lines", at.lines},
               {"rate", s.spike_rate},
               {"baseline_rate", s.baseline_rate},
               {"expected_errors", s.expected_errors}};
    }
    const size_t slash = s.service.find('/');  // ServiceOf's "namespace/service"
    list.push_back(Json{{"namespace", s.service.substr(0, slash)},
                        {"service", s.service.substr(slash + 1)},
                        {"lines", s.lines},
                        {"errors", s.errors},
                        {"rate", s.lines ? static_cast<double>(s.errors) / s.lines : 0.0},
                        {"lines_per_slice", std::move(lines)},
                        {"errors_per_slice", std::move(errors)},
                        {"spike", std::move(spike)}});
  }
  Json out = Header(*a, *scan);
  out["buckets"] = *buckets;
  out["slice_ms"] = slice_ns / kNanosPerMs;
  out["services"] = std::move(list);
  call->ReplyJsonText(200, DumpJson(out));
}

}  // namespace

void RegisterLogAnalysisEndpoints(Router& router, const logs::logql::Engine& engine, Clock& clock) {
  using Handler = void (*)(const std::shared_ptr<Call>&, const logs::logql::Engine&, Clock&);
  for (auto [pattern, handler] :
       {std::pair<const char*, Handler>{"/v1/logs/patterns", &HandlePatterns},
        {"/v1/logs/exceptions", &HandleExceptions},
        {"/v1/logs/slow-routes", &HandleSlowRoutes},
        {"/v1/logs/errors", &HandleErrors}}) {
    router.Add({.method = "GET",
                .pattern = pattern,
                .access = Access::kList,
                .handler = [&engine, &clock, handler](std::shared_ptr<Call> call) {
                  handler(call, engine, clock);
                }});
  }
}

}  // namespace berth::api
