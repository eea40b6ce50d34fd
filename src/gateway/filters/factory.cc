#include "gateway/filters/factory.h"

#include "core/json.h"
#include "gateway/filters/api_key.h"
#include "gateway/filters/cors.h"
#include "gateway/filters/jwt.h"
#include "gateway/filters/rate_limit.h"

namespace berth::gateway::filters {

Result<FilterFactoryPtr> CreateFilterFactory(std::string_view name, const Json& config,
                                             std::string_view base_dir, std::string_view route) {
  (void)route;
  if (!config.is_object()) return Fail(ErrorCode::kInvalidArgument, "must be a mapping");
  if (name == "cors") return CorsFilterFactory::FromJson(config);
  if (name == "jwt") return JwtFilterFactory::FromJson(config, base_dir);
  if (name == "api_key") return ApiKeyFilterFactory::FromJson(config, base_dir);
  if (name == "rate_limit") return RateLimitFilterFactory::FromJson(config);
  return Fail(ErrorCode::kInvalidArgument, "unknown filter (cors, jwt, api_key, rate_limit)");
}

}  // namespace berth::gateway::filters
