#include "orchestrator/spec.h"

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>

#include "core/json.h"

namespace berth::orchestrator {
namespace {

// Thrown inside this file only, caught at the public entry points: the reader is deeply
// nested and every step can fail, so an exception keeps each step one line.
struct SpecError {
  std::string message;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 64)) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  if (s.size() > 64) out += "...";
  return out + "\"";
}

// Parses a decimal number with an optional fraction; returns false on anything else.
bool ParseDecimal(std::string_view s, double* out) {
  if (s.empty() || s.size() > 32) return false;
  bool digit = false, dot = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  if (!digit) return false;
  *out = std::strtod(std::string(s).c_str(), nullptr);
  return std::isfinite(*out);
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

class Reader {
 public:
  // `stored`: the text is a spec Berth stored earlier (AppFromJson), not a user's input:
  // checks added after it was stored must not make it unreadable.
  explicit Reader(std::string_view file, bool stored = false) : file_(file), stored_(stored) {}
  bool stored() const { return stored_; }

  [[noreturn]] void Fail(const YAML::Node& at, std::string_view path, std::string_view what) {
    throw SpecError{fmt::format("{}:{}: {}: {}", file_, Line(at), path, what)};
  }
  int Line(const YAML::Node& n) const {
    auto m = n.Mark();
    return m.is_null() ? 0 : m.line + 1;
  }
  // Remembers where `path` is so a later semantic check can point at it.
  void Note(const YAML::Node& n, const std::string& path) { lines_.emplace(path, Line(n)); }
  // The line of the longest known prefix of `path` ("services.api.ports[1]").
  int LineOf(std::string path) const {
    while (!path.empty()) {
      if (auto it = lines_.find(path); it != lines_.end()) return it->second;
      auto cut = path.find_last_of(".[");
      if (cut == std::string::npos) break;
      path.resize(cut);
    }
    return 0;
  }
  const std::string& file() const { return file_; }

  static std::string Describe(const YAML::Node& n) {
    if (n.IsMap()) return "a map";
    if (n.IsSequence()) return "a list";
    if (n.IsNull()) return "nothing";
    return Quote(n.Scalar());
  }

  // Iterates a map in file order after checking that it is a map, has no duplicate keys and
  // only keys from `allowed`.
  template <typename F>
  void ForEachField(const YAML::Node& n, const std::string& path,
                    std::initializer_list<std::string_view> allowed, F&& f) {
    if (!n.IsMap()) Fail(n, path, "must be a map, got " + Describe(n));
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) Fail(it->first, path, "keys must be plain strings");
      std::string key = it->first.Scalar();
      std::string child = path.empty() ? key : path + "." + key;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        Fail(it->first, child, "unknown field (expected one of: " + list + ")");
      }
      if (!seen.insert(key).second) Fail(it->first, child, "given twice");
      Note(it->first, child);
      f(key, it->second, child);
    }
  }

  std::string String(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) Fail(n, path, "must be a string, got " + Describe(n));
    return n.Scalar();
  }
  std::string NonEmptyString(const YAML::Node& n, const std::string& path) {
    std::string s = String(n, path);
    if (s.empty()) Fail(n, path, "must not be empty");
    return s;
  }
  int64_t Int(const YAML::Node& n, const std::string& path, int64_t min, int64_t max,
              std::string_view what) {
    int64_t v = 0;
    if (!n.IsScalar() || !ParseInt(n.Scalar(), &v) || v < min || v > max) {
      Fail(n, path, fmt::format("must be {}, got {}", what, Describe(n)));
    }
    return v;
  }
  bool Bool(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const auto& s = n.Scalar();
      if (s == "true") return true;
      if (s == "false") return false;
    }
    Fail(n, path, "must be true or false, got " + Describe(n));
  }
  int64_t Bytes(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      if (auto v = ParseBytes(n.Scalar())) return *v;
    }
    Fail(n, path, "must be a size like 512Mi, 1Gi or 64m, got " + Describe(n));
  }
  int64_t Cpu(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      if (auto v = ParseCpu(n.Scalar())) return *v;
    }
    Fail(n, path, "must be a CPU amount like 500m or 0.5, got " + Describe(n));
  }
  Millis Duration(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      if (auto v = ParseDuration(n.Scalar())) return *v;
    }
    Fail(n, path, "must be a duration like 5s, 2m or 500ms, got " + Describe(n));
  }
  // A list of strings, or one string split on spaces (command: "/bin/api --port 80").
  std::vector<std::string> Words(const YAML::Node& n, const std::string& path) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      std::string_view s = n.Scalar();
      size_t i = 0;
      while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        size_t j = i;
        while (j < s.size() && s[j] != ' ') ++j;
        if (j > i) out.emplace_back(s.substr(i, j - i));
        i = j;
      }
      return out;
    }
    if (!n.IsSequence()) Fail(n, path, "must be a list of strings, got " + Describe(n));
    for (size_t i = 0; i < n.size(); ++i) {
      out.push_back(String(n[i], fmt::format("{}[{}]", path, i)));
    }
    return out;
  }

 private:
  std::string file_;
  bool stored_ = false;
  std::map<std::string, int> lines_;
};

// ---- pieces shared by the Berth and Compose readers ----------------------------------

