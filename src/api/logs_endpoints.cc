#include "api/logs_endpoints.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/json.h"
#include "logs/log_store.h"
#include "logs/logql/engine.h"
#include "logs/logql/parser.h"
#include "logs/logql/pipeline.h"
#include "logs/push.h"

namespace berth::api {
namespace {

using logs::logql::QueryParams;
using logs::logql::QueryResult;
using security::Role;

constexpr int64_t kSecond = 1'000'000'000;

}  // namespace

// Access::kList endpoints: the namespaces the caller may read (null: every one), narrowed to
// one by the `namespace` query parameter (Berth's, for `berth logs -n`) when given.
std::function<bool(std::string_view)> ReadableNamespaces(Call& call) {
  call.FilterByNamespace();
  const security::Principal& who = call.principal();
  if (auto only = call.Query("namespace"); only && !only->empty()) {
    return [who, ns = *only](std::string_view n) { return n == ns && who.MayRead(n); };
  }
  if (who.SeesAllNamespaces()) return nullptr;
  return [who](std::string_view ns) { return who.MayRead(ns); };
}

namespace {

// Loki answers errors as plain text; Grafana shows the text as it is.
void ReplyText(Call& call, const Error& e) {
  auto resp = http::Response::Text(HttpStatusFor(e.code), e.message + "\n");
  call.writer()->Send(std::move(resp));
}

Json LabelsJson(const std::vector<logs::Label>& labels) {
  Json j = Json::object();
  for (const auto& l : labels) j[l.name] = l.value;
  return j;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

Json TimeJson(int64_t ns) {
  if (ns % kSecond == 0) return ns / kSecond;
  return static_cast<double>(ns) / 1e9;
}

Json ResultJson(const QueryResult& r, double exec_seconds) {
  Json data = Json::object();
  Json result = Json::array();
  switch (r.kind) {
    case QueryResult::Kind::kStreams:
      data["resultType"] = "streams";
      for (const auto& s : r.streams) {
        Json values = Json::array();
        for (const auto& [ts, line] : s.entries)
          values.push_back(Json::array({std::to_string(ts), line}));
        result.push_back(Json{{"stream", LabelsJson(s.labels)}, {"values", std::move(values)}});
      }
      break;
    case QueryResult::Kind::kMatrix:
      data["resultType"] = "matrix";
      for (const auto& s : r.series) {
        Json values = Json::array();
        for (const auto& [t, v] : s.points)
          values.push_back(Json::array({TimeJson(t), FormatValue(v)}));
        result.push_back(Json{{"metric", LabelsJson(s.metric)}, {"values", std::move(values)}});
      }
      break;
    case QueryResult::Kind::kVector:
      data["resultType"] = "vector";
      for (const auto& s : r.series) {
        const auto& [t, v] = s.points.front();
        result.push_back(Json{{"metric", LabelsJson(s.metric)},
                              {"value", Json::array({TimeJson(t), FormatValue(v)})}});
      }
      break;
    case QueryResult::Kind::kScalar: {
      data["resultType"] = "scalar";
      const auto& [t, v] = r.series.front().points.front();
      result = Json::array({TimeJson(t), FormatValue(v)});
      break;
    }
  }
  data["result"] = std::move(result);
  double secs = exec_seconds > 0 ? exec_seconds : 1e-9;
  data["stats"] = Json{{"summary",
                        {{"bytesProcessedPerSecond",
                          static_cast<int64_t>(static_cast<double>(r.stats.bytes) / secs)},
                         {"linesProcessedPerSecond",
                          static_cast<int64_t>(static_cast<double>(r.stats.lines) / secs)},
                         {"totalBytesProcessed", r.stats.bytes},
                         {"totalLinesProcessed", r.stats.lines},
                         {"totalChunksRead", r.stats.chunks},
                         {"execTime", exec_seconds}}}};
  return Json{{"status", "success"}, {"data", std::move(data)}};
}

// A step is float seconds ("15", "0.5") or a duration as Go prints it ("15s", "1m0s",
// "1.5s"), which is what Grafana sends.
Result<int64_t> ParseStep(std::string_view text) {
  auto secs = logs::logql::ParseSampleValue(text, logs::logql::LabelFilter::Unit::kDuration);
  if (secs && *secs > 0) return static_cast<int64_t>(std::llround(*secs * 1e9));
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format(
          "invalid parameter step: \"{}\" is neither a duration (15s) nor a number of seconds",
          text));
}

// Reads the parameters both query endpoints share; `instant` uses `time` instead of a range.
Result<QueryParams> ReadParams(const Call& call, Clock& clock, bool instant) {
  QueryParams p;
  const int64_t now = clock.WallMillis() * 1'000'000;
  auto param = [&](std::string_view name) { return call.Query(name).value_or(""); };
  if (instant) {
    auto t = ParseLokiTime(param("time"), "time");
    if (!t) return std::unexpected(t.error());
    p.end_ns = param("time").empty() ? now : *t;
    p.start_ns = p.end_ns - 3600 * kSecond;  // log queries look back an hour from `time`
  } else {
    auto end = ParseLokiTime(param("end"), "end");
    if (!end) return std::unexpected(end.error());
    p.end_ns = param("end").empty() ? now : *end;
    auto start = ParseLokiTime(param("start"), "start");
    if (!start) return std::unexpected(start.error());
    p.start_ns = param("start").empty() ? p.end_ns - 3600 * kSecond : *start;
    if (p.end_ns < p.start_ns) {
      return Fail(ErrorCode::kInvalidArgument, "end timestamp must not be before start time");
    }
    std::string step = param("step");
    if (!step.empty()) {
      auto s = ParseStep(step);
      if (!s) return std::unexpected(s.error());
      p.step_ns = *s;
    } else {
      // Loki's default: about 250 points, at least a second apart.
      p.step_ns = std::max<int64_t>(kSecond, (p.end_ns - p.start_ns) / 250 / kSecond * kSecond);
    }
  }
  auto limit = call.QueryInt("limit", 100);
  if (!limit) return std::unexpected(limit.error());
  if (*limit < 0 || *limit > 50'000) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("invalid parameter limit: {} is not between 0 and 50000", *limit));
  }
  p.limit = static_cast<size_t>(*limit);
  std::string direction = param("direction");
  if (direction == "forward" || direction == "FORWARD") {
    p.forward = true;
  } else if (!direction.empty() && direction != "backward" && direction != "BACKWARD") {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid parameter direction: \"" + direction + "\" is not forward or backward");
  }
  return p;
}

void HandleQuery(const std::shared_ptr<Call>& call, const logs::logql::Engine& engine, Clock& clock,
                 bool instant) {
  auto query = call->Query("query");
  if (!query || query->empty()) {
    ReplyText(*call,
              Error(ErrorCode::kInvalidArgument, "query parameter is missing (query=<LogQL>)"));
    return;
  }
  auto params = ReadParams(*call, clock, instant);
  if (!params) return ReplyText(*call, params.error());
  if (instant) params->step_ns = 0;
  params->ns_allowed = ReadableNamespaces(*call);
  auto expr = logs::logql::Parse(*query);
  if (!expr) return ReplyText(*call, expr.error());
  auto started = std::chrono::steady_clock::now();
  auto result = engine.Run(*expr, *params);
  if (!result) return ReplyText(*call, result.error());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  call->ReplyJsonText(200, DumpJson(ResultJson(*result, secs)));
}

void HandlePush(const std::shared_ptr<Call>& call, logs::LogStore& store) {
  const auto& req = call->request();
  auto type = req.headers.Get("Content-Type").value_or("application/json");
  if (auto enc = req.headers.Get("Content-Encoding"); enc && *enc != "identity" && !enc->empty()) {
    return ReplyText(
        *call, Error(ErrorCode::kInvalidArgument, "Content-Encoding " + std::string(*enc) +
                                                      " is not supported: send JSON as it is or "
                                                      "snappy protobuf (application/x-protobuf)"));
  }
  Result<logs::PushRequest> decoded =
      type.starts_with("application/x-protobuf") ? logs::DecodePushProtobuf(req.body)
      : type.starts_with("application/json") || type.empty()
          ? logs::DecodePushJson(req.body)
          : Result<logs::PushRequest>(std::unexpected(
                Error(ErrorCode::kInvalidArgument,
                      "Content-Type " + std::string(type) +
                          " is not supported: application/json or application/x-protobuf")));
  if (!decoded) return ReplyText(*call, decoded.error());
  // Every stream's namespace is checked before anything is stored: a push is refused whole.
  std::set<std::string> namespaces;
  for (const auto& s : decoded->streams) namespaces.insert(store.NamespaceOf(s.labels));
  for (const auto& ns : namespaces) {
    if (!call->Authorize(ns, Role::kOperator)) return;  // answered 403, naming ns
  }
  if (namespaces.empty()) call->FilterByNamespace();  // nothing to store in any namespace
  // A shipper that retries may name itself and number its batches: a batch already stored
  // is acknowledged again, not stored twice.
  if (auto source = req.headers.Get("X-Berth-Source")) {
    auto seq = req.headers.Get("X-Berth-Batch").value_or("");
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), n);
    if (ec != std::errc() || p != seq.data() + seq.size() || seq.empty()) {
      return ReplyText(*call, Error(ErrorCode::kInvalidArgument,
                                    "X-Berth-Source needs X-Berth-Batch: a batch number"));
    }
    decoded->source = std::string(*source);
    decoded->seq = n;
  }
  auto result = store.Push(std::move(*decoded));
  if (!result) return ReplyText(*call, result.error());
  if (result->errors.empty()) {
    http::Response resp;
    resp.status = 204;
    call->writer()->Send(std::move(resp));
    return;
  }
  ErrorCode code = ErrorCode::kInvalidArgument;
  std::string msg =
      fmt::format("{} entries stored, {} refused:", result->accepted, result->rejected);
  for (const auto& e : result->errors) {
    if (e.code == ErrorCode::kResourceExhausted) code = e.code;
    msg += "\n" + e.message;
  }
  ReplyText(*call, Error(code, msg));
}

