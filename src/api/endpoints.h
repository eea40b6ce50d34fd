// The endpoint groups of the REST API, one file each; cmd/ calls the ones its role serves.
#pragma once

#include <string>

#include "api/router.h"
#include "core/clock.h"

namespace berth::store {
class Store;
}
namespace berth::security {
class TokenService;
class AuditLog;
class LoginLinks;
}  // namespace berth::security

namespace berth::api {

struct SystemInfo {
  std::string version;
  std::string role;  // "dev", "server"
  std::string store_backend;
  int64_t started_ms = 0;
};

// [{"namespace","role"}] in namespace order.
Json BindingsJson(const std::vector<security::Binding>& bindings);
// The caller as /v1/status shows it: name, global role, bindings, node.
Json CallerJson(const security::Principal& p);
// GET /v1/health (public), GET /v1/status.
void RegisterSystemEndpoints(Router& router, store::Store& store, Clock& clock, SystemInfo info);
// Raw KV for administrators: /v1/kv/{key...}, /v1/watch/{key...}, /v1/leases, /v1/compact.
void RegisterKvEndpoints(Router& router, store::Store& store);
// /v1/tokens (with role bindings), /v1/audit.
void RegisterSecurityEndpoints(Router& router, security::TokenService& tokens,
                               security::AuditLog& audit);

// The web console's sign-in: /v1/auth/login-links, /v1/auth/login, /v1/auth/logout.
void RegisterLoginEndpoints(Router& router, security::LoginLinks& links);

}  // namespace berth::api
