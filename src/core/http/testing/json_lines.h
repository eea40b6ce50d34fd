// Test helpers for line-delimited JSON streams (watches): read a streamed response and hand
// each line, parsed, to the test.
//
//   std::vector<Json> events;
//   auto r = http::testing::StreamJsonLines(*client, req, [&](const Json& j) {
//     events.push_back(j);
//     return events.size() < 2;  // false: stop reading
//   });
//
// Thread-safety: a call uses only its arguments.
#pragma once

#include <functional>

#include "core/error.h"
#include "core/http/client.h"
#include "core/json.h"

namespace berth::http::testing {

// Streams `request`; `on_head` (optional) sees the status and headers, `on_line` each complete
// line parsed as JSON, until it returns false or the stream ends. A line that is not JSON is an
// error (kInvalidArgument, naming the line).
Result<void> StreamJsonLines(Client& client, const Request& request,
                             const std::function<bool(const Json& line)>& on_line,
                             const std::function<void(const Response& head)>& on_head = {});

}  // namespace berth::http::testing
