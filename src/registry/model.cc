#include "registry/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>

#include "core/input.h"
#include "core/json.h"
#include "core/json_writer.h"

namespace berth::registry {
namespace {

Result<void> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

constexpr input::Limits kRegistrationLimits{.max_bytes = 256 * 1024, .max_depth = 8};

bool IsLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

Result<void> ValidateLabel(std::string_view value, std::string_view what) {
  if (value.empty()) return Invalid(fmt::format("{} is empty", what));
  if (value.size() > kMaxLabelBytes) {
    return Invalid(fmt::format("{} \"{}\" is {} bytes; the limit is {}", what, value, value.size(),
                               kMaxLabelBytes));
  }
  for (char c : value) {
    if (!IsLabelChar(c)) {
      return Invalid(fmt::format(
          "{} \"{}\" has the character '{}'; allowed are a-z, 0-9 and '-' (a DNS label)", what,
          value,
          std::isprint(static_cast<unsigned char>(c))
              ? std::string(1, c)
              : fmt::format("\\x{:02x}", static_cast<unsigned char>(c))));
    }
  }
  if (value.front() == '-' || value.back() == '-') {
    return Invalid(fmt::format("{} \"{}\" must not start or end with '-'", what, value));
  }
  return {};
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' ||
         c == '_';
}

Result<void> ValidateHostPort(std::string_view text, std::string_view what) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Invalid(fmt::format("{} \"{}\" must be host:port", what, text));
  }
  auto host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  for (char c : host) {
    if (!IsHostChar(c)) return Invalid(fmt::format("{} \"{}\" has a bad host", what, text));
  }
  auto port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Invalid(fmt::format("{} \"{}\" has a bad port", what, text));
  }
  int p = std::stoi(std::string(port));
  if (p < 1 || p > 65535) {
    return Invalid(fmt::format("{} \"{}\": port must be 1..65535", what, text));
  }
  return {};
}

Result<void> ValidateCheck(const CheckSpec& check) {
  switch (check.kind) {
    case CheckSpec::Kind::kHttp: {
      std::string_view url = check.http;
      std::string_view rest;
      if (url.starts_with("http://")) {
        rest = url.substr(7);
      } else if (url.starts_with("https://")) {
        rest = url.substr(8);
      } else {
        return Invalid(fmt::format("check.http \"{}\" must be an http:// or https:// URL",
                                   url.substr(0, 200)));
      }
      if (url.size() > 2048) return Invalid("check.http URL is longer than 2048 bytes");
      auto slash = rest.find('/');
      auto authority = rest.substr(0, slash);
      if (authority.empty()) return Invalid(fmt::format("check.http \"{}\" has no host", url));
      for (char c : rest) {
        if (c <= 0x20 || c == 0x7f) {
          return Invalid(fmt::format("check.http \"{}\" has a space or control character", url));
        }
      }
      if (authority.find(':') != std::string_view::npos &&
          !(authority.front() == '[' && authority.back() == ']')) {
        if (auto r = ValidateHostPort(authority, "check.http host"); !r) return r;
      }
      break;
    }
    case CheckSpec::Kind::kTcp:
      if (auto r = ValidateHostPort(check.tcp, "check.tcp"); !r) return r;
      break;
    case CheckSpec::Kind::kExec:
      if (check.command.empty() || check.command[0].empty()) {
        return Invalid("check.exec needs a command (a non-empty array of strings)");
      }
      if (check.command.size() > 64) return Invalid("check.exec has more than 64 arguments");
      break;
  }
  if (check.interval < Millis(100) || check.interval > Millis(3'600'000)) {
    return Invalid(fmt::format("check.interval {} must be between 100ms and 1h",
                               FormatDuration(check.interval)));
  }
  if (check.timeout < Millis(10) || check.timeout > check.interval) {
    return Invalid(fmt::format("check.timeout {} must be at least 10ms and at most the interval {}",
                               FormatDuration(check.timeout), FormatDuration(check.interval)));
  }
  if (check.rise < 1 || check.rise > kMaxThreshold) {
    return Invalid(fmt::format("check.rise {} must be 1..{}", check.rise, kMaxThreshold));
  }
  if (check.fall < 1 || check.fall > kMaxThreshold) {
    return Invalid(fmt::format("check.fall {} must be 1..{}", check.fall, kMaxThreshold));
  }
  return {};
}

