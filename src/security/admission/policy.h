// Admission policy per namespace (what Kubernetes' Pod Security Admission and OPA Gatekeeper
// do, built in): a policy in YAML, stored at /security/policies/<ns>, judged against every
// workload before it runs — `apply`, `run`, scale-up and rollouts.
//
//   mode: enforce            # enforce (refuse) | warn (admit, say why) | audit (admit, record)
//   level: baseline          # privileged | baseline | restricted: the defaults below
//   allowPrivileged: false
//   allowHostNetwork: false
//   allowHostPID: false
//   allowedCapabilities: [NET_BIND_SERVICE]   # added capabilities beyond these: a violation
//   runAsNonRoot: true
//   readOnlyRootFilesystem: true
//   allowedRegistries: [registry.local:5000, docker.io/library]
//   denySeverity: high       # an image with a fixable finding at or above it
//   requireScan: true        # an image not scanned (or whose scan failed)
//
// Levels: `privileged` allows everything; `baseline` refuses privileged containers, host
// network and PID, and capabilities beyond Docker's default set; `restricted` adds non-root,
// a read-only root filesystem, only NET_BIND_SERVICE, a required scan and no fixable
// critical finding. Fields written in the policy override its level.
// One evaluation lists every violated rule; the caller refuses (enforce) or admits with
// warnings (warn, audit), and audits the decision.
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "security/scan/cvss.h"

namespace berth::security::admission {

enum class Mode { kEnforce, kWarn, kAudit };
std::string_view ModeName(Mode m);

struct Policy {
  std::string ns;
  Mode mode = Mode::kEnforce;
  std::string level = "baseline";
  bool allow_privileged = false;
  bool allow_host_network = false;
  bool allow_host_pid = false;
  std::vector<std::string> allowed_capabilities;
  bool run_as_non_root = false;
  bool read_only_root_filesystem = false;
  std::vector<std::string> allowed_registries;  // empty: any registry
  std::optional<scan::Severity> deny_severity;
  bool require_scan = false;
};

// Reads a policy (YAML or JSON) for namespace `ns`; errors name line, column and field.
Result<Policy> ParsePolicy(std::string_view text, std::string_view ns, std::string_view source);
Json PolicyToJson(const Policy& p);

// One container about to run, as admission sees it.
struct Container {
  std::string name;   // service or container name
  std::string image;  // as written ("registry.local:5000/shop/web:1")
  bool privileged = false;
  bool host_network = false;
  bool host_pid = false;
  std::vector<std::string> cap_add;
  std::string user;  // the run spec's user ("" : the image's)
  bool read_only_rootfs = false;
  // The spec asks the agent to refuse root at start (securityContext.runAsNonRoot): admitted
  // as non-root whatever the image's user, as Kubernetes' restricted level does.
  bool run_as_non_root = false;
};

// What the scanner published about an image (/security/scans/<image>).
struct ImageFacts {
  bool scanned = false;
  std::string error;  // why the scan failed
  std::string user;   // the image's configured user ("" : root)
  struct Finding {
    std::string advisory, package, fixed;
    scan::Severity severity = scan::Severity::kUnknown;
  };
  std::vector<Finding> findings;  // ignores already applied
};

struct Decision {
  Mode mode = Mode::kEnforce;
  std::vector<std::string> violations;  // every rule broken, one line each
  bool admitted() const { return mode != Mode::kEnforce || violations.empty(); }
  // "admission policy of namespace shop (enforce, level restricted) refuses app shop/web:
  // service api: ...; service db: ..."
  std::string Message(std::string_view ns, std::string_view what) const;
};

Decision Evaluate(const Policy& policy, const std::vector<Container>& containers,
                  const std::function<ImageFacts(const std::string& image)>& facts);

// The registry host of an image reference ("docker.io" when it names none).
std::string RegistryOf(std::string_view image);

}  // namespace berth::security::admission
