#include "store/etcd/internal/codec.h"

#include <fmt/core.h>

#include <array>

#include "core/json.h"

namespace berth::store::etcd_internal {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kDecode = MakeDecodeTable();

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

Result<std::string> DecodeBytes(const Json& object, std::string_view field, std::string_view what) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Fail(ErrorCode::kInternal,
                fmt::format("etcd: {}: field {} is not a string", what, field));
  }
  auto decoded = Base64Decode(it->get_ref<const std::string&>());
  if (!decoded) {
    return Fail(ErrorCode::kInternal, fmt::format("etcd: {}: field {} is not base64", what, field));
  }
  return std::move(*decoded);
}

const char* CompareTarget(Compare::Target t) {
  switch (t) {
    case Compare::Target::kValue:
      return "VALUE";
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kLease:
      return "LEASE";
  }
  return "VERSION";
}

const char* CompareField(Compare::Target t) {
  switch (t) {
    case Compare::Target::kValue:
      return "value";
    case Compare::Target::kVersion:
      return "version";
    case Compare::Target::kCreateRevision:
      return "create_revision";
    case Compare::Target::kModRevision:
      return "mod_revision";
    case Compare::Target::kLease:
      return "lease";
  }
  return "version";
}

const char* CompareResult(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual:
      return "EQUAL";
    case Compare::Op::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Op::kLess:
      return "LESS";
    case Compare::Op::kGreater:
      return "GREATER";
  }
  return "EQUAL";
}

Json EncodeTxnOp(const TxnOp& op) {
  switch (op.type) {
    case TxnOp::Type::kRange:
      return Json{{"request_range", EncodeRange(op.key, op.range, op.prefix)}};
    case TxnOp::Type::kPut: {
      PutOptions p;
      p.lease = op.lease;
      p.prev_kv = op.prev_kv;
      return Json{{"request_put", EncodePut(op.key, op.value, p)}};
    }
    case TxnOp::Type::kDelete: {
      DeleteOptions d;
      d.prefix = op.prefix;
      d.prev_kv = op.prev_kv;
      return Json{{"request_delete_range", EncodeDelete(op.key, d)}};
    }
  }
  return Json::object();
}

}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                 uint32_t(uint8_t(in[i + 2]));
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int pad = 0;
    uint32_t n = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=') {
        // Padding only in the last two places of the last quantum.
        if (i + 4 != in.size() || j < 2) return std::nullopt;
        ++pad;
        n <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;
      int8_t v = kDecode[static_cast<unsigned char>(c)];
      if (v < 0) return std::nullopt;
      n = (n << 6) | uint32_t(v);
    }
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

Result<Json> ParseBody(std::string_view body, std::string_view what) {
  auto parsed = ParseJson(body, JsonLimits{.max_bytes = size_t{1} << 30, .max_depth = 64});
  if (!parsed) return std::unexpected(Wrap(parsed.error(), fmt::format("etcd: {}", what)));
  if (!parsed->is_object()) {
    return Fail(ErrorCode::kInternal, fmt::format("etcd: {}: response is not an object", what));
  }
  return std::move(*parsed);
}