// ---- reading (the strict reader; the reference the fast path below must equal) ---------

Result<std::vector<std::string>> ReadCommand(const input::Node& n) {
  if (!n.IsList()) return n.Fail("must be an array of strings");
  return input::ListOf(input::String)(n);
}

Result<CheckSpec> ReadCheck(const input::Node& n) {
  CheckSpec c;
  input::Object o(n);
  o.ExactlyOneOf({"http", "tcp", "exec"});
  if (o.Has("http")) c.kind = CheckSpec::Kind::kHttp;
  if (o.Has("tcp")) c.kind = CheckSpec::Kind::kTcp;
  if (o.Has("exec")) c.kind = CheckSpec::Kind::kExec;
  o.Optional("http", c.http)
      .Optional("tcp", c.tcp)
      .Optional("exec", c.command, ReadCommand)
      .Optional("interval", c.interval, input::Duration{})
      .Optional("timeout", c.timeout, input::Duration{})
      .Optional("rise", c.rise, input::Int(1, kMaxThreshold))
      .Optional("fall", c.fall, input::Int(1, kMaxThreshold));
  BERTH_TRY(o.Done());
  if (!n.Find("timeout")) c.timeout = std::min(c.timeout, c.interval);
  return c;
}

const auto kHealth = input::Enum<Health>({{"passing", Health::kPassing},
                                          {"warning", Health::kWarning},
                                          {"critical", Health::kCritical}});

// Reads the registration fields of an instance (and with `stored`, the server's health
// fields) from `o`; the caller checks for unknown fields (o.Done()).
void ReadFields(input::Object& o, Instance& out, bool stored) {
  const input::Node* ttl = o.Take("ttl");
  o.Required("address", out.address)
      .Required("port", out.port, input::Int(1, 65535))
      .Optional("tags", out.tags, input::ListOf(input::String, kMaxTags))
      .Optional("metadata", out.metadata, input::MapOf(input::String, kMaxMetadataEntries))
      .Optional("weight", out.weight, input::Int(0, kMaxWeight))
      .Optional("deregister_after", out.deregister_after, input::Duration{})
      .Optional("check", out.check, ReadCheck);
  if (const input::Node* d = o.node().Find("deregister_after");
      d != nullptr && o.ok() && out.deregister_after.count() == 0) {
    o.Fail(d->Invalid("0s is not allowed: omit it or give at least 1s"));
  }
  if (ttl != nullptr && o.ok()) {
    auto d = input::Duration{.min = Millis(1000)}(*ttl);
    if (!d) {
      o.Fail(std::move(d.error()));
    } else if (d->count() % 1000 != 0) {
      o.Fail(ttl->Invalid(fmt::format("{} must be whole seconds", FormatDuration(*d))));
    } else {
      out.ttl_seconds = d->count() / 1000;
    }
  }
  if (stored) {
    o.Optional("health", out.health, kHealth)
        .Optional("health_output", out.health_output)
        .Optional("health_since", out.health_since_ms, input::Int(INT64_MIN, INT64_MAX))
        .Optional("preserved", out.preserved);
  }
}

// A registration body or a stored value as JSON, read by the strict reader.
Result<void> ParseFields(std::string_view text, std::string_view source, Instance& out, bool stored,
                         const input::Limits& limits) {
  const input::Document doc = BERTH_TRY(input::ParseJson(text, source, limits));
  input::Object o(doc.root());
  ReadFields(o, out, stored);
  return o.Done();
}

