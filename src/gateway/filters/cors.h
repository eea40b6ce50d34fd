// CORS per route. Preflights (OPTIONS with Origin and Access-Control-Request-Method) are
// answered here: 204 with the allowed methods/headers when the origin is allowed, 403 when
// not. Other requests from an allowed origin continue and get Access-Control-Allow-Origin
// (and -Credentials, -Expose-Headers) on the response.
// Thread-safety: the factory is immutable.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "core/error.h"
#include "core/input.h"
#include "gateway/filters/filter.h"

namespace berth::gateway::filters {

struct CorsConfig {
  std::vector<std::string> allow_origins;  // exact origins, or "*"
  std::string allow_methods = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
  std::string allow_headers = "authorization, content-type";
  std::string expose_headers;
  int max_age_seconds = 600;
  bool allow_credentials = false;
};

class CorsFilterFactory final : public FilterFactory {
 public:
  static Result<FilterFactoryPtr> FromConfig(const input::Node& config);
  explicit CorsFilterFactory(CorsConfig config) : config_(std::move(config)) {}
  std::string_view name() const override { return "cors"; }
  std::unique_ptr<Filter> Create() const override;
  const CorsConfig& config() const { return config_; }

 private:
  CorsConfig config_;
};

}  // namespace berth::gateway::filters
