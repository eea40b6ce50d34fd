#include "registry/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>

#include "core/json.h"

namespace berth::registry {
namespace {

Result<void> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

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

// ---- JSON helpers -------------------------------------------------------------------------

Result<std::string> GetString(const Json& j, std::string_view field, std::string_view what) {
  const Json& v = j.at(std::string(field));
  if (!v.is_string())
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}.{} must be a string", what, field));
  return v.get<std::string>();
}

Result<int64_t> GetInt(const Json& j, std::string_view field, std::string_view what) {
  const Json& v = j.at(std::string(field));
  if (!v.is_number_integer()) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}.{} must be an integer", what, field));
  }
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}.{} is out of range", what, field));
    }
    return static_cast<int64_t>(u);
  }
  return v.get<int64_t>();
}

Result<Millis> GetDuration(const Json& j, std::string_view field, std::string_view what) {
  auto s = GetString(j, field, what);
  if (!s) return std::unexpected(s.error());
  auto d = ParseDuration(*s);
  if (!d) return std::unexpected(Wrap(d.error(), fmt::format("{}.{}", what, field)));
  return *d;
}

Result<CheckSpec> ParseCheck(const Json& j) {
  if (auto r = RejectUnknownFields(
          j, {"http", "tcp", "exec", "interval", "timeout", "rise", "fall"}, "check");
      !r) {
    return std::unexpected(r.error());
  }
  CheckSpec c;
  int kinds = 0;
  if (j.contains("http")) {
    ++kinds;
    c.kind = CheckSpec::Kind::kHttp;
    auto s = GetString(j, "http", "check");
    if (!s) return std::unexpected(s.error());
    c.http = *s;
  }
  if (j.contains("tcp")) {
    ++kinds;
    c.kind = CheckSpec::Kind::kTcp;
    auto s = GetString(j, "tcp", "check");
    if (!s) return std::unexpected(s.error());
    c.tcp = *s;
  }
  if (j.contains("exec")) {
    ++kinds;
    c.kind = CheckSpec::Kind::kExec;
    const Json& e = j.at("exec");
    if (!e.is_array())
      return Fail(ErrorCode::kInvalidArgument, "check.exec must be an array of strings");
    for (const auto& a : e) {
      if (!a.is_string()) {
        return Fail(ErrorCode::kInvalidArgument, "check.exec must be an array of strings");
      }
      c.command.push_back(a.get<std::string>());
    }
  }
  if (kinds != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "check must have exactly one of \"http\", \"tcp\" or \"exec\"");
  }
  if (j.contains("interval")) {
    auto d = GetDuration(j, "interval", "check");
    if (!d) return std::unexpected(d.error());
    c.interval = *d;
  }
  if (j.contains("timeout")) {
    auto d = GetDuration(j, "timeout", "check");
    if (!d) return std::unexpected(d.error());
    c.timeout = *d;
  } else {
    c.timeout = std::min(c.timeout, c.interval);
  }
  for (auto [field, out] : {std::pair{"rise", &c.rise}, std::pair{"fall", &c.fall}}) {
    if (!j.contains(field)) continue;
    auto v = GetInt(j, field, "check");
    if (!v) return std::unexpected(v.error());
    if (*v < 1 || *v > kMaxThreshold) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("check.{} {} must be 1..{}", field, *v, kMaxThreshold));
    }
    *out = static_cast<int>(*v);
  }
  return c;
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