Json CheckToJson(const CheckSpec& c) {
  Json j = Json::object();
  switch (c.kind) {
    case CheckSpec::Kind::kHttp:
      j["http"] = c.http;
      break;
    case CheckSpec::Kind::kTcp:
      j["tcp"] = c.tcp;
      break;
    case CheckSpec::Kind::kExec:
      j["exec"] = c.command;
      break;
  }
  j["interval"] = FormatDuration(c.interval);
  j["timeout"] = FormatDuration(c.timeout);
  j["rise"] = c.rise;
  j["fall"] = c.fall;
  return j;
}

Json StoredJson(const Instance& in) {
  Json j = Json::object();
  j["address"] = in.address;
  j["port"] = in.port;
  j["tags"] = in.tags;
  j["metadata"] = in.metadata;
  j["weight"] = in.weight;
  if (in.ttl_seconds > 0) j["ttl"] = FormatDuration(Millis(in.ttl_seconds * 1000));
  if (in.deregister_after.count() > 0) j["deregister_after"] = FormatDuration(in.deregister_after);
  if (in.check) j["check"] = CheckToJson(*in.check);
  j["health"] = HealthName(in.health);
  if (!in.health_output.empty()) j["health_output"] = in.health_output;
  if (in.health_since_ms) j["health_since"] = in.health_since_ms;
  if (in.preserved) j["preserved"] = true;
  return j;
}

// ---- hand-written JSON forms (hot paths) ------------------------------------------------
// Registration, heartbeat, the watch hub and every listing encode and decode instances; these
// do it without building a Json tree. Each either produces exactly what the Json path
// (StoredJson().dump(), ParseJson + ParseFields) produces or declines (false), and the caller
// then takes the Json path, so errors, escaping corner cases and exceptions stay as they were.

// Writes the object's members in nlohmann's (sorted) key order; `reported` adds the identity
// and revision/lease members of InstanceToJsonText. False when a string is not UTF-8.
bool WriteInstanceText(std::string& out, const Instance& in, bool reported) {
  out.reserve(out.size() + 192 + in.address.size() + in.health_output.size() +
              in.metadata.size() * 32 + in.tags.size() * 16);
  JsonWriter w(out);
  w.BeginObject().Key("address").String(in.address);
  if (in.check) {
    const CheckSpec& c = *in.check;
    w.Key("check").BeginObject();
    if (c.kind == CheckSpec::Kind::kExec) {
      w.Key("exec").BeginArray();
      for (const auto& arg : c.command) w.String(arg);
      w.EndArray();
    }
    w.Key("fall").Int(c.fall);
    if (c.kind == CheckSpec::Kind::kHttp) w.Key("http").String(c.http);
    w.Key("interval").String(FormatDuration(c.interval)).Key("rise").Int(c.rise);
    if (c.kind == CheckSpec::Kind::kTcp) w.Key("tcp").String(c.tcp);
    w.Key("timeout").String(FormatDuration(c.timeout)).EndObject();
  }
  if (in.deregister_after.count() > 0) {
    w.Key("deregister_after").String(FormatDuration(in.deregister_after));
  }
  w.Key("health").String(HealthName(in.health));
  if (!in.health_output.empty()) w.Key("health_output").String(in.health_output);
  if (in.health_since_ms) w.Key("health_since").Int(in.health_since_ms);
  if (reported) {
    w.Key("id").String(in.id);
    if (in.lease) w.Key("lease").Int(in.lease);
  }
  w.Key("metadata").BeginObject();
  for (const auto& [k, v] : in.metadata) w.Key(k).String(v);
  w.EndObject();
  if (reported) w.Key("namespace").String(in.ns);
  w.Key("port").Uint(in.port);
  if (in.preserved) w.Key("preserved").Bool(true);
  if (reported) w.Key("revision").Int(in.revision).Key("service").String(in.service);
  w.Key("tags").BeginArray();
  for (const auto& t : in.tags) w.String(t);
  w.EndArray();
  if (in.ttl_seconds > 0) w.Key("ttl").String(FormatDuration(Millis(in.ttl_seconds * 1000)));
  w.Key("weight").Uint(in.weight).EndObject();
  return w.ok();
}

