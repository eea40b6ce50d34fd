#include "gateway/route_store.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/input.h"
#include "core/json.h"
#include "gateway/router/config.h"
#include "registry/model.h"

namespace berth::gateway {
namespace {

constexpr int kCasAttempts = 8;
constexpr size_t kMaxRouteNameBytes = 253;

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

Result<StoredRoute> DecodeRoute(const store::KeyValue& kv) {
  StoredRoute r;
  r.name = kv.key.substr(kRoutesKeyPrefix.size());
  r.owner = RouteOwner(kv.value);
  r.json = kv.value;
  r.create_revision = kv.create_revision;
  r.mod_revision = kv.mod_revision;
  return r;
}

// "<ns>/<service>" after the services prefix.
std::optional<std::pair<std::string, std::string>> SplitServiceKey(std::string_view key) {
  if (!key.starts_with(kServicesKeyPrefix)) return std::nullopt;
  key.remove_prefix(kServicesKeyPrefix.size());
  auto slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size() ||
      key.find('/', slash + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return std::pair{std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

Result<void> CheckServiceNames(std::string_view where, std::string_view ns,
                               std::string_view service) {
  if (auto r = registry::ValidateNamespace(ns); !r)
    return Invalid(fmt::format("{}: {}", where, r.error().message));
  if (auto r = registry::ValidateServiceName(service); !r)
    return Invalid(fmt::format("{}: {}", where, r.error().message));
  return {};
}

// Checks one route entry (JSON text) named `name`; `origin` prefixes errors.
Result<StoredRoute> CheckRoute(std::string_view name, std::string_view body,
                               std::string_view origin, std::string_view base_dir) {
  if (auto v = ValidateRouteName(name); !v)
    return Invalid(fmt::format("{}: {}", origin, v.error().message));
  // Errors name the body's lines and fields, and the route.
  const input::Document doc =
      BERTH_TRY(input::ParseJson(body, fmt::format("{} of route \"{}\"", origin, name)));
  const input::Node& root = doc.root();
  if (!root.IsMap()) return root.Fail("a route must be a JSON object");
  if (const input::Node* named = root.Find("name");
      named != nullptr && !(named->IsScalar() && named->text() == name)) {
    return named->Fail(fmt::format("the body names another route ({})", named->Describe()));
  }
  auto entry = router::ReadRouteEntry(root, name, base_dir);
  if (!entry) return std::unexpected(entry.error());
  StoredRoute out;
  out.name = std::string(name);
  Json canonical = input::ToJson(root);
  canonical["name"] = std::string(name);
  out.json = canonical.dump();
  for (const auto& c : entry->clusters) {
    if (c->service_name.empty()) continue;
    auto r =
        CheckServiceNames(fmt::format("{}: route \"{}\": service \"{}\"", origin, name, c->name),
                          c->service_namespace, c->service_name);
    if (!r) return std::unexpected(r.error());
  }
  out.owner = entry->owner;
  if (out.json.size() > store::kMaxValueBytes)
    return Invalid(fmt::format("{}: route \"{}\" is larger than {} bytes", origin, name,
                               store::kMaxValueBytes));
  return out;
}

Result<StoredServiceSettings> CheckService(std::string_view ns, std::string_view service,
                                           std::string_view body, std::string_view origin) {
  const std::string where = fmt::format("{}: service \"{}/{}\"", origin, ns, service);
  if (auto r = CheckServiceNames(where, ns, service); !r) return std::unexpected(r.error());
  const input::Document doc =
      BERTH_TRY(input::ParseJson(body.empty() ? std::string_view("{}") : body,
                                 fmt::format("{} of service \"{}/{}\"", origin, ns, service)));
  if (!doc.root().IsMap()) return doc.root().Fail("must be a JSON object");
  BERTH_TRY(router::ReadServiceSettings(doc.root(), router::ServiceClusterName(ns, service),
                                        /*allow_endpoints=*/false));
  StoredServiceSettings out;
  out.ns = std::string(ns);
  out.service = std::string(service);
  out.json = input::ToJson(doc.root()).dump();
  return out;
}

Result<std::optional<store::KeyValue>> Load(store::Store& store, const std::string& key) {
  auto r = store.Get(key);
  if (!r) return std::unexpected(r.error());
  if (r->kvs.empty()) return std::optional<store::KeyValue>();
  return std::optional<store::KeyValue>(r->kvs.front());
}

store::Compare Unchanged(const std::string& key, int64_t mod_revision) {
  return store::Compare{.key = key,
                        .target = store::Compare::Target::kModRevision,
                        .op = store::Compare::Op::kEqual,
                        .number = mod_revision};
}

Error OwnedError(std::string_view name, std::string_view owner) {
  return Error(ErrorCode::kFailedPrecondition,
               fmt::format("route \"{}\" is owned by {}, which manages it; change it there (or "
                           "force)",
                           name, owner));
}

Error RacedError() {
  return Error(ErrorCode::kFailedPrecondition,
               "the gateway routes kept changing while this write was tried; try again");
}

}  // namespace

Result<void> ValidateRouteName(std::string_view name) {
  if (name.empty()) return Invalid("route name is empty");
  if (name.size() > kMaxRouteNameBytes) {
    return Invalid(fmt::format("route name \"{}...\" is {} bytes; the limit is {}",
                               name.substr(0, 32), name.size(), kMaxRouteNameBytes));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Invalid(fmt::format(
          "route name \"{}\" has the character '{}'; allowed are A-Z, a-z, 0-9, '.', '_', '-'",
          name,
          std::isprint(static_cast<unsigned char>(c))
              ? std::string(1, c)
              : fmt::format("\\x{:02x}", static_cast<unsigned char>(c))));
    }
  }
  if (name.front() == '.' || name.front() == '-')
    return Invalid(fmt::format("route name \"{}\" must not start with '.' or '-'", name));
  return {};
}

std::string RouteKey(std::string_view name) { return fmt::format("{}{}", kRoutesKeyPrefix, name); }

std::string ServiceSettingsKey(std::string_view ns, std::string_view service) {
  return fmt::format("{}{}/{}", kServicesKeyPrefix, ns, service);
}

Result<StoredRoute> CanonicalRoute(std::string_view name, std::string_view body,
                                   std::string_view base_dir) {
  return CheckRoute(name, body, "body", base_dir);
}

Result<StoredServiceSettings> CanonicalServiceSettings(std::string_view ns,
                                                       std::string_view service,
                                                       std::string_view body) {
  return CheckService(ns, service, body, "body");
}

RouteScope ScopeOfRoute(std::string_view json) {
  RouteScope scope;
  auto j = ParseJson(json);
  if (!j || !j->is_object()) {
    scope.cluster = true;
    return scope;
  }
  Json targets = Json::array();
  if (j->contains("targets") && (*j)["targets"].is_array()) {
    targets = (*j)["targets"];
  } else {
    targets.push_back(*j);  // `service:`/`namespace:` or `upstreams:` on the route itself
  }
  std::set<std::string> namespaces;
  for (const auto& t : targets) {
    if (!t.is_object() || t.contains("upstreams") || !t.contains("service")) {
      scope.cluster = true;
      continue;
    }
    const Json ns = t.value("namespace", Json("default"));
    namespaces.insert(ns.is_string() ? ns.get<std::string>() : std::string("default"));
  }
  if (j->contains("filters") && (*j)["filters"].is_array()) {
    for (const auto& f : (*j)["filters"]) {
      if (!f.is_object()) continue;
      for (const auto& [kind, settings] : f.items()) {
        if (!settings.is_object()) continue;
        for (const auto& [key, value] : settings.items()) {
          if (key.ends_with("_file")) scope.cluster = true;
        }
      }
    }
  }
  if (namespaces.empty()) scope.cluster = true;
  scope.namespaces.assign(namespaces.begin(), namespaces.end());
  return scope;
}

Result<std::vector<StoredRoute>> RouteStore::List(int64_t* revision) {
  auto r = store_.Get(kRoutesKeyPrefix, {.prefix = true});
  if (!r) return std::unexpected(r.error());
  if (revision) *revision = r->revision;
  std::vector<StoredRoute> out;
  for (const auto& kv : r->kvs) {
    auto route = DecodeRoute(kv);
    if (route) out.push_back(std::move(*route));
  }
  return out;
}

Result<StoredRoute> RouteStore::Get(std::string_view name) {
  if (auto v = ValidateRouteName(name); !v) return std::unexpected(v.error());
  auto kv = Load(store_, RouteKey(name));
  if (!kv) return std::unexpected(kv.error());
  if (!*kv) return Fail(ErrorCode::kNotFound, fmt::format("no route \"{}\"", name));
  return DecodeRoute(**kv);
}

Result<PutResult> RouteStore::Put(std::string_view name, std::string_view body, bool force,
                                  const ScopeGuard& guard) {
  auto route = CheckRoute(name, body, "body", base_dir_);
  if (!route) return std::unexpected(route.error());
  if (guard) {
    if (auto g = guard(ScopeOfRoute(route->json)); !g) return std::unexpected(g.error());
  }
  const std::string key = RouteKey(name);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto existing = Load(store_, key);
    if (!existing) return std::unexpected(existing.error());
    PutResult out;
    out.route = *route;
    out.created = !existing->has_value();
    if (*existing) {
      if (guard) {
        if (auto g = guard(ScopeOfRoute((*existing)->value)); !g) return std::unexpected(g.error());
      }
      const std::string owner = RouteOwner((*existing)->value);
      if (!owner.empty() && owner != route->owner && !force)
        return std::unexpected(OwnedError(name, owner));
      if ((*existing)->value == route->json) {
        auto same = DecodeRoute(**existing);
        if (!same) return std::unexpected(same.error());
        out.route = *same;
        return out;
      }
    }
    store::TxnRequest txn;
    txn.compare.push_back(Unchanged(key, *existing ? (*existing)->mod_revision : 0));
    txn.success.push_back(store::TxnOp::Put(key, route->json));
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (!r->succeeded) continue;
    out.changed = true;
    out.route.mod_revision = r->revision;
    out.route.create_revision = *existing ? (*existing)->create_revision : r->revision;
    return out;
  }
  return std::unexpected(RacedError());
}

Result<int64_t> RouteStore::Delete(std::string_view name, bool force, const ScopeGuard& guard) {
  if (auto v = ValidateRouteName(name); !v) return std::unexpected(v.error());
  const std::string key = RouteKey(name);
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto existing = Load(store_, key);
    if (!existing) return std::unexpected(existing.error());
    if (!*existing) return Fail(ErrorCode::kNotFound, fmt::format("no route \"{}\"", name));
    if (guard) {
      if (auto g = guard(ScopeOfRoute((*existing)->value)); !g) return std::unexpected(g.error());
    }
    const std::string owner = RouteOwner((*existing)->value);
    if (!owner.empty() && !force) return std::unexpected(OwnedError(name, owner));
    store::TxnRequest txn;
    txn.compare.push_back(Unchanged(key, (*existing)->mod_revision));
    txn.success.push_back(store::TxnOp::Delete(key));
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (r->succeeded) return r->revision;
  }
  return std::unexpected(RacedError());
}

Result<ApplyResult> RouteStore::Apply(std::string_view text, bool dry_run, bool force,
                                      const ScopeGuard& guard) {
  constexpr std::string_view kOrigin = "apply";
  auto doc = router::SplitConfig(text, kOrigin, base_dir_);
  if (!doc) return std::unexpected(doc.error());
  if (doc->has_tls || doc->has_access_log) {
    return Invalid(
        "apply: tls and access_log belong to the gateway process (a static --gateway-config), "
        "not to stored routes; remove them");
  }
  if (doc->routes.empty() && doc->services.empty())
    return Invalid("apply: the document has no routes and no services");
  if (doc->routes.size() + doc->services.size() > kMaxApplyEntries) {
    return Invalid(fmt::format("apply: {} entries; one apply writes at most {}",
                               doc->routes.size() + doc->services.size(), kMaxApplyEntries));
  }
  // Every entry checked before anything is written.
  struct Write {
    std::string kind, name, key, value, owner;
  };
  std::vector<Write> writes;
  size_t i = 0;
  for (const auto& e : doc->routes) {
    if (!e.named) {
      return Invalid(fmt::format("apply: routes[{}]: needs a name (routes are stored by name)", i));
    }
    auto r = CheckRoute(e.name, e.json, kOrigin, base_dir_);
    if (!r) return std::unexpected(r.error());
    if (guard) {
      if (auto g = guard(ScopeOfRoute(r->json)); !g) return std::unexpected(g.error());
    }
    writes.push_back({"route", r->name, RouteKey(r->name), r->json, r->owner});
    ++i;
  }
  std::set<std::string> service_keys;
  for (const auto& e : doc->services) {
    const auto slash = e.name.find('/');
    const std::string ns = slash == std::string::npos ? "default" : e.name.substr(0, slash);
    const std::string svc = slash == std::string::npos ? e.name : e.name.substr(slash + 1);
    auto s = CheckService(ns, svc, e.json, kOrigin);
    if (!s) return std::unexpected(s.error());
    if (guard) {
      if (auto g = guard(RouteScope{.namespaces = {ns}}); !g) return std::unexpected(g.error());
    }
    std::string key = ServiceSettingsKey(ns, svc);
    if (!service_keys.insert(key).second) {
      return Invalid(fmt::format("apply: services: \"{}\" is given twice", e.name));
    }
    writes.push_back({"service", ns + "/" + svc, key, s->json, ""});
  }

  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto current = store_.Get(kGatewayKeyPrefix, {.prefix = true});
    if (!current) return std::unexpected(current.error());
    std::map<std::string_view, const store::KeyValue*> by_key;
    for (const auto& kv : current->kvs) by_key[kv.key] = &kv;
    ApplyResult out;
    out.revision = current->revision;
    store::TxnRequest txn;
    for (const auto& w : writes) {
      auto it = by_key.find(w.key);
      const store::KeyValue* kv = it == by_key.end() ? nullptr : it->second;
      std::string action = "created";
      if (kv) {
        if (w.kind == "route" && guard) {
          if (auto g = guard(ScopeOfRoute(kv->value)); !g) return std::unexpected(g.error());
        }
        if (w.kind == "route") {
          const std::string owner = RouteOwner(kv->value);
          if (!owner.empty() && owner != w.owner && !force)
            return std::unexpected(Wrap(OwnedError(w.name, owner), "apply"));
        }
        action = kv->value == w.value ? "unchanged" : "configured";
      }
      out.items.push_back({w.kind, w.name, action});
      if (action == "unchanged") continue;
      txn.compare.push_back(Unchanged(w.key, kv ? kv->mod_revision : 0));
      txn.success.push_back(store::TxnOp::Put(w.key, w.value));
    }
    if (dry_run || txn.success.empty()) return out;
    auto r = store_.Txn(txn);
    if (!r) return std::unexpected(r.error());
    if (!r->succeeded) continue;
    out.revision = r->revision;
    return out;
  }
  return std::unexpected(RacedError());
}