PortSpec ReadPortString(Reader& r, const YAML::Node& n, const std::string& path, bool compose) {
  // "80", "8080:80", "80/udp", and in Compose "127.0.0.1:8080:80".
  std::string_view s = n.Scalar();
  PortSpec p;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    auto proto = s.substr(slash + 1);
    if (proto == "udp") {
      p.protocol = Protocol::kUdp;
    } else if (proto != "tcp") {
      r.Fail(n, path, "protocol must be tcp or udp, got " + Quote(proto));
    }
    s = s.substr(0, slash);
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    auto colon = s.find(':', start);
    parts.push_back(s.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 3 && compose) parts.erase(parts.begin());  // host IP: not ours to bind
  if (parts.size() > 2)
    r.Fail(n, path, "must be PORT or HOST_PORT:CONTAINER_PORT, got " + Quote(s));
  int64_t c = 0, h = 0;
  if (!ParseInt(parts.back(), &c) || c < 1 || c > 65535) {
    r.Fail(n, path, "container port must be between 1 and 65535, got " + Quote(parts.back()));
  }
  if (parts.size() == 2 && (!ParseInt(parts[0], &h) || h < 1 || h > 65535)) {
    r.Fail(n, path, "host port must be between 1 and 65535, got " + Quote(parts[0]));
  }
  p.container_port = static_cast<int>(c);
  p.host_port = static_cast<int>(h);
  return p;
}

std::vector<PortSpec> ReadPorts(Reader& r, const YAML::Node& n, const std::string& path,
                                bool compose) {
  if (!n.IsSequence()) r.Fail(n, path, "must be a list, got " + Reader::Describe(n));
  std::vector<PortSpec> out;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string p = fmt::format("{}[{}]", path, i);
    const YAML::Node& item = n[i];
    r.Note(item, p);
    if (item.IsScalar()) {
      out.push_back(ReadPortString(r, item, p, compose));
      continue;
    }
    PortSpec port;
    auto protocol = [&](const YAML::Node& v, const std::string& vp) {
      auto s = r.String(v, vp);
      if (s == "udp") {
        port.protocol = Protocol::kUdp;
      } else if (s != "tcp") {
        r.Fail(v, vp, "must be tcp or udp, got " + Quote(s));
      }
    };
    if (compose) {
      r.ForEachField(
          item, p, {"target", "published", "protocol", "name", "mode", "host_ip"},
          [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
            if (k == "target") {
              port.container_port = static_cast<int>(r.Int(v, vp, 1, 65535, "a port (1-65535)"));
            } else if (k == "published") {
              port.host_port = static_cast<int>(r.Int(v, vp, 1, 65535, "a port (1-65535)"));
            } else if (k == "protocol") {
              protocol(v, vp);
            } else if (k == "name") {
              port.name = r.String(v, vp);
            }
          });
    } else {
      r.ForEachField(
          item, p, {"name", "containerPort", "hostPort", "protocol"},
          [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
            if (k == "name") {
              port.name = r.NonEmptyString(v, vp);
            } else if (k == "containerPort") {
              port.container_port = static_cast<int>(r.Int(v, vp, 1, 65535, "a port (1-65535)"));
            } else if (k == "hostPort") {
              port.host_port = static_cast<int>(r.Int(v, vp, 0, 65535, "a port (0-65535)"));
            } else if (k == "protocol") {
              protocol(v, vp);
            }
          });
    }
    if (port.container_port == 0) {
      r.Fail(item, p, compose ? "target is required" : "containerPort is required");
    }
    out.push_back(std::move(port));
  }
  return out;
}

std::map<std::string, std::string> ReadEnv(Reader& r, const YAML::Node& n,
                                           const std::string& path) {
  std::map<std::string, std::string> env;
  if (n.IsSequence()) {  // ["KEY=value", ...]
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = fmt::format("{}[{}]", path, i);
      std::string s = r.String(n[i], p);
      auto eq = s.find('=');
      if (eq == 0 || eq == std::string::npos) r.Fail(n[i], p, "must be KEY=value, got " + Quote(s));
      if (!env.emplace(s.substr(0, eq), s.substr(eq + 1)).second) {
        r.Fail(n[i], p, "variable " + Quote(s.substr(0, eq)) + " given twice");
      }
    }
    return env;
  }
  if (!n.IsMap()) r.Fail(n, path, "must be a map of NAME: value, got " + Reader::Describe(n));
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = r.String(it->first, path);
    std::string p = path + "." + key;
    std::string value = it->second.IsNull() ? "" : r.String(it->second, p);
    if (!env.emplace(key, value).second) r.Fail(it->first, p, "given twice");
  }
  return env;
}

// ---- the Berth spec -------------------------------------------------------------------

