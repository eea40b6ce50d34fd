// The gateway's HTTP filter shape, after Envoy's: a FilterFactory is the immutable
// configuration built once from the route config (keys loaded, regexes compiled); per request
// it creates a small Filter object that sees the request head and may answer locally (stop)
// or let the request continue, and that may decorate the response head on the way back.
//
// Filters run on the worker thread that owns the connection, before the upstream is chosen.
// Factories are shared by all workers: their methods are const and thread-safe; a factory
// that keeps mutable state (the rate limiter's buckets) guards it itself.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace berth::gateway::filters {

enum class FilterStatus { kContinue, kStop };

struct HeaderRef {
  std::string_view name;
  std::string_view value;
};

// What a filter sees of a request and what it can change.
struct RequestContext {
  std::string_view method;
  std::string_view path;  // raw path before '?'
  std::string_view host;  // Host without port, lowercased
  std::string_view client_ip;
  const std::vector<HeaderRef>* headers = nullptr;  // as received
  const Clock* clock = nullptr;

  // First value of header `name` (case-insensitive).
  std::optional<std::string_view> Header(std::string_view name) const;

  // Set by a filter that stops: the local reply to send instead of proxying.
  int reply_status = 0;
  std::string reply_body;
  std::vector<std::pair<std::string, std::string>> reply_headers;
  // Headers a filter adds to the upstream request and to the downstream response.
  std::vector<std::pair<std::string, std::string>> add_request_headers;
  std::vector<std::pair<std::string, std::string>> add_response_headers;
  // Facts filters leave for later filters (the JWT subject for the rate limiter's key).
  std::string jwt_subject;
  // Which filter answered, for metrics ("rate_limit", "jwt", ...).
  std::string_view stopped_by;

  FilterStatus Reply(int status, std::string body, std::string_view filter) {
    reply_status = status;
    reply_body = std::move(body);
    stopped_by = filter;
    return FilterStatus::kStop;
  }
};

class Filter {
 public:
  virtual ~Filter() = default;
  // Called once the request head is parsed. kStop: answer with ctx.reply_*.
  virtual FilterStatus OnRequest(RequestContext& ctx) = 0;
};

class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  // The filter's name in configuration ("cors", "jwt", "api_key", "rate_limit").
  virtual std::string_view name() const = 0;
  // Per-request filter object.
  virtual std::unique_ptr<Filter> Create() const = 0;
};

using FilterFactoryPtr = std::shared_ptr<const FilterFactory>;

}  // namespace berth::gateway::filters
