// OCI bundles: turns what the agent decided about one container (a BundleSpec) into the
// OCI runtime spec's config.json, with Berth's hardened default profile:
// - capabilities: Docker's default set minus NET_RAW (plus cap_add, minus cap_drop);
// - no_new_privileges; the default seccomp profile (seccomp_profile.h);
// - Docker's masked and read-only /proc and /sys paths; /sys read-only;
// - rlimits clamped to the host's hard limits (RLIMIT_NOFILE 1024 by default);
// - cgroup limits for memory (swap disabled), CPU quota and pids.
// `privileged` lifts capabilities, seccomp and path masking; the caller (the API) decides
// whether the user may ask for it.
// Thread-safety: pure functions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace berth::agent::runtime {

struct Resources {
  int64_t memory_bytes = 0;  // 0: unlimited
  double cpus = 0;           // 0: unlimited; 0.5 = half a core
  int64_t pids = 0;          // 0: unlimited
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct SecurityProfile {
  bool privileged = false;
  std::vector<std::string> cap_add;   // "NET_ADMIN" or "CAP_NET_ADMIN"
  std::vector<std::string> cap_drop;  // "ALL" drops every default
  bool read_only_rootfs = false;
  bool no_new_privileges = true;
  bool seccomp = true;
  // User-namespace remapping: container root runs as an unprivileged host uid.
  std::optional<IdMapping> uid_map;
  std::optional<IdMapping> gid_map;
};

enum class NetworkMode { kBridge, kNone, kHost };

struct BindMount {
  std::string source;       // host path
  std::string destination;  // in the container
  bool read_only = false;
};

struct BundleSpec {
  std::string id;
  std::string hostname;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additional_gids;
  std::string rootfs;  // absolute path of the prepared root filesystem
  Resources resources;
  SecurityProfile security;
  NetworkMode network = NetworkMode::kBridge;
  std::string netns_path;    // bridge mode: the namespace CNI configured
  std::string cgroups_path;  // "/berth/<id>"
  std::vector<BindMount> mounts;
  uint64_t nofile = 1024;
};

// Docker's default capability set without CAP_NET_RAW, as "CAP_..." names.
std::vector<std::string> DefaultCapabilities();
// Every capability the kernel knows that the agent's own bounding set holds (for
// privileged containers).
std::vector<std::string> AllCapabilities();
// The agent process's bounding set (CapBnd of /proc/self/status).
uint64_t HostBoundingSet();
// The capabilities a spec ends up with (defaults, cap_add, cap_drop, privileged).
std::vector<std::string> EffectiveCapabilities(const SecurityProfile& profile);
// CapEff bitmask as /proc/<pid>/status prints it for a root process with `caps`.
uint64_t CapabilityMask(const std::vector<std::string>& caps);

std::vector<std::string> DefaultMaskedPaths();
std::vector<std::string> DefaultReadonlyPaths();

// The config.json document. `host_nofile_hard` is this host's RLIMIT_NOFILE hard limit.
nlohmann::json BuildOciConfig(const BundleSpec& spec, uint64_t host_nofile_hard);

}  // namespace berth::agent::runtime
