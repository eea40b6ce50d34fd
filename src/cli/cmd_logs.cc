// berth logs query|tail — the log center, through its Loki API (/loki/api/v1/...).
//   berth logs query 'LOGQL' [--since 1h | --from T [--to T]] [--limit 100] [--forward]
//                            [--step 1m] [-f]
//   berth logs tail 'LOGQL' [--since 1h] [--limit 100]
//   berth logs patterns ['LOGQL'] [--since 1h] [--limit 50]     templates, counts, trend
//   berth logs patterns --file F [-o csv]                        mine a file offline
//   berth logs exceptions ['LOGQL'] [--since 1h] [--limit 50]   stack traces grouped
//   berth logs slow-routes ['LOGQL'] [--since 1h] [--limit 20]  latency per route
//   berth logs errors ['LOGQL'] [--since 1h] [--limit 50]       error rate per service, spikes
// (`berth logs CONTAINER` prints one container's output from its node: cmd_container.cc.)
// A log query prints its lines (newest first unless --forward; -o wide adds each line's
// stream); a metric query prints one row per sample. -o json|yaml print Loki's answer as it
// came; with -f (and `tail`) one Loki tail message per line. The server shows only namespaces
// the token may read; `-n NS` narrows that to one (no -n: every namespace, as with -A).

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "core/http/message.h"
#include "core/units.h"
#include "logs/patterns/offline.h"

namespace berth::cli {
namespace {

constexpr int64_t kNanosPerMs = 1'000'000;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-12-07T22:35:32.123Z" from Unix nanoseconds.
std::string FormatNanos(int64_t ns) {
  std::time_t t = ns / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, (ns / kNanosPerMs) % 1000);
}

// {app="web", namespace="shop"}: a stream's labels as LogQL writes them.
std::string LabelText(const Json& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels.items()) {
    if (out.size() > 1) out += ", ";
    out += k + "=" + Json(v.is_string() ? v.get<std::string>() : v.dump()).dump();
  }
  return out + "}";
}

int64_t NanosOf(const Json& ts) {
  if (ts.is_string()) return std::strtoll(ts.get<std::string>().c_str(), nullptr, 10);
  if (ts.is_number()) return static_cast<int64_t>(ts.get<double>() * 1e9);
  return 0;
}

View EntryView() {
  return View{
      .kind = "entry",
      .plural = "entries",
      .name = [](const Json& e) { return e.value("ts", ""); },
      .columns = {Field("TIME", "time"), Field("STREAM", "stream", true), Field("LINE", "line")}};
}

View SampleView() {
  return View{
      .kind = "sample",
      .name = [](const Json& s) { return s.value("metric", "") + "@" + s.value("ts", ""); },
      .columns = {Field("METRIC", "metric"), Field("TIME", "time"), Field("VALUE", "value")}};
}

