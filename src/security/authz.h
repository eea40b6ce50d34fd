// Who may do what. A caller (a `Principal`: the token of an API request) has a global role,
// which counts in every namespace and for cluster-wide resources (nodes, images, raw KV,
// tokens), and role bindings: a role in one namespace only ("operator of shop, viewer of
// billing"). Roles are ordered viewer < operator < admin; admin is global only.
//
// The one check every component makes before it acts on something in a namespace:
//
//   if (auto ok = security::Authorize(principal, ns, Role::kOperator); !ok) return ok.error();
//
// (API handlers call `Call::Authorize(ns, role)`, which answers the 403 itself; see
// src/security/README.md and src/api/README.md.) Lists and watches show only what
// `principal.MayRead(ns)` allows.
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::security {

// kNone: no global role (a token with bindings only).
enum class Role { kNone = -1, kViewer = 0, kOperator = 1, kAdmin = 2 };

std::string_view RoleName(Role role);
// "viewer", "operator" or "admin"; kInvalidArgument naming the word otherwise.
Result<Role> ParseRole(std::string_view name);

// A role in one namespace.
struct Binding {
  std::string ns;
  Role role = Role::kViewer;
  bool operator==(const Binding&) const = default;
};

// Namespace names as every component takes them: 1-63 lower-case letters, digits and '-',
// starting with a letter, not ending with '-'.
Result<void> ValidateNamespaceName(std::string_view ns);
// Checks bindings as a token may hold them (valid names, viewer or operator, one per
// namespace) and sorts them by namespace.
Result<void> NormalizeBindings(std::vector<Binding>& bindings);
// "operator of shop, viewer of billing" (for messages).
std::string DescribeBindings(const std::vector<Binding>& bindings);

// The caller of an API request once its token checks out.
struct Principal {
  std::string token_id;
  std::string name;
  Role role = Role::kNone;        // global role
  std::vector<Binding> bindings;  // sorted by namespace
  std::string node;               // the node this token speaks for ("" : none)

  // The role held in `ns`: the global role or the binding there, whichever is higher.
  Role RoleIn(std::string_view ns) const;
  bool MayRead(std::string_view ns) const { return RoleIn(ns) >= Role::kViewer; }
  // The highest role held anywhere (globally or in some namespace).
  Role HighestRole() const;
  // True when every namespace is visible (a global role of viewer or more).
  bool SeesAllNamespaces() const { return role >= Role::kViewer; }
};

// OK when `who` holds `need` in namespace `ns`; kPermissionDenied naming the token, the
// namespace, the role needed and what the token holds otherwise.
Result<void> Authorize(const Principal& who, std::string_view ns, Role need);
// For cluster-wide resources: OK when the global role is at least `need`.
Result<void> AuthorizeCluster(const Principal& who, Role need);

}  // namespace berth::security
