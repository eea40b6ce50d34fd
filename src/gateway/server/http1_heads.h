// HTTP/1.1 heads as the proxy rewrites them: the hop-by-hop rules (RFC 9110 7.6.1), the
// request head sent upstream, the response head sent downstream, a local reply, and the
// request id. Everything is appended to a caller-owned string (a head string from the
// worker's pool, with room), so the usual head is built without allocating.
// Pure functions: no I/O, no state; safe from any thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http/parser.h"

namespace berth::gateway::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive equality of field names (letters only fold).
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 25u)) return false;
  }
  return true;
}

// Hop-by-hop fields (RFC 9110 7.6.1) plus the framing fields the proxy re-emits itself.
inline bool IsHopByHop(std::string_view n) {
  switch (n.size()) {
    case 2:
      return IEquals(n, "te");
    case 7:
      return IEquals(n, "trailer") || IEquals(n, "upgrade");
    case 10:
      return IEquals(n, "connection") || IEquals(n, "keep-alive");
    case 16:
      return IEquals(n, "proxy-connection");
    case 17:
      return IEquals(n, "transfer-encoding");
    case 19:
      return IEquals(n, "proxy-authorization");
    case 18:
      return IEquals(n, "proxy-authenticate");
    default:
      return false;
  }
}

// Whether `name` is one of the Connection field's tokens (and so hop-by-hop too).
bool NamedInConnection(std::string_view connection, std::string_view name);

// A client's X-Request-Id worth keeping: 1-128 of [A-Za-z0-9-_.].
bool ValidRequestId(std::string_view id);
// A generated X-Request-Id: a random (version 4) UUID from two random words, no allocation.
void FormatRequestId(char (&out)[36], uint64_t a, uint64_t b);

// The value of cookie `name` in a Cookie field.
std::optional<std::string_view> CookieValue(std::string_view cookies, std::string_view name);

// Methods a retry may repeat (RFC 9110 9.2.2).
bool IdempotentMethod(std::string_view method);

// "HTTP/1.1 <status> <reason>\r\n".
void AppendStatusLine(std::string& out, int status, std::string_view reason);

// "name: value\r\n" in one copy.
inline void AppendField(std::string& out, std::string_view name, std::string_view value) {
  const size_t at = out.size();
  const size_t n = name.size() + value.size() + 4;
  if (out.capacity() < at + n) out.reserve(std::max(2 * out.capacity(), at + n));
  out.resize_and_overwrite(at + n, [&](char* p, size_t) {
    char* w = p + at;
    std::memcpy(w, name.data(), name.size());
    w += name.size();
    *w++ = ':';
    *w++ = ' ';
    std::memcpy(w, value.data(), value.size());
    w += value.size();
    *w++ = '\r';
    *w++ = '\n';
    return at + n;
  });
}

// What the request head sent upstream is made of besides the client's head.
struct UpstreamHead {
  std::string_view method;
  std::string_view target;  // after the route's rewrite
  std::string_view client_ip;
  bool tls = false;  // the client came over TLS (X-Forwarded-Proto)
  std::string_view request_id;
  const HeaderList* add_headers = nullptr;  // from the route's filters
};

// The request head for the upstream: request line (HTTP/1.1), the client's fields without
// hop-by-hop ones, those the Connection field names, Expect, X-Forwarded-Proto and
// X-Request-Id (re-emitted), then Transfer-Encoding: chunked for a chunked body,
// Connection/Upgrade for an upgrade, X-Forwarded-For (appended to the client's),
// X-Forwarded-Proto, X-Request-Id and the filters' fields.
void AppendUpstreamRequestHead(std::string& out, const http::MessageHead& request,
                               const UpstreamHead& u);

// How the response head for the client is framed.
struct DownstreamHead {
  const HeaderList* add_headers = nullptr;  // from the route's filters (CORS)
  bool upgraded = false;                    // a 101 to an upgrade request: a tunnel follows
  bool close = false;                       // the connection closes after this response
  bool dechunk = false;                     // a chunked body goes out de-chunked (HTTP/1.0)
  bool http10_client = false;               // the client spoke HTTP/1.0
};

// The upstream's response head for the client: status line, the fields without hop-by-hop
// ones and those its Connection field names, Transfer-Encoding: chunked when the body stays
// chunked, the filters' fields, then Connection: Upgrade + Upgrade, close, or keep-alive
// (for an HTTP/1.0 client).
void AppendDownstreamResponseHead(std::string& out, const http::MessageHead& response,
                                  const DownstreamHead& d);

// A reply of the gateway's own: status line, Content-Length, a text Content-Type when there
// is a body, `headers`, `add_headers` (may be null), X-Request-Id (when not empty),
// Connection: close when `close`, then the body unless `head_only` (a HEAD request).
void AppendLocalReply(std::string& out, int status, std::string_view body,
                      const HeaderList& headers, const HeaderList* add_headers,
                      std::string_view request_id, bool close, bool head_only);

}  // namespace berth::gateway::server