// One live tail: entries the store accepts that match, queued by the store's callback and
// written by the session's own thread (the store's lock is never held across a write).
class TailSession : public std::enable_shared_from_this<TailSession> {
 public:
  TailSession(std::shared_ptr<Call> call, logs::logql::Expr expr,
              std::function<bool(std::string_view)> allowed)
      : call_(std::move(call)), expr_(std::move(expr)), allowed_(std::move(allowed)) {}

  void Start(logs::LogStore& store, const logs::logql::Engine& engine, int64_t start_ns,
             int64_t now_ns, size_t limit) {
    const auto& q = std::get<logs::logql::LogQuery>(expr_.node);
    call_->writer()->StartStream(200, [] {
      http::Headers h;
      h.Set("Content-Type", "application/x-ndjson");
      return h;
    }());
    // The live hook first, holding what arrives until the backlog is out, so that nothing
    // pushed meanwhile is missed and nothing the backlog holds is sent twice.
    auto self = shared_from_this();
    tail_id_ = store.AddTail(
        [self, &q](const logs::StreamRef& ref, const std::vector<logs::Entry>& entries) {
          if (self->allowed_ && !self->allowed_(ref.ns)) return;
          for (const auto& m : q.matchers) {
            if (!m.Matches(ref.labels.Get(m.name()))) return;
          }
          logs::logql::Pipeline pipeline(&q.pipeline);
          logs::logql::EntryState st;
          std::vector<std::pair<int64_t, std::string>> kept;
          std::vector<logs::Label> labels;
          for (const auto& e : entries) {
            st.Reset(&ref.labels, e.line);
            if (!pipeline.Process(st)) continue;
            labels = st.Final();
            kept.emplace_back(e.ts, std::string(st.line));
          }
          if (!kept.empty()) self->Deliver({std::move(labels), std::move(kept)});
        });
    // The newest `limit` entries stored already (as one message, each stream's oldest
    // first, as `tail -f` shows the last lines), then what arrived meanwhile.
    QueryParams p;
    p.start_ns = start_ns;
    p.end_ns = now_ns + 1;
    p.limit = limit;
    p.forward = false;
    p.ns_allowed = allowed_;
    std::vector<logs::logql::StreamEntries> backlog;
    if (auto r = engine.Run(expr_, p)) backlog = std::move(r->streams);
    for (auto& s : backlog) std::reverse(s.entries.begin(), s.entries.end());
    Release(std::move(backlog));
    call_->writer()->OnClose([self, &store] {
      store.RemoveTail(self->tail_id_);
      self->Stop();
    });
    thread_ = std::thread([self] { self->Run(); });
    thread_.detach();
  }

