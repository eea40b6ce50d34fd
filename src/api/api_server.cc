#include "api/api_server.h"

#include <fmt/core.h>
#include <asio/post.hpp>
#include <optional>

#include "core/log.h"

namespace berth::api {
namespace {

// The bearer token of a request: the Authorization header, or, for a WebSocket handshake
// (a browser cannot set headers on one), the "bearer.<token>" entry of
// Sec-WebSocket-Protocol (as Kubernetes does).
std::optional<std::string_view> BearerToken(const http::Request& request) {
  if (auto auth = request.headers.Get("Authorization")) {
    if (auth->starts_with("Bearer ")) return auth->substr(7);
    return std::nullopt;
  }
  auto protocols = request.headers.Get("Sec-WebSocket-Protocol");
  if (!protocols) return std::nullopt;
  for (std::string_view item : http::SplitHeaderList(*protocols)) {
    if (item.starts_with("bearer.")) return item.substr(7);
  }
  return std::nullopt;
}

constexpr size_t kMaxAccessChecks = 500;

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::Start(ApiOptions options, ApiDeps deps,
                                                    Router router) {
  std::unique_ptr<ApiServer> api(new ApiServer(std::move(deps), std::move(router)));
  api->handlers_ = std::make_unique<asio::thread_pool>(std::max(1, options.handler_threads));
  if (api->deps_.metrics) {
    api->requests_ = &api->deps_.metrics->AddCounterFamily(
        "berth_api_requests_total", "API requests by method and status code", {"method", "code"});
    api->latency_ = &api->deps_.metrics->AddHistogram("berth_api_request_duration_seconds",
                                                      "Time from request to response head",
                                                      metrics::DefaultLatencyBuckets());
  }
  http::ServerOptions so;
  so.address = options.address;
  so.threads = options.threads;
  so.max_body_bytes = options.max_body_bytes;
  ApiServer* self = api.get();
  api->AddAuthEndpoints();
  auto server = http::Server::Listen(
      so, [self](http::Request&& req, std::shared_ptr<http::ResponseWriter> w) {
        self->Handle(std::move(req), std::move(w));
      });
  if (!server) return std::unexpected(Wrap(server.error(), "api listen on " + options.address));
  api->server_ = std::move(*server);
  api->server_->Start();
  return api;
}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Stop() {
  if (server_) server_->Stop();
  if (handlers_) handlers_->join();
  // Inline calls are answered from store callbacks within a commit (or from the pool):
  // wait for them, boundedly, so that none runs on_done after this object is gone.
  std::unique_lock lock(in_flight_->mu);
  if (!in_flight_->cv.wait_for(lock, std::chrono::seconds(30),
                               [&] { return in_flight_->calls == 0; })) {
    log::Error("api", "stopping with {} calls still unanswered", in_flight_->calls);
  }
}

std::optional<Error> ApiServer::Authorize(const security::Principal& principal, const Endpoint& ep,
                                          const std::map<std::string, std::string>& params,
                                          std::string_view method, std::string_view path) {
  if (ep.public_) return std::nullopt;
  if (principal.role < ep.min_role) {
    return Error(ErrorCode::kPermissionDenied,
                 fmt::format("{} {} needs role {} (token \"{}\" has {})", method, path,
                             security::RoleName(ep.min_role), principal.name,
                             security::RoleName(principal.role)));
  }
  if (!principal.node.empty()) {
    // A node's token acts only as that node.
    auto node = params.find("node");
    if (!ep.for_nodes) {
      return Error(ErrorCode::kPermissionDenied,
                   fmt::format("token \"{}\" is bound to node {}: it may only make that node "
                               "agent's calls, not {} {}",
                               principal.name, principal.node, method, path));
    }
    if (node != params.end() && node->second != principal.node) {
      return Error(ErrorCode::kPermissionDenied,
                   fmt::format("token \"{}\" is bound to node {}: it cannot act for node {}",
                               principal.name, principal.node, node->second.substr(0, 63)));
    }
  }
  return std::nullopt;
}

void ApiServer::AddAuthEndpoints() {
  router_.Add(
      {.method = "GET",
       .pattern = "/v1/auth/whoami",
       .runs_inline = true,
       .handler = [](std::shared_ptr<Call> call) {
         const security::Principal& p = call->principal();
         Json out{{"name", p.name}, {"token_id", p.token_id}, {"role", security::RoleName(p.role)}};
         if (!p.node.empty()) out["node"] = p.node;
         call->Reply(200, out);
       }});
  // Like Kubernetes' SelfSubjectAccessReview: may the caller make these requests? The console
  // asks about the requests its buttons would make and shows only those allowed.
  router_.Add(
      {.method = "POST",
       .pattern = "/v1/auth/access",
       .runs_inline = true,
       .handler = [this](std::shared_ptr<Call> call) {
         auto body = call->JsonBody();
         if (!body) return call->ReplyError(body.error());
         if (auto u = RejectUnknownFields(*body, {"checks"}, "access request"); !u) {
           return call->ReplyError(u.error());
         }
         const Json* checks = body->contains("checks") ? &(*body)["checks"] : nullptr;
         if (!checks || !checks->is_array() || checks->size() > kMaxAccessChecks) {
           return call->ReplyError(Error(
               ErrorCode::kInvalidArgument,
               fmt::format("\"checks\" must be an array of at most {} {{\"method\",\"path\"}}",
                           kMaxAccessChecks)));
         }
         Json results = Json::array();
         for (size_t i = 0; i < checks->size(); ++i) {
           const Json& c = (*checks)[i];
           if (!c.is_object() || !c.contains("method") || !c["method"].is_string() ||
               !c.contains("path") || !c["path"].is_string() || c.size() != 2) {
             return call->ReplyError(
                 Error(ErrorCode::kInvalidArgument,
                       fmt::format("checks[{}] must be {{\"method\": \"POST\", \"path\": "
                                   "\"/v1/...\"}} and nothing else",
                                   i)));
           }
           std::string method = c["method"].get<std::string>();
           std::string path = c["path"].get<std::string>();
           if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
           auto decoded = http::PercentDecode(path);
           if (decoded) path = std::move(*decoded);
           auto match = router_.Find(method, path);
           if (!match.endpoint) {
             results.push_back(Json{{"allowed", false},
                                    {"reason", fmt::format("no endpoint {} {}", method, path)}});
             continue;
           }
           auto denied = Authorize(call->principal(), *match.endpoint, match.params, method, path);
           Json r{{"allowed", !denied.has_value()}};
           if (denied) r["reason"] = denied->message;
           results.push_back(std::move(r));
         }
         call->Reply(200, Json{{"results", std::move(results)}});
       }});
}

std::shared_ptr<void> ApiServer::TrackCall() {
  {
    std::lock_guard lock(in_flight_->mu);
    ++in_flight_->calls;
  }
  return std::shared_ptr<void>(nullptr, [state = in_flight_](void*) {
    std::lock_guard lock(state->mu);
    if (--state->calls == 0) state->cv.notify_all();
  });
}

void ApiServer::Count(std::string_view method, int status, Clock::TimePoint start) {
  if (!requests_) return;
  std::string m(method);
  if (m != "GET" && m != "PUT" && m != "POST" && m != "DELETE" && m != "HEAD") m = "other";
  requests_->WithLabels({m, std::to_string(status)}).Inc();
  latency_->Observe(std::chrono::duration<double>(deps_.clock->Now() - start).count());
}

void ApiServer::Handle(http::Request&& request, std::shared_ptr<http::ResponseWriter> writer) {
  const auto start = deps_.clock->Now();
  // Every early answer goes through here so that it is counted.
  auto answer = [&](http::Response&& response) {
    Count(request.method, response.status, start);
    writer->Send(std::move(response));
  };
  // /metrics is outside /v1 but still needs a token (only /v1/health is public).
  bool is_metrics = request.path == "/metrics";
  Router::Match match;
  if (!is_metrics) {
    match = router_.Find(request.method, request.path);
    if (!match.endpoint) {
      answer(ErrorResponse(
          match.path_matched
              ? Error(ErrorCode::kInvalidArgument,
                      fmt::format("method {} not allowed on {}", request.method, request.path))
              : Error(ErrorCode::kNotFound,
                      fmt::format("no endpoint {} {}", request.method, request.path))));
      return;
    }
  }
  security::Principal principal;
  bool needs_token = is_metrics || !match.endpoint->public_;
  if (needs_token) {
    auto bearer = BearerToken(request);
    if (!bearer) {
      auto resp = ErrorResponse(Error(ErrorCode::kUnauthenticated,
                                      "missing bearer token (Authorization: Bearer <token>)"));
      resp.headers.Set("WWW-Authenticate", "Bearer realm=\"berth\"");
      answer(std::move(resp));
      return;
    }
    auto p = deps_.tokens->Authenticate(*bearer);
    if (!p) {
      auto resp = ErrorResponse(p.error());
      if (p.error().code == ErrorCode::kUnauthenticated) {
        resp.headers.Set("WWW-Authenticate", "Bearer realm=\"berth\", error=\"invalid_token\"");
      }
      answer(std::move(resp));
      return;
    }
    principal = std::move(*p);
  }

  if (is_metrics) {
    http::Response r;
    r.status = 200;
    r.headers.Set("Content-Type", std::string(metrics::kContentType));
    Count(request.method, 200, start);  // counted before rendering so the scrape sees itself
    r.body = deps_.metrics ? deps_.metrics->Render() : std::string();
    if (deps_.extra_metrics) r.body += deps_.extra_metrics();
    writer->Send(std::move(r));
    return;
  }

  const Endpoint& ep = *match.endpoint;
  std::optional<Error> denied =
      Authorize(principal, ep, match.params, request.method, request.path);
  if (denied) {
    const Error& e = *denied;
    if (ep.mutating && deps_.audit) {
      deps_.audit->Record({.actor = principal.name,
                           .token_id = principal.token_id,
                           .action = request.method + " " + request.path,
                           .status = HttpStatusFor(e.code),
                           .result = e.message,
                           .remote = request.remote_address});
    }
    answer(ErrorResponse(e));
    return;
  }

  // Runs once when the handler answers (or starts a stream): count, and audit mutations.
  auto on_done = [this, start, mutating = ep.mutating, principal, method = request.method,
                  action = request.method + " " + request.path, remote = request.remote_address,
                  token = ep.runs_inline ? TrackCall() : nullptr](int status,
                                                                  std::string_view result) {
    Count(method, status, start);
    if (!mutating || !deps_.audit) return;
    auto r = deps_.audit->Record({.actor = principal.name,
                                  .token_id = principal.token_id,
                                  .action = action,
                                  .status = status,
                                  .result = std::string(result),
                                  .remote = remote});
    if (!r) log::Error("api", "audit record lost: {}", r.error().message);
  };
  auto call = std::make_shared<Call>(std::move(request), std::move(writer), std::move(principal),
                                     std::move(match.params), std::move(on_done));
  if (ep.runs_inline) {
    ep.handler(std::move(call));
    return;
  }
  asio::post(*handlers_, [&ep, call = std::move(call)]() mutable { ep.handler(std::move(call)); });
}

}  // namespace berth::api
