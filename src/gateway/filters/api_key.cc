#include "gateway/filters/api_key.h"

#include <openssl/crypto.h>

#include <fstream>

#include "core/json.h"

namespace berth::gateway::filters {
namespace {

class ApiKeyFilter final : public Filter {
 public:
  explicit ApiKeyFilter(const ApiKeyFilterFactory& f) : f_(f) {}
  FilterStatus OnRequest(RequestContext& ctx) override {
    auto key = ctx.Header(f_.header());
    if (!key || !f_.Valid(*key)) {
      ctx.reply_headers.emplace_back("WWW-Authenticate", "ApiKey");
      return ctx.Reply(401, "missing or invalid API key\n", "api_key");
    }
    return FilterStatus::kContinue;
  }

 private:
  const ApiKeyFilterFactory& f_;
};

}  // namespace

bool ApiKeyFilterFactory::Valid(std::string_view key) const {
  bool ok = false;
  for (const auto& k : keys_) {
    if (k.size() == key.size() && CRYPTO_memcmp(k.data(), key.data(), k.size()) == 0) ok = true;
  }
  return ok;
}

Result<FilterFactoryPtr> ApiKeyFilterFactory::FromJson(const Json& j, std::string_view base_dir) {
  if (auto r = RejectUnknownFields(j, {"header", "keys", "keys_file"}, "api_key"); !r) {
    return std::unexpected(r.error());
  }
  std::string header = "x-api-key";
  if (j.contains("header")) {
    if (!j["header"].is_string())
      return Fail(ErrorCode::kInvalidArgument, "header must be a string");
    header = j["header"].get<std::string>();
  }
  std::vector<std::string> keys;
  if (j.contains("keys")) {
    if (!j["keys"].is_array()) return Fail(ErrorCode::kInvalidArgument, "keys must be a list");
    for (const auto& k : j["keys"]) {
      if (!k.is_string() || k.get<std::string>().empty()) {
        return Fail(ErrorCode::kInvalidArgument, "keys must be non-empty strings");
      }
      keys.push_back(k.get<std::string>());
    }
  }
  if (j.contains("keys_file")) {
    if (!j["keys_file"].is_string())
      return Fail(ErrorCode::kInvalidArgument, "keys_file must be a string");
    std::string path = j["keys_file"].get<std::string>();
    if (!path.starts_with('/')) path = std::string(base_dir) + "/" + path;
    std::ifstream in(path);
    if (!in) return Fail(ErrorCode::kNotFound, "keys_file " + path + ": cannot open");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
  }
  if (keys.empty())
    return Fail(ErrorCode::kInvalidArgument, "needs keys or keys_file with at least one key");
  return std::make_shared<const ApiKeyFilterFactory>(std::move(header), std::move(keys));
}

std::unique_ptr<Filter> ApiKeyFilterFactory::Create() const {
  return std::make_unique<ApiKeyFilter>(*this);
}

}  // namespace berth::gateway::filters