 private:
  // One Loki tail message of `streams`, as a line.
  static std::string Message(const std::vector<logs::logql::StreamEntries>& streams) {
    Json list = Json::array();
    for (const auto& s : streams) {
      Json values = Json::array();
      for (const auto& [ts, line] : s.entries)
        values.push_back(Json::array({std::to_string(ts), line}));
      list.push_back(Json{{"stream", LabelsJson(s.labels)}, {"values", std::move(values)}});
    }
    return DumpJson(Json{{"streams", std::move(list)}, {"dropped_entries", nullptr}}) + "\n";
  }
  void PushLocked(std::string line) {
    if (queue_.size() >= kMaxQueued) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(line));
    cv_.notify_one();
  }
  // A live batch: held while the backlog is not out yet, else queued.
  void Deliver(logs::logql::StreamEntries&& stream) {
    std::lock_guard lock(mu_);
    if (holding_) {
      held_.push_back(std::move(stream));
      return;
    }
    PushLocked(Message({stream}));
  }
  // Queues the backlog, then what was held without the entries the backlog has, and lets
  // live batches through from then on.
  void Release(std::vector<logs::logql::StreamEntries> backlog) {
    std::set<std::pair<int64_t, std::string>> sent;
    for (const auto& s : backlog) sent.insert(s.entries.begin(), s.entries.end());
    std::lock_guard lock(mu_);
    if (!backlog.empty()) PushLocked(Message(backlog));
    for (auto& s : held_) {
      std::erase_if(s.entries, [&](const auto& e) { return sent.contains(e); });
      if (!s.entries.empty()) PushLocked(Message({s}));
    }
    held_.clear();
    holding_ = false;
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_one();
  }
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait_for(lock, std::chrono::seconds(10), [&] { return stopped_ || !queue_.empty(); });
      if (stopped_) break;
      std::deque<std::string> out;
      out.swap(queue_);
      uint64_t dropped = std::exchange(dropped_, 0);
      lock.unlock();
      bool alive = true;
      if (dropped > 0) {
        alive = call_->writer()->Write(
            DumpJson(Json{{"streams", Json::array()}, {"dropped_entries", dropped}}) + "\n");
      }
      for (auto& chunk : out) alive = alive && call_->writer()->Write(std::move(chunk));
      if (out.empty()) alive = !call_->writer()->Closed();  // a keep-alive pass
      lock.lock();
      if (!alive) break;
    }
  }

  static constexpr size_t kMaxQueued = 10'000;
  std::shared_ptr<Call> call_;
  logs::logql::Expr expr_;
  std::function<bool(std::string_view)> allowed_;
  uint64_t tail_id_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;                 // guarded by mu_
  uint64_t dropped_ = 0;                          // guarded by mu_
  bool stopped_ = false;                          // guarded by mu_
  bool holding_ = true;                           // guarded by mu_: until the backlog is queued
  std::vector<logs::logql::StreamEntries> held_;  // guarded by mu_
};

