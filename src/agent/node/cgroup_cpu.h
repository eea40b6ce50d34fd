// The CPU use of a container, from the cgroup its runtime put it in. The agent does not
// assume where that is: it reads the container's init process's /proc/<pid>/cgroup and the
// host's /proc/self/mountinfo, and takes cgroup v1's cpuacct controller when the process
// has one (legacy and hybrid hosts: runc and crun use it there; cpuacct.usage in ns), else
// the v2 hierarchy (cpu.stat usage_usec). CpuWindow turns the cumulative counter into a use
// in millicores averaged over a sliding window, as the node agent reports it.
// Everything takes a `root` prefix ("" on the host) so tests run against a fake tree.
// Thread-safety: plain functions; a CpuWindow belongs to one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace berth::agent::node {

struct CpuAccounting {
  enum class Kind { kCpuacctV1, kCpuStatV2 };
  Kind kind = Kind::kCpuacctV1;
  std::string file;  // <mount>/<path>/cpuacct.usage or <mount>/<path>/cpu.stat
};

// From the text of /proc/<pid>/cgroup and of /proc/self/mountinfo. kNotFound when neither a
// cpuacct (v1) nor a v2 line has a mounted hierarchy.
Result<CpuAccounting> LocateCpuAccounting(std::string_view proc_cgroup, std::string_view mountinfo,
                                          std::string_view root = "");
// The same for a running process: reads <root>/proc/<pid>/cgroup and <root>/proc/self/mountinfo.
Result<CpuAccounting> LocateCpuAccountingOf(int pid, std::string_view root = "");

// CPU time used so far by the cgroup, in nanoseconds.
Result<int64_t> ReadCpuUsageNanos(const CpuAccounting& accounting);
// "123456789\n" (cpuacct.usage, ns) and "usage_usec 1234\n..." (cpu.stat, µs) → ns.
Result<int64_t> ParseCpuacctUsage(std::string_view text);
Result<int64_t> ParseCpuStatUsage(std::string_view text);

// Average use over the last `window` of samples of a cumulative CPU-time counter.
class CpuWindow {
 public:
  explicit CpuWindow(std::chrono::milliseconds window) : window_ms_(window.count()) {}
  // A sample at `now_ms`; a counter lower than the last one (a new cgroup) starts afresh.
  void Add(int64_t now_ms, int64_t usage_ns);
  // Millicores between the oldest sample in the window and the newest; nullopt before two
  // samples at different times.
  std::optional<int64_t> Millicores() const;
  void Reset() { samples_.clear(); }

 private:
  int64_t window_ms_;
  std::deque<std::pair<int64_t, int64_t>> samples_;  // (ms, ns), oldest first
};

}  // namespace berth::agent::node