// One row per log line of a streams answer (a query's or a tail message's), by time.
Json EntryRows(const Json& streams, bool forward) {
  Json rows = Json::array();
  for (const auto& s : streams) {
    const std::string stream = LabelText(s.value("stream", Json::object()));
    for (const auto& v : s.value("values", Json::array())) {
      if (!v.is_array() || v.size() < 2) continue;
      const int64_t ns = NanosOf(v[0]);
      rows.push_back(Json{{"ts", std::to_string(ns)},
                          {"time", FormatNanos(ns)},
                          {"stream", stream},
                          {"line", Text(v[1])},
                          {"sort", ns}});
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [forward](const Json& a, const Json& b) {
    return forward ? a["sort"].get<int64_t>() < b["sort"].get<int64_t>()
                   : a["sort"].get<int64_t>() > b["sort"].get<int64_t>();
  });
  return rows;
}

// One row per sample of a vector, matrix or scalar answer.
Json SampleRows(const Json& data) {
  Json rows = Json::array();
  auto add = [&rows](const std::string& metric, const Json& point) {
    if (!point.is_array() || point.size() < 2) return;
    const int64_t ns = NanosOf(point[0]);
    rows.push_back(Json{{"metric", metric},
                        {"ts", std::to_string(ns)},
                        {"time", FormatNanos(ns)},
                        {"value", Text(point[1])}});
  };
  const std::string type = data.value("resultType", "");
  const Json& result = data.value("result", Json::array());
  if (type == "scalar") {
    add("scalar", result);
    return rows;
  }
  for (const auto& s : result) {
    const std::string metric = LabelText(s.value("metric", Json::object()));
    if (s.contains("value")) add(metric, s["value"]);
    for (const auto& p : s.value("values", Json::array())) add(metric, p);
  }
  return rows;
}

struct QueryOptions {
  std::string query;
  std::string since = "1h";
  std::string from, to, step;
  int64_t limit = 100;
  bool forward = false;
  bool follow = false;
};

// The start of the range: --from as given (Unix seconds/nanoseconds or RFC 3339, read by the
// server), else now - --since in nanoseconds.
Result<std::string> RangeStart(const QueryOptions& o) {
  if (!o.from.empty()) return o.from;
  auto since = ParseDuration(o.since);
  if (!since) return std::unexpected(Wrap(since.error(), "--since"));
  return std::to_string(NowNanos() - since->count() * kNanosPerMs);
}

std::string Param(std::string_view name, std::string_view value) {
  return fmt::format("&{}={}", name, http::PercentEncode(value));
}

// `-n NS` given on the command line narrows every answer to that namespace (the server's
// `namespace` parameter); without it the token's readable namespaces all count.
std::string NamespaceParam(const Context& ctx) {
  const std::string ns = ctx.ExplicitNamespace();
  return ns.empty() || ctx.all_namespaces ? "" : Param("namespace", ns);
}

// `-f` and `berth logs tail`: the newest --limit lines since --since, then every new one.
int Follow(Context& ctx, const QueryOptions& o) {
  auto start = RangeStart(o);
  if (!start) return PrintError(start.error());
  std::string path = "/loki/api/v1/tail?query=" + http::PercentEncode(o.query) +
                     Param("start", *start) + Param("limit", std::to_string(o.limit)) +
                     NamespaceParam(ctx);
  const bool wide = ctx.format() == Format::kWide;
  auto r = ctx.Stream(path, [&](const Json& msg) {
    if (msg.contains("error")) {  // a stream that failed after it started
      std::cerr << "error: " << msg["error"].value("message", msg.dump()) << "\n";
      return false;
    }
    if (ctx.format() == Format::kJson) {
      std::cout << msg.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
      return true;
    }
    if (ctx.format() == Format::kYaml) {
      std::cout << "---\n" << ToYaml(msg) << std::endl;
      return true;
    }
    if (auto dropped = msg.value("dropped_entries", Json()); dropped.is_number()) {
      std::cerr << fmt::format("({} entries dropped: this tail fell behind)\n",
                               dropped.get<int64_t>());
    }
    for (const auto& row : EntryRows(msg.value("streams", Json::array()), true)) {
      if (ctx.format() == Format::kName) {
        std::cout << "entry/" << row["ts"].get<std::string>() << "\n";
      } else if (wide) {
        std::cout << row["time"].get<std::string>() << "   " << row["stream"].get<std::string>()
                  << "   " << row["line"].get<std::string>() << "\n";
      } else {
        std::cout << row["time"].get<std::string>() << "   " << row["line"].get<std::string>()
                  << "\n";
      }
    }
    std::cout.flush();
    return true;
  });
  if (!r) return PrintError(r.error());
  return 0;
}

int RunQuery(Context& ctx, const QueryOptions& o) {
  if (o.follow) return Follow(ctx, o);
  auto start = RangeStart(o);
  if (!start) return PrintError(start.error());
  std::string path = "/loki/api/v1/query_range?query=" + http::PercentEncode(o.query) +
                     Param("start", *start) + Param("limit", std::to_string(o.limit)) +
                     Param("direction", o.forward ? "forward" : "backward") + NamespaceParam(ctx);
  if (!o.to.empty()) path += Param("end", o.to);
  if (!o.step.empty()) path += Param("step", o.step);
  auto r = ctx.Call("GET", path);
  if (!r) return PrintError(r.error());
  const Json& data = r->value("data", Json::object());
  if (data.value("resultType", "") == "streams") {
    PrintList(ctx, EntryView(), *r, EntryRows(data.value("result", Json::array()), o.forward));
  } else {
    PrintList(ctx, SampleView(), *r, SampleRows(data));
  }
  return 0;
}

void AddQueryOptions(CLI::App* cmd, QueryOptions& o) {
  cmd->add_option("query", o.query, "LogQL: {app=\"web\"} |= \"error\", or a metric query")
      ->required();
  cmd->add_option("--since", o.since, "How far back from now (default 1h)")->type_name("DURATION");
  cmd->add_option("--limit", o.limit, "The most lines to print (default 100)");
}

// ---- analyses (GET /v1/logs/patterns|exceptions|slow-routes) ----

std::string Ms(const Json& j, const char* key) {
  return fmt::format("{:.1f}ms", j.value(key, 0.0));
}

// "3 5 0 12": a pattern's counts per slice of the range, oldest first.
std::string Trend(const Json& p) {
  std::string out;
  for (const auto& n : p.value("trend", Json::array())) {
    if (!out.empty()) out += ' ';
    out += n.dump();
  }
  return out;
}

View PatternView() {
  return View{
      .kind = "pattern",
      .name = [](const Json& p) { return p.value("id", Json()).dump(); },
      .columns = {
          Field("COUNT", "count"),
          {"NEW", [](const Json& p) { return p.value("new", false) ? "new" : ""; }},
          {"TREND", Trend, true},
          {"LAST SEEN",
           [](const Json& p) { return FormatTime(p.value("last_seen_ms", int64_t{0})); }, true},
          Field("TEMPLATE", "template")}};
}

View ExceptionView() {
  return View{
      .kind = "exception",
      .name = [](const Json& e) { return e.value("fingerprint", ""); },
      .columns = {
          Field("COUNT", "count"),
          Field("TYPE", "type"),
          {"LAST SEEN",
           [](const Json& e) { return FormatTime(e.value("last_seen_ms", int64_t{0})); }},
          {"FIRST SEEN",
           [](const Json& e) { return FormatTime(e.value("first_seen_ms", int64_t{0})); }, true},
          {"INSTANCES", [](const Json& e) { return JoinList(e["instances"]); }},
          {"TOP FRAME",
           [](const Json& e) {
             const Json& f = e.value("frames", Json::array());
             return f.empty() ? std::string() : Text(f[0]);
           },
           true},
          Field("FINGERPRINT", "fingerprint", true),
          Field("MESSAGE", "message")}};
}

View RouteView() {
  return View{.kind = "route",
              .name = [](const Json& r) { return r.value("route", ""); },
              .columns = {Field("ROUTE", "route"),
                          Field("COUNT", "count"),
                          Field("5XX", "errors"),
                          {"P50", [](const Json& r) { return Ms(r, "p50_ms"); }},
                          {"P95", [](const Json& r) { return Ms(r, "p95_ms"); }},
                          {"P99", [](const Json& r) { return Ms(r, "p99_ms"); }},
                          {"MAX", [](const Json& r) { return Ms(r, "max_ms"); }},
                          {"SLOWEST UPSTREAM",
                           [](const Json& r) {
                             const Json& u = r.value("upstreams", Json::array());
                             if (u.empty()) return std::string();
                             return fmt::format("{} (p99 {})", Text(u[0]["upstream"]),
                                                Ms(u[0], "p99_ms"));
                           },
                           true}}};
}

std::string Percent(double rate) { return fmt::format("{:.1f}%", rate * 100); }

View ErrorView() {
  return View{
      .kind = "service",
      .name = [](const Json& s) { return s.value("namespace", "") + "/" + s.value("service", ""); },
      .columns = {Field("NAMESPACE", "namespace"),
                  Field("SERVICE", "service"),
                  Field("LINES", "lines"),
                  Field("ERRORS", "errors"),
                  {"RATE", [](const Json& s) { return Percent(s.value("rate", 0.0)); }},
                  {"SPIKE",
                   [](const Json& s) {
                     const Json& sp = s.value("spike", Json());
                     if (!sp.is_object()) return std::string();
                     return fmt::format("{} at {} (baseline {})", Percent(sp.value("rate", 0.0)),
                                        FormatTime(sp.value("start_ms", int64_t{0})),
                                        Percent(sp.value("baseline_rate", 0.0)));
                   }},
                  {"ERRORS PER SLICE",
                   [](const Json& s) {
                     std::string out;
                     for (const auto& n : s.value("errors_per_slice", Json::array())) {
                       out += (out.empty() ? "" : " ") + n.dump();
                     }
                     return out;
                   },
                   true}}};
}

struct AnalysisOptions {
  std::string query, since = "1h";
  int64_t limit = 0;
  std::string file;  // patterns --file
};

int RunAnalysis(Context& ctx, const std::string& what, const AnalysisOptions& o, const View& view,
                const char* list) {
  std::string path =
      "/v1/logs/" + what + "?since=" + http::PercentEncode(o.since) + NamespaceParam(ctx);
  if (!o.query.empty()) path += Param("query", o.query);
  if (o.limit > 0) path += Param("limit", std::to_string(o.limit));
  auto r = ctx.Call("GET", path);
  if (!r) return PrintError(r.error());
  PrintList(ctx, view, *r, r->value(list, Json::array()));
  if (r->value("truncated", false) && !ctx.structured()) {
    std::cerr << fmt::format("(stopped after {} lines: narrow the query or --since)\n",
                             r->value("lines_scanned", int64_t{0}));
  }
  return 0;
}

// `patterns --file F`: Loghub's CSV (LineId, ClusterId, EventTemplate) with -o csv; else the
// templates as a table.
int MineFile(Context& ctx, const std::string& file) {
  std::ifstream in(file);
  if (!in) return PrintError(Error(ErrorCode::kNotFound, "--file " + file + ": cannot read it"));
  if (ctx.output == "csv") {
    logs::patterns::MineToCsv(in, std::cout);
    return 0;
  }
  logs::patterns::TemplateMiner miner;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) miner.Add(line, n++);
  Json list = Json::array();
  for (const auto& p : miner.Patterns()) {
    list.push_back(Json{{"id", p.id}, {"template", p.tmpl}, {"count", p.count}});
  }
  Json doc{{"file", file}, {"lines", n}, {"patterns", list}};
  PrintList(ctx,
            View{.kind = "pattern",
                 .name = [](const Json& p) { return p.value("id", Json()).dump(); },
                 .columns = {Field("COUNT", "count"), Field("TEMPLATE", "template")}},
            doc, list);
  return 0;
}