// A cursor over JSON text for the common shape of registrations and stored instances:
// strings of printable ASCII without escapes, non-negative integers without sign, exponent
// or fraction. Anything else makes the caller decline.
class FastReader {
 public:
  explicit FastReader(std::string_view text) : t_(text) {}

  void SkipSpace() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t'))
      ++i_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return i_ < t_.size() && t_[i_] == c;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == t_.size();
  }
  bool String(std::string_view& out) {
    if (!Eat('"')) return false;
    size_t start = i_;
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (c == '"') {
        out = t_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c < 0x20 || c > 0x7e || c == '\\') return false;  // escapes, control, non-ASCII
      ++i_;
    }
    return false;
  }
  // 0 or [1-9][0-9]{0,17}: what nlohmann reads as an unsigned integer that fits int64.
  bool Uint(int64_t& out) {
    SkipSpace();
    size_t start = i_;
    int64_t v = 0;
    while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') {
      if (i_ - start == 18) return false;
      v = v * 10 + (t_[i_] - '0');
      ++i_;
    }
    size_t n = i_ - start;
    if (n == 0 || (n > 1 && t_[start] == '0')) return false;
    if (i_ < t_.size() && (t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E')) return false;
    out = v;
    return true;
  }
  bool Literal(std::string_view word) {
    SkipSpace();
    if (t_.substr(i_).starts_with(word)) {
      i_ += word.size();
      return true;
    }
    return false;
  }

 private:
  std::string_view t_;
  size_t i_ = 0;
};

// ParseFields' result for `text` when it is one object of the common shape, or false (also for
// anything ParseFields would refuse; the caller's Json path then says why). No "check".
bool FastParseFields(std::string_view text, Instance& out, bool stored) {
  FastReader r(text);
  if (!r.Eat('{')) return false;
  enum : uint32_t {
    kAddress = 1,
    kPort = 2,
    kTags = 4,
    kMetadata = 8,
    kWeight = 16,
    kTtl = 32,
    kDeregister = 64,
    kHealth = 128,
    kHealthOutput = 256,
    kHealthSince = 512,
    kPreserved = 1024,
  };
  uint32_t seen = 0;
  auto once = [&seen](uint32_t bit) {
    if (seen & bit) return false;  // duplicate key: Json refuses it
    seen |= bit;
    return true;
  };
  if (!r.Eat('}')) {
    do {
      std::string_view k, v;
      int64_t n = 0;
      if (!r.String(k) || !r.Eat(':')) return false;
      if (k == "address") {
        if (!once(kAddress) || !r.String(v)) return false;
        out.address = v;
      } else if (k == "port") {
        if (!once(kPort) || !r.Uint(n) || n < 1 || n > 65535) return false;
        out.port = static_cast<uint32_t>(n);
      } else if (k == "tags") {
        if (!once(kTags) || !r.Eat('[')) return false;
        if (!r.Eat(']')) {
          do {
            if (!r.String(v) || out.tags.size() >= kMaxTags) return false;
            out.tags.emplace_back(v);
          } while (r.Eat(','));
          if (!r.Eat(']')) return false;
        }
      } else if (k == "metadata") {
        if (!once(kMetadata) || !r.Eat('{')) return false;
        if (!r.Eat('}')) {
          do {
            std::string_view mk;
            if (!r.String(mk) || !r.Eat(':') || !r.String(v)) return false;
            if (out.metadata.size() >= kMaxMetadataEntries) return false;
            if (!out.metadata.emplace(mk, v).second) return false;  // duplicate key
          } while (r.Eat(','));
          if (!r.Eat('}')) return false;
        }
      } else if (k == "weight") {
        if (!once(kWeight) || !r.Uint(n) || n > kMaxWeight) return false;
        out.weight = static_cast<uint32_t>(n);
      } else if (k == "ttl") {
        if (!once(kTtl) || !r.String(v)) return false;
        auto d = ParseDuration(v);
        if (!d || d->count() % 1000 != 0 || d->count() == 0) return false;
        out.ttl_seconds = d->count() / 1000;
      } else if (k == "deregister_after") {
        if (!once(kDeregister) || !r.String(v)) return false;
        auto d = ParseDuration(v);
        if (!d || d->count() == 0) return false;
        out.deregister_after = *d;
      } else if (stored && k == "health") {
        if (!once(kHealth) || !r.String(v)) return false;
        auto h = ParseHealth(v);
        if (!h) return false;
        out.health = *h;
      } else if (stored && k == "health_output") {
        if (!once(kHealthOutput) || !r.String(v)) return false;
        out.health_output = v;
      } else if (stored && k == "health_since") {
        if (!once(kHealthSince) || !r.Uint(n)) return false;
        out.health_since_ms = n;
      } else if (stored && k == "preserved") {
        if (!once(kPreserved)) return false;
        if (r.Literal("true")) {
          out.preserved = true;
        } else if (r.Literal("false")) {
          out.preserved = false;
        } else {
          return false;
        }
      } else {
        return false;  // "check", or a field the Json path refuses
      }
    } while (r.Eat(','));
    if (!r.Eat('}')) return false;
  }
  return r.AtEnd() && (seen & kAddress) && (seen & kPort);
}

}  // namespace

