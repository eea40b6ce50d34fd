// API key authentication per route: the key travels in a header (default "x-api-key") and
// must be one of the configured keys (compared in constant time); otherwise 401.
// Thread-safety: the factory is immutable.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "core/error.h"
#include "core/input.h"
#include "gateway/filters/filter.h"

namespace berth::gateway::filters {

class ApiKeyFilterFactory final : public FilterFactory {
 public:
  static Result<FilterFactoryPtr> FromConfig(const input::Node& config, std::string_view base_dir);
  ApiKeyFilterFactory(std::string header, std::vector<std::string> keys)
      : header_(std::move(header)), keys_(std::move(keys)) {}
  std::string_view name() const override { return "api_key"; }
  std::unique_ptr<Filter> Create() const override;
  // True when `key` is one of the configured keys.
  bool Valid(std::string_view key) const;
  const std::string& header() const { return header_; }

 private:
  std::string header_;
  std::vector<std::string> keys_;
};

}  // namespace berth::gateway::filters