// Fills the registration fields of `out` from `j`; `allow_server_fields` also accepts the
// health fields of the stored form.
Result<void> ParseFields(const Json& j, Instance& out, bool stored) {
  if (stored) {
    if (auto r = RejectUnknownFields(
            j,
            {"address", "port", "tags", "metadata", "weight", "ttl", "deregister_after", "check",
             "health", "health_output", "health_since", "preserved"},
            "stored instance");
        !r) {
      return r;
    }
  } else {
    if (auto r = RejectUnknownFields(
            j,
            {"address", "port", "tags", "metadata", "weight", "ttl", "deregister_after", "check"},
            "registration");
        !r) {
      return r;
    }
  }
  if (!j.contains("address")) return Invalid("registration needs \"address\"");
  if (!j.contains("port")) return Invalid("registration needs \"port\"");
  auto address = GetString(j, "address", "registration");
  if (!address) return std::unexpected(address.error());
  out.address = *address;
  auto port = GetInt(j, "port", "registration");
  if (!port) return std::unexpected(port.error());
  if (*port < 1 || *port > 65535) {
    return Invalid(fmt::format("port {} is out of range; it must be 1..65535", *port));
  }
  out.port = static_cast<uint32_t>(*port);
  if (j.contains("tags")) {
    const Json& t = j.at("tags");
    if (!t.is_array()) return Invalid("tags must be an array of strings");
    if (t.size() > kMaxTags) {
      return Invalid(fmt::format("{} tags is more than the limit of {}", t.size(), kMaxTags));
    }
    for (const auto& v : t) {
      if (!v.is_string()) return Invalid("tags must be an array of strings");
      out.tags.push_back(v.get<std::string>());
    }
  }
  if (j.contains("metadata")) {
    const Json& m = j.at("metadata");
    if (!m.is_object()) return Invalid("metadata must be an object of strings");
    if (m.size() > kMaxMetadataEntries) {
      return Invalid(
          fmt::format("metadata has {} entries; the limit is {}", m.size(), kMaxMetadataEntries));
    }
    for (const auto& [k, v] : m.items()) {
      if (!v.is_string()) {
        return Invalid(fmt::format("metadata \"{}\" must be a string", k.substr(0, 128)));
      }
      out.metadata[k] = v.get<std::string>();
    }
  }
  if (j.contains("weight")) {
    auto w = GetInt(j, "weight", "registration");
    if (!w) return std::unexpected(w.error());
    if (*w < 0 || *w > kMaxWeight) {
      return Invalid(fmt::format("weight {} must be 0..{}", *w, kMaxWeight));
    }
    out.weight = static_cast<uint32_t>(*w);
  }
  if (j.contains("ttl")) {
    auto d = GetDuration(j, "ttl", "registration");
    if (!d) return std::unexpected(d.error());
    if (d->count() % 1000 != 0) {
      return Invalid(fmt::format("ttl {} must be whole seconds", FormatDuration(*d)));
    }
    out.ttl_seconds = d->count() / 1000;
    if (out.ttl_seconds == 0) return Invalid("ttl 0s is not allowed: it must be at least 1s");
  }
  if (j.contains("deregister_after")) {
    auto d = GetDuration(j, "deregister_after", "registration");
    if (!d) return std::unexpected(d.error());
    if (d->count() == 0) {
      return Invalid("deregister_after 0s is not allowed: omit it or give at least 1s");
    }
    out.deregister_after = *d;
  }
  if (j.contains("check")) {
    auto c = ParseCheck(j.at("check"));
    if (!c) return std::unexpected(c.error());
    out.check = *c;
  }
  if (stored) {
    if (j.contains("health")) {
      auto s = GetString(j, "health", "stored instance");
      if (!s) return std::unexpected(s.error());
      auto h = ParseHealth(*s);
      if (!h) return Invalid(fmt::format("unknown health \"{}\"", *s));
      out.health = *h;
    }
    if (j.contains("health_output")) {
      auto s = GetString(j, "health_output", "stored instance");
      if (!s) return std::unexpected(s.error());
      out.health_output = *s;
    }
    if (j.contains("health_since")) {
      auto v = GetInt(j, "health_since", "stored instance");
      if (!v) return std::unexpected(v.error());
      out.health_since_ms = *v;
    }
    if (j.contains("preserved")) {
      if (!j.at("preserved").is_boolean()) return Invalid("preserved must be a boolean");
      out.preserved = j.at("preserved").get<bool>();
    }
  }
  return {};
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

void AppendInt(std::string& out, int64_t v) {
  fmt::format_int text(v);
  out.append(text.data(), text.size());
}

// Writes the object's members in nlohmann's (sorted) key order; `reported` adds the identity
// and revision/lease members of InstanceToJsonText.
bool WriteInstanceText(std::string& out, const Instance& in, bool reported) {
  out.reserve(out.size() + 192 + in.address.size() + in.health_output.size() +
              in.metadata.size() * 32 + in.tags.size() * 16);
  auto key = [&out](std::string_view k) {
    out += '"';
    out += k;
    out += "\":";
  };
  out += '{';
  key("address");
  if (!AppendJsonString(out, in.address)) return false;
  if (in.check) {
    const CheckSpec& c = *in.check;
    out += ',';
    key("check");
    out += '{';
    if (c.kind == CheckSpec::Kind::kExec) {
      key("exec");
      out += '[';
      for (size_t i = 0; i < c.command.size(); ++i) {
        if (i > 0) out += ',';
        if (!AppendJsonString(out, c.command[i])) return false;
      }
      out += "],";
    }
    key("fall");
    AppendInt(out, c.fall);
    out += ',';
    if (c.kind == CheckSpec::Kind::kHttp) {
      key("http");
      if (!AppendJsonString(out, c.http)) return false;
      out += ',';
    }
    key("interval");
    if (!AppendJsonString(out, FormatDuration(c.interval))) return false;
    out += ',';
    key("rise");
    AppendInt(out, c.rise);
    out += ',';
    if (c.kind == CheckSpec::Kind::kTcp) {
      key("tcp");
      if (!AppendJsonString(out, c.tcp)) return false;
      out += ',';
    }
    key("timeout");
    if (!AppendJsonString(out, FormatDuration(c.timeout))) return false;
    out += '}';
  }
  if (in.deregister_after.count() > 0) {
    out += ',';
    key("deregister_after");
    if (!AppendJsonString(out, FormatDuration(in.deregister_after))) return false;
  }
  out += ',';
  key("health");
  if (!AppendJsonString(out, HealthName(in.health))) return false;
  if (!in.health_output.empty()) {
    out += ',';
    key("health_output");
    if (!AppendJsonString(out, in.health_output)) return false;
  }
  if (in.health_since_ms) {
    out += ',';
    key("health_since");
    AppendInt(out, in.health_since_ms);
  }
  if (reported) {
    out += ',';
    key("id");
    if (!AppendJsonString(out, in.id)) return false;
    if (in.lease) {
      out += ',';
      key("lease");
      AppendInt(out, in.lease);
    }
  }
  out += ',';
  key("metadata");
  out += '{';
  bool first = true;
  for (const auto& [k, v] : in.metadata) {
    if (!first) out += ',';
    first = false;
    if (!AppendJsonString(out, k)) return false;
    out += ':';
    if (!AppendJsonString(out, v)) return false;
  }
  out += '}';
  if (reported) {
    out += ',';
    key("namespace");
    if (!AppendJsonString(out, in.ns)) return false;
  }
  out += ',';
  key("port");
  AppendInt(out, in.port);
  if (in.preserved) {
    out += ',';
    key("preserved");
    out += "true";
  }
  if (reported) {
    out += ',';
    key("revision");
    AppendInt(out, in.revision);
    out += ',';
    key("service");
    if (!AppendJsonString(out, in.service)) return false;
  }
  out += ',';
  key("tags");
  out += '[';
  for (size_t i = 0; i < in.tags.size(); ++i) {
    if (i > 0) out += ',';
    if (!AppendJsonString(out, in.tags[i])) return false;
  }
  out += ']';
  if (in.ttl_seconds > 0) {
    out += ',';
    key("ttl");
    if (!AppendJsonString(out, FormatDuration(Millis(in.ttl_seconds * 1000)))) return false;
  }
  out += ',';
  key("weight");
  AppendInt(out, in.weight);
  out += '}';
  return true;
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

Result<Millis> ParseDuration(std::string_view text) {
  auto bad = [&]() {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("duration \"{}\" is not like 500ms, 10s, 1m30s or 2h", text.substr(0, 64)));
  };
  if (text.empty() || text.size() > 32) return bad();
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000) return bad();
      ++i;
      ++digits;
    }
    if (digits == 0) return bad();
    int64_t unit = 0;
    if (text.substr(i).starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unit = 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unit = 60'000;
      ++i;
    } else if (i < text.size() && text[i] == 'h') {
      unit = 3'600'000;
      ++i;
    } else {
      return bad();
    }
    total += n * unit;
    if (total > int64_t{1'000'000'000'000}) return bad();
  }
  return Millis(total);
}

