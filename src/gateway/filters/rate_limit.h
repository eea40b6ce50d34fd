// Local rate limiting by token bucket, per route and optionally per key (client IP, a header,
// or the JWT subject left by an earlier jwt filter). A request takes one token; an empty
// bucket answers 429 with Retry-After (seconds until a token is back, at least 1).
//
// The buckets are shared by all workers (a limit is per gateway, not per worker), so the
// factory guards them with a mutex, sharded by key hash to keep workers apart. Buckets live
// as long as the factory, i.e. until the route configuration is replaced; at most
// `max_keys` keys are tracked per shard (full buckets are dropped first when over).
// Thread-safety: Allow() is safe from any thread.
#pragma once

#include <array>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/input.h"
#include "gateway/filters/filter.h"

namespace berth::gateway::filters {

struct RateLimitConfig {
  double requests_per_second = 100;
  double burst = 100;  // bucket capacity
  enum class Key { kRoute, kClientIp, kHeader, kJwtSubject } key = Key::kRoute;
  std::string header;  // with kHeader
  size_t max_keys = 100'000;
};

class RateLimitFilterFactory final : public FilterFactory {
 public:
  static Result<FilterFactoryPtr> FromConfig(const input::Node& config);
  explicit RateLimitFilterFactory(RateLimitConfig config) : config_(std::move(config)) {}
  std::string_view name() const override { return "rate_limit"; }
  std::unique_ptr<Filter> Create() const override;

  // Takes a token for `key` at `now`; on refusal returns false and sets `*retry_after_s`.
  bool Allow(std::string_view key, Clock::TimePoint now, int* retry_after_s) const;
  const RateLimitConfig& config() const { return config_; }

 private:
  struct Bucket {
    double tokens;
    Clock::TimePoint last;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // guarded by mu
  };
  RateLimitConfig config_;
  mutable std::array<Shard, 16> shards_;
};

}  // namespace berth::gateway::filters