Constraint ParseConstraintString(Reader& r, const YAML::Node& n, const std::string& path) {
  std::string_view s = Trim(n.Scalar());
  Constraint c;
  auto key_ok = [](std::string_view k) {
    return !k.empty() && k.find_first_of(" \t()=!,") == std::string_view::npos;
  };
  auto bad = [&]() {
    r.Fail(n, path,
           "must be \"key = value\", \"key != value\", \"key in (a, b)\", \"key exists\" or "
           "\"key not-exists\", got " +
               Quote(s));
  };
  auto ends_with = [&](std::string_view suffix) {
    return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  };
  if (ends_with(" not-exists")) {
    c.key = Trim(s.substr(0, s.size() - 11));
    c.op = Constraint::Op::kNotExists;
  } else if (ends_with(" exists")) {
    c.key = Trim(s.substr(0, s.size() - 7));
    c.op = Constraint::Op::kExists;
  } else if (auto ne = s.find("!="); ne != std::string_view::npos) {
    c.key = Trim(s.substr(0, ne));
    c.op = Constraint::Op::kNotEqual;
    c.values.emplace_back(Trim(s.substr(ne + 2)));
  } else if (auto eq = s.find('='); eq != std::string_view::npos) {
    size_t len = eq + 1 < s.size() && s[eq + 1] == '=' ? 2 : 1;
    c.key = Trim(s.substr(0, eq));
    c.op = Constraint::Op::kEqual;
    c.values.emplace_back(Trim(s.substr(eq + len)));
  } else if (auto in = s.find(" in "); in != std::string_view::npos) {
    c.key = Trim(s.substr(0, in));
    c.op = Constraint::Op::kIn;
    std::string_view rest = Trim(s.substr(in + 4));
    if (rest.size() >= 2 && rest.front() == '(' && rest.back() == ')') {
      rest = rest.substr(1, rest.size() - 2);
    }
    size_t start = 0;
    while (true) {
      auto comma = rest.find(',', start);
      auto v = Trim(rest.substr(start, comma - start));
      if (v.empty()) bad();
      c.values.emplace_back(v);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  } else {
    bad();
  }
  if (!key_ok(c.key)) bad();
  for (const auto& v : c.values) {
    if (v.empty() && c.op != Constraint::Op::kIn) bad();
  }
  return c;
}

Constraint ReadConstraint(Reader& r, const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) return ParseConstraintString(r, n, path);
  Constraint c;
  std::string op = "=";
  bool has_value = false;
  r.ForEachField(n, path, {"key", "op", "value", "values"},
                 [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
                   if (k == "key") {
                     c.key = r.NonEmptyString(v, vp);
                   } else if (k == "op") {
                     op = r.String(v, vp);
                   } else if (k == "value") {
                     c.values = {r.String(v, vp)};
                     has_value = true;
                   } else {
                     c.values = r.Words(v, vp);
                     has_value = true;
                   }
                 });
  if (c.key.empty()) r.Fail(n, path, "key is required");
  if (op == "=" || op == "==") {
    c.op = Constraint::Op::kEqual;
  } else if (op == "!=") {
    c.op = Constraint::Op::kNotEqual;
  } else if (op == "in") {
    c.op = Constraint::Op::kIn;
  } else if (op == "exists") {
    c.op = Constraint::Op::kExists;
  } else if (op == "not-exists") {
    c.op = Constraint::Op::kNotExists;
  } else {
    r.Fail(n, path + ".op", "must be one of =, !=, in, exists, not-exists, got " + Quote(op));
  }
  bool wants_value = c.op != Constraint::Op::kExists && c.op != Constraint::Op::kNotExists;
  if (wants_value != has_value) {
    r.Fail(n, path, wants_value ? "needs a value" : "takes no value with " + op);
  }
  if ((c.op == Constraint::Op::kEqual || c.op == Constraint::Op::kNotEqual) &&
      c.values.size() != 1) {
    r.Fail(n, path, op + " takes exactly one value");
  }
  return c;
}

Placement ReadPlacement(Reader& r, const YAML::Node& n, const std::string& path) {
  Placement p;
  r.ForEachField(n, path, {"constraints", "strategy", "antiAffinity"},
                 [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
                   if (k == "constraints") {
                     if (!v.IsSequence())
                       r.Fail(v, vp, "must be a list, got " + Reader::Describe(v));
                     for (size_t i = 0; i < v.size(); ++i) {
                       std::string cp = fmt::format("{}[{}]", vp, i);
                       r.Note(v[i], cp);
                       p.constraints.push_back(ReadConstraint(r, v[i], cp));
                     }
                   } else if (k == "strategy") {
                     auto s = r.String(v, vp);
                     if (s == "spread") {
                       p.strategy = PlacementStrategy::kSpread;
                     } else if (s == "binpack") {
                       p.strategy = PlacementStrategy::kBinpack;
                     } else {
                       r.Fail(v, vp, "must be spread or binpack, got " + Quote(s));
                     }
                   } else {
                     auto s = v.IsScalar() ? v.Scalar() : "";
                     if (s == "none" || s == "false") {
                       p.anti_affinity = AntiAffinity::kNone;
                     } else if (s == "preferred" || s == "true") {
                       p.anti_affinity = AntiAffinity::kPreferred;
                     } else if (s == "required") {
                       p.anti_affinity = AntiAffinity::kRequired;
                     } else {
                       r.Fail(v, vp,
                              "must be none, preferred or required, got " + Reader::Describe(v));
                     }
                   }
                 });
  return p;
}

// A probe's port: a number, or the name of one of the service's ports.
struct PendingPort {
  YAML::Node node;
  std::string path;
  std::optional<Probe>* probe = nullptr;
};

Probe ReadProbe(Reader& r, const YAML::Node& n, const std::string& path, PendingPort* pending) {
  Probe p;
  int kinds = 0;
  bool named = false;
  auto port = [&](const YAML::Node& v, const std::string& vp) {
    int64_t num = 0;
    if (v.IsScalar() && ParseInt(v.Scalar(), &num)) {
      p.port = static_cast<int>(r.Int(v, vp, 1, 65535, "a port (1-65535) or a port name"));
    } else {
      r.NonEmptyString(v, vp);
      pending->node = v;
      pending->path = vp;
      named = true;
    }
  };
  r.ForEachField(n, path,
                 {"http", "tcp", "exec", "initialDelay", "period", "timeout", "successThreshold",
                  "failureThreshold"},
                 [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
                   if (k == "http") {
                     ++kinds;
                     p.kind = ProbeKind::kHttp;
                     r.ForEachField(
                         v, vp, {"path", "port"},
                         [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                           if (k2 == "path") {
                             p.path = r.String(v2, p2);
                             if (p.path.empty() || p.path.front() != '/') {
                               r.Fail(v2, p2, "must start with '/', got " + Quote(p.path));
                             }
                           } else {
                             port(v2, p2);
                           }
                         });
                   } else if (k == "tcp") {
                     ++kinds;
                     p.kind = ProbeKind::kTcp;
                     r.ForEachField(v, vp, {"port"},
                                    [&](const std::string&, const YAML::Node& v2,
                                        const std::string& p2) { port(v2, p2); });
                   } else if (k == "exec") {
                     ++kinds;
                     p.kind = ProbeKind::kExec;
                     p.command = r.Words(v, vp);
                     if (p.command.empty()) r.Fail(v, vp, "must name a command");
                   } else if (k == "initialDelay") {
                     p.initial_delay = r.Duration(v, vp);
                   } else if (k == "period") {
                     p.period = r.Duration(v, vp);
                   } else if (k == "timeout") {
                     p.timeout = r.Duration(v, vp);
                   } else if (k == "successThreshold") {
                     p.success_threshold =
                         static_cast<int>(r.Int(v, vp, 1, 1000, "an integer from 1 to 1000"));
                   } else {
                     p.failure_threshold =
                         static_cast<int>(r.Int(v, vp, 1, 1000, "an integer from 1 to 1000"));
                   }
                 });
  if (kinds != 1) r.Fail(n, path, "needs exactly one of http, tcp or exec");
  if ((p.kind == ProbeKind::kHttp || p.kind == ProbeKind::kTcp) && p.port == 0 && !named) {
    r.Fail(n, path, "needs a port");
  }
  return p;
}