std::string FormatDuration(Millis duration) {
  int64_t ms = duration.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
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
  auto j = ParseJson(body, JsonLimits{.max_bytes = 16 * 1024, .max_depth = 4});
  if (!j) return std::unexpected(j.error());
  if (!j->is_object())
    return Fail(ErrorCode::kInvalidArgument, "health report must be a JSON object");
  if (auto r = RejectUnknownFields(*j, {"status", "output"}, "health report"); !r) {
    return std::unexpected(r.error());
  }
  if (!j->contains("status") || !(*j)["status"].is_string()) {
    return Fail(ErrorCode::kInvalidArgument,
                "health report needs \"status\": passing, warning or critical");
  }
  HealthReport out;
  auto h = ParseHealth((*j)["status"].get<std::string>());
  if (!h) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("health report status \"{}\" is not passing, warning or critical",
                            (*j)["status"].get<std::string>().substr(0, 40)));
  }
  out.status = *h;
  if (j->contains("output")) {
    if (!(*j)["output"].is_string())
      return Fail(ErrorCode::kInvalidArgument, "health report output must be a string");
    out.output = (*j)["output"].get<std::string>();
    if (out.output.size() > kMaxHealthOutputBytes) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("health report output is {} bytes; the limit is {}",
                              out.output.size(), kMaxHealthOutputBytes));
    }
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
  constexpr JsonLimits kLimits{.max_bytes = 256 * 1024, .max_depth = 8};
  if (body.size() > kLimits.max_bytes || !FastParseFields(body, in, /*stored=*/false)) {
    in = Instance{.ns = std::move(in.ns), .service = std::move(in.service), .id = std::move(in.id)};
    auto j = ParseJson(body, kLimits);
    if (!j) return std::unexpected(j.error());
    if (auto r = ParseFields(*j, in, /*stored=*/false); !r) return std::unexpected(r.error());
  }
  if (auto r = ValidateInstance(in); !r) return std::unexpected(r.error());
  return in;
}