int64_t JsonInt(const Json& object, std::string_view field) {
  if (!object.is_object()) return 0;
  auto it = object.find(field);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    try {
      size_t used = 0;
      int64_t v = std::stoll(s, &used);
      return used == s.size() ? v : 0;
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

int64_t HeaderRevision(const Json& response) {
  auto it = response.find("header");
  return it == response.end() ? 0 : JsonInt(*it, "revision");
}

Error ErrorFromGrpc(int grpc_code, std::string_view message, std::string_view what) {
  std::string m = fmt::format("etcd: {}: {}", what, message);
  // Messages first: they are etcd's stable error strings and say more than the code.
  if (Contains(message, "required revision has been compacted")) {
    return Error(ErrorCode::kCompacted, m);
  }
  if (Contains(message, "required revision is a future revision")) {
    return Error(ErrorCode::kInvalidArgument, m);
  }
  if (Contains(message, "requested lease not found")) return Error(ErrorCode::kNotFound, m);
  if (Contains(message, "lease already exists")) return Error(ErrorCode::kAlreadyExists, m);
  if (Contains(message, "request is too large")) return Error(ErrorCode::kPayloadTooLarge, m);
  switch (grpc_code) {
    case 3:   // INVALID_ARGUMENT
    case 11:  // OUT_OF_RANGE
      return Error(ErrorCode::kInvalidArgument, m);
    case 4:
      return Error(ErrorCode::kDeadlineExceeded, m);
    case 5:
      return Error(ErrorCode::kNotFound, m);
    case 6:
      return Error(ErrorCode::kAlreadyExists, m);
    case 7:
      return Error(ErrorCode::kPermissionDenied, m);
    case 8:
      return Error(ErrorCode::kResourceExhausted, m);
    case 9:
    case 10:  // ABORTED
      return Error(ErrorCode::kFailedPrecondition, m);
    case 14:  // UNAVAILABLE: no leader, timeouts, member stopping
      return Error(ErrorCode::kUnavailable, m);
    case 16:
      return Error(ErrorCode::kUnauthenticated, m);
    default:
      return Error(ErrorCode::kInternal, m);
  }
}

Error ErrorFromResponse(int http_status, std::string_view body, std::string_view what) {
  auto parsed = ParseJson(body);
  if (parsed && parsed->is_object()) {
    const Json& j = *parsed;
    // Unary: {"error":"...","message":"...","code":N}; stream: {"error":{...}}.
    const Json* e = &j;
    if (auto it = j.find("error"); it != j.end() && it->is_object()) e = &*it;
    std::string message;
    if (auto it = e->find("message"); it != e->end() && it->is_string()) {
      message = it->get<std::string>();
    } else if (auto err = e->find("error"); err != e->end() && err->is_string()) {
      message = err->get<std::string>();
    }
    int code =
        static_cast<int>(e->contains("grpc_code") ? JsonInt(*e, "grpc_code") : JsonInt(*e, "code"));
    if (!message.empty() || code != 0) return ErrorFromGrpc(code, message, what);
  }
  std::string m = fmt::format("etcd: {}: HTTP {}: {}", what, http_status, body.substr(0, 200));
  if (http_status == 503 || http_status == 502 || http_status == 504) {
    return Error(ErrorCode::kUnavailable, m);
  }
  if (http_status == 404) return Error(ErrorCode::kNotFound, m);
  if (http_status == 400) return Error(ErrorCode::kInvalidArgument, m);
  return Error(ErrorCode::kInternal, m);
}

KeyRange MakeKeyRange(std::string_view key, bool prefix, std::string_view range_end) {
  KeyRange r;
  r.key = std::string(key);
  if (!range_end.empty()) {
    r.range_end = std::string(range_end);
  } else if (prefix) {
    r.range_end = PrefixEnd(key);
    if (key.empty()) r.key = std::string(1, '\0');
  }
  return r;
}

Result<KeyValue> ParseKeyValue(const Json& kv) {
  KeyValue out;
  auto key = DecodeBytes(kv, "key", "kv");
  if (!key) return std::unexpected(key.error());
  auto value = DecodeBytes(kv, "value", "kv");
  if (!value) return std::unexpected(value.error());
  out.key = std::move(*key);
  out.value = std::move(*value);
  out.create_revision = JsonInt(kv, "create_revision");
  out.mod_revision = JsonInt(kv, "mod_revision");
  out.version = JsonInt(kv, "version");
  out.lease = JsonInt(kv, "lease");
  return out;
}

Json EncodeRange(std::string_view key, const RangeOptions& options, bool prefix) {
  KeyRange r = MakeKeyRange(key, prefix, options.range_end);
  Json j = {{"key", Base64Encode(r.key)}};
  if (!r.range_end.empty()) j["range_end"] = Base64Encode(r.range_end);
  if (options.limit > 0) j["limit"] = options.limit;
  if (options.revision > 0) j["revision"] = options.revision;
  if (options.keys_only) j["keys_only"] = true;
  if (options.count_only) j["count_only"] = true;
  return j;
}

Result<RangeResult> DecodeRange(const Json& response) {
  RangeResult out;
  out.revision = HeaderRevision(response);
  out.count = JsonInt(response, "count");
  out.more = response.value("more", false);
  if (auto it = response.find("kvs"); it != response.end() && it->is_array()) {
    out.kvs.reserve(it->size());
    for (const auto& kv : *it) {
      auto parsed = ParseKeyValue(kv);
      if (!parsed) return std::unexpected(parsed.error());
      out.kvs.push_back(std::move(*parsed));
    }
  }
  return out;
}

Json EncodePut(std::string_view key, std::string_view value, const PutOptions& options) {
  Json j = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (options.lease != 0) j["lease"] = options.lease;
  if (options.prev_kv) j["prev_kv"] = true;
  if (options.ignore_lease) j["ignore_lease"] = true;
  return j;
}

Result<PutResult> DecodePut(const Json& response) {
  PutResult out;
  out.revision = HeaderRevision(response);
  if (auto it = response.find("prev_kv"); it != response.end() && it->is_object()) {
    auto kv = ParseKeyValue(*it);
    if (!kv) return std::unexpected(kv.error());
    out.prev_kv = std::move(*kv);
  }
  return out;
}

Json EncodeDelete(std::string_view key, const DeleteOptions& options) {
  KeyRange r = MakeKeyRange(key, options.prefix, options.range_end);
  Json j = {{"key", Base64Encode(r.key)}};
  if (!r.range_end.empty()) j["range_end"] = Base64Encode(r.range_end);
  if (options.prev_kv) j["prev_kv"] = true;
  return j;
}

Result<DeleteResult> DecodeDelete(const Json& response) {
  DeleteResult out;
  out.revision = HeaderRevision(response);
  out.deleted = JsonInt(response, "deleted");
  if (auto it = response.find("prev_kvs"); it != response.end() && it->is_array()) {
    for (const auto& kv : *it) {
      auto parsed = ParseKeyValue(kv);
      if (!parsed) return std::unexpected(parsed.error());
      out.prev_kvs.push_back(std::move(*parsed));
    }
  }
  return out;
}

Json EncodeTxn(const TxnRequest& request) {
  Json compare = Json::array();
  for (const auto& c : request.compare) {
    Json cj = {{"key", Base64Encode(c.key)},
               {"target", CompareTarget(c.target)},
               {"result", CompareResult(c.op)}};
    if (c.target == Compare::Target::kValue) {
      cj["value"] = Base64Encode(c.value);
    } else {
      cj[CompareField(c.target)] = c.number;
    }
    compare.push_back(std::move(cj));
  }
  Json success = Json::array();
  for (const auto& op : request.success) success.push_back(EncodeTxnOp(op));
  Json failure = Json::array();
  for (const auto& op : request.failure) failure.push_back(EncodeTxnOp(op));
  return Json{{"compare", std::move(compare)},
              {"success", std::move(success)},
              {"failure", std::move(failure)}};
}

Result<TxnResult> DecodeTxn(const Json& response, const TxnRequest& request) {
  TxnResult out;
  out.revision = HeaderRevision(response);
  out.succeeded = response.value("succeeded", false);
  const auto& ops = out.succeeded ? request.success : request.failure;
  Json empty = Json::array();
  const Json* responses = &empty;
  if (auto it = response.find("responses"); it != response.end() && it->is_array()) {
    responses = &*it;
  }
  if (responses->size() != ops.size()) {
    return Fail(ErrorCode::kInternal,
                fmt::format("etcd: txn: {} responses for {} ops", responses->size(), ops.size()));
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const Json& r = (*responses)[i];
    TxnOpResult result;
    result.type = ops[i].type;
    switch (ops[i].type) {
      case TxnOp::Type::kRange: {
        auto it = r.find("response_range");
        auto range = DecodeRange(it != r.end() ? *it : Json::object());
        if (!range) return std::unexpected(range.error());
        result.range = std::move(*range);
        break;
      }
      case TxnOp::Type::kPut: {
        auto it = r.find("response_put");
        auto put = DecodePut(it != r.end() ? *it : Json::object());
        if (!put) return std::unexpected(put.error());
        result.put = std::move(*put);
        break;
      }
      case TxnOp::Type::kDelete: {
        auto it = r.find("response_delete_range");
        auto del = DecodeDelete(it != r.end() ? *it : Json::object());
        if (!del) return std::unexpected(del.error());
        result.del = std::move(*del);
        break;
      }
    }
    // Sub-responses carry the txn's header revision; fill it when the gateway left it out.
    if (result.range.revision == 0) result.range.revision = out.revision;
    if (result.put.revision == 0) result.put.revision = out.revision;
    if (result.del.revision == 0) result.del.revision = out.revision;
    out.results.push_back(std::move(result));
  }
  return out;
}

Result<Event> ParseEvent(const Json& event) {
  Event out;
  out.type = event.value("type", std::string("PUT")) == "DELETE" ? Event::Type::kDelete
                                                                 : Event::Type::kPut;
  if (auto it = event.find("kv"); it != event.end() && it->is_object()) {
    auto kv = ParseKeyValue(*it);
    if (!kv) return std::unexpected(kv.error());
    out.kv = std::move(*kv);
  }
  if (auto it = event.find("prev_kv"); it != event.end() && it->is_object()) {
    auto kv = ParseKeyValue(*it);
    if (!kv) return std::unexpected(kv.error());
    out.prev_kv = std::move(*kv);
  }
  return out;
}

Json EncodeWatchCreate(const KeyRange& range, int64_t start_revision, bool prev_kv,
                       bool progress_notify) {
  Json create = {{"key", Base64Encode(range.key)}};
  if (!range.range_end.empty()) create["range_end"] = Base64Encode(range.range_end);
  if (start_revision > 0) create["start_revision"] = start_revision;
  if (prev_kv) create["prev_kv"] = true;
  if (progress_notify) create["progress_notify"] = true;
  return Json{{"create_request", std::move(create)}};
}

}  // namespace berth::store::etcd_internal