void HandleTail(const std::shared_ptr<Call>& call, logs::LogStore& store,
                const logs::logql::Engine& engine, Clock& clock) {
  auto query = call->Query("query");
  if (!query || query->empty()) {
    return ReplyText(*call, Error(ErrorCode::kInvalidArgument,
                                  "query parameter is missing (query=<LogQL log query>)"));
  }
  auto expr = logs::logql::Parse(*query);
  if (!expr) return ReplyText(*call, expr.error());
  if (!expr->is_log()) {
    return ReplyText(
        *call, Error(ErrorCode::kInvalidArgument,
                     "tail takes a log query ({selector} and a pipeline), not a metric query"));
  }
  const int64_t now = clock.WallMillis() * 1'000'000;
  auto start = ParseLokiTime(call->Query("start").value_or(""), "start");
  if (!start) return ReplyText(*call, start.error());
  auto limit = call->QueryInt("limit", 100);
  if (!limit) return ReplyText(*call, limit.error());
  int64_t from = call->Query("start") ? *start : now - 3600 * kSecond;
  auto session = std::make_shared<TailSession>(call, std::move(*expr), ReadableNamespaces(*call));
  session->Start(store, engine, from, now,
                 static_cast<size_t>(std::clamp<int64_t>(*limit, 0, 5000)));
}

}  // namespace

