// The registry's domain types: namespaces -> services -> instances, their validation, their
// JSON forms and where they live in the store.
//
// Key layout (one key per instance; the value is the instance's stored JSON):
//
//   /registry/<namespace>/<service>/<instance-id>
//
// Namespaces and services are DNS labels (a-z, 0-9, '-', at most 63 bytes, no leading or
// trailing '-') because they become DNS names (`<service>.service.<ns>.berth`). Instance ids
// are 1..128 bytes of [A-Za-z0-9._-]. A namespace or service exists while it has at least
// one instance; there are no separate namespace/service records. An instance with a TTL is
// attached to a store lease, so the store deletes the key when the lease lapses.
//
// Two JSON forms:
// - the registration body (what a client PUTs): address, port, tags, metadata, weight, ttl,
//   deregister_after, check. Unknown fields are rejected.
// - the stored/reported form: the registration plus the server-maintained health fields
//   (health, health_output, health_since, preserved) and, when reported, ns/service/id,
//   revision and lease.
// Thread-safety: plain values and pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/input.h"
#include "core/units.h"  // durations: ParseDuration, FormatDuration

namespace berth::registry {

inline constexpr std::string_view kDefaultNamespace = "default";
inline constexpr std::string_view kKeyRoot = "/registry/";
// The health output of an instance whose check has not run yet.
inline constexpr std::string_view kNoCheckResultYet = "no check result yet";
// Metadata naming the container an instance runs in ("berth.container": a container name or
// id on the node agent); exec checks run inside it and need it.
inline constexpr std::string_view kContainerMetadataKey = "berth.container";
// Metadata naming the node whose agent owns that container ("berth.node": a node name as in
// /v1/nodes). An instance with it has its exec check run by that node's agent, which reports
// the result (node-local exec checks); without it the control plane's health leader runs it
// through a node agent in its own process (berthd dev).
inline constexpr std::string_view kNodeMetadataKey = "berth.node";
// The most bytes of check output a node may report.
inline constexpr size_t kMaxHealthOutputBytes = 1024;

// Limits enforced by validation.
inline constexpr size_t kMaxLabelBytes = 63;
inline constexpr size_t kMaxInstanceIdBytes = 128;
inline constexpr size_t kMaxAddressBytes = 253;
inline constexpr size_t kMaxTags = 64;
inline constexpr size_t kMaxTagBytes = 128;
inline constexpr size_t kMaxMetadataEntries = 64;
inline constexpr size_t kMaxMetadataKeyBytes = 128;
inline constexpr size_t kMaxMetadataValueBytes = 512;
inline constexpr uint32_t kMaxWeight = 10000;
inline constexpr int64_t kMaxTtlSeconds = 24 * 3600;
inline constexpr int kMaxThreshold = 100;

enum class Health { kPassing, kWarning, kCritical };
std::string_view HealthName(Health health);
std::optional<Health> ParseHealth(std::string_view text);

using Millis = std::chrono::milliseconds;

struct CheckSpec {
  enum class Kind { kHttp, kTcp, kExec };
  Kind kind = Kind::kHttp;
  std::string http;                  // kHttp: "http://host:port/path" or https
  std::string tcp;                   // kTcp: "host:port"
  std::vector<std::string> command;  // kExec: argv, run in the instance's container
  Millis interval{10'000};
  Millis timeout{2'000};
  int rise = 2;  // consecutive passes to become passing again
  int fall = 3;  // consecutive failures to become critical (or warning)

  bool operator==(const CheckSpec&) const = default;
};
std::string_view CheckKindName(CheckSpec::Kind kind);

struct Instance {
  // Identity (from the URL, not the body).
  std::string ns{kDefaultNamespace};
  std::string service;
  std::string id;
  // Registration.
  std::string address;
  uint32_t port = 0;
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
  uint32_t weight = 1;
  int64_t ttl_seconds = 0;     // 0: no lease; lives until deregistered
  Millis deregister_after{0};  // 0: never; else remove once critical this long
  std::optional<CheckSpec> check;
  // Server-maintained.
  Health health = Health::kPassing;
  std::string health_output;    // why (last check's result, self-preservation note)
  int64_t health_since_ms = 0;  // wall ms of the last health transition
  bool preserved = false;       // kept alive by self-preservation
  int64_t revision = 0;         // store mod_revision of the instance key
  int64_t lease = 0;            // store lease id, when ttl_seconds > 0

  // True when the registration part (what a client controls) is the same.
  bool SameRegistration(const Instance& other) const;
  bool HasTag(std::string_view tag) const;
};

// Validation of names; errors name the field and the rule broken.
Result<void> ValidateNamespace(std::string_view ns);
Result<void> ValidateServiceName(std::string_view service);
Result<void> ValidateInstanceId(std::string_view id);
// Validates every registration field of `instance` (identity included).
Result<void> ValidateInstance(const Instance& instance);

// Parses a registration body for ns/service/id; rejects unknown fields and validates.
Result<Instance> ParseRegistration(std::string_view body, std::string_view ns,
                                   std::string_view service, std::string_view id);

// The stored form (value of the instance key): registration + health fields.
std::string EncodeStored(const Instance& instance);
// Decodes a stored value found at `key` with the key's mod_revision and lease.
Result<Instance> DecodeStored(std::string_view key, std::string_view value, int64_t mod_revision,
                              int64_t lease);

// The reported JSON text of an instance (stored form + ns, service, id, revision, lease).
std::string InstanceToJsonText(const Instance& instance);
// The same as a Json value, for responses that embed it in a larger document.
nlohmann::json InstanceToJson(const Instance& instance);
// The same four through a Json tree: the reference the hand-written paths above must equal
// byte for byte (they fall back to these for what they do not handle: escapes in input,
// checks in input, ill-formed UTF-8...). For tests; slower.
Result<Instance> ParseRegistrationViaJson(std::string_view body, std::string_view ns,
                                          std::string_view service, std::string_view id);
std::string EncodeStoredViaJson(const Instance& instance);
Result<Instance> DecodeStoredViaJson(std::string_view key, std::string_view value,
                                     int64_t mod_revision, int64_t lease);
std::string InstanceToJsonTextViaJson(const Instance& instance);

// Parses InstanceToJsonText's form back (the node agent reads its checks this way).
Result<Instance> DecodeReported(std::string_view json_text);
// The same from a node of a document already parsed (a list the api answered with).
Result<Instance> ReadReported(const input::Node& node);

// Node-local exec checks: the node whose agent runs `instance`'s check, when the check is an
// exec check and the instance names a node (kNodeMetadataKey); nullopt when the control
// plane's health leader runs the check (http, tcp, and exec without a node).
std::optional<std::string> ExecCheckNode(const Instance& instance);

// A node's report of its exec check's result: PUT .../{instance}/health
// {"status": "passing"|"warning"|"critical", "output": "..."} (unknown fields refused,
// output at most kMaxHealthOutputBytes).
struct HealthReport {
  Health status = Health::kCritical;
  std::string output;
};
Result<HealthReport> ParseHealthReport(std::string_view body);
// Node tokens write only their own node's instances: those whose metadata names the node
// (kNodeMetadataKey), as the node agent's registrations do. `writer_node` is the node the
// caller's token is bound to (empty: not a node token; nothing to check). `stored` is the
// instance as stored (nullptr when there is none) and `incoming` the registration
// (nullptr for a heartbeat or a deregistration). kPermissionDenied names the other node.
Result<void> AuthorizeNodeWrite(std::string_view writer_node, const Instance* stored,
                                const Instance* incoming);
// Whether a caller may report the health of `instance`: only for a node-local exec check
// (kFailedPrecondition otherwise), and only an admin or a token bound to that very node
// (`reporter_node`, empty for unbound tokens) may (kPermissionDenied otherwise).
Result<void> AuthorizeHealthReport(const Instance& instance, std::string_view reporter_node,
                                   bool admin);

// Keys.
std::string InstanceKey(std::string_view ns, std::string_view service, std::string_view id);
std::string ServicePrefix(std::string_view ns, std::string_view service);
std::string NamespacePrefix(std::string_view ns);
struct KeyParts {
  std::string ns, service, id;
};
// Splits "/registry/<ns>/<service>/<id>"; nullopt for any other shape.
std::optional<KeyParts> ParseInstanceKey(std::string_view key);

}  // namespace berth::registry
