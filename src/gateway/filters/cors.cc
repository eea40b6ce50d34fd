#include "gateway/filters/cors.h"

#include <algorithm>

namespace berth::gateway::filters {
namespace {

// A list of names as one header value: "a, b".
Result<std::string> JoinedList(const input::Node& n) {
  std::string out;
  for (const std::string& x : BERTH_TRY(input::ListOf(input::String)(n))) {
    if (!out.empty()) out += ", ";
    out += x;
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

Result<FilterFactoryPtr> CorsFilterFactory::FromConfig(const input::Node& n) {
  CorsConfig c;
  input::Object o(n);
  o.Required("allow_origins", c.allow_origins,
             [](const input::Node& v) -> Result<std::vector<std::string>> {
               auto list = BERTH_TRY(input::ListOf(input::String)(v));
               if (list.empty()) return v.Fail("must list at least one origin");
               return list;
             })
      .Optional("allow_methods", c.allow_methods, JoinedList)
      .Optional("allow_headers", c.allow_headers, JoinedList)
      .Optional("expose_headers", c.expose_headers, JoinedList)
      .Optional("max_age", c.max_age_seconds, input::Int(0, INT32_MAX))
      .Optional("allow_credentials", c.allow_credentials);
  BERTH_TRY(o.Done());
  return std::make_shared<const CorsFilterFactory>(std::move(c));
}

std::unique_ptr<Filter> CorsFilterFactory::Create() const {
  return std::make_unique<CorsFilter>(config_);
}

}  // namespace berth::gateway::filters
