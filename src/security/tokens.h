// API tokens and roles. A token is `berth_<id>_<secret>`: the id names the record in the
// store (`/security/tokens/<id>`), the secret is checked against its SHA-256 hash; the
// secret itself is never stored. A token has a global role, or role bindings in some
// namespaces only, or both (authz.h).
// Authenticate reads the token's record from the store on every call (so a revocation counts
// at once) but decodes it only when its mod_revision changed: decoded records are cached by id,
// with the bearer token that last matched (in memory only), so a repeat caller skips the hash.
// Thread-safety: TokenService is safe from any thread (the cache has its own lock).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "security/authz.h"
#include "store/store.h"

namespace berth::security {

struct TokenRecord {
  std::string id;
  std::string name;
  Role role = Role::kNone;        // global role (kNone: bindings only)
  std::vector<Binding> bindings;  // roles in single namespaces, sorted by namespace
  int64_t created_ms = 0;
  std::string created_by;
  std::string node;  // bound to this node ("" : not bound)
};

// What a new token may do: a global role, bindings, or both; `node` binds it to a node (the
// caller validates the node name; a node token has the global operator role and no bindings).
struct TokenGrant {
  Role role = Role::kNone;
  std::vector<Binding> bindings;
  std::string node;
};

// `bytes` random bytes (OpenSSL's generator) as lower-case hex.
std::string RandomHex(size_t bytes);
// SHA-256 of `s` as lower-case hex (how token secrets are stored).
std::string Sha256Hex(std::string_view s);

struct IssuedToken {
  TokenRecord record;
  std::string secret;  // the whole bearer token; shown once
};

class TokenService {
 public:
  TokenService(store::Store& store, Clock& clock) : store_(store), clock_(clock) {}

  // Creates a token; the returned secret is the only copy. kInvalidArgument when the grant
  // gives no role at all, binds admin to a namespace or a namespace twice. With a `lease` the
  // token's record is stored under it, so the token ends when the lease does (the console's
  // session tokens, login_links.h).
  Result<IssuedToken> Create(std::string_view name, TokenGrant grant, std::string_view created_by,
                             int64_t lease = 0);
  // Replaces the global role and bindings of token `id` (not a node token's); takes effect on
  // the token's next request. kNotFound when there is no such token.
  Result<TokenRecord> SetGrant(std::string_view id, Role role, std::vector<Binding> bindings);
  // Checks a bearer token; kUnauthenticated with a reason when it is malformed, unknown or
  // revoked.
  Result<Principal> Authenticate(std::string_view bearer) const;
  Result<std::vector<TokenRecord>> List() const;
  Result<void> Revoke(std::string_view id);
  // True when no token exists yet (first start).
  Result<bool> Empty() const;

 private:
  struct Cached {
    int64_t mod_revision = 0;
    std::string hash;  // SHA-256 hex of the whole bearer token
    // The bearer token that last matched `hash` ("" : none yet). Memory only: never stored,
    // logged or returned; it dies with the entry when the record changes or is revoked.
    std::string accepted;
    Principal principal;
  };
  static constexpr size_t kMaxCached = 4096;

  store::Store& store_;
  Clock& clock_;
  mutable std::mutex cache_mu_;
  mutable std::map<std::string, Cached, std::less<>> cache_;  // by token id; guarded by cache_mu_
};

}  // namespace berth::security
