#include "gateway/filters/rate_limit.h"

#include <algorithm>
#include <cmath>

#include "core/json.h"

namespace berth::gateway::filters {
namespace {

class RateLimitFilter final : public Filter {
 public:
  explicit RateLimitFilter(const RateLimitFilterFactory& f) : f_(f) {}
  FilterStatus OnRequest(RequestContext& ctx) override {
    std::string_view key;
    switch (f_.config().key) {
      case RateLimitConfig::Key::kRoute:
        key = "";
        break;
      case RateLimitConfig::Key::kClientIp:
        key = ctx.client_ip;
        break;
      case RateLimitConfig::Key::kHeader:
        key = ctx.Header(f_.config().header).value_or("");
        break;
      case RateLimitConfig::Key::kJwtSubject:
        key = ctx.jwt_subject;
        break;
    }
    int retry_after = 1;
    const auto now = ctx.clock
                         ? ctx.clock->Now()
                         : Clock::TimePoint(std::chrono::steady_clock::now().time_since_epoch());
    if (f_.Allow(key, now, &retry_after)) return FilterStatus::kContinue;
    ctx.reply_headers.emplace_back("Retry-After", std::to_string(retry_after));
    return ctx.Reply(429, "rate limited\n", "rate_limit");
  }

 private:
  const RateLimitFilterFactory& f_;
};

}  // namespace

bool RateLimitFilterFactory::Allow(std::string_view key, Clock::TimePoint now,
                                   int* retry_after_s) const {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= config_.max_keys / shards_.size() + 1) {
      // Over the cap: forget buckets that have refilled (they carry no state worth keeping).
      std::erase_if(shard.buckets, [&](const auto& kv) {
        const double secs = std::chrono::duration<double>(now - kv.second.last).count();
        return kv.second.tokens + secs * config_.requests_per_second >= config_.burst;
      });
    }
    it = shard.buckets.emplace(std::string(key), Bucket{config_.burst, now}).first;
  }
  Bucket& b = it->second;
  const double secs = std::max(0.0, std::chrono::duration<double>(now - b.last).count());
  b.tokens = std::min(config_.burst, b.tokens + secs * config_.requests_per_second);
  b.last = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  *retry_after_s =
      std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / config_.requests_per_second)));
  return false;
}

std::unique_ptr<Filter> RateLimitFilterFactory::Create() const {
  return std::make_unique<RateLimitFilter>(*this);
}

Result<FilterFactoryPtr> RateLimitFilterFactory::FromJson(const Json& j) {
  if (auto r =
          RejectUnknownFields(j, {"requests_per_second", "burst", "key", "max_keys"}, "rate_limit");
      !r) {
    return std::unexpected(r.error());
  }
  RateLimitConfig c;
  if (!j.contains("requests_per_second") || !j["requests_per_second"].is_number() ||
      j["requests_per_second"].get<double>() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "requests_per_second must be a positive number");
  }
  c.requests_per_second = j["requests_per_second"].get<double>();
  c.burst = std::max(1.0, c.requests_per_second);
  if (j.contains("burst")) {
    if (!j["burst"].is_number() || j["burst"].get<double>() < 1) {
      return Fail(ErrorCode::kInvalidArgument, "burst must be a number >= 1");
    }
    c.burst = j["burst"].get<double>();
  }
  if (j.contains("key")) {
    const Json& k = j["key"];
    if (k == "client_ip") {
      c.key = RateLimitConfig::Key::kClientIp;
    } else if (k == "jwt_sub") {
      c.key = RateLimitConfig::Key::kJwtSubject;
    } else if (k == "route") {
      c.key = RateLimitConfig::Key::kRoute;
    } else if (k.is_object() && k.size() == 1 && k.contains("header") && k["header"].is_string()) {
      c.key = RateLimitConfig::Key::kHeader;
      c.header = k["header"].get<std::string>();
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  "key must be route, client_ip, jwt_sub or {header: name}");
    }
  }
  if (j.contains("max_keys")) {
    if (!j["max_keys"].is_number_integer() || j["max_keys"].get<int64_t>() < 1) {
      return Fail(ErrorCode::kInvalidArgument, "max_keys must be a positive integer");
    }
    c.max_keys = j["max_keys"].get<size_t>();
  }
  return std::make_shared<const RateLimitFilterFactory>(std::move(c));
}

}  // namespace berth::gateway::filters
