// The gateway's static configuration file (routes.yaml, YAML or JSON) into a Snapshot. The
// format is documented in src/gateway/README.md. Every error names the file, the route or
// service, and the field ("routes.yaml: route \"api\": match.path.regex: missing ')'"); unknown
// fields are errors, not silently ignored.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"
#include "gateway/router/route.h"

namespace berth::gateway::router {

// Parses configuration text. `origin` names it in errors; relative file paths inside (JWKS,
// certificates, access log) resolve against `base_dir`.
Result<SnapshotPtr> ParseConfig(std::string_view text, std::string_view origin = "config",
                                std::string_view base_dir = ".");
// Reads and parses a file.
Result<SnapshotPtr> LoadConfigFile(const std::string& path);

}  // namespace berth::gateway::router
