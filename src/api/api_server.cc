#include "api/api_server.h"

#include <fmt/core.h>
#include <asio/post.hpp>
#include <optional>

#include "core/log.h"

namespace berth::api {

Result<std::unique_ptr<ApiServer>> ApiServer::Start(ApiOptions options, ApiDeps deps,
                                                    Router router) {
  std::unique_ptr<ApiServer> api(new ApiServer(std::move(deps), std::move(router)));
  api->AddDiscovery();
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
  so.tls = options.tls;
  ApiServer* self = api.get();
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

void ApiServer::AddDiscovery() {
  router_.Add({.method = "GET",
               .pattern = "/v1/api/endpoints",
               .access = Access::kList,
               .runs_inline = true,
               .handler = [this](std::shared_ptr<Call> call) {
                 Json list = Json::array();
                 for (const Endpoint& e : router_.endpoints()) {
                   Json j{{"method", e.method},
                          {"pattern", e.pattern},
                          {"access", AccessName(e.access)},
                          {"mutating", e.mutating}};
                   if (e.access != Access::kPublic) j["role"] = security::RoleName(e.min_role);
                   if (e.for_nodes) j["for_nodes"] = true;
                   list.push_back(std::move(j));
                 }
                 call->Reply(200, Json{{"endpoints", std::move(list)}});
               }});
}

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

std::optional<Error> ApiServer::Admit(const Endpoint& ep, const security::Principal& principal,
                                      const http::Request& request,
                                      const std::map<std::string, std::string>& params) const {
  if (ep.access == Access::kPublic) return std::nullopt;
  auto refuse = [&](const Error& e) {
    return Error(e.code, fmt::format("{} {} {}", request.method, request.path, e.message));
  };
  switch (ep.access) {
    case Access::kCluster:
      if (auto ok = security::AuthorizeCluster(principal, ep.min_role); !ok)
        return refuse(ok.error());
      break;
    case Access::kNamespace:
      if (auto ns = params.find("ns"); ns != params.end()) {
        if (auto ok = security::Authorize(principal, ns->second, ep.min_role); !ok)
          return refuse(ok.error());
      }
      break;  // else namespace_of, on the pool
    case Access::kHandler:
    case Access::kList:
      // Refused early when the token holds the role nowhere; the handler checks the rest.
      if (principal.HighestRole() < ep.min_role) {
        return Error(ErrorCode::kPermissionDenied,
                     fmt::format("{} {} needs role {} (in some namespace at least); token \"{}\" "
                                 "has none that high",
                                 request.method, request.path, security::RoleName(ep.min_role),
                                 principal.name));
      }
      break;
    case Access::kPublic:
      break;
  }
  if (principal.node.empty()) return std::nullopt;
  // A node's token acts only as that node.
  auto node = params.find("node");
  if (!ep.for_nodes) {
    return Error(ErrorCode::kPermissionDenied,
                 fmt::format("token \"{}\" is bound to node {}: it may only make that node "
                             "agent's calls, not {} {}",
                             principal.name, principal.node, request.method, request.path));
  }
  if (node != params.end() && node->second != principal.node) {
    return Error(ErrorCode::kPermissionDenied,
                 fmt::format("token \"{}\" is bound to node {}: it cannot act for node {}",
                             principal.name, principal.node, node->second.substr(0, 63)));
  }
  return std::nullopt;
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
  bool needs_token = is_metrics || match.endpoint->access != Access::kPublic;
  if (needs_token) {
    auto auth = request.headers.Get("Authorization");
    if (!auth || !auth->starts_with("Bearer ")) {
      auto resp = ErrorResponse(Error(ErrorCode::kUnauthenticated,
                                      "missing bearer token (Authorization: Bearer <token>)"));
      resp.headers.Set("WWW-Authenticate", "Bearer realm=\"berth\"");
      answer(std::move(resp));
      return;
    }
    auto p = deps_.tokens->Authenticate(auth->substr(7));
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
    if (auto ok = security::AuthorizeCluster(principal, security::Role::kViewer); !ok) {
      answer(ErrorResponse(Error(ErrorCode::kPermissionDenied, "/metrics " + ok.error().message)));
      return;
    }
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
  if (auto denied = Admit(ep, principal, request, match.params); denied) {
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
  if (ep.access == Access::kHandler) call->RequireHandlerAuthorization();
  if (ep.runs_inline) {
    ep.handler(std::move(call));
    return;
  }
  asio::post(*handlers_, [&ep, call = std::move(call)]() mutable {
    // A namespace found by looking the object up (a container's): checked here, on the pool.
    if (ep.access == Access::kNamespace && ep.namespace_of) {
      auto ns = ep.namespace_of(*call);
      if (!ns) return call->ReplyError(ns.error());
      if (!call->Authorize(*ns, ep.min_role)) return;
    }
    ep.handler(std::move(call));
  });
}

}  // namespace berth::api
