// Route matching over an immutable Snapshot. Built once per snapshot: routes are grouped into
// virtual hosts by host pattern (exact names in a hash map, "*.suffix" wildcards longest
// first, then "*"). A request is tried against the exact host's routes, then each matching
// wildcard's, then the catch-all's; in each group the first route (in file order) whose path,
// method and headers match wins.
// Thread-safety: immutable after Build; Match is const and safe from any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/router/route.h"

namespace berth::gateway::router {

struct MatchInput {
  std::string_view host;  // lowercased, without port
  std::string_view method;
  std::string_view path;  // raw path, no query
  // Returns the first value of a header (case-insensitive name), if present.
  std::function<std::optional<std::string_view>(std::string_view)> header;
};

class RouteTable {
 public:
  explicit RouteTable(SnapshotPtr snapshot);

  // The first matching route, or nullptr (404).
  const Route* Match(const MatchInput& input) const;
  const Snapshot& snapshot() const { return *snapshot_; }
  const SnapshotPtr& snapshot_ptr() const { return snapshot_; }

  // The upstream path after the route's prefix rewrite ("/api/v1/x" with prefix "/api" and
  // rewrite "/" gives "/v1/x"). `target` is path plus query.
  static std::string RewritePath(const Route& route, std::string_view target);

 private:
  using Group = std::vector<const Route*>;
  static const Route* MatchGroup(const Group& group, const MatchInput& input);

  SnapshotPtr snapshot_;
  std::unordered_map<std::string, Group> exact_;
  std::vector<std::pair<std::string, Group>> wildcards_;  // suffix ".example.com", longest first
  Group any_;
};

// Whether `route` matches `input` ignoring hosts.
bool RouteMatches(const Route& route, const MatchInput& input);

}  // namespace berth::gateway::router
