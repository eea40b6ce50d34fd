#include "agent/runtime/cgroup_layout.h"

#include <errno.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "agent/internal/sys.h"

namespace berth::agent::runtime {
namespace {

constexpr const char* kUnifiedPath = "/sys/fs/cgroup/unified";

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "none" : out;
}

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

}  // namespace

Result<CgroupLayout> ReadCgroupLayout() {
  CgroupLayout layout;
  struct statfs st;
  if (::statfs("/sys/fs/cgroup", &st) != 0)
    return Fail(ErrorCode::kFailedPrecondition, "no cgroup file system on /sys/fs/cgroup");
  if (st.f_type == CGROUP2_SUPER_MAGIC) {
    layout.mode = CgroupLayout::Mode::kUnified;
    layout.v2_controllers =
        Words(internal::ReadFile("/sys/fs/cgroup/cgroup.controllers").value_or(""));
    return layout;
  }
  if (st.f_type != TMPFS_MAGIC)
    return Fail(ErrorCode::kFailedPrecondition,
                "/sys/fs/cgroup is neither cgroup2 nor a tmpfs of v1 hierarchies");
  layout.mode = CgroupLayout::Mode::kLegacy;
  if (::statfs(kUnifiedPath, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) {
    layout.mode = CgroupLayout::Mode::kHybrid;
    layout.v2_controllers =
        Words(internal::ReadFile(std::string(kUnifiedPath) + "/cgroup.controllers").value_or(""));
  }
  // /proc/cgroups: "subsys_name hierarchy num_cgroups enabled"; hierarchy 0 is v2 or unbound.
  std::ifstream in("/proc/cgroups");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto w = Words(line);
    if (w.size() >= 4 && w[1] != "0" && w[3] == "1") layout.v1_controllers.push_back(w[0]);
  }
  return layout;
}

std::string DescribeCgroupLayout(const CgroupLayout& l) {
  switch (l.mode) {
    case CgroupLayout::Mode::kUnified:
      return "unified (cgroup v2 on /sys/fs/cgroup: " + Join(l.v2_controllers) + ")";
    case CgroupLayout::Mode::kLegacy:
      return "legacy (cgroup v1: " + Join(l.v1_controllers) + ")";
    case CgroupLayout::Mode::kHybrid:
      return "hybrid (cgroup v1: " + Join(l.v1_controllers) + "; cgroup v2 on " + kUnifiedPath +
             ": " + Join(l.v2_controllers) + ")";
  }
  return "unknown";
}

Result<CrunMode> PlanCrun(const CgroupLayout& l) {
  if (l.mode != CgroupLayout::Mode::kHybrid || l.v2_controllers.empty()) return CrunMode::kNative;
  // Hidden from crun, the v2 hierarchy's controllers are out of its reach: fine unless
  // berth needs one of them for its limits.
  std::vector<std::string> missing;
  for (const char* need : {"cpu", "memory", "pids"})
    if (std::find(l.v1_controllers.begin(), l.v1_controllers.end(), need) == l.v1_controllers.end())
      missing.push_back(need);
  if (!missing.empty())
    return Fail(ErrorCode::kFailedPrecondition,
                "crun 1.8 cannot run containers on this host's cgroup layout, " +
                    DescribeCgroupLayout(l) + ": it refuses a hybrid layout with controllers on " +
                    "cgroup v2, and without v2 it would lack " + Join(missing) +
                    " for berth's limits; use --runtime runc");
  return CrunMode::kHideCgroup2;
}

int HideCgroup2InThisProcess() {
  if (::unshare(CLONE_NEWNS) != 0) return errno;
  // Slave, not private: mounts the agent makes later (rootfs, netns) still show up here.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) return errno;
  if (::umount2(kUnifiedPath, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return errno;
  return 0;
}

}  // namespace berth::agent::runtime
