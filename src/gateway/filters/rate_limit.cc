#include "gateway/filters/rate_limit.h"

#include <algorithm>
#include <cmath>

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

namespace {

// route, client_ip, jwt_sub or {header: name}.
Result<void> ReadKey(const input::Node& n, RateLimitConfig& c) {
  if (n.IsMap()) {
    input::Object o(n);
    o.Required("header", c.header, input::NonEmptyString);
    BERTH_TRY(o.Done());
    c.key = RateLimitConfig::Key::kHeader;
    return {};
  }
  c.key = BERTH_TRY(
      input::Enum<RateLimitConfig::Key>({{"route", RateLimitConfig::Key::kRoute},
                                         {"client_ip", RateLimitConfig::Key::kClientIp},
                                         {"jwt_sub", RateLimitConfig::Key::kJwtSubject}})(n));
  return {};
}

}  // namespace

Result<FilterFactoryPtr> RateLimitFilterFactory::FromConfig(const input::Node& n) {
  RateLimitConfig c;
  input::Object o(n);
  o.Required("requests_per_second", c.requests_per_second,
             [](const input::Node& v) -> Result<double> {
               const double rps = BERTH_TRY(input::Number(0, 1e12)(v));
               if (rps <= 0) return v.Fail("must be a positive number");
               return rps;
             });
  c.burst = std::max(1.0, c.requests_per_second);
  o.Optional("burst", c.burst, input::Number(1, 1e12))
      .Optional("max_keys", c.max_keys, input::Int(1, INT64_MAX));
  if (const input::Node* key = o.Take("key")) o.Check(ReadKey(*key, c));
  BERTH_TRY(o.Done());
  return std::make_shared<const RateLimitFilterFactory>(std::move(c));
}

}  // namespace berth::gateway::filters
