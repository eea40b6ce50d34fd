#include "api/router.h"

#include <fmt/core.h>

#include <cassert>
#include <charconv>

#include "core/log.h"

namespace berth::api {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

// A pattern split once, when the endpoint is added: literal segments and {name} or
// {name...} parameters.
bool MatchPattern(const std::vector<std::string>& want, std::string_view path,
                  std::map<std::string, std::string>* params) {
  // Keep the raw remainder for {name...} so keys keep their slashes.
  size_t pos = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    std::string_view w = want[i];
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      auto name = w.substr(1, w.size() - 2);
      if (name.ends_with("...")) {
        // The rest of the path, with its leading slash kept (keys are "/a/b").
        size_t start = pos > 0 ? pos - 1 : 0;
        (*params)[std::string(name.substr(0, name.size() - 3))] = std::string(path.substr(start));
        return pos < path.size();
      }
      size_t end = path.find('/', pos);
      if (end == std::string_view::npos) end = path.size();
      if (end == pos) return false;
      (*params)[std::string(name)] = std::string(path.substr(pos, end - pos));
      pos = end;
    } else {
      if (path.substr(pos, w.size()) != w) return false;
      pos += w.size();
      if (pos < path.size() && path[pos] != '/') return false;
    }
  }
  while (pos < path.size() && path[pos] == '/') ++pos;
  return pos == path.size();
}

}  // namespace

Json ErrorJson(const Error& error) {
  return Json{{"error", {{"code", ErrorCodeName(error.code)}, {"message", error.message}}}};
}

std::string DumpJson(const Json& j) {
  // Keys and values may hold bytes that are not UTF-8; never throw on the way out.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Call::Call(http::Request&& request, std::shared_ptr<http::ResponseWriter> writer,
           security::Principal principal, std::map<std::string, std::string> params,
           std::function<void(int, std::string_view)> on_done)
    : request_(std::move(request)),
      writer_(std::move(writer)),
      principal_(std::move(principal)),
      params_(std::move(params)),
      on_done_(std::move(on_done)) {}

const std::string& Call::Param(std::string_view name) const {
  static const std::string kEmpty;
  auto it = params_.find(std::string(name));
  return it == params_.end() ? kEmpty : it->second;
}

bool Call::QueryFlag(std::string_view name) const {
  auto v = request_.QueryParam(name);
  return v && (v->empty() || *v == "true" || *v == "1");
}

Result<int64_t> Call::QueryInt(std::string_view name, int64_t fallback) const {
  auto v = request_.QueryParam(name);
  if (!v || v->empty()) return fallback;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return Fail(ErrorCode::kInvalidArgument, "query parameter \"" + std::string(name) +
                                                 "\" must be an integer, got \"" + *v + "\"");
  }
  return out;
}

Result<Json> Call::JsonBody(bool allow_empty) const {
  if (request_.body.empty()) {
    if (allow_empty) return Json::object();
    return Fail(ErrorCode::kInvalidArgument, "request body is empty; want a JSON object");
  }
  auto j = ParseJson(request_.body);
  if (!j) return j;
  if (!j->is_object())
    return Fail(ErrorCode::kInvalidArgument, "request body must be a JSON object");
  return j;
}

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kPublic:
      return "public";
    case Access::kCluster:
      return "cluster";
    case Access::kNamespace:
      return "namespace";
    case Access::kHandler:
      return "handler";
    case Access::kList:
      return "list";
  }
  return "cluster";
}

Result<void> Call::Permit(std::string_view ns, security::Role need) {
  auto ok = security::Authorize(principal_, ns, need);
  if (!ok) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("{} {} {}", request_.method, request_.path, ok.error().message));
  }
  authorized_ = true;
  return {};
}

Result<void> Call::PermitCluster(security::Role need) {
  auto ok = security::AuthorizeCluster(principal_, need);
  if (!ok) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("{} {} {}", request_.method, request_.path, ok.error().message));
  }
  authorized_ = true;
  return {};
}

