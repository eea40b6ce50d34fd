#include "orchestrator/spec.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "core/input.h"
#include "core/json.h"

namespace berth::orchestrator {
namespace {

using input::Object;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Shared knobs of one read: `stored` for a spec Berth stored earlier (AppFromJson), not a
// user's input, so checks added after it was stored do not make it unreadable.
struct Mode {
  bool stored = false;
  bool named = false;  // the service carries its own "name" (ServiceSpecFromNode)
};

// ---- pieces shared by the Berth and Compose readers ----------------------------------

// A list of strings, or one string split on spaces (command: "/bin/api --port 80").
Result<std::vector<std::string>> Words(const input::Node& n) {
  if (n.IsList()) return input::ListOf(input::String)(n);
  const std::string s = BERTH_TRY(input::String(n));
  std::vector<std::string> out;
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

const auto kProtocol = input::Enum<Protocol>({{"tcp", Protocol::kTcp}, {"udp", Protocol::kUdp}});

// "80", "8080:80", "80/udp", and in Compose "127.0.0.1:8080:80".
Result<PortSpec> ReadPortString(const input::Node& n, bool compose) {
  std::string_view s = n.text();
  PortSpec p;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    auto proto = s.substr(slash + 1);
    if (proto == "udp") {
      p.protocol = Protocol::kUdp;
    } else if (proto != "tcp") {
      return n.Fail("protocol must be tcp or udp, got " + Quoted(proto));
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
  if (parts.size() > 2) {
    return n.Fail("must be PORT or HOST_PORT:CONTAINER_PORT, got " + Quoted(s));
  }
  int64_t c = 0, h = 0;
  if (!ParseInt(parts.back(), &c) || c < 1 || c > 65535) {
    return n.Fail("container port must be between 1 and 65535, got " + Quoted(parts.back()));
  }
  if (parts.size() == 2 && (!ParseInt(parts[0], &h) || h < 1 || h > 65535)) {
    return n.Fail("host port must be between 1 and 65535, got " + Quoted(parts[0]));
  }
  p.container_port = static_cast<int>(c);
  p.host_port = static_cast<int>(h);
  return p;
}

Result<PortSpec> ReadPort(const input::Node& n, bool compose) {
  if (n.IsScalar()) return ReadPortString(n, compose);
  PortSpec port;
  Object o(n);
  const input::Int port_number(1, 65535, "a port (1-65535)");
  if (compose) {
    o.Required("target", port.container_port, port_number)
        .Optional("published", port.host_port, port_number)
        .Optional("protocol", port.protocol, kProtocol)
        .Optional("name", port.name)
        .Ignore({"mode", "host_ip"});
  } else {
    o.Optional("name", port.name, input::NonEmptyString)
        .Required("containerPort", port.container_port, port_number)
        .Optional("hostPort", port.host_port, input::Int(0, 65535, "a port (0-65535)"))
        .Optional("protocol", port.protocol, kProtocol);
  }
  BERTH_TRY(o.Done());
  return port;
}

// A map of NAME: value (an empty value is ""), or a list of "NAME=value".
Result<std::map<std::string, std::string>> ReadEnv(const input::Node& n) {
  std::map<std::string, std::string> env;
  if (n.IsList()) {
    for (const input::Node* item : n.items()) {
      std::string s = BERTH_TRY(input::String(*item));
      auto eq = s.find('=');
      if (eq == 0 || eq == std::string::npos)
        return item->Fail("must be KEY=value, got " + Quoted(s));
      if (!env.emplace(s.substr(0, eq), s.substr(eq + 1)).second) {
        return item->Fail("variable " + Quoted(s.substr(0, eq)) + " given twice");
      }
    }
    return env;
  }
  if (!n.IsMap()) return n.Fail("must be a map of NAME: value, got " + n.Describe());
  for (const input::Entry& e : n.entries()) {
    env[e.key] = e.value->IsNull() ? "" : BERTH_TRY(input::String(*e.value));
  }
  return env;
}

// ---- the Berth spec -------------------------------------------------------------------

Result<Constraint> ParseConstraintString(const input::Node& n) {
  std::string_view s = Trim(n.text());
  Constraint c;
  auto key_ok = [](std::string_view k) {
    return !k.empty() && k.find_first_of(" \t()=!,") == std::string_view::npos;
  };
  auto bad = [&]() {
    return n.Fail(
        "must be \"key = value\", \"key != value\", \"key in (a, b)\", \"key exists\" or "
        "\"key not-exists\", got " +
        Quoted(s));
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
      if (v.empty()) return bad();
      c.values.emplace_back(v);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  } else {
    return bad();
  }
  if (!key_ok(c.key)) return bad();
  for (const auto& v : c.values) {
    if (v.empty() && c.op != Constraint::Op::kIn) return bad();
  }
  return c;
}

Result<Constraint> ReadConstraint(const input::Node& n) {
  if (n.IsScalar()) return ParseConstraintString(n);
  Constraint c;
  std::string value;
  Object o(n);
  o.Required("key", c.key, input::NonEmptyString)
      .Optional("op", c.op,
                input::Enum<Constraint::Op>({{"=", Constraint::Op::kEqual},
                                             {"==", Constraint::Op::kEqual},
                                             {"!=", Constraint::Op::kNotEqual},
                                             {"in", Constraint::Op::kIn},
                                             {"exists", Constraint::Op::kExists},
                                             {"not-exists", Constraint::Op::kNotExists}}))
      .AtMostOneOf({"value", "values"});
  const input::Node* one = o.Take("value");
  const input::Node* many = o.Take("values");
  if (one) c.values = {BERTH_TRY(input::String(*one))};
  if (many) c.values = BERTH_TRY(Words(*many));
  BERTH_TRY(o.Done());
  const std::string op = n.Find("op") ? n.Find("op")->text() : "=";
  const bool wants_value = c.op != Constraint::Op::kExists && c.op != Constraint::Op::kNotExists;
  if (wants_value != (one || many)) {
    return n.Fail(wants_value ? "needs a value" : "takes no value with " + op);
  }
  if ((c.op == Constraint::Op::kEqual || c.op == Constraint::Op::kNotEqual) &&
      c.values.size() != 1) {
    return n.Fail(op + " takes exactly one value");
  }
  return c;
}

Result<AntiAffinity> ReadAntiAffinity(const input::Node& n) {
  // false and true, what a YAML user writes for "off" and "on", are none and preferred.
  if (n.IsScalar() && (n.text() == "false" || n.text() == "true")) {
    return n.text() == "true" ? AntiAffinity::kPreferred : AntiAffinity::kNone;
  }
  return input::Enum<AntiAffinity>({{"none", AntiAffinity::kNone},
                                    {"preferred", AntiAffinity::kPreferred},
                                    {"required", AntiAffinity::kRequired}})(n);
}

Result<Placement> ReadPlacement(const input::Node& n) {
  Placement p;
  Object o(n);
  o.Optional("constraints", p.constraints, input::ListOf(ReadConstraint))
      .Optional("strategy", p.strategy,
                input::Enum<PlacementStrategy>({{"spread", PlacementStrategy::kSpread},
                                                {"binpack", PlacementStrategy::kBinpack}}))
      .Optional("antiAffinity", p.anti_affinity, ReadAntiAffinity);
  BERTH_TRY(o.Done());
  return p;
}

// A probe as written: its port may name one of the service's ports, resolved once they are
// read.
struct ProbeRead {
  Probe probe;
  const input::Node* port_name = nullptr;
};

Result<ProbeRead> ReadProbe(const input::Node& n) {
  ProbeRead out;
  Probe& p = out.probe;
  const input::Int threshold(1, 1000);
  const input::Duration duration{};
  Object o(n);
  o.ExactlyOneOf({"http", "tcp", "exec"});
  // A port number, or the name of one of the service's ports.
  auto port = [&](const input::Node& v) -> Result<int> {
    int64_t num = 0;
    if (v.IsScalar() && ParseInt(v.text(), &num)) {
      return static_cast<int>(
          BERTH_TRY(input::Int(1, 65535, "a port (1-65535) or a port name")(v)));
    }
    BERTH_TRY(input::NonEmptyString(v));
    out.port_name = &v;
    return 0;
  };
  if (const input::Node* http = o.Take("http")) {
    p.kind = ProbeKind::kHttp;
    Object h(*http);
    h.Optional("path", p.path, [](const input::Node& v) -> Result<std::string> {
       std::string path = BERTH_TRY(input::String(v));
       if (path.empty() || path.front() != '/')
         return v.Fail("must start with '/', got " + Quoted(path));
       return path;
     }).Optional("port", p.port, port);
    o.Check(h.Done());
  }
  if (const input::Node* tcp = o.Take("tcp")) {
    p.kind = ProbeKind::kTcp;
    Object t(*tcp);
    t.Optional("port", p.port, port);
    o.Check(t.Done());
  }
  if (const input::Node* exec = o.Take("exec")) {
    p.kind = ProbeKind::kExec;
    auto command = Words(*exec);
    if (!command) {
      o.Fail(std::move(command.error()));
    } else if (command->empty()) {
      o.Fail(exec->Invalid("must name a command"));
    } else {
      p.command = std::move(*command);
    }
  }
  o.Optional("initialDelay", p.initial_delay, duration)
      .Optional("period", p.period, duration)
      .Optional("timeout", p.timeout, duration)
      .Optional("successThreshold", p.success_threshold, threshold)
      .Optional("failureThreshold", p.failure_threshold, threshold);
  BERTH_TRY(o.Done());
  if ((p.kind == ProbeKind::kHttp || p.kind == ProbeKind::kTcp) && p.port == 0 &&
      out.port_name == nullptr) {
    return n.Fail("needs a port");
  }
  return out;
}

Result<IntOrPercent> ReadIntOrPercent(const input::Node& n) {
  if (n.IsScalar() && n.style() != input::Node::Style::kJsonBool) {
    std::string_view s = n.text();
    bool percent = !s.empty() && s.back() == '%';
    if (percent) s.remove_suffix(1);
    int64_t v = 0;
    if (ParseInt(s, &v) && v >= 0 && (!percent || v <= 100) && v <= 1'000'000) {
      return IntOrPercent{v, percent};
    }
  }
  return n.Fail("must be a non-negative integer or a percentage like 25%, got " + n.Describe());
}

Result<Resources> ReadResources(const input::Node& n, std::string_view cpu_key) {
  Resources r;
  Object o(n);
  o.Optional(cpu_key, r.cpu_millis, input::Cpu{})
      .Optional("memory", r.memory_bytes, input::Bytes{})
      .Optional("pids", r.pids, input::Int(0, 1 << 22, "a non-negative integer"));
  BERTH_TRY(o.Done());
  return r;
}

Result<RestartPolicy> ReadRestart(const input::Node& n) {
  RestartPolicy r;
  Object o(n);
  o.Optional("policy", r.mode,
             input::Enum<RestartMode>({{"always", RestartMode::kAlways},
                                       {"on-failure", RestartMode::kOnFailure},
                                       {"never", RestartMode::kNever}}))
      .Optional("backoff", r.backoff_initial, input::Duration{})
      .Optional("maxBackoff", r.backoff_max, input::Duration{})
      .Optional("maxRestarts", r.max_restarts, input::Int(0, 1'000'000, "a non-negative integer"));
  BERTH_TRY(o.Done());
  return r;
}

// {replicas: N} (N defaults to 1), or N alone (Nomad's `canary = N`).
Result<int64_t> ReadCanary(const input::Node& n) {
  if (!n.IsMap()) return input::Int(0, 10'000)(n);
  int64_t replicas = 1;
  Object o(n);
  o.Optional("replicas", replicas, input::Int(1, 10'000));
  BERTH_TRY(o.Done());
  return replicas;
}

Result<UpdateStrategy> ReadUpdate(const input::Node& n) {
  UpdateStrategy u;
  Object o(n);
  o.Optional("maxSurge", u.max_surge, ReadIntOrPercent)
      .Optional("maxUnavailable", u.max_unavailable, ReadIntOrPercent)
      // The name carries the unit, as in Kubernetes: a bare number is seconds.
      .Optional("minReadySeconds", u.min_ready, input::Duration{.bare_unit = Millis(1000)})
      .Optional("progressDeadline", u.progress_deadline, input::Duration{})
      .Optional("autoRollback", u.auto_rollback)
      .Optional("canary", u.canary, ReadCanary);
  BERTH_TRY(o.Done());
  return u;
}

Result<int64_t> ReadCpuPercent(const input::Node& n) {
  std::string t = n.IsScalar() ? n.text() : "";
  if (!t.empty() && t.back() == '%') t.pop_back();
  int64_t pct = 0;
  if (!ParseInt(t, &pct) || pct < 1 || pct > 1000) {
    return n.Fail("must be a percentage of the requested cpu like 70%, got " + n.Describe());
  }
  return pct;
}

// targetCpu/targetRps, or the shorthand metric: cpu|rps with target:.
Result<Autoscale> ReadAutoscale(const input::Node& n) {
  Autoscale a;
  Object o(n);
  o.Optional("min", a.min, input::Int(1, 100'000, "a positive integer (no scaling to zero)"))
      .Optional("max", a.max, input::Int(1, 100'000, "a positive integer"))
      .Optional("targetCpu", a.target_cpu_percent, ReadCpuPercent)
      .Optional("targetRps", a.target_rps, input::Int(1, 100'000'000, "a positive integer"))
      .Optional("cooldown", a.cooldown, input::Duration{});
  const input::Node* metric = o.Take("metric");
  const input::Node* target = o.Take("target");
  BERTH_TRY(o.Done());
  if (target && !metric) return target->Fail("goes with metric: cpu|rps");
  if (!metric) return a;
  const std::string m = metric->IsScalar() ? metric->text() : "";
  if (m != "cpu" && m != "rps")
    return metric->Fail("must be cpu or rps, got " + metric->Describe());
  const bool cpu = m == "cpu";
  if (!target) {
    return metric->Fail(cpu ? "needs target: a percentage of the requested cpu like 70%"
                            : "needs target: requests per second per instance like 100");
  }
  if (cpu ? a.target_cpu_percent > 0 : a.target_rps > 0) {
    return metric->Fail(cpu ? "and targetCpu both set the cpu target: keep one"
                            : "and targetRps both set the request-rate target: keep one");
  }
  if (cpu) {
    a.target_cpu_percent = BERTH_TRY(ReadCpuPercent(*target));
  } else {
    a.target_rps = BERTH_TRY(input::Int(
        1, 100'000'000, "a positive integer (requests per second per instance)")(*target));
  }
  return a;
}

Result<Expose> ReadExpose(const input::Node& n) {
  Expose x;
  Object o(n);
  o.Optional("host", x.host)
      .Optional("path", x.path,
                [](const input::Node& v) -> Result<std::string> {
                  std::string path = BERTH_TRY(input::String(v));
                  if (path.empty() || path.front() != '/') {
                    return v.Fail("must start with '/', got " + Quoted(path));
                  }
                  return path;
                })
      .Optional("port", x.port, input::NonEmptyString)
      .Optional("canaryWeight", x.canary_weight, input::Int(0, 100));
  BERTH_TRY(o.Done());
  return x;
}

Result<SecurityContext> ReadSecurityContext(const input::Node& n) {
  SecurityContext c;
  Object o(n);
  o.Optional("readOnlyRootFilesystem", c.read_only_root_filesystem)
      .Optional("runAsNonRoot", c.run_as_non_root)
      .Optional("runAsUser", c.run_as_user,
                input::Int(0, 2147483647, "a uid (a whole number from 0 to 2147483647)"));
  BERTH_TRY(o.Done());
  return c;
}

// expose: one route, or a list of them.
Result<std::vector<Expose>> ReadExposeList(const input::Node& n) {
  if (n.IsList()) return input::ListOf(ReadExpose)(n);
  return std::vector<Expose>{BERTH_TRY(ReadExpose(n))};
}

// The checks that need the whole service: probe port names, expose ports, canary weights.
Result<void> CheckService(const ServiceSpec& s, const input::Node& n,
                          std::vector<std::pair<ProbeRead, std::optional<Probe>*>>& probes,
                          Mode mode) {
  for (auto& [read, slot] : probes) {
    if (read.port_name == nullptr) continue;
    const std::string& want = read.port_name->text();
    auto it = std::find_if(s.ports.begin(), s.ports.end(),
                           [&](const PortSpec& p) { return p.name == want; });
    if (it == s.ports.end()) return read.port_name->Fail("no port named " + Quoted(want));
    (*slot)->port = it->container_port;
  }
  const input::Node* expose = n.Find("expose");
  for (size_t i = 0; i < s.expose.size(); ++i) {
    const input::Node& at = expose->IsList() ? *expose->items()[i] : *expose;
    // A weight splits traffic between a canary and the stable version; without a canary
    // there is nothing to split, and the weight would be silently ignored.
    if (!mode.stored && s.update.canary == 0 && s.expose[i].canary_weight != 0) {
      return (*at.Find("canaryWeight"))
          .Fail(fmt::format("is {} but the service has no update.canary, so no canary would "
                            "get that traffic: add update: {{canary: 1}} or remove canaryWeight",
                            s.expose[i].canary_weight));
    }
    const auto& port = s.expose[i].port;
    if (port.empty()) continue;
    int64_t num = 0;
    bool found = std::any_of(s.ports.begin(), s.ports.end(), [&](const PortSpec& p) {
      return p.name == port || (ParseInt(port, &num) && num == p.container_port);
    });
    if (!found) return expose->Fail("no port " + Quoted(port) + " in ports");
  }
  return {};
}

Result<ServiceSpec> ReadService(const std::string& name, const input::Node& n, Mode mode) {
  ServiceSpec s;
  s.name = name;
  if (!IsValidName(name)) {
    return n.Fail(
        "service names use lower case letters, digits and '-', start with a letter, at "
        "most 63 characters");
  }
  std::vector<std::pair<ProbeRead, std::optional<Probe>*>> probes;
  Object o(n);
  if (mode.named) o.Ignore({"name"});
  o.Required("image", s.image, input::NonEmptyString)
      .Optional("command", s.command, Words)
      .Optional("env", s.env, ReadEnv)
      .Optional("ports", s.ports,
                input::ListOf([](const input::Node& p) { return ReadPort(p, /*compose=*/false); }))
      .Optional("resources", s.resources,
                [](const input::Node& r) { return ReadResources(r, "cpu"); })
      .Optional("replicas", s.replicas, input::Int(0, 100'000, "a non-negative integer"))
      .Optional("restart", s.restart, ReadRestart)
      .Optional("update", s.update, ReadUpdate)
      .Optional("placement", s.placement, ReadPlacement)
      .Optional("expose", s.expose, ReadExposeList)
      .Optional("autoscale", s.autoscale, ReadAutoscale)
      .Optional("securityContext", s.security, ReadSecurityContext);
  if (const input::Node* p = o.Take("probes")) {
    Object po(*p);
    for (auto [key, slot] :
         {std::pair{"startup", &s.probes.startup}, std::pair{"readiness", &s.probes.readiness},
          std::pair{"liveness", &s.probes.liveness}}) {
      std::optional<ProbeRead> read;
      po.Optional(key, read, ReadProbe);
      if (!read) continue;
      *slot = read->probe;
      probes.emplace_back(std::move(*read), slot);
    }
    o.Check(po.Done());
  }
  BERTH_TRY(o.Done());
  BERTH_TRY(CheckService(s, n, probes, mode));
  return s;
}

// The error of a semantic check of types.h ("path: what"), at the line of the field the
// path names under `root` (after `prefix`, which the node does not have).
Error At(const input::Node& root, const Error& e, std::string_view prefix = "") {
  const std::string& m = e.message;
  const auto colon = m.find(": ");
  if (colon == std::string::npos) return root.Invalid(m);
  const std::string path = m.substr(0, colon);
  std::string_view inner = path;
  if (inner.starts_with(prefix)) inner.remove_prefix(prefix.size());
  const input::Node& at = root.Nearest(inner);
  return at.InvalidAt(at.mark(), path, m.substr(colon + 2));
}

// Runs the semantic checks of types.h and points their error at the field's line.
Result<App> Finish(const input::Node& root, App app) {
  if (auto v = app.Validate(); !v) return std::unexpected(At(root, v.error()));
  return app;
}

// Parses `text` (YAML, or JSON by its first character), within kMaxSpecBytes.
Result<input::Document> Load(std::string_view text, std::string_view filename) {
  return input::Parse(text, filename, {.max_bytes = kMaxSpecBytes});
}

Result<App> ReadApp(const input::Node& root, Mode mode) {
  App app;
  Object o(root);
  o.Optional("namespace", app.ns, input::NonEmptyString)
      .Required("name", app.name, input::NonEmptyString);
  if (const input::Node* services = o.Take("services")) {
    if (!services->IsMap()) {
      o.Fail(
          services->Invalid("must be a map of service name to spec, got " + services->Describe()));
    } else {
      for (const input::Entry& e : services->entries()) {
        auto s = ReadService(e.key, *e.value, mode);
        if (!s) {
          o.Fail(std::move(s.error()));
          break;
        }
        app.services.push_back(std::move(*s));
      }
    }
  } else {
    o.Fail(root.Invalid("\"services\" is required"));
  }
  BERTH_TRY(o.Done());
  return Finish(root, std::move(app));
}

Result<App> ParseApp(std::string_view text, std::string_view filename, Mode mode) {
  const input::Document doc = BERTH_TRY(Load(text, filename));
  return ReadApp(doc.root(), mode);
}

Result<RestartMode> ReadComposeRestart(const input::Node& n) {
  return input::Enum<RestartMode>({{"no", RestartMode::kNever},
                                   {"always", RestartMode::kAlways},
                                   {"on-failure", RestartMode::kOnFailure},
                                   {"unless-stopped", RestartMode::kAlways}})(n);
}

// deploy: {replicas, resources: {limits: {cpus, memory, pids}, reservations}}; limits rule.
Result<void> ReadComposeDeploy(const input::Node& n, ServiceSpec& s) {
  Object o(n);
  o.Optional("replicas", s.replicas, input::Int(0, 100'000, "a non-negative integer"));
  if (const input::Node* r = o.Take("resources")) {
    Object ro(*r);
    ro.Optional("limits", s.resources, [](const input::Node& l) {
        return ReadResources(l, "cpus");
      }).Ignore({"reservations"});
    o.Check(ro.Done());
  }
  return o.Done();
}

Result<ServiceSpec> ReadComposeService(const std::string& name, const input::Node& n) {
  ServiceSpec s;
  s.name = name;
  std::vector<std::string> entrypoint;
  Object o(n);
  o.Required("image", s.image, input::NonEmptyString)
      .Optional("command", s.command, Words)
      .Optional("entrypoint", entrypoint, Words)
      .Optional("environment", s.env, ReadEnv)
      .Optional("ports", s.ports,
                input::ListOf([](const input::Node& p) { return ReadPort(p, /*compose=*/true); }))
      .Optional("restart", s.restart.mode, ReadComposeRestart)
      .Ignore({"container_name"});
  if (const input::Node* d = o.Take("deploy")) o.Check(ReadComposeDeploy(*d, s));
  BERTH_TRY(o.Done());
  s.command.insert(s.command.begin(), entrypoint.begin(), entrypoint.end());
  return s;
}

}  // namespace

// ---- public entry points ----------------------------------------------------------------

Result<App> ParseAppYaml(std::string_view text, std::string_view filename) {
  return ParseApp(text, filename, Mode{});
}

Result<App> ParseComposeYaml(std::string_view text, std::string_view filename,
                             std::string_view app_name, std::string_view ns) {
  const input::Document doc = BERTH_TRY(Load(text, filename));
  const input::Node& root = doc.root();
  App app;
  app.ns = ns;
  app.name = app_name;
  Object o(root);
  o.Optional("name", app.name, input::NonEmptyString).Ignore({"version", "networks", "volumes"});
  if (const input::Node* services = o.Take("services")) {
    if (!services->IsMap()) {
      o.Fail(services->Invalid("must be a map, got " + services->Describe()));
    } else {
      for (const input::Entry& e : services->entries()) {
        auto s = ReadComposeService(e.key, *e.value);
        if (!s) {
          o.Fail(std::move(s.error()));
          break;
        }
        app.services.push_back(std::move(*s));
      }
    }
  } else {
    o.Fail(root.Invalid("\"services\" is required"));
  }
  BERTH_TRY(o.Done());
  return Finish(root, std::move(app));
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

// ---- JSON -------------------------------------------------------------------------------
// The JSON form uses the YAML schema's field names with canonical values (bytes as
// integers, CPU as "500m", durations as FormatDuration strings), so one reader serves both.

namespace {

template <typename OJson>
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

// The body of a service (all but its name); OJson: Json (sorted keys) or ordered_json.
template <typename OJson>
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
  if (s.probes.startup) probes["startup"] = ProbeToJson<OJson>(*s.probes.startup);
  if (s.probes.readiness) probes["readiness"] = ProbeToJson<OJson>(*s.probes.readiness);
  if (s.probes.liveness) probes["liveness"] = ProbeToJson<OJson>(*s.probes.liveness);
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
  if (!s.security.IsDefault()) {
    OJson sc = {{"readOnlyRootFilesystem", s.security.read_only_root_filesystem},
                {"runAsNonRoot", s.security.run_as_non_root}};
    if (s.security.run_as_user) sc["runAsUser"] = *s.security.run_as_user;
    j["securityContext"] = std::move(sc);
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
  Json j = ServiceBody<Json>(spec);
  j["name"] = spec.name;
  return j;
}

Result<ServiceSpec> ServiceSpecFromNode(const input::Node& n) {
  const input::Node* name = n.IsMap() ? n.Find("name") : nullptr;
  if (name == nullptr) return n.Fail("needs a string \"name\"");
  const std::string service = BERTH_TRY(input::NonEmptyString(*name));
  ServiceSpec s = BERTH_TRY(ReadService(service, n, Mode{.stored = true, .named = true}));
  const std::string path = "services." + service;
  if (auto v = s.Validate(path); !v) return std::unexpected(At(n, v.error(), path));
  return s;
}

Result<ServiceSpec> ServiceSpecFromJson(const Json& json) {
  const input::Document doc = input::FromJson(json, "service.json");
  return ServiceSpecFromNode(doc.root());
}

Json AppToJsonValue(const App& app) {
  Json j = {{"namespace", app.ns}, {"name", app.name}, {"services", Json::object()}};
  for (const auto& s : app.services) j["services"][s.name] = ServiceBody<Json>(s);
  return j;
}

std::string AppToJson(const App& app) {
  using OJson = nlohmann::ordered_json;
  OJson j = {{"namespace", app.ns}, {"name", app.name}, {"services", OJson::object()}};
  for (const auto& s : app.services) j["services"][s.name] = ServiceBody<OJson>(s);
  return j.dump(-1, ' ', false, OJson::error_handler_t::replace);
}

Result<App> AppFromJson(std::string_view json) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json, "app.json"));
  return ReadApp(doc.root(), Mode{.stored = true});
}

}  // namespace berth::orchestrator