IntOrPercent ReadIntOrPercent(Reader& r, const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    std::string_view s = n.Scalar();
    bool percent = !s.empty() && s.back() == '%';
    if (percent) s.remove_suffix(1);
    int64_t v = 0;
    if (ParseInt(s, &v) && v >= 0 && (!percent || v <= 100) && v <= 1'000'000) {
      return {v, percent};
    }
  }
  r.Fail(n, path,
         "must be a non-negative integer or a percentage like 25%, got " + Reader::Describe(n));
}

ServiceSpec ReadService(Reader& r, const std::string& name, const YAML::Node& n,
                        const std::string& path) {
  ServiceSpec s;
  s.name = name;
  if (!IsValidName(name)) {
    r.Fail(n, path,
           "service names use lower case letters, digits and '-', start with a letter, at most "
           "63 characters");
  }
  std::vector<PendingPort> pending;
  // expose[].canaryWeight as written, checked once update.canary is known.
  struct Weight {
    YAML::Node node;
    std::string path;
    size_t expose = 0;
  };
  std::vector<Weight> weights;
  YAML::Node probes_node;
  r.ForEachField(
      n, path,
      {"image", "command", "env", "ports", "resources", "replicas", "probes", "restart", "update",
       "placement", "expose", "autoscale"},
      [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
        if (k == "image") {
          s.image = r.NonEmptyString(v, vp);
        } else if (k == "command") {
          s.command = r.Words(v, vp);
        } else if (k == "env") {
          s.env = ReadEnv(r, v, vp);
        } else if (k == "ports") {
          s.ports = ReadPorts(r, v, vp, /*compose=*/false);
        } else if (k == "resources") {
          r.ForEachField(v, vp, {"cpu", "memory", "pids"},
                         [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                           if (k2 == "cpu") {
                             s.resources.cpu_millis = r.Cpu(v2, p2);
                           } else if (k2 == "memory") {
                             s.resources.memory_bytes = r.Bytes(v2, p2);
                           } else {
                             s.resources.pids = r.Int(v2, p2, 0, 1 << 22, "a non-negative integer");
                           }
                         });
        } else if (k == "replicas") {
          s.replicas = r.Int(v, vp, 0, 100'000, "a non-negative integer");
        } else if (k == "probes") {
          probes_node = v;
          r.ForEachField(v, vp, {"startup", "readiness", "liveness"},
                         [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                           auto& slot = k2 == "startup"     ? s.probes.startup
                                        : k2 == "readiness" ? s.probes.readiness
                                                            : s.probes.liveness;
                           PendingPort named;
                           slot = ReadProbe(r, v2, p2, &named);
                           if (!named.path.empty()) {
                             named.probe = &slot;
                             pending.push_back(std::move(named));
                           }
                         });
        } else if (k == "restart") {
          r.ForEachField(
              v, vp, {"policy", "backoff", "maxBackoff", "maxRestarts"},
              [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                if (k2 == "policy") {
                  auto m = r.String(v2, p2);
                  if (m == "always") {
                    s.restart.mode = RestartMode::kAlways;
                  } else if (m == "on-failure") {
                    s.restart.mode = RestartMode::kOnFailure;
                  } else if (m == "never") {
                    s.restart.mode = RestartMode::kNever;
                  } else {
                    r.Fail(v2, p2, "must be always, on-failure or never, got " + Quote(m));
                  }
                } else if (k2 == "backoff") {
                  s.restart.backoff_initial = r.Duration(v2, p2);
                } else if (k2 == "maxBackoff") {
                  s.restart.backoff_max = r.Duration(v2, p2);
                } else {
                  s.restart.max_restarts =
                      static_cast<int>(r.Int(v2, p2, 0, 1'000'000, "a non-negative integer"));
                }
              });
        } else if (k == "update") {
          r.ForEachField(
              v, vp,
              {"maxSurge", "maxUnavailable", "minReadySeconds", "progressDeadline", "autoRollback",
               "canary"},
              [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                if (k2 == "maxSurge") {
                  s.update.max_surge = ReadIntOrPercent(r, v2, p2);
                } else if (k2 == "maxUnavailable") {
                  s.update.max_unavailable = ReadIntOrPercent(r, v2, p2);
                } else if (k2 == "minReadySeconds") {
                  s.update.min_ready = r.Duration(v2, p2);
                } else if (k2 == "progressDeadline") {
                  s.update.progress_deadline = r.Duration(v2, p2);
                } else if (k2 == "canary") {
                  // {replicas: N} (N defaults to 1), or N alone (Nomad's `canary = N`).
                  if (v2.IsMap()) {
                    s.update.canary = 1;
                    r.ForEachField(
                        v2, p2, {"replicas"},
                        [&](const std::string&, const YAML::Node& v3, const std::string& p3) {
                          s.update.canary = r.Int(v3, p3, 1, 10'000, "an integer from 1 to 10000");
                        });
                  } else {
                    s.update.canary = r.Int(v2, p2, 0, 10'000, "an integer from 0 to 10000");
                  }
                } else {
                  s.update.auto_rollback = r.Bool(v2, p2);
                }
              });
        } else if (k == "placement") {
          s.placement = ReadPlacement(r, v, vp);
        } else if (k == "autoscale") {
          Autoscale a;
          // targetCpu/targetRps, or the shorthand metric: cpu|rps with target:.
          std::optional<std::pair<YAML::Node, std::string>> metric, target;
          auto read_cpu = [&](const YAML::Node& v2, const std::string& p2) {
            std::string t = v2.IsScalar() ? v2.Scalar() : "";
            if (!t.empty() && t.back() == '%') t.pop_back();
            int64_t pct = 0;
            if (!ParseInt(t, &pct) || pct < 1 || pct > 1000) {
              r.Fail(v2, p2,
                     "must be a percentage of the requested cpu like 70%, got " +
                         Reader::Describe(v2));
            }
            return pct;
          };
          r.ForEachField(
              v, vp, {"min", "max", "targetCpu", "targetRps", "metric", "target", "cooldown"},
              [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                if (k2 == "min") {
                  a.min = r.Int(v2, p2, 1, 100'000, "a positive integer (no scaling to zero)");
                } else if (k2 == "max") {
                  a.max = r.Int(v2, p2, 1, 100'000, "a positive integer");
                } else if (k2 == "targetCpu") {
                  a.target_cpu_percent = read_cpu(v2, p2);
                } else if (k2 == "targetRps") {
                  a.target_rps = r.Int(v2, p2, 1, 100'000'000, "a positive integer");
                } else if (k2 == "metric") {
                  metric.emplace(v2, p2);
                } else if (k2 == "target") {
                  target.emplace(v2, p2);
                } else {
                  a.cooldown = r.Duration(v2, p2);
                }
              });
          if (target && !metric) r.Fail(target->first, target->second, "goes with metric: cpu|rps");
          if (metric) {
            std::string m = metric->first.IsScalar() ? metric->first.Scalar() : "";
            if (m != "cpu" && m != "rps") {
              r.Fail(metric->first, metric->second,
                     "must be cpu or rps, got " + Reader::Describe(metric->first));
            }
            if (!target) {
              r.Fail(metric->first, metric->second,
                     m == "cpu" ? "needs target: a percentage of the requested cpu like 70%"
                                : "needs target: requests per second per instance like 100");
            }
            if (m == "cpu" ? a.target_cpu_percent > 0 : a.target_rps > 0) {
              r.Fail(metric->first, metric->second,
                     m == "cpu" ? "and targetCpu both set the cpu target: keep one"
                                : "and targetRps both set the request-rate target: keep one");
            }
            if (m == "cpu") {
              a.target_cpu_percent = read_cpu(target->first, target->second);
            } else {
              a.target_rps = r.Int(target->first, target->second, 1, 100'000'000,
                                   "a positive integer (requests per second per instance)");
            }
          }
          s.autoscale = a;
        } else {
          auto read_one = [&](const YAML::Node& e, const std::string& ep) {
            Expose x;
            if (e.IsMap() && e["canaryWeight"]) {
              weights.push_back({e["canaryWeight"], ep + ".canaryWeight", s.expose.size()});
            }
            r.Note(e, ep);
            r.ForEachField(e, ep, {"host", "path", "port", "canaryWeight"},
                           [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                             if (k2 == "host") {
                               x.host = r.String(v2, p2);
                             } else if (k2 == "path") {
                               x.path = r.String(v2, p2);
                               if (x.path.empty() || x.path.front() != '/') {
                                 r.Fail(v2, p2, "must start with '/', got " + Quote(x.path));
                               }
                             } else if (k2 == "port") {
                               x.port = r.NonEmptyString(v2, p2);
                             } else {
                               x.canary_weight = static_cast<int>(
                                   r.Int(v2, p2, 0, 100, "an integer from 0 to 100"));
                             }
                           });
            s.expose.push_back(std::move(x));
          };
          if (v.IsSequence()) {
            for (size_t i = 0; i < v.size(); ++i) read_one(v[i], fmt::format("{}[{}]", vp, i));
          } else {
            read_one(v, vp);
          }
        }
      });
  if (s.image.empty()) r.Fail(n, path, "image is required");
  for (const auto& pp : pending) {
    const std::string& want = pp.node.Scalar();
    auto it = std::find_if(s.ports.begin(), s.ports.end(),
                           [&](const PortSpec& p) { return p.name == want; });
    if (it == s.ports.end()) r.Fail(pp.node, pp.path, "no port named " + Quote(want));
    (*pp.probe)->port = it->container_port;
  }
  // A weight splits traffic between a canary and the stable version; without a canary there
  // is nothing to split, and the weight would be silently ignored.
  for (const auto& w : weights) {
    if (r.stored() || s.update.canary > 0 || w.expose >= s.expose.size() ||
        s.expose[w.expose].canary_weight == 0) {
      continue;
    }
    r.Fail(w.node, w.path,
           fmt::format("is {} but the service has no update.canary, so no canary would get "
                       "that traffic: add update: {{canary: 1}} or remove canaryWeight",
                       s.expose[w.expose].canary_weight));
  }
  for (size_t i = 0; i < s.expose.size(); ++i) {
    const auto& port = s.expose[i].port;
    if (port.empty()) continue;
    int64_t num = 0;
    bool found = std::any_of(s.ports.begin(), s.ports.end(), [&](const PortSpec& p) {
      return p.name == port || (ParseInt(port, &num) && num == p.container_port);
    });
    if (!found) {
      throw SpecError{fmt::format("{}:{}: {}.expose: no port {} in ports", r.file(),
                                  r.LineOf(path + ".expose"), path, Quote(port))};
    }
  }
  return s;
}

// Runs the semantic checks of types.h and points their error at the field's line.
Result<App> Finish(Reader& r, App app) {
  if (auto v = app.Validate(); !v) {
    const std::string& m = v.error().message;
    auto colon = m.find(": ");
    std::string path = colon == std::string::npos ? "" : m.substr(0, colon);
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", r.file(), r.LineOf(path), m));
  }
  return app;
}

// The line of the first byte that is not part of valid UTF-8, or 0 when all is valid.
int InvalidUtf8Line(std::string_view s) {
  int line = 1;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') ++line;
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return line;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return line;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return line;
    i += len;
  }
  return 0;
}

YAML::Node Load(Reader& r, std::string_view text) {
  if (text.size() > kMaxSpecBytes) {
    throw SpecError{fmt::format("{}: larger than {} bytes", r.file(), kMaxSpecBytes)};
  }
  if (int line = InvalidUtf8Line(text); line != 0) {
    throw SpecError{fmt::format("{}:{}: not valid UTF-8", r.file(), line)};
  }
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw SpecError{fmt::format("{}:{}: invalid YAML: {}", r.file(),
                                e.mark.is_null() ? 0 : e.mark.line + 1, e.msg)};
  }
}

}  // namespace

// ---- public entry points ----------------------------------------------------------------

namespace {
Result<App> ParseApp(std::string_view text, std::string_view filename, bool stored);
}  // namespace

Result<App> ParseAppYaml(std::string_view text, std::string_view filename) {
  return ParseApp(text, filename, /*stored=*/false);
}

namespace {
Result<App> ParseApp(std::string_view text, std::string_view filename, bool stored) {
  Reader r(filename, stored);
  try {
    YAML::Node root = Load(r, text);
    if (!root.IsMap()) r.Fail(root, "(top level)", "must be a map, got " + Reader::Describe(root));
    App app;
    bool has_services = false;
    r.ForEachField(
        root, "", {"namespace", "name", "services"},
        [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
          if (k == "namespace") {
            app.ns = r.NonEmptyString(v, vp);
          } else if (k == "name") {
            app.name = r.NonEmptyString(v, vp);
          } else {
            has_services = true;
            if (!v.IsMap()) {
              r.Fail(v, vp, "must be a map of service name to spec, got " + Reader::Describe(v));
            }
            std::set<std::string> seen;
            for (auto it = v.begin(); it != v.end(); ++it) {
              std::string name = r.String(it->first, vp);
              std::string sp = vp + "." + name;
              if (!seen.insert(name).second) r.Fail(it->first, sp, "given twice");
              r.Note(it->first, sp);
              app.services.push_back(ReadService(r, name, it->second, sp));
            }
          }
        });
    if (app.name.empty()) r.Fail(root, "name", "is required");
    if (!has_services) r.Fail(root, "services", "is required");
    return Finish(r, std::move(app));
  } catch (const SpecError& e) {
    return Fail(ErrorCode::kInvalidArgument, e.message);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: invalid YAML: {}", filename, e.msg));
  }
}
}  // namespace

Result<App> ParseComposeYaml(std::string_view text, std::string_view filename,
                             std::string_view app_name, std::string_view ns) {
  Reader r(filename);
  try {
    YAML::Node root = Load(r, text);
    if (!root.IsMap()) r.Fail(root, "(top level)", "must be a map, got " + Reader::Describe(root));
    App app;
    app.ns = ns;
    app.name = app_name;
    bool has_services = false;
    r.ForEachField(
        root, "", {"version", "name", "services", "networks", "volumes"},
        [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
          if (k == "name") app.name = r.NonEmptyString(v, vp);
          if (k != "services") return;  // version, networks, volumes: nothing to map
          has_services = true;
          if (!v.IsMap()) r.Fail(v, vp, "must be a map, got " + Reader::Describe(v));
          std::set<std::string> seen;
          for (auto it = v.begin(); it != v.end(); ++it) {
            ServiceSpec s;
            s.name = r.String(it->first, vp);
            std::string sp = vp + "." + s.name;
            if (!seen.insert(s.name).second) r.Fail(it->first, sp, "given twice");
            r.Note(it->first, sp);
            std::vector<std::string> entrypoint;
            r.ForEachField(
                it->second, sp,
                {"image", "command", "entrypoint", "environment", "ports", "deploy",
                 "container_name", "restart"},
                [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                  if (k2 == "image") {
                    s.image = r.NonEmptyString(v2, p2);
                  } else if (k2 == "command") {
                    s.command = r.Words(v2, p2);
                  } else if (k2 == "entrypoint") {
                    entrypoint = r.Words(v2, p2);
                  } else if (k2 == "environment") {
                    s.env = ReadEnv(r, v2, p2);
                  } else if (k2 == "ports") {
                    s.ports = ReadPorts(r, v2, p2, /*compose=*/true);
                  } else if (k2 == "restart") {
                    auto m = r.String(v2, p2);
                    if (m == "always" || m == "unless-stopped") {
                      s.restart.mode = RestartMode::kAlways;
                    } else if (m == "on-failure") {
                      s.restart.mode = RestartMode::kOnFailure;
                    } else if (m == "no") {
                      s.restart.mode = RestartMode::kNever;
                    } else {
                      r.Fail(v2, p2,
                             "must be no, always, on-failure or unless-stopped, got " + Quote(m));
                    }
                  } else if (k2 == "deploy") {
                    r.ForEachField(
                        v2, p2, {"replicas", "resources"},
                        [&](const std::string& k3, const YAML::Node& v3, const std::string& p3) {
                          if (k3 == "replicas") {
                            s.replicas = r.Int(v3, p3, 0, 100'000, "a non-negative integer");
                            return;
                          }
                          r.ForEachField(v3, p3, {"limits", "reservations"},
                                         [&](const std::string& k4, const YAML::Node& v4,
                                             const std::string& p4) {
                                           if (k4 != "limits")
                                             return;  // reservations: limits rule here
                                           r.ForEachField(
                                               v4, p4, {"cpus", "memory", "pids"},
                                               [&](const std::string& k5, const YAML::Node& v5,
                                                   const std::string& p5) {
                                                 if (k5 == "cpus") {
                                                   s.resources.cpu_millis = r.Cpu(v5, p5);
                                                 } else if (k5 == "memory") {
                                                   s.resources.memory_bytes = r.Bytes(v5, p5);
                                                 } else {
                                                   s.resources.pids =
                                                       r.Int(v5, p5, 0, 1 << 22,
                                                             "a non-negative integer");
                                                 }
                                               });
                                         });
                        });
                  }
                });
            if (s.image.empty()) r.Fail(it->second, sp, "image is required");
            if (!entrypoint.empty())
              s.command.insert(s.command.begin(), entrypoint.begin(), entrypoint.end());
            app.services.push_back(std::move(s));
          }
        });
    if (!has_services) r.Fail(root, "services", "is required");
    return Finish(r, std::move(app));
  } catch (const SpecError& e) {
    return Fail(ErrorCode::kInvalidArgument, e.message);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: invalid YAML: {}", filename, e.msg));
  }
}

Result<App> ParseAppFile(std::string_view text, std::string_view filename,
                         std::string_view default_name) {
  std::string_view base = filename;
  if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
  bool yaml = base.ends_with(".yml") || base.ends_with(".yaml");
  if (yaml && (base.starts_with("docker-compose") || base.starts_with("compose"))) {
    return ParseComposeYaml(text, filename, default_name);
  }
  return ParseAppYaml(text, filename);
}

// ---- quantities -------------------------------------------------------------------------

Result<int64_t> ParseBytes(std::string_view text) {
  std::string_view s = Trim(text);
  size_t num_end = 0;
  while (num_end < s.size() && ((s[num_end] >= '0' && s[num_end] <= '9') || s[num_end] == '.')) {
    ++num_end;
  }
  double v = 0;
  if (!ParseDecimal(s.substr(0, num_end), &v)) {
    return Fail(ErrorCode::kInvalidArgument, "not a size: " + Quote(text));
  }
  std::string unit;
  for (char c : Trim(s.substr(num_end))) unit += static_cast<char>(std::tolower(c));
  if (unit.size() >= 2 && unit.back() == 'b') unit.pop_back();  // "MiB", "mb"
  if (unit.size() == 2 && unit.back() == 'i') unit.pop_back();  // "Mi"
  double mult = 0;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "k") {
    mult = 1024.0;
  } else if (unit == "m") {
    mult = 1024.0 * 1024;
  } else if (unit == "g") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "t") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return Fail(ErrorCode::kInvalidArgument, "unknown size unit in " + Quote(text));
  }
  double bytes = v * mult;
  if (bytes > 9.0e18) return Fail(ErrorCode::kInvalidArgument, "size too large: " + Quote(text));
  return static_cast<int64_t>(std::llround(bytes));
}

