#include "agent/runtime/bundle.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "agent/runtime/seccomp_profile.h"
#include "core/json.h"

namespace berth::agent::runtime {
namespace {

const std::map<std::string, int>& CapabilityBits() {
  static const std::map<std::string, int> kBits = {
      {"CAP_CHOWN", 0},
      {"CAP_DAC_OVERRIDE", 1},
      {"CAP_DAC_READ_SEARCH", 2},
      {"CAP_FOWNER", 3},
      {"CAP_FSETID", 4},
      {"CAP_KILL", 5},
      {"CAP_SETGID", 6},
      {"CAP_SETUID", 7},
      {"CAP_SETPCAP", 8},
      {"CAP_LINUX_IMMUTABLE", 9},
      {"CAP_NET_BIND_SERVICE", 10},
      {"CAP_NET_BROADCAST", 11},
      {"CAP_NET_ADMIN", 12},
      {"CAP_NET_RAW", 13},
      {"CAP_IPC_LOCK", 14},
      {"CAP_IPC_OWNER", 15},
      {"CAP_SYS_MODULE", 16},
      {"CAP_SYS_RAWIO", 17},
      {"CAP_SYS_CHROOT", 18},
      {"CAP_SYS_PTRACE", 19},
      {"CAP_SYS_PACCT", 20},
      {"CAP_SYS_ADMIN", 21},
      {"CAP_SYS_BOOT", 22},
      {"CAP_SYS_NICE", 23},
      {"CAP_SYS_RESOURCE", 24},
      {"CAP_SYS_TIME", 25},
      {"CAP_SYS_TTY_CONFIG", 26},
      {"CAP_MKNOD", 27},
      {"CAP_LEASE", 28},
      {"CAP_AUDIT_WRITE", 29},
      {"CAP_AUDIT_CONTROL", 30},
      {"CAP_SETFCAP", 31},
      {"CAP_MAC_OVERRIDE", 32},
      {"CAP_MAC_ADMIN", 33},
      {"CAP_SYSLOG", 34},
      {"CAP_WAKE_ALARM", 35},
      {"CAP_BLOCK_SUSPEND", 36},
      {"CAP_AUDIT_READ", 37},
      {"CAP_PERFMON", 38},
      {"CAP_BPF", 39},
      {"CAP_CHECKPOINT_RESTORE", 40},
  };
  return kBits;
}

std::string CapName(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  if (!name.starts_with("CAP_") && name != "ALL") name = "CAP_" + name;
  return name;
}

}  // namespace

std::vector<std::string> DefaultCapabilities() {
  // Docker's default set (moby oci/caps/defaults.go) without CAP_NET_RAW.
  return {"CAP_CHOWN",      "CAP_DAC_OVERRIDE",     "CAP_FSETID",     "CAP_FOWNER",
          "CAP_MKNOD",      "CAP_SETGID",           "CAP_SETUID",     "CAP_SETFCAP",
          "CAP_SETPCAP",    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
          "CAP_AUDIT_WRITE"};
}

// The agent's own bounding set: a container can never hold more (runc fails with "unable
// to apply caps" when asked to), and sandboxed hosts drop some (CAP_SYS_RESOURCE, ...).
uint64_t HostBoundingSet() {
  static const uint64_t kSet = [] {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("CapBnd:", 0) == 0)
        return static_cast<uint64_t>(std::stoull(line.substr(7), nullptr, 16));
    return ~uint64_t{0};
  }();
  return kSet;
}

std::vector<std::string> AllCapabilities() {
  std::vector<std::string> out;
  for (const auto& [name, bit] : CapabilityBits())
    if (HostBoundingSet() & (uint64_t{1} << bit)) out.push_back(name);
  return out;
}

std::vector<std::string> EffectiveCapabilities(const SecurityProfile& p) {
  if (p.privileged) return AllCapabilities();
  std::vector<std::string> caps = DefaultCapabilities();
  for (const auto& d : p.cap_drop) {
    std::string n = CapName(d);
    if (n == "ALL") caps.clear();
    std::erase(caps, n);
  }
  for (const auto& a : p.cap_add) {
    std::string n = CapName(a);
    if (n == "ALL") return AllCapabilities();
    if (CapabilityBits().count(n) && std::find(caps.begin(), caps.end(), n) == caps.end())
      caps.push_back(n);
  }
  return caps;
}

uint64_t CapabilityMask(const std::vector<std::string>& caps) {
  uint64_t mask = 0;
  for (const auto& c : caps)
    if (auto it = CapabilityBits().find(c); it != CapabilityBits().end())
      mask |= 1ull << it->second;
  return mask;
}

