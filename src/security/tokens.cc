#include "security/tokens.h"

#include <fmt/core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "core/json.h"

namespace berth::security {
namespace {

constexpr std::string_view kPrefix = "/security/tokens/";
constexpr std::string_view kTokenPrefix = "berth_";

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  RAND_bytes(buf.data(), static_cast<int>(buf.size()));
  return Hex(buf.data(), buf.size());
}

std::string Sha256Hex(std::string_view s) {
  // Every API request hashes its token: the algorithm is fetched once (EVP_sha256() makes
  // EVP_Digest look it up again on each call) and each thread reuses one digest context.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* md = kSha256 ? kSha256 : EVP_sha256();
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), s.data(), s.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    EVP_Digest(s.data(), s.size(), digest, &len, EVP_sha256(), nullptr);
  }
  return Hex(digest, len);
}

Json ToJson(const TokenRecord& r, std::string_view hash) {
  // A record with bindings only has no "role": a server that does not know bindings refuses
  // it ("corrupt token record") instead of reading it as a global role.
  Json j{{"id", r.id},
         {"name", r.name},
         {"created_ms", r.created_ms},
         {"created_by", r.created_by},
         {"hash", hash}};
  if (r.role != Role::kNone) j["role"] = RoleName(r.role);
  if (!r.bindings.empty()) {
    Json b = Json::array();
    for (const auto& x : r.bindings) b.push_back({{"namespace", x.ns}, {"role", RoleName(x.role)}});
    j["bindings"] = std::move(b);
  }
  if (!r.node.empty()) j["node"] = r.node;
  return j;
}

Result<TokenRecord> FromJson(const Json& j, std::string* hash) {
  try {
    TokenRecord r;
    r.id = j.at("id").get<std::string>();
    r.name = j.at("name").get<std::string>();
    if (j.contains("role")) {
      auto role = ParseRole(j.at("role").get<std::string>());
      if (!role) return std::unexpected(role.error());
      r.role = *role;
    }
    if (j.contains("bindings")) {
      for (const auto& b : j.at("bindings")) {
        auto role = ParseRole(b.at("role").get<std::string>());
        if (!role) return std::unexpected(role.error());
        r.bindings.push_back({b.at("namespace").get<std::string>(), *role});
      }
      if (auto v = NormalizeBindings(r.bindings); !v) return std::unexpected(v.error());
    }
    if (r.role == Role::kNone && r.bindings.empty()) {
      return Fail(ErrorCode::kInternal, "corrupt token record: no role and no bindings");
    }
    r.created_ms = j.value("created_ms", int64_t{0});
    r.created_by = j.value("created_by", std::string());
    r.node = j.value("node", std::string());
    if (hash) *hash = j.at("hash").get<std::string>();
    return r;
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("corrupt token record: ") + e.what());
  }
}

// What a token may hold: some role, admin only globally, a node token operator without
// bindings.
Result<void> CheckGrant(TokenGrant& g) {
  if (auto v = NormalizeBindings(g.bindings); !v) return v;
  if (g.role == Role::kNone && g.bindings.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "a token needs a global role or at least one namespace binding");
  }
  if (!g.node.empty() && (g.role != Role::kOperator || !g.bindings.empty())) {
    return Fail(ErrorCode::kInvalidArgument,
                "a node token has the operator role for its node and no namespace bindings");
  }
  return {};
}

}  // namespace

Result<IssuedToken> TokenService::Create(std::string_view name, TokenGrant grant,
                                         std::string_view created_by) {
  if (auto g = CheckGrant(grant); !g) return std::unexpected(g.error());
  if (name.empty() || name.size() > 128) {
    return Fail(ErrorCode::kInvalidArgument, "token name must be 1 to 128 characters");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Fail(ErrorCode::kInvalidArgument, "token name contains a control character");
    }
  }
  IssuedToken issued;
  issued.record.id = RandomHex(8);
  issued.record.name = std::string(name);
  issued.record.role = grant.role;
  issued.record.bindings = std::move(grant.bindings);
  issued.record.created_ms = clock_.WallMillis();
  issued.record.created_by = std::string(created_by);
  issued.record.node = std::move(grant.node);
  std::string secret = RandomHex(24);
  issued.secret = fmt::format("{}{}_{}", kTokenPrefix, issued.record.id, secret);
  std::string key = fmt::format("{}{}", kPrefix, issued.record.id);
  // Create only if the id is new (create_revision == 0).
  store::TxnRequest txn;
  txn.compare.push_back({.key = key,
                         .target = store::Compare::Target::kCreateRevision,
                         .op = store::Compare::Op::kEqual,
                         .number = 0});
  txn.success.push_back(
      store::TxnOp::Put(key, ToJson(issued.record, Sha256Hex(issued.secret)).dump()));
  auto r = store_.Txn(txn);
  if (!r) return std::unexpected(Wrap(r.error(), "store token"));
  if (!r->succeeded) return Fail(ErrorCode::kInternal, "token id collision; try again");
  return issued;
}