std::string_view HealthName(Health health) {
  switch (health) {
    case Health::kPassing:
      return "passing";
    case Health::kWarning:
      return "warning";
    case Health::kCritical:
      return "critical";
  }
  return "critical";
}

std::optional<Health> ParseHealth(std::string_view text) {
  if (text == "passing") return Health::kPassing;
  if (text == "warning") return Health::kWarning;
  if (text == "critical") return Health::kCritical;
  return std::nullopt;
}

std::string_view CheckKindName(CheckSpec::Kind kind) {
  switch (kind) {
    case CheckSpec::Kind::kHttp:
      return "http";
    case CheckSpec::Kind::kTcp:
      return "tcp";
    case CheckSpec::Kind::kExec:
      return "exec";
  }
  return "unknown";
}

bool Instance::SameRegistration(const Instance& o) const {
  return ns == o.ns && service == o.service && id == o.id && address == o.address &&
         port == o.port && tags == o.tags && metadata == o.metadata && weight == o.weight &&
         ttl_seconds == o.ttl_seconds && deregister_after == o.deregister_after && check == o.check;
}

bool Instance::HasTag(std::string_view tag) const {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

Result<void> ValidateNamespace(std::string_view ns) { return ValidateLabel(ns, "namespace"); }
Result<void> ValidateServiceName(std::string_view service) {
  return ValidateLabel(service, "service name");
}

Result<void> ValidateInstanceId(std::string_view id) {
  if (id.empty()) return Invalid("instance id is empty");
  if (id.size() > kMaxInstanceIdBytes) {
    return Invalid(
        fmt::format("instance id is {} bytes; the limit is {}", id.size(), kMaxInstanceIdBytes));
  }
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return Invalid(fmt::format(
          "instance id \"{}\" has a character outside A-Z, a-z, 0-9, '.', '_' and '-'", id));
    }
  }
  if (id == "." || id == "..") return Invalid("instance id must not be \".\" or \"..\"");
  return {};
}

