#include "logs/analysis/error_rates.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "logs/analysis/exceptions.h"

namespace berth::logs::analysis {
namespace {

bool ErrorLevel(std::string_view v) {
  std::string l;
  for (char c : v.substr(0, 16))
    l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l == "error" || l == "err" || l == "fatal" || l == "critical" || l == "crit" ||
         l == "panic" || l == "emerg" || l == "alert" || l == "severe";
}

// `level=error`, `"level":"error"`, `lvl=ERROR` anywhere in the line.
bool LevelInLine(std::string_view line) {
  for (std::string_view key : {"level", "lvl", "severity"}) {
    for (size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
      size_t p = at + key.size();
      if (p < line.size() && line[p] == '"') ++p;
      if (p >= line.size() || (line[p] != '=' && line[p] != ':')) continue;
      ++p;
      while (p < line.size() && (line[p] == '"' || line[p] == ' ')) ++p;
      size_t end = p;
      while (end < line.size() && std::isalpha(static_cast<unsigned char>(line[end]))) ++end;
      if (ErrorLevel(line.substr(p, end - p))) return true;
    }
  }
  return false;
}

}  // namespace

bool IsErrorLine(std::string_view line, const FieldOf& field) {
  for (std::string_view name : {"level", "severity", "lvl"}) {
    if (auto v = field(name); !v.empty()) return ErrorLevel(v);
  }
  if (auto st = field("status"); st.size() == 3 && st[0] == '5') return true;
  if (LevelInLine(line.substr(0, 512))) return true;
  // A leading ERROR/FATAL word (after a timestamp, at most 40 bytes in).
  for (std::string_view w : {"ERROR", "FATAL", "CRITICAL", "PANIC"}) {
    if (line.substr(0, 48).find(w) != std::string_view::npos) return true;
  }
  if (line.find('\n') != std::string_view::npos && ParseStackTrace(line)) return true;
  if (!line.empty() && line.front() == '{') {
    if (auto r = ReadAccessRecord(line, field); r && r->status >= 500) return true;
  }
  return false;
}

ErrorRates::ErrorRates(int64_t start_ns, int64_t end_ns, size_t slices)
    : start_ns_(start_ns),
      end_ns_(std::max(end_ns, start_ns + 1)),
      slices_(std::max<size_t>(slices, 1)) {}

void ErrorRates::Add(std::string_view service, int64_t ts_ns, bool error) {
  auto it = services_.find(service);
  if (it == services_.end()) {
    it = services_.emplace(std::string(service), ServiceErrors{}).first;
    it->second.service = std::string(service);
    it->second.slices.resize(slices_);
  }
  ServiceErrors& s = it->second;
  const int64_t at = std::clamp<int64_t>(ts_ns, start_ns_, end_ns_ - 1) - start_ns_;
  auto& slice =
      s.slices[static_cast<size_t>(static_cast<__int128>(at) * slices_ / (end_ns_ - start_ns_))];
  ++slice.lines;
  ++s.lines;
  if (error) {
    ++slice.errors;
    ++s.errors;
  }
}

void ErrorRates::FindSpike(ServiceErrors& s) {
  uint64_t base_lines = 0, base_errors = 0;
  for (size_t k = 0; k < s.slices.size(); ++k) {
    const ErrorSlice& cur = s.slices[k];
    if (k >= kBaselineSlices && base_lines > 0 && cur.errors >= kMinSpikeErrors) {
      const double rate = static_cast<double>(base_errors) / static_cast<double>(base_lines);
      // The baseline's upper bound (its errors + 2 sigma + 1): a few quiet slices must not
      // make an ordinary one look like a spike.
      const double upper = (static_cast<double>(base_errors) +
                            2 * std::sqrt(static_cast<double>(base_errors) + 1) + 1) /
                           static_cast<double>(base_lines);
      const double expected = upper * static_cast<double>(cur.lines);
      if (static_cast<double>(cur.errors) > expected + 4 * std::sqrt(expected + 1)) {
        s.spike = true;
        s.spike_slice = k;
        s.baseline_rate = rate;
        s.expected_errors = expected;
        s.spike_rate = static_cast<double>(cur.errors) / static_cast<double>(cur.lines);
      }
    }
    base_lines += cur.lines;
    base_errors += cur.errors;
  }
}

std::vector<ServiceErrors> ErrorRates::Services() const {
  std::vector<ServiceErrors> out;
  for (const auto& [name, s] : services_) {
    out.push_back(s);
    FindSpike(out.back());
  }
  std::sort(out.begin(), out.end(), [](const ServiceErrors& a, const ServiceErrors& b) {
    if (a.spike != b.spike) return a.spike;
    return a.errors > b.errors;
  });
  return out;
}

}  // namespace berth::logs::analysis
