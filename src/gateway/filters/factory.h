// Builds filter factories from their configuration (the per-route `filters` section of
// routes.yaml): `cors`, `jwt`, `api_key`, `rate_limit`. Errors name the field.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/input.h"
#include "gateway/filters/filter.h"

namespace berth::gateway::filters {

// `name` is the filter's kind; `config` its mapping in the route's document (errors name
// its file, line and field); files resolve against `base_dir`. `route` names the owner
// (rate limit buckets are per route).
Result<FilterFactoryPtr> CreateFilterFactory(std::string_view name, const input::Node& config,
                                             std::string_view base_dir, std::string_view route);

}  // namespace berth::gateway::filters
