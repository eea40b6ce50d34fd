#include "security/admission/policy.h"

#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "core/input.h"

namespace berth::security::admission {
namespace {

// Docker's default capability set (what baseline allows to be added back or kept).
const std::set<std::string, std::less<>>& DockerDefaults() {
  static const auto* kSet = new std::set<std::string, std::less<>>{
      "AUDIT_WRITE",      "CHOWN",   "DAC_OVERRIDE", "FOWNER", "FSETID",  "KILL",   "MKNOD",
      "NET_BIND_SERVICE", "NET_RAW", "SETFCAP",      "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"};
  return *kSet;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s.starts_with("CAP_")) s.erase(0, 4);
  return s;
}

void ApplyLevel(Policy* p) {
  if (p->level == "privileged") {
    p->allow_privileged = p->allow_host_network = p->allow_host_pid = true;
    p->allowed_capabilities = {"*"};
  } else if (p->level == "baseline") {
    p->allowed_capabilities.assign(DockerDefaults().begin(), DockerDefaults().end());
  } else {  // restricted
    p->allowed_capabilities = {"NET_BIND_SERVICE"};
    p->run_as_non_root = true;
    p->read_only_root_filesystem = true;
    p->require_scan = true;
    p->deny_severity = scan::Severity::kCritical;
  }
}

bool IsRoot(std::string_view user) {
  if (user.empty()) return true;
  std::string_view name = user.substr(0, user.find(':'));
  return name == "0" || name == "root";
}

}  // namespace

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kEnforce:
      return "enforce";
    case Mode::kWarn:
      return "warn";
    case Mode::kAudit:
      return "audit";
  }
  return "enforce";
}

Result<Policy> ParsePolicy(std::string_view text, std::string_view ns, std::string_view source) {
  auto doc = input::Parse(text, source);
  if (!doc) return std::unexpected(doc.error());
  Policy p;
  p.ns = std::string(ns);
  // The level first: its defaults, then the fields written override them.
  {
    const input::Node* level = doc->root().IsMap() ? doc->root().Find("level") : nullptr;
    if (level) {
      auto l = input::Enum<std::string_view>({{"privileged", "privileged"},
                                              {"baseline", "baseline"},
                                              {"restricted", "restricted"}})(*level);
      if (!l) return std::unexpected(l.error());
      p.level = std::string(*l);
    }
    ApplyLevel(&p);
  }
  auto severity = [](const input::Node& n) -> Result<scan::Severity> {
    return input::Enum<scan::Severity>({{"low", scan::Severity::kLow},
                                        {"medium", scan::Severity::kMedium},
                                        {"high", scan::Severity::kHigh},
                                        {"critical", scan::Severity::kCritical}})(n);
  };
  scan::Severity deny = p.deny_severity.value_or(scan::Severity::kUnknown);
  std::string ignored_level;
  input::Object o(doc->root());
  o.Optional("mode", p.mode,
             input::Enum<Mode>(
                 {{"enforce", Mode::kEnforce}, {"warn", Mode::kWarn}, {"audit", Mode::kAudit}}));
  o.Optional("level", ignored_level);
  o.Optional("allowPrivileged", p.allow_privileged);
  o.Optional("allowHostNetwork", p.allow_host_network);
  o.Optional("allowHostPID", p.allow_host_pid);
  o.Optional("allowedCapabilities", p.allowed_capabilities, input::ListOf(input::NonEmptyString));
  o.Optional("runAsNonRoot", p.run_as_non_root);
  o.Optional("readOnlyRootFilesystem", p.read_only_root_filesystem);
  o.Optional("allowedRegistries", p.allowed_registries, input::ListOf(input::NonEmptyString));
  o.Optional("denySeverity", deny, severity);
  o.Optional("requireScan", p.require_scan);
  if (auto r = o.Done(); !r) return std::unexpected(r.error());
  if (deny != scan::Severity::kUnknown) p.deny_severity = deny;
  for (auto& c : p.allowed_capabilities) c = Upper(c);
  return p;
}

