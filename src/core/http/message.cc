#include "core/http/message.h"

#include <fmt/core.h>

namespace berth::http {
namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Methods whose requests carry no body by convention: no Content-Length when empty.
bool BodylessMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "DELETE" || method == "OPTIONS" ||
         method == "TRACE" || method == "CONNECT";
}

void AppendHeaders(std::string& out, const Headers& headers) {
  for (const auto& f : headers.fields()) {
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append("\r\n");
  }
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

void Headers::Add(std::string name, std::string value) {
  fields_.push_back(Field{std::move(name), std::move(value)});
}

void Headers::Set(std::string name, std::string value) {
  Remove(name);
  Add(std::move(name), std::move(value));
}

size_t Headers::Remove(std::string_view name) {
  size_t before = fields_.size();
  std::erase_if(fields_, [&](const Field& f) { return EqualsIgnoreCase(f.name, name); });
  return before - fields_.size();
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto decoded_name = PercentDecode(raw_name, true);
    if (!decoded_name || *decoded_name != name) continue;
    auto decoded_value = PercentDecode(raw_value, true);
    if (!decoded_value) return std::nullopt;
    return decoded_value;
  }
  return std::nullopt;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    case 511:
      return "Network Authentication Required";
    default:
      return "Unknown";
  }
}

std::vector<std::string_view> SplitHeaderList(std::string_view value) {
  std::vector<std::string_view> out;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::optional<std::string> PercentDecode(std::string_view in, bool plus_as_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Serialize(const Request& request) {
  std::string target = request.target;
  if (target.empty()) {
    target = request.path.empty() ? "/" : request.path;
    if (!request.query.empty()) target += "?" + request.query;
  }
  std::string out;
  out.reserve(64 + target.size() + request.body.size() + request.headers.size() * 32);
  out.append(request.method.empty() ? "GET" : request.method);
  out.push_back(' ');
  out.append(target);
  out.append(request.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  for (const auto& f : request.headers.fields()) {
    if (EqualsIgnoreCase(f.name, "Content-Length")) continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!request.body.empty() || !BodylessMethod(request.method)) {
    out.append(fmt::format("Content-Length: {}\r\n", request.body.size()));
  }
  out.append("\r\n");
  out.append(request.body);
  return out;
}

std::string Serialize(const Response& response, bool head_only) {
  std::string out;
  out.reserve(64 + response.body.size() + response.headers.size() * 32);
  out.append(fmt::format("HTTP/1.1 {} {}\r\n", response.status, ReasonPhrase(response.status)));
  Headers headers = response.headers;
  headers.Remove("Content-Length");
  AppendHeaders(out, headers);
  bool no_body_status = (response.status >= 100 && response.status < 200) ||
                        response.status == 204 || response.status == 304;
  if (!no_body_status) out.append(fmt::format("Content-Length: {}\r\n", response.body.size()));
  out.append("\r\n");
  if (!head_only && !no_body_status) out.append(response.body);
  return out;
}

}  // namespace berth::http
