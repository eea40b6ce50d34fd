#include "security/login_links.h"

#include <fmt/core.h>

#include "core/json.h"

namespace berth::security {
namespace {

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The role and bindings a stored link grants (those of the token that asked for it).
Result<TokenGrant> ReadGrant(std::string_view stored) {
  auto record = ParseJson(stored);
  if (!record || !record->is_object()) return Fail(ErrorCode::kInternal, "corrupt login link");
  TokenGrant grant;
  try {
    if (record->contains("role")) {
      auto role = ParseRole(record->at("role").get<std::string>());
      if (!role) return std::unexpected(role.error());
      grant.role = *role;
    }
    for (const auto& b : record->value("bindings", Json::array())) {
      auto role = ParseRole(b.at("role").get<std::string>());
      if (!role) return std::unexpected(role.error());
      grant.bindings.push_back({b.at("namespace").get<std::string>(), *role});
    }
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("corrupt login link: ") + e.what());
  }
  return grant;
}

}  // namespace

Result<LoginLink> LoginLinks::Create(const Principal& for_whom, std::chrono::seconds ttl) {
  if (!for_whom.node.empty()) {
    return Fail(
        ErrorCode::kPermissionDenied,
        fmt::format("token \"{}\" is a node's token: it cannot open the console", for_whom.name));
  }
  auto lease = store_.GrantLease(std::max<int64_t>(1, ttl.count()));
  if (!lease) return std::unexpected(Wrap(lease.error(), "login link lease"));
  LoginLink link;
  link.code = RandomHex(32);
  link.expires_ms = clock_.WallMillis() + ttl.count() * 1000;
  Json bindings = Json::array();
  for (const auto& b : for_whom.bindings) {
    bindings.push_back({{"namespace", b.ns}, {"role", RoleName(b.role)}});
  }
  Json record{{"name", for_whom.name},
              {"token_id", for_whom.token_id},
              {"bindings", std::move(bindings)},
              {"expires_ms", link.expires_ms}};
  if (for_whom.role != Role::kNone) record["role"] = RoleName(for_whom.role);
  auto put = store_.Put(fmt::format("{}{}", kLoginLinksPrefix, Sha256Hex(link.code)), record.dump(),
                        {.lease = *lease});
  if (!put) return std::unexpected(Wrap(put.error(), "store login link"));
  return link;
}

Result<UiSession> LoginLinks::Redeem(std::string_view code, std::chrono::seconds session_ttl) {
  if (code.size() != 64 || !IsHex(code)) {
    return Fail(ErrorCode::kUnauthenticated, "malformed login code (want 64 hex digits)");
  }
  const std::string key = fmt::format("{}{}", kLoginLinksPrefix, Sha256Hex(code));
  auto got = store_.Get(key);
  if (!got) return std::unexpected(Wrap(got.error(), "read login link"));
  if (got->kvs.empty()) {
    return Fail(ErrorCode::kUnauthenticated,
                "unknown, used or expired login link: run `berth ui` again");
  }
  const store::KeyValue kv = got->kvs[0];
  // Used once: only the redeemer whose delete wins gets a session.
  store::TxnRequest txn;
  txn.compare.push_back({.key = key,
                         .target = store::Compare::Target::kModRevision,
                         .op = store::Compare::Op::kEqual,
                         .number = kv.mod_revision});
  txn.success.push_back(store::TxnOp::Delete(key));
  auto won = store_.Txn(txn);
  if (!won) return std::unexpected(Wrap(won.error(), "use login link"));
  if (!won->succeeded) {
    return Fail(ErrorCode::kUnauthenticated, "login link already used: run `berth ui` again");
  }
  auto grant = ReadGrant(kv.value);
  if (!grant) return std::unexpected(grant.error());
  auto record = ParseJson(kv.value);
  const std::string name = record->value("name", std::string("console"));

  auto lease = store_.GrantLease(std::max<int64_t>(1, session_ttl.count()));
  if (!lease) return std::unexpected(Wrap(lease.error(), "session lease"));
  auto issued =
      tokens_.Create(fmt::format("ui:{}", name).substr(0, 128), std::move(*grant), name, *lease);
  if (!issued) {
    (void)store_.RevokeLease(*lease);
    return std::unexpected(issued.error());
  }
  UiSession session;
  session.expires_ms = clock_.WallMillis() + session_ttl.count() * 1000;
  Json mark{{"created_by", name}, {"expires_ms", session.expires_ms}};
  auto put = store_.Put(fmt::format("{}{}", kUiSessionsPrefix, issued->record.id), mark.dump(),
                        {.lease = *lease});
  if (!put) {
    (void)store_.RevokeLease(*lease);
    return std::unexpected(Wrap(put.error(), "store session"));
  }
  session.token = std::move(*issued);
  return session;
}

Result<void> LoginLinks::Logout(const Principal& caller) {
  const std::string key = fmt::format("{}{}", kUiSessionsPrefix, caller.token_id);
  auto got = store_.Get(key);
  if (!got) return std::unexpected(got.error());
  if (got->kvs.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("token \"{}\" is not a console session: forget it in the browser, "
                            "or have an admin revoke it (DELETE /v1/tokens/{})",
                            caller.name, caller.token_id));
  }
  // The session's lease holds both its token and its mark: revoking it deletes both.
  if (got->kvs[0].lease != 0) return store_.RevokeLease(got->kvs[0].lease);
  return tokens_.Revoke(caller.token_id);
}

}  // namespace berth::security