Json PolicyToJson(const Policy& p) {
  Json j{{"namespace", p.ns},
         {"mode", ModeName(p.mode)},
         {"level", p.level},
         {"allowPrivileged", p.allow_privileged},
         {"allowHostNetwork", p.allow_host_network},
         {"allowHostPID", p.allow_host_pid},
         {"allowedCapabilities", p.allowed_capabilities},
         {"runAsNonRoot", p.run_as_non_root},
         {"readOnlyRootFilesystem", p.read_only_root_filesystem},
         {"allowedRegistries", p.allowed_registries},
         {"requireScan", p.require_scan}};
  if (p.deny_severity) j["denySeverity"] = scan::SeverityName(*p.deny_severity);
  return j;
}

std::string RegistryOf(std::string_view image) {
  auto slash = image.find('/');
  if (slash == std::string_view::npos) return "docker.io";
  std::string_view first = image.substr(0, slash);
  // A registry host has a dot or a port, or is localhost; otherwise it is a Docker Hub path.
  if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
      first == "localhost") {
    return std::string(first);
  }
  return "docker.io";
}

Decision Evaluate(const Policy& p, const std::vector<Container>& containers,
                  const std::function<ImageFacts(const std::string& image)>& facts) {
  Decision d;
  d.mode = p.mode;
  const bool any_cap = std::find(p.allowed_capabilities.begin(), p.allowed_capabilities.end(),
                                 "*") != p.allowed_capabilities.end();
  for (const auto& c : containers) {
    auto bad = [&](std::string why) {
      d.violations.push_back(fmt::format("{} ({}): {}", c.name, c.image, why));
    };
    if (c.privileged && !p.allow_privileged) bad("privileged containers are not allowed");
    if (c.host_network && !p.allow_host_network) bad("the host's network is not allowed");
    if (c.host_pid && !p.allow_host_pid) bad("the host's PID namespace is not allowed");
    for (const auto& cap : c.cap_add) {
      std::string u = Upper(cap);
      if (!any_cap && std::find(p.allowed_capabilities.begin(), p.allowed_capabilities.end(), u) ==
                          p.allowed_capabilities.end()) {
        bad(fmt::format("capability {} is beyond the allowed ones", u));
      }
    }
    if (p.read_only_root_filesystem && !c.read_only_rootfs) {
      bad("the root filesystem must be read-only");
    }
    if (!p.allowed_registries.empty()) {
      std::string reg = RegistryOf(c.image);
      bool ok = false;
      for (const auto& allowed : p.allowed_registries) {
        ok = ok || c.image.starts_with(allowed + "/") || reg == allowed;
      }
      if (!ok) bad(fmt::format("registry {} is not in the allowed registries", reg));
    }
    const bool needs_facts = p.require_scan || p.deny_severity || p.run_as_non_root;
    if (!needs_facts) continue;
    ImageFacts f = facts(c.image);
    if (!f.scanned) {
      if (p.require_scan || p.deny_severity) {
        bad(f.error.empty() ? "the image has not been scanned"
                            : "the image could not be scanned: " + f.error);
      }
    }
    if (p.run_as_non_root && !c.run_as_non_root && IsRoot(c.user.empty() ? f.user : c.user)) {
      bad(!c.user.empty() || f.scanned ? "runs as root (set a non-root user)"
                                       : "may run as root (the image is not scanned, so its user "
                                         "is unknown)");
    }
    if (p.deny_severity && f.scanned) {
      for (const auto& fi : f.findings) {
        if (fi.severity >= *p.deny_severity && !fi.fixed.empty()) {
          bad(fmt::format("{} finding {} in {} has a fix ({})", scan::SeverityName(fi.severity),
                          fi.advisory, fi.package, fi.fixed));
        }
      }
    }
  }
  return d;
}

std::string Decision::Message(std::string_view ns, std::string_view what) const {
  std::string out = fmt::format("admission policy of namespace {} ({}) {} {}: ", ns, ModeName(mode),
                                admitted() ? "warns about" : "refuses", what);
  for (size_t i = 0; i < violations.size(); ++i) {
    out += (i ? "; " : "") + violations[i];
  }
  return out;
}

}  // namespace berth::security::admission
