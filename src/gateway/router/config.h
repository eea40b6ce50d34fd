// The gateway's configuration text (routes.yaml, YAML or JSON) into a Snapshot, and the same
// strict parser for single entries: one route (the JSON form the control plane stores at
// /gateway/routes/<name>) and one service's settings (/gateway/services/<ns>/<service>). The
// format is documented in src/gateway/README.md. Every error names the file, the route or
// service, and the field ("routes.yaml: route \"api\": match.path.regex: missing ')'"); unknown
// fields are errors, not silently ignored.
// Thread-safety: pure functions.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/input.h"
#include "gateway/router/route.h"

namespace berth::gateway::router {

// Parses configuration text. `origin` names it in errors; relative file paths inside (JWKS,
// certificates, access log) resolve against `base_dir`.
Result<SnapshotPtr> ParseConfig(std::string_view text, std::string_view origin = "config",
                                std::string_view base_dir = ".");
// Reads and parses a file.
Result<SnapshotPtr> LoadConfigFile(const std::string& path);

// The cluster name of registry service `service` in namespace `ns`: the bare service name in
// the default namespace, "<ns>/<service>" elsewhere. `services:` keys use the same form.
std::string ServiceClusterName(std::string_view ns, std::string_view service);
// The cluster name of a target that selects part of a registry service: instances with every
// tag of `tags` (sorted), reached on `port` (0: their registered port) —
// "shop/web[deploy=00ab...]", "web[app=shop,deploy=01]:9090"; without tags and port, the
// same as ServiceClusterName.
std::string ServiceClusterName(std::string_view ns, std::string_view service,
                               const std::vector<std::string>& tags, uint32_t port);

// One route entry, parsed alone: the route and the clusters its targets name. Inline
// `upstreams:` clusters are complete ("<route>#<i>"); `service:` clusters carry
// service_namespace/service_name, default settings and no endpoints (the caller fills them).
struct RouteEntry {
  std::shared_ptr<const Route> route;
  std::vector<std::shared_ptr<const Cluster>> clusters;
  std::string owner;  // the entry's optional "owner"
};
// Parses one entry of `routes:` (a JSON or YAML mapping) that must have a name.
Result<RouteEntry> ParseRouteEntry(std::string_view text, std::string_view origin = "route",
                                   std::string_view base_dir = ".");
// Reads one entry from a document already parsed; `name` names it when it has no "name".
Result<RouteEntry> ReadRouteEntry(const input::Node& entry, std::string_view name,
                                  std::string_view base_dir = ".");

// Parses one service's settings (an entry of `services:`) for cluster `cluster_name`.
// `allow_endpoints` false refuses `endpoints:` (registry services get theirs from the
// registry).
Result<std::shared_ptr<const Cluster>> ParseServiceSettings(std::string_view text,
                                                            std::string_view cluster_name,
                                                            std::string_view origin = "service",
                                                            bool allow_endpoints = true);
// The same from a document already parsed (a null node: every setting at its default).
Result<std::shared_ptr<const Cluster>> ReadServiceSettings(const input::Node& settings,
                                                           std::string_view cluster_name,
                                                           bool allow_endpoints = true);

// A whole document checked by the strict parser, then split into its entries as compact
// JSON text (YAML converted), for storing them one key each.
struct ConfigEntries {
  struct Entry {
    std::string name;   // route name ("route<i>" when the entry has none) or services: key
    std::string json;   // the entry as written, as JSON
    bool named = true;  // routes: whether the entry had a name
  };
  std::vector<Entry> routes;    // in document order
  std::vector<Entry> services;  // in key order
  bool has_tls = false;
  bool has_access_log = false;
};
Result<ConfigEntries> SplitConfig(std::string_view text, std::string_view origin = "config",
                                  std::string_view base_dir = ".");

}  // namespace berth::gateway::router
