#include "gateway/filters/factory.h"

#include <fmt/core.h>

#include "gateway/filters/api_key.h"
#include "gateway/filters/cors.h"
#include "gateway/filters/jwt.h"
#include "gateway/filters/rate_limit.h"

namespace berth::gateway::filters {

Result<FilterFactoryPtr> CreateFilterFactory(std::string_view name, const input::Node& config,
                                             std::string_view base_dir, std::string_view route) {
  (void)route;
  if (!config.IsMap()) return config.Fail("must be a mapping");
  if (name == "cors") return CorsFilterFactory::FromConfig(config);
  if (name == "jwt") return JwtFilterFactory::FromConfig(config, base_dir);
  if (name == "api_key") return ApiKeyFilterFactory::FromConfig(config, base_dir);
  if (name == "rate_limit") return RateLimitFilterFactory::FromConfig(config);
  return config.Fail(
      fmt::format("unknown filter {} (cors, jwt, api_key or rate_limit)", Quoted(name)));
}

}  // namespace berth::gateway::filters
