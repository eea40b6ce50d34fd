#include "agent/node/cgroup_cpu.h"

#include <fmt/core.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

namespace berth::agent::node {
namespace {

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

bool HasItem(std::string_view list, std::string_view item) {
  for (auto x : SplitOn(list, ',')) {
    if (x == item) return true;
  }
  return false;
}

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(ErrorCode::kNotFound, fmt::format("cannot read {}", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Mount {
  std::string_view root, point, fstype, super;
};

// Fields of a mountinfo line: "36 25 0:32 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct".
std::optional<Mount> ParseMount(std::string_view line) {
  auto dash = line.find(" - ");
  if (dash == std::string_view::npos) return std::nullopt;
  auto head = SplitOn(line.substr(0, dash), ' ');
  auto tail = SplitOn(line.substr(dash + 3), ' ');
  if (head.size() < 5 || tail.size() < 3) return std::nullopt;
  return Mount{head[3], head[4], tail[0], tail[2]};
}

// The file for cgroup `path` (as /proc/<pid>/cgroup shows it) in hierarchy mount `m`.
std::string InMount(std::string_view root, const Mount& m, std::string_view path,
                    std::string_view file) {
  std::string_view rel = path;
  if (m.root != "/" && rel.starts_with(m.root)) rel.remove_prefix(m.root.size());
  std::string out = fmt::format("{}{}{}", root, m.point, rel);
  if (!out.ends_with('/')) out += '/';
  return out + std::string(file);
}

}  // namespace

Result<CpuAccounting> LocateCpuAccounting(std::string_view proc_cgroup, std::string_view mountinfo,
                                          std::string_view root) {
  std::optional<std::string_view> v1_path, v2_path;
  for (auto line : SplitOn(proc_cgroup, '\n')) {
    // "2:cpuacct:/berth/x", "4:cpu,cpuacct:/berth/x", "0::/berth/x"
    auto a = line.find(':');
    if (a == std::string_view::npos) continue;
    auto b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view controllers = line.substr(a + 1, b - a - 1);
    std::string_view path = line.substr(b + 1);
    if (line.substr(0, a) == "0" && controllers.empty()) {
      v2_path = path;
    } else if (HasItem(controllers, "cpuacct")) {
      v1_path = path;
    }
  }
  std::optional<Mount> v1_mount, v2_mount;
  for (auto line : SplitOn(mountinfo, '\n')) {
    auto m = ParseMount(line);
    if (!m) continue;
    if (m->fstype == "cgroup" && HasItem(m->super, "cpuacct") && !v1_mount) v1_mount = m;
    if (m->fstype == "cgroup2" && !v2_mount) v2_mount = m;
  }
  if (v1_path && v1_mount) {
    return CpuAccounting{CpuAccounting::Kind::kCpuacctV1,
                         InMount(root, *v1_mount, *v1_path, "cpuacct.usage")};
  }
  if (v2_path && v2_mount) {
    return CpuAccounting{CpuAccounting::Kind::kCpuStatV2,
                         InMount(root, *v2_mount, *v2_path, "cpu.stat")};
  }
  return Fail(ErrorCode::kNotFound,
              "no cgroup CPU accounting: neither a cpuacct (v1) nor a v2 hierarchy is mounted "
              "for the process");
}

Result<CpuAccounting> LocateCpuAccountingOf(int pid, std::string_view root) {
  auto cg = ReadText(fmt::format("{}/proc/{}/cgroup", root, pid));
  if (!cg) return std::unexpected(cg.error());
  auto mi = ReadText(fmt::format("{}/proc/self/mountinfo", root));
  if (!mi) return std::unexpected(mi.error());
  return LocateCpuAccounting(*cg, *mi, root);
}

Result<int64_t> ParseCpuacctUsage(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0 || text.empty()) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("cpuacct.usage: not a count of nanoseconds: \"{}\"", text.substr(0, 40)));
  }
  return v;
}

Result<int64_t> ParseCpuStatUsage(std::string_view text) {
  for (auto line : SplitOn(text, '\n')) {
    if (!line.starts_with("usage_usec ")) continue;
    auto n = line.substr(11);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
    if (ec == std::errc() && p == n.data() + n.size() && v >= 0) return v * 1000;
    break;
  }
  return Fail(ErrorCode::kInvalidArgument, "cpu.stat: no usage_usec line");
}

Result<int64_t> ReadCpuUsageNanos(const CpuAccounting& a) {
  auto text = ReadText(a.file);
  if (!text) return std::unexpected(text.error());
  return a.kind == CpuAccounting::Kind::kCpuacctV1 ? ParseCpuacctUsage(*text)
                                                   : ParseCpuStatUsage(*text);
}

void CpuWindow::Add(int64_t now_ms, int64_t usage_ns) {
  if (!samples_.empty() && (usage_ns < samples_.back().second || now_ms < samples_.back().first)) {
    samples_.clear();
  }
  samples_.emplace_back(now_ms, usage_ns);
  // Keep one sample at or before the window's start, so the average spans the window.
  while (samples_.size() > 2 && samples_[1].first <= now_ms - window_ms_) samples_.pop_front();
}

std::optional<int64_t> CpuWindow::Millicores() const {
  if (samples_.size() < 2) return std::nullopt;
  const auto& [t0, u0] = samples_.front();
  const auto& [t1, u1] = samples_.back();
  if (t1 <= t0) return std::nullopt;
  // ns of CPU per ms of wall time = millicores * 1000.
  return std::llround(static_cast<double>(u1 - u0) / static_cast<double>(t1 - t0) / 1000.0);
}

}  // namespace berth::agent::node