Result<void> ValidateInstance(const Instance& in) {
  if (auto r = ValidateNamespace(in.ns); !r) return r;
  if (auto r = ValidateServiceName(in.service); !r) return r;
  if (auto r = ValidateInstanceId(in.id); !r) return r;
  if (in.address.empty()) return Invalid("address is empty");
  if (in.address.size() > kMaxAddressBytes) {
    return Invalid(
        fmt::format("address is {} bytes; the limit is {}", in.address.size(), kMaxAddressBytes));
  }
  for (char c : in.address) {
    if (!IsHostChar(c)) {
      return Invalid(fmt::format("address \"{}\" is not an IP address or host name",
                                 in.address.substr(0, 64)));
    }
  }
  if (in.port < 1 || in.port > 65535) {
    return Invalid(fmt::format("port {} is out of range; it must be 1..65535", in.port));
  }
  if (in.tags.size() > kMaxTags) {
    return Invalid(fmt::format("{} tags is more than the limit of {}", in.tags.size(), kMaxTags));
  }
  for (const auto& t : in.tags) {
    if (t.empty()) return Invalid("a tag is empty");
    if (t.size() > kMaxTagBytes) {
      return Invalid(fmt::format("tag \"{}...\" is {} bytes; the limit is {}", t.substr(0, 32),
                                 t.size(), kMaxTagBytes));
    }
    for (char c : t) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ',') {
        return Invalid(fmt::format("tag \"{}\" has a control character or ','", t.substr(0, 64)));
      }
    }
  }
  if (in.metadata.size() > kMaxMetadataEntries) {
    return Invalid(fmt::format("metadata has {} entries; the limit is {}", in.metadata.size(),
                               kMaxMetadataEntries));
  }
  for (const auto& [k, v] : in.metadata) {
    if (k.empty()) return Invalid("a metadata key is empty");
    if (k.size() > kMaxMetadataKeyBytes) {
      return Invalid(fmt::format("metadata key \"{}...\" is {} bytes; the limit is {}",
                                 k.substr(0, 32), k.size(), kMaxMetadataKeyBytes));
    }
    if (v.size() > kMaxMetadataValueBytes) {
      return Invalid(fmt::format("metadata \"{}\" value is {} bytes; the limit is {}",
                                 k.substr(0, 64), v.size(), kMaxMetadataValueBytes));
    }
  }
  if (in.weight > kMaxWeight) {
    return Invalid(fmt::format("weight {} must be 0..{}", in.weight, kMaxWeight));
  }
  if (in.ttl_seconds < 0 || in.ttl_seconds > kMaxTtlSeconds) {
    return Invalid(fmt::format("ttl {}s must be between 1s and 24h", in.ttl_seconds));
  }
  if (in.deregister_after.count() < 0 || in.deregister_after > Millis(kMaxTtlSeconds * 1000)) {
    return Invalid("deregister_after must be between 1s and 24h");
  }
  if (in.deregister_after.count() > 0 && in.deregister_after < Millis(1000)) {
    return Invalid("deregister_after must be at least 1s");
  }
  if (in.check) {
    if (auto r = ValidateCheck(*in.check); !r) return r;
    if (in.check->kind == CheckSpec::Kind::kExec) {
      auto c = in.metadata.find(std::string(kContainerMetadataKey));
      if (c == in.metadata.end() || c->second.empty()) {
        return Invalid(fmt::format(
            "check.exec runs inside the instance's container: name it in metadata \"{}\"",
            kContainerMetadataKey));
      }
    }
  }
  if (auto n = in.metadata.find(std::string(kNodeMetadataKey)); n != in.metadata.end()) {
    if (auto r = ValidateLabel(n->second,
                               fmt::format("metadata \"{}\" (a node name)", kNodeMetadataKey));
        !r) {
      return r;
    }
  }
  return {};
}

std::optional<std::string> ExecCheckNode(const Instance& instance) {
  if (!instance.check || instance.check->kind != CheckSpec::Kind::kExec) return std::nullopt;
  auto n = instance.metadata.find(std::string(kNodeMetadataKey));
  if (n == instance.metadata.end() || n->second.empty()) return std::nullopt;
  return n->second;
}

namespace {
std::string_view NamedNode(const Instance& instance) {
  auto n = instance.metadata.find(std::string(kNodeMetadataKey));
  return n == instance.metadata.end() ? std::string_view() : std::string_view(n->second);
}
}  // namespace