Result<int64_t> ParseCpu(std::string_view text) {
  std::string_view s = Trim(text);
  double v = 0;
  if (!s.empty() && s.back() == 'm') {
    int64_t m = 0;
    if (ParseInt(s.substr(0, s.size() - 1), &m) && m >= 0 && m <= 1'000'000'000) return m;
  } else if (ParseDecimal(s, &v) && v <= 1'000'000) {
    return static_cast<int64_t>(std::llround(v * 1000));
  }
  return Fail(ErrorCode::kInvalidArgument, "not a CPU amount: " + Quote(text));
}

Result<Millis> ParseDuration(std::string_view text) {
  std::string_view s = Trim(text);
  int64_t secs = 0;
  if (ParseInt(s, &secs)) {
    if (secs < 0 || secs > 100'000'000) {
      return Fail(ErrorCode::kInvalidArgument, "duration out of range: " + Quote(text));
    }
    return Millis(secs * 1000);
  }
  if (s.empty()) return Fail(ErrorCode::kInvalidArgument, "empty duration");
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) ++j;
    double v = 0;
    if (!ParseDecimal(s.substr(i, j - i), &v)) {
      return Fail(ErrorCode::kInvalidArgument, "not a duration: " + Quote(text));
    }
    size_t k = j;
    while (k < s.size() && s[k] >= 'a' && s[k] <= 'z') ++k;
    auto unit = s.substr(j, k - j);
    double ms = 0;
    if (unit == "ms") {
      ms = 1;
    } else if (unit == "s") {
      ms = 1000;
    } else if (unit == "m") {
      ms = 60'000;
    } else if (unit == "h") {
      ms = 3'600'000;
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  "not a duration (units ms, s, m, h): " + Quote(text));
    }
    total += v * ms;
    i = k;
  }
  if (total > 1e14) return Fail(ErrorCode::kInvalidArgument, "duration too long: " + Quote(text));
  return Millis(static_cast<int64_t>(std::llround(total)));
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms % 3'600'000 == 0 && ms != 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0 && ms != 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// ---- JSON -------------------------------------------------------------------------------
// The JSON form uses the YAML schema's field names with canonical values (bytes as
// integers, CPU as "500m", durations as FormatDuration strings), so one reader serves both.

