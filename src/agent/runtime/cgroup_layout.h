// The host's cgroup layout as a runtime sees it, and how crun can run on it.
//
// Layouts: `unified` (cgroup v2 on /sys/fs/cgroup), `legacy` (v1 controllers under a tmpfs
// on /sys/fs/cgroup) and `hybrid` (legacy plus a v2 hierarchy on /sys/fs/cgroup/unified).
// crun 1.8 refuses a hybrid layout whose v2 hierarchy holds any controller ("cgroups in
// hybrid mode not supported, drop all controllers from cgroupv2"); it treats a hybrid host
// as legacy only when that hierarchy is empty. On such a host berth runs crun in a private
// mount namespace without /sys/fs/cgroup/unified, where crun sees the legacy layout and
// manages the v1 controllers exactly as runc does. That works as long as every controller
// berth sets limits with (cpu, memory, pids) is on v1; otherwise PlanCrun refuses with
// an error naming crun and the layout.
// Thread-safety: plain functions, no shared state.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"

namespace berth::agent::runtime {

struct CgroupLayout {
  enum class Mode { kUnified, kLegacy, kHybrid };
  Mode mode = Mode::kUnified;
  std::vector<std::string> v1_controllers;  // bound to a v1 hierarchy
  std::vector<std::string> v2_controllers;  // listed in the v2 root's cgroup.controllers
};

// Reads the layout of this host (statfs of /sys/fs/cgroup and /sys/fs/cgroup/unified,
// /proc/cgroups, the v2 root's cgroup.controllers).
Result<CgroupLayout> ReadCgroupLayout();

// "hybrid (cgroup v1: cpu,memory,...; cgroup v2 on /sys/fs/cgroup/unified: hugetlb)".
std::string DescribeCgroupLayout(const CgroupLayout& layout);

enum class CrunMode {
  kNative,       // crun runs as is
  kHideCgroup2,  // crun runs in a mount namespace without /sys/fs/cgroup/unified
};
// How crun 1.8 can run on `layout`, or a FailedPrecondition naming crun and the layout.
Result<CrunMode> PlanCrun(const CgroupLayout& layout);

// In the calling (single-threaded, freshly forked) process: a private mount namespace whose
// /sys/fs/cgroup/unified is unmounted. Returns errno on failure, 0 on success.
int HideCgroup2InThisProcess();

}  // namespace berth::agent::runtime
