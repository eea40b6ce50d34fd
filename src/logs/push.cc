#include "logs/push.h"

#include <snappy-c.h>

#include <charconv>

#include <fmt/format.h>

#include "core/json.h"
#include "logs/coding.h"

namespace berth::logs {
namespace {

Error Bad(std::string what) { return Error(ErrorCode::kInvalidArgument, std::move(what)); }

Result<int64_t> ParseNanos(std::string_view s, const std::string& where) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    std::string q;
    AppendQuoted(q, s.substr(0, 40));
    return std::unexpected(
        Bad(where + ": timestamp " + q + " is not an integer of nanoseconds since 1970"));
  }
  return v;
}

}  // namespace

Result<PushRequest> DecodePushJson(std::string_view body, const LabelLimits& limits) {
  auto doc = ParseJson(body, JsonLimits{.max_bytes = body.size() + 1, .max_depth = 16});
  if (!doc) return std::unexpected(Bad("push body: " + doc.error().message));
  if (!doc->is_object() || !doc->contains("streams") || !(*doc)["streams"].is_array()) {
    return std::unexpected(Bad("push body: expected an object with a \"streams\" array"));
  }
  PushRequest req;
  const Json& streams = (*doc)["streams"];
  req.streams.reserve(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    const Json& s = streams[i];
    std::string where = fmt::format("streams[{}]", i);
    if (!s.is_object()) return std::unexpected(Bad(where + ": expected an object"));
    if (auto r = RejectUnknownFields(s, {"stream", "values"}, where); !r)
      return std::unexpected(Bad(r.error().message));
    if (!s.contains("stream") || !s["stream"].is_object()) {
      return std::unexpected(Bad(where + ".stream: expected an object of label names to values"));
    }
    std::vector<Label> labels;
    for (const auto& [k, v] : s["stream"].items()) {
      if (!v.is_string())
        return std::unexpected(Bad(where + ".stream." + k + ": label values are strings"));
      labels.push_back(Label{k, v.get<std::string>()});
    }
    auto set = LabelSet::Make(std::move(labels), limits);
    if (!set) return std::unexpected(Bad(where + ".stream: " + set.error().message));
    PushStream ps{std::move(*set), {}};
    if (!s.contains("values") || !s["values"].is_array()) {
      return std::unexpected(Bad(where + ".values: expected an array of [timestamp, line] pairs"));
    }
    const Json& values = s["values"];
    ps.entries.reserve(values.size());
    for (size_t j = 0; j < values.size(); ++j) {
      const Json& v = values[j];
      std::string at = fmt::format("{}.values[{}]", where, j);
      // [ts, line] or [ts, line, {structured metadata}] (the metadata is accepted and dropped).
      if (!v.is_array() || v.size() < 2 || v.size() > 3 || !v[0].is_string() || !v[1].is_string() ||
          (v.size() == 3 && !v[2].is_object())) {
        return std::unexpected(Bad(at + ": expected [\"<nanoseconds>\", \"<line>\"]"));
      }
      auto ts = ParseNanos(v[0].get_ref<const std::string&>(), at + "[0]");
      if (!ts) return std::unexpected(ts.error());
      ps.entries.push_back(Entry{*ts, v[1].get<std::string>()});
    }
    req.streams.push_back(std::move(ps));
  }
  return req;
}

namespace {

// Minimal protobuf wire reader for logproto.PushRequest:
//   PushRequest { repeated StreamAdapter streams = 1; }
//   StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//   EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPair structuredMetadata
//   = 3; } Timestamp { int64 seconds = 1; int32 nanos = 2; }
struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

bool NextField(std::string_view& in, Field& f) {
  auto key = GetVarint(in);
  if (!key) return false;
  f.number = static_cast<uint32_t>(*key >> 3);
  f.wire = static_cast<uint32_t>(*key & 7);
  switch (f.wire) {
    case 0: {
      auto v = GetVarint(in);
      if (!v) return false;
      f.varint = *v;
      return true;
    }
    case 2: {
      auto b = GetLengthPrefixed(in);
      if (!b) return false;
      f.bytes = *b;
      return true;
    }
    case 1:
      if (in.size() < 8) return false;
      in.remove_prefix(8);
      return true;
    case 5:
      if (in.size() < 4) return false;
      in.remove_prefix(4);
      return true;
    default:
      return false;
  }
}

Result<Entry> DecodeEntry(std::string_view in, const std::string& at) {
  Entry e;
  Field f;
  while (!in.empty()) {
    if (!NextField(in, f)) return std::unexpected(Bad(at + ": malformed protobuf"));
    if (f.number == 1 && f.wire == 2) {
      std::string_view ts = f.bytes;
      int64_t secs = 0, nanos = 0;
      Field g;
      while (!ts.empty()) {
        if (!NextField(ts, g)) return std::unexpected(Bad(at + ".timestamp: malformed protobuf"));
        if (g.number == 1 && g.wire == 0) secs = static_cast<int64_t>(g.varint);
        if (g.number == 2 && g.wire == 0) nanos = static_cast<int32_t>(g.varint);
      }
      e.ts = secs * 1'000'000'000 + nanos;
    } else if (f.number == 2 && f.wire == 2) {
      e.line.assign(f.bytes);
    }
  }
  return e;
}

}  // namespace

Result<PushRequest> DecodePushProtobuf(std::string_view body, const LabelLimits& limits) {
  size_t raw_size = 0;
  if (snappy_uncompressed_length(body.data(), body.size(), &raw_size) != SNAPPY_OK ||
      raw_size > (256u << 20)) {
    return std::unexpected(Bad("push body: not a snappy block"));
  }
  std::string raw(raw_size, '\0');
  if (snappy_uncompress(body.data(), body.size(), raw.data(), &raw_size) != SNAPPY_OK) {
    return std::unexpected(Bad("push body: corrupt snappy block"));
  }
  raw.resize(raw_size);
  PushRequest req;
  std::string_view in = raw;
  Field f;
  for (size_t i = 0; !in.empty();) {
    if (!NextField(in, f)) return std::unexpected(Bad("push body: malformed protobuf"));
    if (f.number != 1 || f.wire != 2) continue;
    std::string where = fmt::format("streams[{}]", i++);
    std::string_view s = f.bytes;
    std::optional<LabelSet> labels;
    std::vector<Entry> entries;
    Field g;
    while (!s.empty()) {
      if (!NextField(s, g)) return std::unexpected(Bad(where + ": malformed protobuf"));
      if (g.number == 1 && g.wire == 2) {
        auto set = LabelSet::Parse(g.bytes, limits);
        if (!set) return std::unexpected(Bad(where + ".labels: " + set.error().message));
        labels = std::move(*set);
      } else if (g.number == 2 && g.wire == 2) {
        auto e = DecodeEntry(g.bytes, fmt::format("{}.entries[{}]", where, entries.size()));
        if (!e) return std::unexpected(e.error());
        entries.push_back(std::move(*e));
      }
    }
    if (!labels) return std::unexpected(Bad(where + ": no labels"));
    req.streams.push_back(PushStream{std::move(*labels), std::move(entries)});
  }
  return req;
}

}  // namespace berth::logs