namespace {

using OJson = nlohmann::ordered_json;

OJson ProbeToJson(const Probe& p) {
  OJson j = OJson::object();
  switch (p.kind) {
    case ProbeKind::kHttp:
      j["http"] = {{"path", p.path}, {"port", p.port}};
      break;
    case ProbeKind::kTcp:
      j["tcp"] = {{"port", p.port}};
      break;
    case ProbeKind::kExec:
      j["exec"] = p.command;
      break;
  }
  j["initialDelay"] = FormatDuration(p.initial_delay);
  j["period"] = FormatDuration(p.period);
  j["timeout"] = FormatDuration(p.timeout);
  j["successThreshold"] = p.success_threshold;
  j["failureThreshold"] = p.failure_threshold;
  return j;
}

std::string IntOrPercentString(const IntOrPercent& v) {
  return v.percent ? fmt::format("{}%", v.value) : fmt::format("{}", v.value);
}

OJson ServiceBody(const ServiceSpec& s) {
  OJson j = OJson::object();
  j["image"] = s.image;
  j["command"] = s.command;
  j["env"] = OJson::object();
  for (const auto& [k, v] : s.env) j["env"][k] = v;
  j["ports"] = OJson::array();
  for (const auto& p : s.ports) {
    OJson pj = {{"containerPort", p.container_port},
                {"hostPort", p.host_port},
                {"protocol", std::string(ToString(p.protocol))}};
    if (!p.name.empty()) pj["name"] = p.name;
    j["ports"].push_back(pj);
  }
  j["resources"] = {{"cpu", fmt::format("{}m", s.resources.cpu_millis)},
                    {"memory", s.resources.memory_bytes},
                    {"pids", s.resources.pids}};
  j["replicas"] = s.replicas;
  OJson probes = OJson::object();
  if (s.probes.startup) probes["startup"] = ProbeToJson(*s.probes.startup);
  if (s.probes.readiness) probes["readiness"] = ProbeToJson(*s.probes.readiness);
  if (s.probes.liveness) probes["liveness"] = ProbeToJson(*s.probes.liveness);
  j["probes"] = probes;
  j["restart"] = {{"policy", std::string(ToString(s.restart.mode))},
                  {"backoff", FormatDuration(s.restart.backoff_initial)},
                  {"maxBackoff", FormatDuration(s.restart.backoff_max)},
                  {"maxRestarts", s.restart.max_restarts}};
  j["update"] = {{"maxSurge", IntOrPercentString(s.update.max_surge)},
                 {"maxUnavailable", IntOrPercentString(s.update.max_unavailable)},
                 {"minReadySeconds", FormatDuration(s.update.min_ready)},
                 {"progressDeadline", FormatDuration(s.update.progress_deadline)},
                 {"autoRollback", s.update.auto_rollback}};
  if (s.update.canary > 0) j["update"]["canary"] = {{"replicas", s.update.canary}};
  OJson constraints = OJson::array();
  for (const auto& c : s.placement.constraints) {
    // The map form: values may hold characters ("," ")" " ") the string form splits on.
    OJson cj = {{"key", c.key}};
    switch (c.op) {
      case Constraint::Op::kEqual:
        cj["op"] = "=";
        cj["value"] = c.values.empty() ? "" : c.values.front();
        break;
      case Constraint::Op::kNotEqual:
        cj["op"] = "!=";
        cj["value"] = c.values.empty() ? "" : c.values.front();
        break;
      case Constraint::Op::kIn:
        cj["op"] = "in";
        cj["values"] = c.values;
        break;
      case Constraint::Op::kExists:
        cj["op"] = "exists";
        break;
      case Constraint::Op::kNotExists:
        cj["op"] = "not-exists";
        break;
    }
    constraints.push_back(std::move(cj));
  }
  j["placement"] = {{"constraints", constraints},
                    {"strategy", std::string(ToString(s.placement.strategy))},
                    {"antiAffinity", std::string(ToString(s.placement.anti_affinity))}};
  if (s.autoscale) {
    j["autoscale"] = {{"min", s.autoscale->min},
                      {"max", s.autoscale->max},
                      {"cooldown", FormatDuration(s.autoscale->cooldown)}};
    if (s.autoscale->target_cpu_percent > 0) {
      j["autoscale"]["targetCpu"] = fmt::format("{}%", s.autoscale->target_cpu_percent);
    }
    if (s.autoscale->target_rps > 0) j["autoscale"]["targetRps"] = s.autoscale->target_rps;
  }
  j["expose"] = OJson::array();
  for (const auto& e : s.expose) {
    OJson ej = {{"host", e.host}, {"path", e.path}, {"canaryWeight", e.canary_weight}};
    if (!e.port.empty()) ej["port"] = e.port;
    j["expose"].push_back(ej);
  }
  return j;
}

}  // namespace