Result<Principal> TokenService::Authenticate(std::string_view bearer) const {
  if (!bearer.starts_with(kTokenPrefix)) {
    return Fail(ErrorCode::kUnauthenticated, "malformed token (want berth_<id>_<secret>)");
  }
  auto rest = bearer.substr(kTokenPrefix.size());
  auto sep = rest.find('_');
  if (sep == std::string_view::npos || sep == 0 || sep > 32) {
    return Fail(ErrorCode::kUnauthenticated, "malformed token (want berth_<id>_<secret>)");
  }
  auto id = rest.substr(0, sep);
  for (char c : id) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return Fail(ErrorCode::kUnauthenticated, "malformed token id");
    }
  }
  // Serializable: every API request checks its token on the HTTP worker, which must not wait
  // for a round trip to etcd (the etcd store answers from its mirror). A revocation reaches
  // the other servers' mirrors within milliseconds (docs/security-model.md).
  auto got = store_.Get(fmt::format("{}{}", kPrefix, id), {.serializable = true});
  if (!got) return Fail(ErrorCode::kUnavailable, "cannot check token: " + got.error().message);
  if (got->kvs.empty()) {
    std::lock_guard lock(cache_mu_);
    cache_.erase(std::string(id));
    return Fail(ErrorCode::kUnauthenticated, "unknown or revoked token");
  }
  const store::KeyValue& kv = got->kvs[0];
  // The record decoded before, unless it changed since (its mod_revision tells).
  Cached entry;
  bool hit = false;
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(id);
    if (it != cache_.end() && it->second.mod_revision == kv.mod_revision) {
      entry = it->second;
      hit = true;
    }
  }
  if (!hit) {
    auto json = ParseJson(kv.value);
    if (!json) return Fail(ErrorCode::kInternal, "corrupt token record");
    auto record = FromJson(*json, &entry.hash);
    if (!record) return std::unexpected(record.error());
    entry.mod_revision = kv.mod_revision;
    entry.principal = Principal{.token_id = record->id,
                                .name = record->name,
                                .role = record->role,
                                .bindings = std::move(record->bindings),
                                .node = record->node};
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_.insert_or_assign(std::string(id), entry);
  }
  // The bearer this record last accepted is kept (in memory only) beside it, so a client that
  // sends the same token again costs a constant-time compare instead of a SHA-256.
  if (!entry.accepted.empty() && entry.accepted.size() == bearer.size() &&
      CRYPTO_memcmp(entry.accepted.data(), bearer.data(), bearer.size()) == 0) {
    return std::move(entry.principal);
  }
  std::string want = Sha256Hex(bearer);
  if (want.size() != entry.hash.size() ||
      CRYPTO_memcmp(want.data(), entry.hash.data(), want.size()) != 0) {
    return Fail(ErrorCode::kUnauthenticated, "unknown or revoked token");
  }
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(id);
    if (it != cache_.end() && it->second.mod_revision == kv.mod_revision) {
      it->second.accepted.assign(bearer);
    }
  }
  return std::move(entry.principal);
}

Result<std::vector<TokenRecord>> TokenService::List() const {
  auto got = store_.Get(kPrefix, {.prefix = true});
  if (!got) return std::unexpected(Wrap(got.error(), "list tokens"));
  std::vector<TokenRecord> out;
  for (const auto& kv : got->kvs) {
    auto json = ParseJson(kv.value);
    if (!json) continue;
    auto record = FromJson(*json, nullptr);
    if (record) out.push_back(std::move(*record));
  }
  return out;
}

Result<TokenRecord> TokenService::SetGrant(std::string_view id, Role role,
                                           std::vector<Binding> bindings) {
  TokenGrant grant{.role = role, .bindings = std::move(bindings)};
  if (auto g = CheckGrant(grant); !g) return std::unexpected(g.error());
  const std::string key = fmt::format("{}{}", kPrefix, id);
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto got = store_.Get(key);
    if (!got) return std::unexpected(Wrap(got.error(), "read token"));
    if (got->kvs.empty())
      return Fail(ErrorCode::kNotFound, fmt::format("no token with id \"{}\"", id));
    auto json = ParseJson(got->kvs[0].value);
    if (!json) return Fail(ErrorCode::kInternal, "corrupt token record");
    std::string hash;
    auto record = FromJson(*json, &hash);
    if (!record) return std::unexpected(record.error());
    if (!record->node.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("token {} is node {}'s: its role is fixed (revoke it and create "
                              "another)",
                              id, record->node));
    }
    record->role = grant.role;
    record->bindings = grant.bindings;
    store::TxnRequest txn;
    txn.compare.push_back({.key = key,
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = got->kvs[0].mod_revision});
    txn.success.push_back(store::TxnOp::Put(key, ToJson(*record, hash).dump()));
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(Wrap(r.error(), "store token"));
    if (r->succeeded) return *record;
  }
  return Fail(ErrorCode::kFailedPrecondition, "token changed concurrently; try again");
}

Result<void> TokenService::Revoke(std::string_view id) {
  auto r = store_.Delete(fmt::format("{}{}", kPrefix, id));
  if (!r) return std::unexpected(Wrap(r.error(), "revoke token"));
  if (r->deleted == 0)
    return Fail(ErrorCode::kNotFound, fmt::format("no token with id \"{}\"", id));
  return {};
}

Result<bool> TokenService::Empty() const {
  auto got = store_.Get(kPrefix, {.prefix = true, .count_only = true});
  if (!got) return std::unexpected(Wrap(got.error(), "count tokens"));
  return got->count == 0;
}

}  // namespace berth::security
