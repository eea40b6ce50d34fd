// The REST API's routing: each endpoint is declared once with its method, path pattern,
// the least role it needs and whether it mutates (mutating calls are audited). Endpoint
// groups live one per file (`kv_endpoints.cc`, `token_endpoints.cc`, ...) and register
// themselves into a Router; the ApiServer authenticates, authorizes, dispatches and audits.
//
// A handler gets a Call: the request, the path parameters, the principal, and ways to answer
// (once, or as a stream of JSON lines), from any thread. Handlers run on the API's handler
// pool (or, with `runs_inline`, on the HTTP worker); streams are fed later from other threads.
// Thread-safety: a Router is built before the server starts and read-only afterwards.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/http/server.h"
#include "core/input.h"
#include "core/json.h"
#include "security/tokens.h"

namespace berth::security {
class AuditLog;
}

namespace berth::api {

// One request being served.
class Call {
 public:
  Call(http::Request&& request, std::shared_ptr<http::ResponseWriter> writer,
       security::Principal principal, std::map<std::string, std::string> params,
       std::function<void(int status, std::string_view result)> on_done);

  const http::Request& request() const { return request_; }
  const security::Principal& principal() const { return principal_; }
  // The authorization call for handlers (Access::kHandler, and any handler that acts in a
  // namespace it learns from the body or a stored object): true when the caller holds `need`
  // in namespace `ns`; otherwise answers 403 naming both (audited like any answer) and
  // returns false.
  //   if (!call->Authorize(spec.ns, Role::kOperator)) return;
  bool Authorize(std::string_view ns, security::Role need);
  // The same for something cluster-wide found only in the body (a route to raw addresses):
  // the global role must be at least `need`.
  bool AuthorizeCluster(security::Role need);
  // The same checks without answering, for a check made inside another component's write
  // (a compare-and-swap guard): the 403 to answer, or OK (the call then counts as authorized).
  Result<void> Permit(std::string_view ns, security::Role need);
  Result<void> PermitCluster(security::Role need);
  // For a kHandler list or watch that keeps only what MayRead allows: counts as authorized.
  void FilterByNamespace() { authorized_ = true; }
  // For lists and watches: whether the caller may see namespace `ns`.
  bool MayRead(std::string_view ns) const { return principal_.MayRead(ns); }
  // Set by the server for Access::kHandler endpoints: success answers need an Authorize first.
  void RequireHandlerAuthorization() { must_authorize_ = true; }
  // Path parameter by name ("key" for "/v1/kv/{key...}"); empty when absent.
  const std::string& Param(std::string_view name) const;
  std::optional<std::string> Query(std::string_view name) const {
    return request_.QueryParam(name);
  }
  // Query flag: present with no value, "true" or "1".
  bool QueryFlag(std::string_view name) const;
  // Integer query parameter; kInvalidArgument naming the parameter when not an integer.
  Result<int64_t> QueryInt(std::string_view name, int64_t fallback) const;
  // The body parsed strictly as a JSON object (empty body -> {} when `allow_empty`).
  Result<Json> JsonBody(bool allow_empty = false) const;
  // The body for the strict reader (core/input.h): JSON, errors naming "request body", the
  // line and the field. An empty body is an error, or `{}` with `allow_empty`.
  Result<input::Document> ReadBody(bool allow_empty = false) const;

  void Reply(int status, const Json& body);
  // Reply with a body that is JSON text already (no parse and re-serialization).
  void ReplyJsonText(int status, std::string body);
  void ReplyError(const Error& error);
  // Starts a chunked stream of JSON lines (Content-Type application/x-ndjson).
  void StartStream();
  // Writes one JSON line; false once the client has gone.
  bool StreamLine(const Json& line);
  void EndStream();
  // Ends a stream that failed after it started: one last line with the error, as an error
  // reply's body ({"error":{"code","message"}}), then the end.
  void EndStreamWithError(const Error& error);
  std::shared_ptr<http::ResponseWriter> writer() const { return writer_; }

 private:
  void Done(int status, std::string_view result);

  http::Request request_;
  std::shared_ptr<http::ResponseWriter> writer_;
  security::Principal principal_;
  std::map<std::string, std::string> params_;
  std::function<void(int, std::string_view)> on_done_;
  bool done_ = false;
  bool must_authorize_ = false;
  bool authorized_ = false;
  // True (after answering 500) when a success answer comes before any Authorize call.
  bool Unauthorized(int status);
};

using EndpointHandler = std::function<void(std::shared_ptr<Call> call)>;

// Who may call an endpoint; every endpoint declares one (src/security/README.md).
enum class Access {
  // No token (GET /v1/health only).
  kPublic,
  // A cluster-wide resource (nodes, images, raw KV, tokens, audit): the token's global role
  // must be at least min_role.
  kCluster,
  // A resource in one namespace, named by the {ns} path parameter (or, without one, by
  // `namespace_of`): the token's role in that namespace must be at least min_role. Checked
  // before the handler runs.
  kNamespace,
  // The namespace is known only to the handler (in the body, or of a stored object): the
  // handler calls `call->Authorize(ns, role)` before it acts. A handler that answers success
  // without having authorized anything answers 500 instead (a bug, refused closed).
  kHandler,
  // A list or watch across namespaces: min_role somewhere is enough to call it, and the
  // handler keeps only what `call->principal().MayRead(ns)` allows.
  kList,
};
std::string_view AccessName(Access access);

struct Endpoint {
  std::string method;
  std::string pattern;  // "/v1/kv/{key...}": {name} is one segment, {name...} the rest
  Access access = Access::kCluster;
  security::Role min_role = security::Role::kViewer;
  bool mutating = false;
  // kNamespace without an {ns} parameter: the namespace of the object the path names (a
  // container's), or its error (404). Runs on the handler pool before the handler.
  std::function<Result<std::string>(const Call& call)> namespace_of;
  // The handler never blocks (it answers at once or from another thread's callback): run it
  // on the HTTP worker instead of handing it to the handler pool.
  bool runs_inline = false;
  // A token bound to a node may call it (the node agent's calls); with a {node} path
  // parameter only for its own node. Every other endpoint refuses node tokens (403).
  bool for_nodes = false;
  EndpointHandler handler;
};

class Router {
 public:
  void Add(Endpoint endpoint);

  struct Match {
    const Endpoint* endpoint = nullptr;
    std::map<std::string, std::string> params;
    bool path_matched = false;  // some endpoint has this path (for 405 vs 404)
  };
  Match Find(std::string_view method, std::string_view path) const;
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

 private:
  std::vector<Endpoint> endpoints_;
  std::vector<std::vector<std::string>> segments_;  // per endpoint: its pattern, split once
};

// Serializes JSON for the wire; bytes that are not UTF-8 become U+FFFD instead of throwing.
std::string DumpJson(const Json& j);

// `{"error":{"code","message"}}`: the body of every error reply and the last line of a stream
// that failed after it started.
Json ErrorJson(const Error& error);
// Writes ErrorJson(error) with the status for `error.code`.
http::Response ErrorResponse(const Error& error);

}  // namespace berth::api