Result<void> AuthorizeNodeWrite(std::string_view writer_node, const Instance* stored,
                                const Instance* incoming) {
  if (writer_node.empty()) return {};
  if (incoming != nullptr && NamedNode(*incoming) != writer_node) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("a token of node {} registers only instances of its own node: "
                            "instance {} has metadata \"{}\" = \"{}\" (want \"{}\")",
                            writer_node, incoming->id, kNodeMetadataKey, NamedNode(*incoming),
                            writer_node));
  }
  if (stored != nullptr && NamedNode(*stored) != writer_node) {
    const std::string_view owner = NamedNode(*stored);
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("a token of node {} cannot change instance {} of {}/{}: it {}",
                            writer_node, stored->id, stored->ns, stored->service,
                            owner.empty() ? std::string("belongs to no node")
                                          : fmt::format("belongs to node {}", owner)));
  }
  return {};
}

Result<HealthReport> ParseHealthReport(std::string_view body) {
  const input::Document doc =
      BERTH_TRY(input::ParseJson(body, "health report", {.max_bytes = 16 * 1024, .max_depth = 4}));
  HealthReport out;
  input::Object o(doc.root());
  o.Required("status", out.status, kHealth).Optional("output", out.output);
  BERTH_TRY(o.Done());
  if (out.output.size() > kMaxHealthOutputBytes) {
    return std::unexpected(doc.root().Find("output")->Invalid(
        fmt::format("is {} bytes; the limit is {}", out.output.size(), kMaxHealthOutputBytes)));
  }
  return out;
}

Result<void> AuthorizeHealthReport(const Instance& instance, std::string_view reporter_node,
                                   bool admin) {
  auto node = ExecCheckNode(instance);
  if (!node) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("instance {} of {}/{} has no node-local exec check (an exec check "
                            "with metadata \"{}\"): its health comes from the control plane's "
                            "checks, not from reports",
                            instance.id, instance.ns, instance.service, kNodeMetadataKey));
  }
  if (admin) return {};
  if (reporter_node.empty()) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("only node {}'s token (or an admin) may report the health of "
                            "instance {}; this token is bound to no node",
                            *node, instance.id));
  }
  if (reporter_node != *node) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("a token of node {} cannot report the health of instance {}: its "
                            "check runs on node {}",
                            reporter_node, instance.id, *node));
  }
  return {};
}

Result<Instance> ParseRegistration(std::string_view body, std::string_view ns,
                                   std::string_view service, std::string_view id) {
  Instance in;
  in.ns = ns.empty() ? std::string(kDefaultNamespace) : std::string(ns);
  in.service = service;
  in.id = id;
  // Identity first, so a bad URL is reported before the body.
  if (auto r = ValidateNamespace(in.ns); !r) return std::unexpected(r.error());
  if (auto r = ValidateServiceName(in.service); !r) return std::unexpected(r.error());
  if (auto r = ValidateInstanceId(in.id); !r) return std::unexpected(r.error());
  if (body.size() > kRegistrationLimits.max_bytes || !FastParseFields(body, in, /*stored=*/false)) {
    in = Instance{.ns = std::move(in.ns), .service = std::move(in.service), .id = std::move(in.id)};
    BERTH_TRY(ParseFields(body, "registration", in, /*stored=*/false, kRegistrationLimits));
  }
  BERTH_TRY(ValidateInstance(in));
  return in;
}

Result<Instance> ParseRegistrationViaJson(std::string_view body, std::string_view ns,
                                          std::string_view service, std::string_view id) {
  Instance in;
  in.ns = ns.empty() ? std::string(kDefaultNamespace) : std::string(ns);
  in.service = service;
  in.id = id;
  BERTH_TRY(ValidateNamespace(in.ns));
  BERTH_TRY(ValidateServiceName(in.service));
  BERTH_TRY(ValidateInstanceId(in.id));
  BERTH_TRY(ParseFields(body, "registration", in, /*stored=*/false, kRegistrationLimits));
  BERTH_TRY(ValidateInstance(in));
  return in;
}