std::vector<std::string> DefaultMaskedPaths() {
  return {"/proc/asound",
          "/proc/acpi",
          "/proc/kcore",
          "/proc/keys",
          "/proc/latency_stats",
          "/proc/timer_list",
          "/proc/timer_stats",
          "/proc/sched_debug",
          "/proc/scsi",
          "/sys/firmware",
          "/sys/devices/virtual/powercap"};
}

std::vector<std::string> DefaultReadonlyPaths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

nlohmann::json BuildOciConfig(const BundleSpec& spec, uint64_t host_nofile_hard) {
  const SecurityProfile& sec = spec.security;
  std::vector<std::string> caps = EffectiveCapabilities(sec);
  uint64_t nofile = std::min<uint64_t>(spec.nofile ? spec.nofile : 1024, host_nofile_hard);

  Json process = {
      {"terminal", false},
      {"user", {{"uid", spec.uid}, {"gid", spec.gid}}},
      {"args", spec.args},
      {"env", spec.env},
      {"cwd", spec.cwd.empty() ? "/" : spec.cwd},
      {"capabilities",
       {{"bounding", caps},
        {"effective", caps},
        {"permitted", caps},
        {"inheritable", Json::array()}}},
      {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", nofile}, {"soft", nofile}}}},
      {"noNewPrivileges", sec.no_new_privileges && !sec.privileged},
  };
  if (!spec.additional_gids.empty()) process["user"]["additionalGids"] = spec.additional_gids;

  const bool userns = sec.uid_map.has_value();
  Json mounts = Json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
  });
  if (spec.network == NetworkMode::kHost || userns) {
    // Without a network namespace of its own (or inside a user namespace) sysfs cannot be
    // mounted fresh; bind the host's read-only instead.
    mounts.push_back({{"destination", "/sys"},
                      {"type", "bind"},
                      {"source", "/sys"},
                      {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}});
  } else {
    mounts.push_back({{"destination", "/sys"},
                      {"type", "sysfs"},
                      {"source", "sysfs"},
                      {"options", {"nosuid", "noexec", "nodev", sec.privileged ? "rw" : "ro"}}});
    mounts.push_back({{"destination", "/sys/fs/cgroup"},
                      {"type", "cgroup"},
                      {"source", "cgroup"},
                      {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}});
  }
  for (const auto& m : spec.mounts) {
    Json opts = {"rbind", "rprivate"};
    if (m.read_only) opts.push_back("ro");
    mounts.push_back({{"destination", m.destination},
                      {"type", "bind"},
                      {"source", m.source},
                      {"options", opts}});
  }

  Json namespaces =
      Json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (spec.network == NetworkMode::kBridge && !spec.netns_path.empty())
    namespaces.push_back({{"type", "network"}, {"path", spec.netns_path}});
  else if (spec.network != NetworkMode::kHost)
    namespaces.push_back({{"type", "network"}});
  if (userns) namespaces.push_back({{"type", "user"}});

  Json resources = {{"devices", {{{"allow", sec.privileged}, {"access", "rwm"}}}}};
  if (spec.resources.memory_bytes > 0)
    resources["memory"] = {{"limit", spec.resources.memory_bytes},
                           {"swap", spec.resources.memory_bytes}};
  if (spec.resources.cpus > 0) {
    const int64_t period = 100000;
    resources["cpu"] = {{"quota", static_cast<int64_t>(std::llround(spec.resources.cpus * period))},
                        {"period", period}};
  }
  if (spec.resources.pids > 0) resources["pids"] = {{"limit", spec.resources.pids}};

  Json linux = {{"namespaces", namespaces}, {"resources", resources}};
  if (!spec.cgroups_path.empty()) linux["cgroupsPath"] = spec.cgroups_path;
  if (!sec.privileged) {
    linux["maskedPaths"] = DefaultMaskedPaths();
    linux["readonlyPaths"] = DefaultReadonlyPaths();
    if (sec.seccomp) linux["seccomp"] = DefaultSeccompProfile();
  }
  if (userns) {
    auto map = [](const IdMapping& m) {
      return Json::array(
          {{{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}}});
    };
    linux["uidMappings"] = map(*sec.uid_map);
    linux["gidMappings"] = map(sec.gid_map ? *sec.gid_map : *sec.uid_map);
  }
  return {{"ociVersion", "1.0.2"},
          {"process", process},
          {"root", {{"path", spec.rootfs}, {"readonly", sec.read_only_rootfs}}},
          {"hostname", spec.hostname},
          {"mounts", mounts},
          {"linux", linux}};
}

}  // namespace berth::agent::runtime