void AddAnalysisCommand(CLI::App& logs, Context& ctx, const std::string& name,
                        const std::string& help, View view, const char* list) {
  auto o = std::make_shared<AnalysisOptions>();
  auto* cmd = logs.add_subcommand(name, help);
  cmd->add_option("query", o->query,
                  name == "slow-routes"
                      ? "LogQL log query of access records (default {app=\"gateway\"})"
                      : "LogQL log query (default: every stream)");
  cmd->add_option("--since", o->since, "How far back from now (default 1h)")->type_name("DURATION");
  cmd->add_option("--limit", o->limit, "The most rows to print");
  if (name == "patterns") {
    cmd->add_option("--file", o->file,
                    "Mine this file offline instead (with -o csv: Loghub's "
                    "LineId,ClusterId,EventTemplate)")
        ->type_name("FILE");
    ExtraFormats(cmd, ctx, {"csv"});
  }
  cmd->callback([&ctx, o, name, view, list] {
    ctx.run = [&ctx, o, name, view, list] {
      if (!o->file.empty()) return MineFile(ctx, o->file);
      return RunAnalysis(ctx, name, *o, view, list);
    };
  });
}

}  // namespace

void AddLogQueryCommands(CLI::App& logs, Context& ctx) {
  {
    auto o = std::make_shared<QueryOptions>();
    auto* cmd = logs.add_subcommand("query", "Run a LogQL query over the log center");
    AddQueryOptions(cmd, *o);
    cmd->add_option("--from", o->from, "Start instead of --since: RFC 3339 or Unix time")
        ->type_name("TIME");
    cmd->add_option("--to", o->to, "End (default now): RFC 3339 or Unix time")->type_name("TIME");
    cmd->add_option("--step", o->step, "Metric queries: seconds between samples (15s, 1m)")
        ->type_name("DURATION");
    cmd->add_flag("--forward", o->forward, "Oldest lines first");
    cmd->add_flag("-f,--follow", o->follow, "Then keep printing new lines (log queries)");
    cmd->callback([&ctx, o] { ctx.run = [&ctx, o] { return RunQuery(ctx, *o); }; });
  }
  {
    auto o = std::make_shared<QueryOptions>();
    auto* cmd = logs.add_subcommand("tail",
                                    "Print the newest lines of a LogQL log query, then "
                                    "every new one as it arrives");
    AddQueryOptions(cmd, *o);
    cmd->callback([&ctx, o] { ctx.run = [&ctx, o] { return Follow(ctx, *o); }; });
  }
  AddAnalysisCommand(logs, ctx, "patterns",
                     "Log templates with their counts and trend (a new one is marked)",
                     PatternView(), "patterns");
  AddAnalysisCommand(logs, ctx, "exceptions",
                     "Stack traces grouped by type and top frames, with counts and instances",
                     ExceptionView(), "exceptions");
  AddAnalysisCommand(logs, ctx, "errors",
                     "Error rate per service and spikes against the service's own baseline",
                     ErrorView(), "services");
  AddAnalysisCommand(logs, ctx, "slow-routes",
                     "Latency percentiles per route (and upstream) from the gateway's access log",
                     RouteView(), "routes");
}

}  // namespace berth::cli
