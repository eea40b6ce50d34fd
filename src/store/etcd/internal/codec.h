// The JSON mapping of etcd v3's protobuf messages as its gRPC-gateway speaks it (etcd 3.4:
// `/v3/...`): keys and values base64, int64 fields as decimal strings, zero values omitted,
// original snake_case field names. Turns Store requests into gateway bodies, gateway bodies
// into Store results, and gateway errors into Berth ErrorCodes.
// Private to store/etcd. Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "store/store.h"

namespace berth::store::etcd_internal {

std::string Base64Encode(std::string_view in);
// nullopt on a character outside the standard alphabet or a bad length.
std::optional<std::string> Base64Decode(std::string_view in);

// Parses a gateway response body (one JSON object; large responses allowed).
Result<nlohmann::json> ParseBody(std::string_view body, std::string_view what);

// An int64 field that the gateway sends as a string ("12"), or a number; 0 when absent.
int64_t JsonInt(const nlohmann::json& object, std::string_view field);
// header.revision of a response.
int64_t HeaderRevision(const nlohmann::json& response);

// The Berth error for a non-2xx gateway response (`{"error","message","code"}`) or a
// stream error object (`{"grpc_code","http_code","message"}`). `what` names the call.
Error ErrorFromResponse(int http_status, std::string_view body, std::string_view what);
Error ErrorFromGrpc(int grpc_code, std::string_view message, std::string_view what);

// The [key, range_end) pair of a Store request: explicit range_end wins, then prefix
// (an empty key with prefix: every key, "\0".."\0").
struct KeyRange {
  std::string key;
  std::string range_end;  // empty: the single key
};
KeyRange MakeKeyRange(std::string_view key, bool prefix, std::string_view range_end);

Result<KeyValue> ParseKeyValue(const nlohmann::json& kv);

nlohmann::json EncodeRange(std::string_view key, const RangeOptions& options, bool prefix);
Result<RangeResult> DecodeRange(const nlohmann::json& response);

nlohmann::json EncodePut(std::string_view key, std::string_view value, const PutOptions& options);
Result<PutResult> DecodePut(const nlohmann::json& response);

nlohmann::json EncodeDelete(std::string_view key, const DeleteOptions& options);
Result<DeleteResult> DecodeDelete(const nlohmann::json& response);

nlohmann::json EncodeTxn(const TxnRequest& request);
// `request` gives the op kinds of the branch taken (the gateway omits empty responses).
Result<TxnResult> DecodeTxn(const nlohmann::json& response, const TxnRequest& request);

// One event of a watch response ("type" absent means PUT).
Result<Event> ParseEvent(const nlohmann::json& event);

// The create_request body of a watch.
nlohmann::json EncodeWatchCreate(const KeyRange& range, int64_t start_revision, bool prev_kv,
                                 bool progress_notify);

}  // namespace berth::store::etcd_internal
