#include "gateway/router/route_table.h"

#include <re2/re2.h>
#include <strings.h>

#include <algorithm>

namespace berth::gateway::router {

RouteTable::RouteTable(SnapshotPtr snapshot) : snapshot_(std::move(snapshot)) {
  for (const auto& r : snapshot_->routes) {
    for (const auto& host : r->hosts) {
      if (host == "*") {
        any_.push_back(r.get());
      } else if (host.starts_with("*.")) {
        std::string suffix = host.substr(1);
        auto it = std::find_if(wildcards_.begin(), wildcards_.end(),
                               [&](const auto& w) { return w.first == suffix; });
        if (it == wildcards_.end()) {
          wildcards_.emplace_back(suffix, Group{});
          it = wildcards_.end() - 1;
        }
        it->second.push_back(r.get());
      } else {
        exact_[host].push_back(r.get());
      }
    }
  }
  std::stable_sort(wildcards_.begin(), wildcards_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

bool RouteMatches(const Route& route, const MatchInput& input) {
  switch (route.path.kind) {
    case PathMatcher::Kind::kPrefix:
      if (!input.path.starts_with(route.path.value)) return false;
      break;
    case PathMatcher::Kind::kExact:
      if (input.path != route.path.value) return false;
      break;
    case PathMatcher::Kind::kRegex:
      if (!RE2::FullMatch(re2::StringPiece(input.path.data(), input.path.size()),
                          *route.path.regex)) {
        return false;
      }
      break;
  }
  if (!route.methods.empty() &&
      std::find(route.methods.begin(), route.methods.end(), input.method) == route.methods.end()) {
    return false;
  }
  for (const auto& m : route.headers) {
    auto value = input.header ? input.header(m.name) : std::nullopt;
    bool ok = false;
    switch (m.kind) {
      case HeaderMatcher::Kind::kPresent:
        ok = value.has_value();
        break;
      case HeaderMatcher::Kind::kExact:
        ok = value && *value == m.value;
        break;
      case HeaderMatcher::Kind::kRegex:
        ok = value && RE2::FullMatch(re2::StringPiece(value->data(), value->size()), *m.regex);
        break;
    }
    if (ok == m.invert) return false;
  }
  return true;
}

const Route* RouteTable::MatchGroup(const Group& group, const MatchInput& input) {
  for (const Route* r : group) {
    if (RouteMatches(*r, input)) return r;
  }
  return nullptr;
}

const Route* RouteTable::Match(const MatchInput& input) const {
  if (!exact_.empty()) {
    auto it = exact_.find(std::string(input.host));
    if (it != exact_.end()) {
      if (const Route* r = MatchGroup(it->second, input)) return r;
    }
  }
  for (const auto& [suffix, group] : wildcards_) {
    // "*.example.com" matches "a.example.com" and "a.b.example.com", not "example.com".
    if (input.host.size() > suffix.size() && input.host.ends_with(suffix)) {
      if (const Route* r = MatchGroup(group, input)) return r;
    }
  }
  return MatchGroup(any_, input);
}

std::string RouteTable::RewritePath(const Route& route, std::string_view target) {
  if (!route.prefix_rewrite || route.path.kind != PathMatcher::Kind::kPrefix ||
      !target.starts_with(route.path.value)) {
    return std::string(target);
  }
  std::string out = *route.prefix_rewrite;
  std::string_view rest = target.substr(route.path.value.size());
  // Avoid "//" when both the rewrite ends and the rest starts with '/'.
  if (out.ends_with('/') && rest.starts_with('/')) rest.remove_prefix(1);
  if (out.empty() && !rest.starts_with('/')) out.push_back('/');
  out += rest;
  return out;
}

}  // namespace berth::gateway::router