bool Call::Authorize(std::string_view ns, security::Role need) {
  auto ok = Permit(ns, need);
  if (!ok) ReplyError(ok.error());
  return ok.has_value();
}

bool Call::AuthorizeCluster(security::Role need) {
  auto ok = PermitCluster(need);
  if (!ok) ReplyError(ok.error());
  return ok.has_value();
}

bool Call::Unauthorized(int status) {
  if (!must_authorize_ || authorized_ || status >= 400) return false;
  log::Error("api", "{} {} answered {} without authorizing the caller (a bug): refused",
             request_.method, request_.path, status);
  ReplyError(Error(ErrorCode::kInternal,
                   fmt::format("{} {}: the endpoint did not check the caller's namespace; "
                               "refused (a bug in berthd, please report it)",
                               request_.method, request_.path)));
  return true;
}

Result<input::Document> Call::ReadBody(bool allow_empty) const {
  if (request_.body.empty()) {
    if (allow_empty) return input::FromJson(Json::object(), "request body");
    return Fail(ErrorCode::kInvalidArgument, "request body is empty; want a JSON object");
  }
  return input::ParseJson(request_.body, "request body");
}

void Call::Reply(int status, const Json& body) {
  if (done_ || Unauthorized(status)) return;
  done_ = true;
  // Audit (queued, not waited for) before the client can see the answer and ask for it.
  Done(status, "ok");
  writer_->Send(http::Response::Json(status, DumpJson(body) + "\n"));
}

void Call::ReplyJsonText(int status, std::string body) {
  if (done_ || Unauthorized(status)) return;
  done_ = true;
  Done(status, "ok");
  body += '\n';
  writer_->Send(http::Response::Json(status, std::move(body)));
}

void Call::ReplyError(const Error& error) {
  if (done_) return;
  done_ = true;
  Done(HttpStatusFor(error.code), error.message);
  writer_->Send(ErrorResponse(error));
}

void Call::StartStream() {
  if (done_ || Unauthorized(200)) return;
  done_ = true;
  http::Headers h;
  h.Set("Content-Type", "application/x-ndjson");
  h.Set("Cache-Control", "no-cache");
  writer_->StartStream(200, std::move(h));
  Done(200, "stream");
}

void Call::Done(int status, std::string_view result) {
  // Released once run: what it holds (the API's in-flight token) must not live as long as a
  // stream does.
  auto done = std::move(on_done_);
  on_done_ = nullptr;
  if (done) done(status, result);
}

bool Call::StreamLine(const Json& line) { return writer_->Write(DumpJson(line) + "\n"); }

void Call::EndStream() { writer_->End(); }

void Call::EndStreamWithError(const Error& error) {
  StreamLine(ErrorJson(error));
  EndStream();
}

void Router::Add(Endpoint endpoint) {
  // kNamespace needs a namespace: the {ns} parameter or a resolver (run on the pool).
  assert(endpoint.access != Access::kNamespace ||
         endpoint.pattern.find("{ns}") != std::string::npos || endpoint.namespace_of);
  assert(!endpoint.namespace_of || !endpoint.runs_inline);
  std::vector<std::string> segments;
  for (auto part : Split(endpoint.pattern)) segments.emplace_back(part);
  endpoints_.push_back(std::move(endpoint));
  segments_.push_back(std::move(segments));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Endpoint& e = endpoints_[i];
    std::map<std::string, std::string> params;
    if (!MatchPattern(segments_[i], path, &params)) continue;
    m.path_matched = true;
    if (e.method == method || (method == "HEAD" && e.method == "GET")) {
      m.endpoint = &e;
      m.params = std::move(params);
      return m;
    }
  }
  return m;
}

http::Response ErrorResponse(const Error& error) {
  return http::Response::Json(HttpStatusFor(error.code), DumpJson(ErrorJson(error)) + "\n");
}

}  // namespace berth::api
