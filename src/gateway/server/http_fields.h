// Protocol-neutral messages for the exchanges whose two sides do not both speak HTTP/1.1
// (Envoy's header maps): an HTTP/2 stream, or an HTTP/1.1 request to an HTTP/2 upstream.
// Field names are lower case (HTTP/2's rule); connection-specific fields (RFC 9113 8.2.2)
// never appear: each codec drops them on the way in and frames the message its own way on
// the way out. HTTP/1.1-to-HTTP/1.1 exchanges do not use these (BodyPump forwards raw).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::gateway::server {

struct Field {
  std::string name;  // lower case
  std::string value;
};
using Fields = std::vector<Field>;

// The first value of `name` (lower case) in `fields`.
std::optional<std::string_view> FindField(const Fields& fields, std::string_view name);

struct RequestHead {
  std::string method;
  std::string scheme;     // "http" / "https"
  std::string authority;  // host[:port]
  std::string path;       // origin form, with the query
  std::string protocol;   // RFC 8441 extended CONNECT (":protocol"), else empty
  Fields fields;
  std::optional<uint64_t> content_length;  // when the request said
};

struct ResponseHead {
  int status = 0;
  Fields fields;
};

// Connection-specific fields (RFC 9113 8.2.2), which no HTTP/2 message carries and which an
// HTTP/1.1 codec frames itself: connection, keep-alive, proxy-connection, transfer-encoding,
// upgrade, and te unless its value is "trailers". `name` in any case.
bool IsConnectionSpecific(std::string_view name, std::string_view value);

// Appends `name` lower-cased.
void AppendLower(std::string& out, std::string_view name);

}  // namespace berth::gateway::server
