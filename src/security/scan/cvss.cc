#include "security/scan/cvss.h"

#include <fmt/core.h>

#include <cmath>
#include <map>

namespace berth::security::scan {
namespace {

// CVSS v3.1 Roundup (Appendix A): the smallest number with one decimal >= x, computed on
// integers so 4.0000001 stays 4.0.
double Roundup(double x) {
  auto i = static_cast<int64_t>(std::llround(x * 100000));
  if (i % 10000 == 0) return static_cast<double>(i) / 100000.0;
  return static_cast<double>(i / 10000 + 1) / 10.0;
}

using Metrics = std::map<std::string, std::string, std::less<>>;

// "K:V/K:V..." -> metrics; a repeated metric is an error.
Result<Metrics> Split(std::string_view v, std::string_view vector) {
  Metrics m;
  size_t pos = 0;
  while (pos < v.size()) {
    size_t slash = v.find('/', pos);
    std::string_view part = v.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    pos = slash == std::string_view::npos ? v.size() : slash + 1;
    auto colon = part.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == part.size()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("CVSS vector \"{}\": \"{}\" is not METRIC:VALUE",
                              vector.substr(0, 120), part.substr(0, 20)));
    }
    if (!m.emplace(std::string(part.substr(0, colon)), std::string(part.substr(colon + 1)))
             .second) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("CVSS vector \"{}\": metric {} is given twice", vector.substr(0, 120),
                              part.substr(0, colon)));
    }
  }
  return m;
}

Result<double> Weight(const Metrics& m, std::string_view metric,
                      std::initializer_list<std::pair<const char*, double>> values,
                      std::string_view vector) {
  auto it = m.find(metric);
  if (it == m.end()) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("CVSS vector \"{}\" has no {} (a base metric)", vector.substr(0, 120), metric));
  }
  for (const auto& [v, w] : values) {
    if (it->second == v) return w;
  }
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("CVSS vector \"{}\": {}:{} is not a value of {}", vector.substr(0, 120),
                          metric, it->second.substr(0, 10), metric));
}

Result<CvssScore> Score3(const Metrics& m, std::string_view vector) {
  auto av = Weight(m, "AV", {{"N", 0.85}, {"A", 0.62}, {"L", 0.55}, {"P", 0.2}}, vector);
  auto ac = Weight(m, "AC", {{"L", 0.77}, {"H", 0.44}}, vector);
  auto s = Weight(m, "S", {{"U", 0}, {"C", 1}}, vector);
  if (!av || !ac || !s) return std::unexpected(!av ? av.error() : !ac ? ac.error() : s.error());
  const bool changed = *s == 1;
  auto pr = Weight(
      m, "PR", {{"N", 0.85}, {"L", changed ? 0.68 : 0.62}, {"H", changed ? 0.5 : 0.27}}, vector);
  auto ui = Weight(m, "UI", {{"N", 0.85}, {"R", 0.62}}, vector);
  auto c = Weight(m, "C", {{"H", 0.56}, {"L", 0.22}, {"N", 0}}, vector);
  auto i = Weight(m, "I", {{"H", 0.56}, {"L", 0.22}, {"N", 0}}, vector);
  auto a = Weight(m, "A", {{"H", 0.56}, {"L", 0.22}, {"N", 0}}, vector);
  for (const auto* r : {&pr, &ui, &c, &i, &a}) {
    if (!*r) return std::unexpected(r->error());
  }
  const double iss = 1 - (1 - *c) * (1 - *i) * (1 - *a);
  const double impact =
      changed ? 7.52 * (iss - 0.029) - 3.25 * std::pow(iss - 0.02, 15) : 6.42 * iss;
  const double exploitability = 8.22 * *av * *ac * *pr * *ui;
  double score = 0;
  if (impact > 0) {
    score = changed ? Roundup(std::min(1.08 * (impact + exploitability), 10.0))
                    : Roundup(std::min(impact + exploitability, 10.0));
  }
  return CvssScore{.score = score, .severity = SeverityOfScore(score), .version = 3};
}

Result<CvssScore> Score2(const Metrics& m, std::string_view vector) {
  auto av = Weight(m, "AV", {{"L", 0.395}, {"A", 0.646}, {"N", 1.0}}, vector);
  auto ac = Weight(m, "AC", {{"H", 0.35}, {"M", 0.61}, {"L", 0.71}}, vector);
  auto au = Weight(m, "Au", {{"M", 0.45}, {"S", 0.56}, {"N", 0.704}}, vector);
  auto c = Weight(m, "C", {{"N", 0}, {"P", 0.275}, {"C", 0.660}}, vector);
  auto i = Weight(m, "I", {{"N", 0}, {"P", 0.275}, {"C", 0.660}}, vector);
  auto a = Weight(m, "A", {{"N", 0}, {"P", 0.275}, {"C", 0.660}}, vector);
  for (const auto* r : {&av, &ac, &au, &c, &i, &a}) {
    if (!*r) return std::unexpected(r->error());
  }
  const double impact = 10.41 * (1 - (1 - *c) * (1 - *i) * (1 - *a));
  const double exploitability = 20 * *av * *ac * *au;
  const double f = impact == 0 ? 0 : 1.176;
  double score = std::round(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f * 10) / 10;
  if (score < 0) score = 0;
  Severity sev = score < 4 ? Severity::kLow : score < 7 ? Severity::kMedium : Severity::kHigh;
  if (score == 0) sev = Severity::kNone;
  return CvssScore{.score = score, .severity = sev, .version = 2};
}

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kUnknown:
      return "unknown";
    case Severity::kNone:
      return "none";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "unknown";
}

Result<Severity> ParseSeverity(std::string_view s) {
  std::string l;
  for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "unknown" || l == "unassigned" || l == "not yet assigned" || l == "unimportant" ||
      l == "negligible")
    return l == "unimportant" || l == "negligible" ? Severity::kNone : Severity::kUnknown;
  if (l == "none") return Severity::kNone;
  if (l == "low") return Severity::kLow;
  if (l == "medium" || l == "moderate") return Severity::kMedium;
  if (l == "high" || l == "important") return Severity::kHigh;
  if (l == "critical") return Severity::kCritical;
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format("unknown severity \"{}\" (want low, medium, high or critical)", s.substr(0, 40)));
}

Severity SeverityOfScore(double score) {
  if (score <= 0) return Severity::kNone;
  if (score < 4) return Severity::kLow;
  if (score < 7) return Severity::kMedium;
  if (score < 9) return Severity::kHigh;
  return Severity::kCritical;
}

Result<CvssScore> ScoreCvss(std::string_view vector) {
  std::string_view v = vector;
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.starts_with("CVSS:4.0/")) {
    return Fail(
        ErrorCode::kFailedPrecondition,
        fmt::format("CVSS v4.0 vector \"{}\": v4 scores are not computed", vector.substr(0, 120)));
  }
  int version = 2;
  if (v.starts_with("CVSS:3.0/") || v.starts_with("CVSS:3.1/")) {
    version = 3;
    v.remove_prefix(9);
  } else if (v.starts_with("CVSS:")) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("CVSS vector \"{}\": unknown version", vector.substr(0, 120)));
  } else if (v.starts_with("(") && v.ends_with(")")) {  // NVD's v2 form
    v = v.substr(1, v.size() - 2);
  }
  auto m = Split(v, vector);
  if (!m) return std::unexpected(m.error());
  return version == 3 ? Score3(*m, vector) : Score2(*m, vector);
}

}  // namespace berth::security::scan
