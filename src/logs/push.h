// Readers of Loki's push bodies (POST /loki/api/v1/push) into the store's PushRequest:
// JSON (`{"streams":[{"stream":{..},"values":[["<ns>","line"],..]}]}`) and, when the body is
// `application/x-protobuf`, snappy-compressed protobuf (logproto.PushRequest, read by hand:
// labels string, entries of timestamp + line). Every error names the element that is wrong
// (`streams[2].values[7][0]: timestamp "12x" is not an integer of nanoseconds`).
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "core/error.h"
#include "logs/labels.h"
#include "logs/log_store.h"

namespace berth::logs {

Result<PushRequest> DecodePushJson(std::string_view body, const LabelLimits& limits = {});
// `body` is the snappy block (not framed) of a protobuf PushRequest.
Result<PushRequest> DecodePushProtobuf(std::string_view body, const LabelLimits& limits = {});

}  // namespace berth::logs
