#include "gateway/filters/cors.h"

#include <algorithm>

#include "core/json.h"

namespace berth::gateway::filters {
namespace {

std::string Join(const Json& list) {
  std::string out;
  for (const auto& x : list) {
    if (!out.empty()) out += ", ";
    out += x.get<std::string>();
  }
  return out;
}

class CorsFilter final : public Filter {
 public:
  explicit CorsFilter(const CorsConfig& config) : config_(config) {}

  FilterStatus OnRequest(RequestContext& ctx) override {
    auto origin = ctx.Header("origin");
    if (!origin) return FilterStatus::kContinue;
    const bool any = std::find(config_.allow_origins.begin(), config_.allow_origins.end(), "*") !=
                     config_.allow_origins.end();
    const bool allowed =
        any || std::find(config_.allow_origins.begin(), config_.allow_origins.end(), *origin) !=
                   config_.allow_origins.end();
    const bool preflight = ctx.method == "OPTIONS" && ctx.Header("access-control-request-method");
    if (!allowed) {
      if (preflight) return ctx.Reply(403, "CORS origin not allowed\n", "cors");
      return FilterStatus::kContinue;
    }
    // With credentials the origin must be echoed, never "*".
    std::string allow_origin = any && !config_.allow_credentials ? "*" : std::string(*origin);
    if (preflight) {
      ctx.reply_headers.emplace_back("Access-Control-Allow-Origin", allow_origin);
      ctx.reply_headers.emplace_back("Access-Control-Allow-Methods", config_.allow_methods);
      ctx.reply_headers.emplace_back("Access-Control-Allow-Headers", config_.allow_headers);
      ctx.reply_headers.emplace_back("Access-Control-Max-Age",
                                     std::to_string(config_.max_age_seconds));
      if (config_.allow_credentials) {
        ctx.reply_headers.emplace_back("Access-Control-Allow-Credentials", "true");
      }
      ctx.reply_headers.emplace_back("Vary", "Origin");
      return ctx.Reply(204, "", "cors");
    }
    ctx.add_response_headers.emplace_back("Access-Control-Allow-Origin", allow_origin);
    ctx.add_response_headers.emplace_back("Vary", "Origin");
    if (config_.allow_credentials) {
      ctx.add_response_headers.emplace_back("Access-Control-Allow-Credentials", "true");
    }
    if (!config_.expose_headers.empty()) {
      ctx.add_response_headers.emplace_back("Access-Control-Expose-Headers",
                                            config_.expose_headers);
    }
    return FilterStatus::kContinue;
  }

 private:
  const CorsConfig& config_;
};

}  // namespace

Result<FilterFactoryPtr> CorsFilterFactory::FromJson(const Json& j) {
  if (auto r = RejectUnknownFields(j,
                                   {"allow_origins", "allow_methods", "allow_headers",
                                    "expose_headers", "max_age", "allow_credentials"},
                                   "cors");
      !r) {
    return std::unexpected(r.error());
  }
  CorsConfig c;
  auto strings = [](const Json& v) {
    return v.is_array() &&
           std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_string(); });
  };
  if (!j.contains("allow_origins") || !strings(j["allow_origins"]) || j["allow_origins"].empty()) {
    return Fail(ErrorCode::kInvalidArgument, "allow_origins must be a non-empty list of origins");
  }
  for (const auto& o : j["allow_origins"]) c.allow_origins.push_back(o.get<std::string>());
  for (auto [key, field] :
       {std::pair{"allow_methods", &c.allow_methods}, std::pair{"allow_headers", &c.allow_headers},
        std::pair{"expose_headers", &c.expose_headers}}) {
    if (!j.contains(key)) continue;
    if (!strings(j[key]))
      return Fail(ErrorCode::kInvalidArgument, std::string(key) + " must be a list of strings");
    *field = Join(j[key]);
  }
  if (j.contains("max_age")) {
    if (!j["max_age"].is_number_integer() || j["max_age"].get<int64_t>() < 0) {
      return Fail(ErrorCode::kInvalidArgument, "max_age must be a non-negative integer");
    }
    c.max_age_seconds = j["max_age"].get<int>();
  }
  if (j.contains("allow_credentials")) {
    if (!j["allow_credentials"].is_boolean())
      return Fail(ErrorCode::kInvalidArgument, "allow_credentials must be true or false");
    c.allow_credentials = j["allow_credentials"].get<bool>();
  }
  return std::make_shared<const CorsFilterFactory>(std::move(c));
}

std::unique_ptr<Filter> CorsFilterFactory::Create() const {
  return std::make_unique<CorsFilter>(config_);
}

}  // namespace berth::gateway::filters
