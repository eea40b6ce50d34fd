// One-time login links for the web console: `berth ui` asks the server for a link, opens the
// browser on it, and the console exchanges the link's code for a session token of its own.
// The caller's token never travels in a URL and is never stored.
//
// A code is 32 random bytes (hex); the store keeps only its SHA-256, at
// `/security/login-links/<sha256>`, under a lease of the link's lifetime (60 s by default),
// with the role, bindings and name of the token that asked. Redeeming deletes it in a
// compare-and-swap (so a code works once, even when two redeem it at once) and creates a session
// token with that role and those bindings, named "ui:<name>", stored under a lease of the session's
// lifetime (12 h by default): the store deletes it when the lease ends, and the token is revoked
// with it. Session tokens are marked at `/security/ui-sessions/<token id>` (same lease), so a
// console may end its own session (Logout) while other tokens cannot be revoked that way.
// Thread-safety: safe from any thread (state lives in the store).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"
#include "security/tokens.h"
#include "store/store.h"

namespace berth::security {

inline constexpr std::string_view kLoginLinksPrefix = "/security/login-links/";
inline constexpr std::string_view kUiSessionsPrefix = "/security/ui-sessions/";

struct LoginLink {
  std::string code;  // shown once; the store keeps its hash
  int64_t expires_ms = 0;
};

struct UiSession {
  IssuedToken token;
  int64_t expires_ms = 0;
};

class LoginLinks {
 public:
  LoginLinks(store::Store& store, Clock& clock, TokenService& tokens)
      : store_(store), clock_(clock), tokens_(tokens) {}

  // A code that `Redeem` exchanges once, within `ttl`, for a session of `for_whom`'s role.
  // Node tokens get none (kPermissionDenied).
  Result<LoginLink> Create(const Principal& for_whom,
                           std::chrono::seconds ttl = std::chrono::seconds(60));
  // kUnauthenticated when the code is unknown, used or expired.
  Result<UiSession> Redeem(std::string_view code,
                           std::chrono::seconds session_ttl = std::chrono::hours(12));
  // Ends the session `caller` is (revokes its token); kFailedPrecondition when the caller's
  // token is not a console session (tokens are revoked by an admin, DELETE /v1/tokens/{id}).
  Result<void> Logout(const Principal& caller);

 private:
  store::Store& store_;
  Clock& clock_;
  TokenService& tokens_;
};

}  // namespace berth::security