Json ServiceSpecToJson(const ServiceSpec& spec) {
  OJson j = ServiceBody(spec);
  j["name"] = spec.name;
  return Json::parse(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Result<ServiceSpec> ServiceSpecFromJson(const Json& json) {
  if (!json.is_object() || !json.contains("name") || !json["name"].is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "service JSON needs a string \"name\"");
  }
  Json app = {{"name", "x"}, {"services", Json::object()}};
  Json body = json;
  body.erase("name");
  app["services"][json["name"].get<std::string>()] = body;
  auto parsed = ParseApp(app.dump(-1, ' ', false, Json::error_handler_t::replace), "service.json",
                         /*stored=*/true);
  if (!parsed) return std::unexpected(parsed.error());
  return parsed->services.front();
}

std::string AppToJson(const App& app) {
  OJson j = {{"namespace", app.ns}, {"name", app.name}, {"services", OJson::object()}};
  for (const auto& s : app.services) j["services"][s.name] = ServiceBody(s);
  return j.dump(-1, ' ', false, OJson::error_handler_t::replace);
}

Result<App> AppFromJson(std::string_view json) {
  auto parsed = ParseJson(json);
  if (!parsed) return std::unexpected(parsed.error());
  if (!parsed->is_object()) return Fail(ErrorCode::kInvalidArgument, "app JSON must be an object");
  return ParseApp(json, "app.json", /*stored=*/true);
}

}  // namespace berth::orchestrator