Result<int64_t> ParseLokiTime(std::string_view v, std::string_view param) {
  if (v.empty()) return 0;
  auto bad = [&] {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format(
            "invalid parameter {}: \"{}\" is not a Unix time (seconds or nanoseconds) or RFC 3339",
            param, v.substr(0, 64)));
  };
  if (v.find('.') != std::string_view::npos && v.find('T') == std::string_view::npos) {
    double secs = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
    if (ec != std::errc() || p != v.data() + v.size()) return bad();
    return static_cast<int64_t>(std::llround(secs * 1e9));
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc() && p == v.data() + v.size()) return v.size() <= 10 ? n * kSecond : n;
  // RFC 3339: 2024-01-02T03:04:05[.frac](Z|+hh:mm)
  struct tm tm {};
  const char* rest = strptime(std::string(v).c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return bad();
  std::string tail(rest);
  int64_t frac = 0;
  size_t i = 0;
  if (i < tail.size() && tail[i] == '.') {
    int64_t scale = 100'000'000;
    for (++i; i < tail.size() && std::isdigit(static_cast<unsigned char>(tail[i])); ++i) {
      frac += (tail[i] - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset = 0;
  if (i < tail.size() && tail[i] == 'Z') {
    ++i;
  } else if (i + 6 == tail.size() && (tail[i] == '+' || tail[i] == '-') && tail[i + 3] == ':') {
    int hh = std::atoi(tail.substr(i + 1, 2).c_str()),
        mm = std::atoi(tail.substr(i + 4, 2).c_str());
    offset = (tail[i] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    i += 6;
  } else {
    return bad();
  }
  if (i != tail.size()) return bad();
  return (static_cast<int64_t>(timegm(&tm)) - offset) * kSecond + frac;
}

void RegisterLogsEndpoints(Router& router, logs::LogStore& store, const logs::logql::Engine& engine,
                           Clock& clock) {
  // Not `mutating`: shippers push many times a second and an audit record each would crowd
  // out every other; what was pushed is in the streams themselves.
  router.Add({.method = "POST",
              .pattern = "/loki/api/v1/push",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .for_nodes = true,
              .handler = [&store](std::shared_ptr<Call> call) { HandlePush(call, store); }});
  for (bool instant : {true, false}) {
    router.Add({.method = "GET",
                .pattern = instant ? "/loki/api/v1/query" : "/loki/api/v1/query_range",
                .access = Access::kList,
                .handler = [&engine, &clock, instant](std::shared_ptr<Call> call) {
                  HandleQuery(call, engine, clock, instant);
                }});
  }
  router.Add({.method = "GET",
              .pattern = "/loki/api/v1/labels",
              .access = Access::kList,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto names = store.LabelNames(ReadableNamespaces(*call));
                call->ReplyJsonText(200, DumpJson(Json{{"status", "success"}, {"data", names}}));
              }});
  router.Add({.method = "GET",
              .pattern = "/loki/api/v1/label/{name}/values",
              .access = Access::kList,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto values = store.LabelValues(call->Param("name"), ReadableNamespaces(*call));
                call->ReplyJsonText(200, DumpJson(Json{{"status", "success"}, {"data", values}}));
              }});
  router.Add(
      {.method = "GET",
       .pattern = "/loki/api/v1/series",
       .access = Access::kList,
       .handler = [&store](std::shared_ptr<Call> call) {
         auto match = call->Query("match[]");
         if (!match) match = call->Query("match");
         if (!match)
           return ReplyText(*call,
                            Error(ErrorCode::kInvalidArgument, "match[] parameter is missing"));
         auto matchers = logs::logql::ParseSelector(*match);
         if (!matchers) return ReplyText(*call, matchers.error());
         Json data = Json::array();
         for (const auto& ref : store.Select(*matchers, ReadableNamespaces(*call))) {
           data.push_back(LabelsJson(ref.labels.labels()));
         }
         call->ReplyJsonText(200, DumpJson(Json{{"status", "success"}, {"data", std::move(data)}}));
       }});
  router.Add({.method = "GET",
              .pattern = "/loki/api/v1/tail",
              .access = Access::kList,
              .handler = [&store, &engine, &clock](std::shared_ptr<Call> call) {
                HandleTail(call, store, engine, clock);
              }});
  // Neither reads a stream: any role anywhere may call them (Grafana's data source checks).
  router.Add(
      {.method = "GET",
       .pattern = "/loki/api/v1/status/buildinfo",
       .access = Access::kList,
       .handler = [](std::shared_ptr<Call> call) {
         call->FilterByNamespace();
         call->Reply(200, Json{{"version", "2.9.0"}, {"revision", "berth"}, {"branch", "berth"}});
       }});
  router.Add({.method = "GET",
              .pattern = "/loki/api/v1/format_query",
              .access = Access::kList,
              .handler = [](std::shared_ptr<Call> call) {
                call->FilterByNamespace();
                auto q = call->Query("query").value_or("");
                auto e = logs::logql::Parse(q);
                if (!e) return ReplyText(*call, e.error());
                call->Reply(200, Json{{"status", "success"}, {"data", q}});
              }});
}

}  // namespace berth::api
