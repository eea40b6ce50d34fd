#include "security/scan/matcher.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace berth::security::scan {
namespace {

std::string MajorMinor(std::string_view v) {
  auto first = v.find('.');
  if (first == std::string_view::npos) return std::string(v);
  auto second = v.find('.', first + 1);
  return std::string(v.substr(0, second));
}

}  // namespace

std::string EcosystemOf(const Package& p, const Distro& distro) {
  if (p.type == "deb") {
    if (distro.id == "ubuntu") return "Ubuntu:" + distro.version_id;
    std::string major = distro.version_id.substr(0, distro.version_id.find('.'));
    return major.empty() ? "" : "Debian:" + major;
  }
  if (p.type == "apk") {
    return distro.version_id.empty() ? "" : "Alpine:v" + MajorMinor(distro.version_id);
  }
  if (p.type == "npm") return "npm";
  if (p.type == "pypi") return "PyPI";
  if (p.type == "cargo") return "crates.io";
  if (p.type == "golang") return "Go";
  if (p.type == "maven") return "Maven";
  return "";
}

bool Affects(const AdvisoryHit& hit, VersionScheme scheme, std::string_view version,
             std::string* fixed) {
  fixed->clear();
  for (const auto& v : hit.versions) {
    if (CompareVersions(scheme, v, version) == 0) return true;
  }
  for (const auto& range : hit.ranges) {
    if (range.type != "ECOSYSTEM" && range.type != "SEMVER") continue;
    // Events in version order ("introduced 0" first); OSV lists them sorted almost always, so
    // only an unsorted list is sorted (as pointers, nothing copied).
    auto key_less = [&](const RangeEvent* a, const RangeEvent* b) {
      bool a0 = a->kind == RangeEvent::Kind::kIntroduced && a->version == "0";
      bool b0 = b->kind == RangeEvent::Kind::kIntroduced && b->version == "0";
      if (a0 || b0) return a0 && !b0;
      return CompareVersions(scheme, a->version, b->version) < 0;
    };
    std::vector<const RangeEvent*> events;
    events.reserve(range.events.size());
    bool sorted = true;
    for (const auto& e : range.events) {
      if (!events.empty() && key_less(&e, events.back())) sorted = false;
      events.push_back(&e);
    }
    if (!sorted) std::stable_sort(events.begin(), events.end(), key_less);
    bool affected = false;
    std::string fix;
    for (const RangeEvent* ev : events) {
      const RangeEvent& e = *ev;
      const int c = e.version == "0" && e.kind == RangeEvent::Kind::kIntroduced
                        ? 1
                        : CompareVersions(scheme, version, e.version);
      switch (e.kind) {
        case RangeEvent::Kind::kIntroduced:
          if (c >= 0) {
            affected = true;
            fix.clear();
          }
          break;
        case RangeEvent::Kind::kFixed:
          if (c >= 0) {
            affected = false;
          } else if (affected && fix.empty()) {
            fix = e.version;
          }
          break;
        case RangeEvent::Kind::kLastAffected:
          if (c > 0) affected = false;
          break;
        case RangeEvent::Kind::kLimit:
          if (c >= 0) affected = false;
          break;
      }
    }
    if (affected) {
      *fixed = fix;
      return true;
    }
  }
  return false;
}

Result<std::vector<Finding>> Match(const Inventory& inv, AdvisoryDb& db) {
  std::vector<Finding> out;
  // Binary packages of one source share its rows: one lookup per (ecosystem, name), one
  // description per matched advisory.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const std::vector<AdvisoryHit>>>
      rows;
  std::map<std::string, AdvisoryHit> described;
  std::map<std::tuple<std::string, std::string, std::string>,
           std::vector<std::pair<const AdvisoryHit*, std::string>>>
      matched;
  for (const auto& p : inv.packages) {
    const std::string eco = EcosystemOf(p, inv.distro);
    if (eco.empty()) continue;
    const bool os = p.type == "deb" || p.type == "apk" || p.type == "rpm";
    const std::string& name = os ? p.SourceName() : p.name;
    const std::string& version = os ? p.SourceVersion() : p.version;
    auto key = std::make_pair(eco, name);
    auto it = rows.find(key);
    if (it == rows.end()) {
      auto hits = db.Lookup(eco, name);
      if (!hits) return std::unexpected(hits.error());
      it = rows.emplace(std::move(key), std::move(*hits)).first;
    }
    // Binary packages of one source at one version get the same answer: judged once.
    auto vkey = std::make_tuple(eco, name, version);
    auto judged = matched.find(vkey);
    if (judged == matched.end()) {
      std::vector<std::pair<const AdvisoryHit*, std::string>> hits;
      for (const auto& hit : *it->second) {
        std::string fixed;
        if (Affects(hit, SchemeOf(p.type), version, &fixed))
          hits.emplace_back(&hit, std::move(fixed));
      }
      judged = matched.emplace(std::move(vkey), std::move(hits)).first;
    }
    for (const auto& [hitp, fixed_version] : judged->second) {
      const AdvisoryHit& hit = *hitp;
      std::string fixed = fixed_version;
      auto d = described.find(hit.id);
      if (d == described.end()) {
        AdvisoryHit full = hit;
        if (auto r = db.Describe(&full); !r) return std::unexpected(r.error());
        d = described.emplace(hit.id, std::move(full)).first;
      }
      const AdvisoryHit& adv = d->second;
      Finding f;
      f.advisory = adv.id;
      f.aliases = adv.aliases;
      f.summary = adv.summary;
      f.url = adv.url;
      f.severity = adv.severity;
      f.score = adv.score;
      f.package = p.name;
      f.version = p.version;
      f.type = p.type;
      f.path = p.path;
      f.purl = Purl(p, inv.distro);
      if (os && (!p.source.empty() || !p.source_version.empty())) {
        f.source = name;
        f.source_version = version;
      }
      f.layer = p.layer < inv.layers.size() ? inv.layers[p.layer] : std::to_string(p.layer);
      f.ecosystem = eco;
      f.fixed = std::move(fixed);
      out.push_back(std::move(f));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    return std::tie(a.package, a.advisory) < std::tie(b.package, b.advisory);
  });
  return out;
}

}  // namespace berth::security::scan
