#include "gateway/filters/api_key.h"

#include <openssl/crypto.h>

#include <fstream>

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

Result<FilterFactoryPtr> ApiKeyFilterFactory::FromConfig(const input::Node& n,
                                                         std::string_view base_dir) {
  std::string header = "x-api-key";
  std::vector<std::string> keys;
  input::Object o(n);
  o.Optional("header", header).Optional("keys", keys, input::ListOf(input::NonEmptyString));
  const input::Node* file = o.Take("keys_file");
  BERTH_TRY(o.Done());
  if (file != nullptr) {
    std::string path = BERTH_TRY(input::NonEmptyString(*file));
    if (!path.starts_with('/')) path = std::string(base_dir) + "/" + path;
    std::ifstream in(path);
    if (!in) return Fail(ErrorCode::kNotFound, file->Invalid(path + ": cannot open").message);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
  }
  if (keys.empty()) return n.Fail("needs keys or keys_file with at least one key");
  return std::make_shared<const ApiKeyFilterFactory>(std::move(header), std::move(keys));
}

std::unique_ptr<Filter> ApiKeyFilterFactory::Create() const {
  return std::make_unique<ApiKeyFilter>(*this);
}

}  // namespace berth::gateway::filters
