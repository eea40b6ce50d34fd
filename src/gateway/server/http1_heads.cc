#include "gateway/server/http1_heads.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace berth::gateway::server {

bool NamedInConnection(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    auto comma = connection.find(',');
    auto token = connection.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (IEquals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

void FormatRequestId(char (&out)[36], uint64_t a, uint64_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  // 8-4-4-4-12 hex digits: 32 bits of a, 16 of a, "4" + 12 of a, 14 of b | 0x8000, 48 of b.
  auto put = [&](int pos, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      out[pos + i] = kHex[v & 0xf];
      v >>= 4;
    }
  };
  put(0, a >> 32, 8);
  out[8] = '-';
  put(9, (a >> 16) & 0xffff, 4);
  out[13] = '-';
  out[14] = '4';
  put(15, a & 0xfff, 3);
  out[18] = '-';
  put(19, (b >> 48 & 0x3fff) | 0x8000, 4);
  out[23] = '-';
  put(24, b & 0xffffffffffffULL, 12);
}

std::optional<std::string_view> CookieValue(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    auto pair = cookies.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

bool IdempotentMethod(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

void AppendStatusLine(std::string& out, int status, std::string_view reason) {
  out += "HTTP/1.1 ";
  out += fmt::format_int(status).c_str();
  out += ' ';
  out += reason;
  out += "\r\n";
}

void AppendUpstreamRequestHead(std::string& out, const http::MessageHead& head,
                               const UpstreamHead& u) {
  out += u.method;
  out += ' ';
  out += u.target;
  out += " HTTP/1.1\r\n";
  std::string_view xff, connection_field, upgrade_value;
  if (auto c = head.Get("connection")) connection_field = *c;
  for (const auto& h : head.headers) {
    if (IsHopByHop(h.name)) {
      if (head.upgrade && IEquals(h.name, "upgrade")) upgrade_value = h.value;
      continue;
    }
    if (h.name.size() == 15 && IEquals(h.name, "x-forwarded-for")) {
      xff = h.value;
      continue;
    }
    if ((h.name.size() == 17 && IEquals(h.name, "x-forwarded-proto")) ||
        (h.name.size() == 12 && IEquals(h.name, "x-request-id")) ||
        (h.name.size() == 6 && IEquals(h.name, "expect"))) {
      continue;
    }
    if (!connection_field.empty() && NamedInConnection(connection_field, h.name)) continue;
    AppendField(out, h.name, h.value);
  }
  if (head.framing == http::BodyFraming::kChunked) AppendField(out, "Transfer-Encoding", "chunked");
  if (head.upgrade) {
    AppendField(out, "Connection", "Upgrade");
    AppendField(out, "Upgrade", upgrade_value);
  }
  out += "X-Forwarded-For: ";
  if (!xff.empty()) {
    out += xff;
    out += ", ";
  }
  out += u.client_ip;
  out += "\r\n";
  AppendField(out, "X-Forwarded-Proto", u.tls ? "https" : "http");
  AppendField(out, "X-Request-Id", u.request_id);
  if (u.add_headers != nullptr) {
    for (const auto& [n, v] : *u.add_headers) AppendField(out, n, v);
  }
  out += "\r\n";
}

void AppendDownstreamResponseHead(std::string& out, const http::MessageHead& rh,
                                  const DownstreamHead& d) {
  AppendStatusLine(out, rh.status, rh.reason);
  std::string_view rconn;
  if (auto c = rh.Get("connection")) rconn = *c;
  // "keep-alive" (the usual value) names only a field that is hop-by-hop anyway.
  if (IEquals(rconn, "keep-alive")) rconn = {};
  std::string_view rupgrade;
  for (const auto& h : rh.headers) {
    if (IsHopByHop(h.name)) {
      if (d.upgraded && IEquals(h.name, "upgrade")) rupgrade = h.value;
      continue;
    }
    if (!rconn.empty() && NamedInConnection(rconn, h.name)) continue;
    AppendField(out, h.name, h.value);
  }
  if (rh.framing == http::BodyFraming::kChunked && !d.dechunk) {
    AppendField(out, "Transfer-Encoding", "chunked");
  }
  if (d.add_headers != nullptr) {
    for (const auto& [n, v] : *d.add_headers) AppendField(out, n, v);
  }
  if (d.upgraded) {
    AppendField(out, "Connection", "Upgrade");
    AppendField(out, "Upgrade", rupgrade);
  } else if (d.close) {
    AppendField(out, "Connection", "close");
  } else if (d.http10_client) {
    AppendField(out, "Connection", "keep-alive");
  }
  out += "\r\n";
}

void AppendLocalReply(std::string& out, int status, std::string_view body,
                      const HeaderList& headers, const HeaderList* add_headers,
                      std::string_view request_id, bool close, bool head_only) {
  AppendStatusLine(out, status, http::ReasonPhrase(status));
  AppendField(out, "Content-Length", fmt::format_int(body.size()).c_str());
  if (!body.empty()) AppendField(out, "Content-Type", "text/plain; charset=utf-8");
  for (const auto& [n, v] : headers) AppendField(out, n, v);
  if (add_headers != nullptr) {
    for (const auto& [n, v] : *add_headers) AppendField(out, n, v);
  }
  if (!request_id.empty()) AppendField(out, "X-Request-Id", request_id);
  if (close) AppendField(out, "Connection", "close");
  out += "\r\n";
  if (!head_only) out += body;
}

}  // namespace berth::gateway::server