std::string EncodeStored(const Instance& instance) {
  std::string out;
  if (WriteInstanceText(out, instance, /*reported=*/false)) return out;
  return EncodeStoredViaJson(instance);
}

std::string EncodeStoredViaJson(const Instance& instance) { return StoredJson(instance).dump(); }

Result<Instance> DecodeStored(std::string_view key, std::string_view value, int64_t mod_revision,
                              int64_t lease) {
  auto parts = ParseInstanceKey(key);
  if (!parts) return Fail(ErrorCode::kInternal, fmt::format("not an instance key: {}", key));
  Instance in;
  in.ns = std::move(parts->ns);
  in.service = std::move(parts->service);
  in.id = std::move(parts->id);
  if (value.size() > input::Limits{}.max_bytes || !FastParseFields(value, in, /*stored=*/true)) {
    return DecodeStoredViaJson(key, value, mod_revision, lease);
  }
  in.revision = mod_revision;
  in.lease = lease;
  return in;
}

Result<Instance> DecodeStoredViaJson(std::string_view key, std::string_view value,
                                     int64_t mod_revision, int64_t lease) {
  auto parts = ParseInstanceKey(key);
  if (!parts) return Fail(ErrorCode::kInternal, fmt::format("not an instance key: {}", key));
  Instance in;
  in.ns = parts->ns;
  in.service = parts->service;
  in.id = parts->id;
  BERTH_TRY(ParseFields(value, key, in, /*stored=*/true, input::Limits{}));
  in.revision = mod_revision;
  in.lease = lease;
  return in;
}

std::string InstanceToJsonText(const Instance& instance) {
  std::string out;
  if (WriteInstanceText(out, instance, /*reported=*/true)) return out;
  return InstanceToJsonTextViaJson(instance);
}

Json InstanceToJson(const Instance& instance) {
  Json j = StoredJson(instance);
  j["namespace"] = instance.ns;
  j["service"] = instance.service;
  j["id"] = instance.id;
  j["revision"] = instance.revision;
  if (instance.lease) j["lease"] = instance.lease;
  return j;
}

std::string InstanceToJsonTextViaJson(const Instance& instance) {
  return InstanceToJson(instance).dump();
}

Result<Instance> DecodeReported(std::string_view json_text) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json_text, "instance"));
  return ReadReported(doc.root());
}

Result<Instance> ReadReported(const input::Node& node) {
  Instance in;
  input::Object o(node);
  o.Required("namespace", in.ns)
      .Required("service", in.service)
      .Required("id", in.id)
      .Optional("revision", in.revision, input::Int(0, INT64_MAX))
      .Optional("lease", in.lease, input::Int(0, INT64_MAX));
  ReadFields(o, in, /*stored=*/true);
  BERTH_TRY(o.Done());
  return in;
}

std::string InstanceKey(std::string_view ns, std::string_view service, std::string_view id) {
  std::string key;
  key.reserve(kKeyRoot.size() + ns.size() + service.size() + id.size() + 2);
  key += kKeyRoot;
  key += ns;
  key += '/';
  key += service;
  key += '/';
  key += id;
  return key;
}
std::string ServicePrefix(std::string_view ns, std::string_view service) {
  return fmt::format("{}{}/{}/", kKeyRoot, ns, service);
}
std::string NamespacePrefix(std::string_view ns) { return fmt::format("{}{}/", kKeyRoot, ns); }

std::optional<KeyParts> ParseInstanceKey(std::string_view key) {
  if (!key.starts_with(kKeyRoot)) return std::nullopt;
  key.remove_prefix(kKeyRoot.size());
  auto a = key.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = key.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (key.find('/', b + 1) != std::string_view::npos) return std::nullopt;
  KeyParts p{std::string(key.substr(0, a)), std::string(key.substr(a + 1, b - a - 1)),
             std::string(key.substr(b + 1))};
  if (p.ns.empty() || p.service.empty() || p.id.empty()) return std::nullopt;
  return p;
}

}  // namespace berth::registry
