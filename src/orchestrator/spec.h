// App specs: the YAML a user applies (`berth apply -f app.yaml`), the common subset of a
// Docker Compose file, and the JSON form the control plane keeps under /apps/<ns>/<app>.
// Read with the strict reader (core/input.h): every error names the file, the line, the
// column and the field ("app.yaml:12:15: services.api.replicas: must be a non-negative
// integer, got \"three\""); unknown fields are errors at their key. Durations, sizes and CPU
// follow core/units.h. The YAML schema is documented in src/orchestrator/README.md.
// Called by the api (admission), the cli (apply --dry-run) and the reconciler (store reads).
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

#include "core/error.h"
#include "core/input.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

// Limits on input size so a hostile spec cannot make the parser (or the store) work hard.
constexpr size_t kMaxSpecBytes = 1 << 20;

// Parses and validates a Berth app spec.
Result<App> ParseAppYaml(std::string_view text, std::string_view filename = "app.yaml");

// Parses the common subset of a Docker Compose file: services.<name>.{image, command,
// entrypoint, environment, ports, deploy.replicas, deploy.resources.limits.{cpus, memory,
// pids}}; other Compose keys are rejected with their line, except `version`, `networks`,
// `volumes` at the top level and `container_name`, `restart` in a service, which are
// ignored or mapped (restart). `name` names the app when the file has no top-level name.
Result<App> ParseComposeYaml(std::string_view text, std::string_view filename,
                             std::string_view app_name, std::string_view ns = "default");

// Picks the format by file name: docker-compose*.y[a]ml and compose*.y[a]ml are Compose
// (the app is named after `default_name`), anything else is a Berth spec.
Result<App> ParseAppFile(std::string_view text, std::string_view filename,
                         std::string_view default_name = "app");

// The JSON kept in the store. AppFromJson(AppToJson(a)) == a for every valid app.
std::string AppToJson(const App& app);
Result<App> AppFromJson(std::string_view json);
nlohmann::json AppToJsonValue(const App& app);  // AppToJson's document as a value
nlohmann::json ServiceSpecToJson(const ServiceSpec& spec);
Result<ServiceSpec> ServiceSpecFromJson(const nlohmann::json& json);
// The same from a node of a document being read (an assignment's "spec").
Result<ServiceSpec> ServiceSpecFromNode(const input::Node& node);

}  // namespace berth::orchestrator