Result<std::vector<StoredServiceSettings>> RouteStore::ListServices(int64_t* revision) {
  auto r = store_.Get(kServicesKeyPrefix, {.prefix = true});
  if (!r) return std::unexpected(r.error());
  if (revision) *revision = r->revision;
  std::vector<StoredServiceSettings> out;
  for (const auto& kv : r->kvs) {
    auto names = SplitServiceKey(kv.key);
    if (!names) continue;
    out.push_back({names->first, names->second, kv.value, kv.mod_revision});
  }
  return out;
}

Result<StoredServiceSettings> RouteStore::GetService(std::string_view ns,
                                                     std::string_view service) {
  if (auto r = CheckServiceNames("service", ns, service); !r) return std::unexpected(r.error());
  auto kv = Load(store_, ServiceSettingsKey(ns, service));
  if (!kv) return std::unexpected(kv.error());
  if (!*kv) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("no gateway settings for service {}/{}", ns, service));
  }
  return StoredServiceSettings{std::string(ns), std::string(service), (*kv)->value,
                               (*kv)->mod_revision};
}

Result<StoredServiceSettings> RouteStore::PutService(std::string_view ns, std::string_view service,
                                                     std::string_view body) {
  auto s = CheckService(ns, service, body, "body");
  if (!s) return std::unexpected(s.error());
  auto r = store_.Put(ServiceSettingsKey(ns, service), s->json);
  if (!r) return std::unexpected(r.error());
  s->mod_revision = r->revision;
  return s;
}

Result<int64_t> RouteStore::DeleteService(std::string_view ns, std::string_view service) {
  if (auto r = CheckServiceNames("service", ns, service); !r) return std::unexpected(r.error());
  auto r = store_.Delete(ServiceSettingsKey(ns, service));
  if (!r) return std::unexpected(r.error());
  if (r->deleted == 0) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("no gateway settings for service {}/{}", ns, service));
  }
  return r->revision;
}

}  // namespace berth::gateway