Result<Instance> ParseRegistrationViaJson(std::string_view body, std::string_view ns,
                                          std::string_view service, std::string_view id) {
  Instance in;
  in.ns = ns.empty() ? std::string(kDefaultNamespace) : std::string(ns);
  in.service = service;
  in.id = id;
  if (auto r = ValidateNamespace(in.ns); !r) return std::unexpected(r.error());
  if (auto r = ValidateServiceName(in.service); !r) return std::unexpected(r.error());
  if (auto r = ValidateInstanceId(in.id); !r) return std::unexpected(r.error());
  auto j = ParseJson(body, JsonLimits{.max_bytes = 256 * 1024, .max_depth = 8});
  if (!j) return std::unexpected(j.error());
  if (auto r = ParseFields(*j, in, /*stored=*/false); !r) return std::unexpected(r.error());
  if (auto r = ValidateInstance(in); !r) return std::unexpected(r.error());
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
  if (value.size() > JsonLimits{}.max_bytes || !FastParseFields(value, in, /*stored=*/true)) {
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
  auto j = ParseJson(value);
  if (!j) return std::unexpected(Wrap(j.error(), key));
  if (auto r = ParseFields(*j, in, /*stored=*/true); !r) {
    return std::unexpected(Wrap(r.error(), key));
  }
  in.revision = mod_revision;
  in.lease = lease;
  return in;
}

std::string InstanceToJsonText(const Instance& instance) {
  std::string out;
  if (WriteInstanceText(out, instance, /*reported=*/true)) return out;
  return InstanceToJsonTextViaJson(instance);
}

std::string InstanceToJsonTextViaJson(const Instance& instance) {
  Json j = StoredJson(instance);
  j["namespace"] = instance.ns;
  j["service"] = instance.service;
  j["id"] = instance.id;
  j["revision"] = instance.revision;
  if (instance.lease) j["lease"] = instance.lease;
  return j.dump();
}

Result<Instance> DecodeReported(std::string_view json_text) {
  auto j = ParseJson(json_text);
  if (!j) return std::unexpected(j.error());
  if (!j->is_object()) return Fail(ErrorCode::kInvalidArgument, "instance must be a JSON object");
  std::string ns, service, id;
  int64_t revision = 0, lease = 0;
  try {
    ns = j->at("namespace").get<std::string>();
    service = j->at("service").get<std::string>();
    id = j->at("id").get<std::string>();
    revision = j->value("revision", int64_t{0});
    lease = j->value("lease", int64_t{0});
  } catch (const Json::exception&) {
    return Fail(ErrorCode::kInvalidArgument,
                "instance needs string \"namespace\", \"service\" and \"id\"");
  }
  for (const char* f : {"namespace", "service", "id", "revision", "lease"}) j->erase(f);
  return DecodeStored(InstanceKey(ns, service, id), j->dump(), revision, lease);
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
