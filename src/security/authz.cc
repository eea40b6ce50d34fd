#include "security/authz.h"

#include <fmt/core.h>

#include <algorithm>

namespace berth::security {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNone:
      return "none";
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "none";
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "operator") return Role::kOperator;
  if (name == "admin") return Role::kAdmin;
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format("unknown role \"{}\" (want admin, operator or viewer)", name.substr(0, 64)));
}

Result<void> ValidateNamespaceName(std::string_view ns) {
  bool ok =
      !ns.empty() && ns.size() <= 63 && ns.front() >= 'a' && ns.front() <= 'z' && ns.back() != '-';
  for (char c : ns) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (ok) return {};
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("namespace \"{}\" is not a namespace name: use 1-63 lower-case letters, "
                          "digits and '-', starting with a letter",
                          ns.substr(0, 80)));
}

Result<void> NormalizeBindings(std::vector<Binding>& bindings) {
  for (const auto& b : bindings) {
    if (auto v = ValidateNamespaceName(b.ns); !v) return v;
    if (b.role == Role::kAdmin) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("admin is a global role: it cannot be bound to namespace {} "
                              "(bind operator or viewer)",
                              b.ns));
    }
    if (b.role != Role::kOperator && b.role != Role::kViewer) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("binding for namespace {} needs a role: operator or viewer", b.ns));
    }
  }
  std::sort(bindings.begin(), bindings.end(),
            [](const Binding& a, const Binding& b) { return a.ns < b.ns; });
  for (size_t i = 1; i < bindings.size(); ++i) {
    if (bindings[i].ns == bindings[i - 1].ns) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("namespace {} is bound twice; give each namespace one role", bindings[i].ns));
    }
  }
  return {};
}

std::string DescribeBindings(const std::vector<Binding>& bindings) {
  std::string out;
  for (const auto& b : bindings) {
    if (!out.empty()) out += ", ";
    fmt::format_to(std::back_inserter(out), "{} of {}", RoleName(b.role), b.ns);
  }
  return out;
}

Role Principal::RoleIn(std::string_view ns) const {
  Role best = role;
  auto it = std::lower_bound(bindings.begin(), bindings.end(), ns,
                             [](const Binding& b, std::string_view n) { return b.ns < n; });
  if (it != bindings.end() && it->ns == ns && it->role > best) best = it->role;
  return best;
}

Role Principal::HighestRole() const {
  Role best = role;
  for (const auto& b : bindings) best = std::max(best, b.role);
  return best;
}

namespace {
// "token "ci" (operator of shop, viewer of billing)" / "token "ci" (viewer)".
std::string Holds(const Principal& who) {
  std::string held;
  if (who.role != Role::kNone) held = fmt::format("global {}", RoleName(who.role));
  if (!who.bindings.empty()) {
    if (!held.empty()) held += "; ";
    held += DescribeBindings(who.bindings);
  }
  if (held.empty()) held = "no role";
  return fmt::format("token \"{}\" has {}", who.name, held);
}
}  // namespace

Result<void> Authorize(const Principal& who, std::string_view ns, Role need) {
  if (who.RoleIn(ns) >= need) return {};
  return Fail(ErrorCode::kPermissionDenied,
              fmt::format("needs role {} in namespace {} ({})", RoleName(need), ns.substr(0, 80),
                          Holds(who)));
}

Result<void> AuthorizeCluster(const Principal& who, Role need) {
  if (who.role >= need) return {};
  return Fail(ErrorCode::kPermissionDenied,
              fmt::format("needs role {} as a global role: this is not in a namespace ({})",
                          RoleName(need), Holds(who)));
}

}  // namespace berth::security
