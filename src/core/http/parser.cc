#include "core/http/parser.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace berth::http {
namespace {

constexpr std::string_view kCrlfCrlf = "\r\n\r\n";

// Byte classes, built once at compile time.
struct CharTables {
  std::array<bool, 256> tchar{};        // token characters (RFC 9110 5.6.2)
  std::array<bool, 256> field_value{};  // VCHAR, obs-text, SP, HTAB
  std::array<bool, 256> target{};       // visible ASCII except '#'
  std::array<int8_t, 256> hex{};
};

constexpr CharTables MakeTables() {
  CharTables t{};
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    bool digit = c >= '0' && c <= '9';
    bool special = false;
    for (char s : std::string_view("!#$%&'*+-.^_`|~")) special = special || c == s;
    t.tchar[c] = alpha || digit || special;
    t.field_value[c] = c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
    t.target[c] = c >= 0x21 && c <= 0x7e && c != '#';
    t.hex[c] = digit                    ? c - '0'
               : (c >= 'a' && c <= 'f') ? c - 'a' + 10
               : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                        : -1;
  }
  return t;
}

constexpr CharTables kTables = MakeTables();

inline unsigned char U(char c) { return static_cast<unsigned char>(c); }

// Whether none of the 8 bytes of `w` ends a field value: no control byte (below 0x20, HTAB
// included, or 0x7F). Exact as a whole-word test (the classic "has a byte less than n" and
// "has a zero byte" tricks); bytes from 0x80 (obs-text) pass. Lets ParseFields skip over
// values 8 bytes at a time; the byte loop after it decides on the exact byte.
inline bool NoControlByte(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  const uint64_t del = w ^ (kOnes * 0x7F);
  const uint64_t has_del = (del - kOnes) & ~del & kHigh;
  return (below_space | has_del) == 0;
}

// EqualsIgnoreCase (message.h) inlined for the parser's per-field comparisons (every field
// name of every head goes through several): equal bytes, or bytes that differ only in the
// 0x20 bit and are letters.
inline bool IEq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned x = U(a[i]), y = U(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 25u)) return false;
  }
  return true;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTables.tchar[U(c)]) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(token) for each element of a comma-separated list, elements trimmed; empty
// elements are skipped as RFC 9110 5.6.1 allows.
template <typename Fn>
void ForEachListElement(std::string_view value, Fn&& fn) {
  while (true) {
    size_t comma = value.find(',');
    std::string_view element = TrimOws(value.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// Where "\r\n\r\n" ends when `rest` follows `buf`: an index into `rest` (one past the
// terminator), or npos. `buf` holds no terminator itself.
size_t FindTerminatorEnd(std::string_view buf, std::string_view rest) {
  for (size_t k = 3; k >= 1; --k) {
    if (buf.size() >= k && buf.substr(buf.size() - k) == kCrlfCrlf.substr(0, k) &&
        rest.substr(0, 4 - k) == kCrlfCrlf.substr(k)) {
      return 4 - k;
    }
  }
  size_t pos = rest.find(kCrlfCrlf);
  return pos == std::string_view::npos ? pos : pos + 4;
}

// "HTTP/1.1" -> minor version; -1 malformed (400); -2 well-formed but unsupported (505).
int ParseVersion(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
      v[7] < '0' || v[7] > '9') {
    return -1;
  }
  if (v[5] != '1' || v[7] > '1') return -2;
  return v[7] - '0';
}

ParseStep Step(ParseEvent event, size_t consumed, std::string_view body = {}) {
  return ParseStep{event, consumed, body};
}

}  // namespace

std::optional<std::string_view> MessageHead::Get(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEq(h.name, name)) return h.value;
  }
  return std::nullopt;
}

Parser::Parser(MessageKind kind, ParserLimits limits) : kind_(kind), limits_(limits) {}

void Parser::SetRequestMethod(std::string_view method) {
  request_head_ = method == "HEAD";
  request_connect_ = method == "CONNECT";
}

void Parser::Reset() {
  state_ = State::kStart;
  pending_cr_ = false;
  error_ = {};
  StartMessage();
}

bool Parser::idle() const {
  return (state_ == State::kStart && !pending_cr_) || state_ == State::kComplete;
}

std::unexpected<ParseError> Parser::Fail(int status, std::string message) {
  error_.status = kind_ == MessageKind::kResponse ? 502 : status;
  error_.message = std::move(message);
  state_ = State::kFailed;
  return std::unexpected(error_);
}

void Parser::StartMessage() {
  head_buf_.clear();
  trailer_buf_.clear();
  std::vector<HeaderView> headers = std::move(head_.headers);  // keep the capacity
  headers.clear();
  head_ = MessageHead{};
  head_.headers = std::move(headers);
  trailers_.clear();
  remaining_ = 0;
  body_bytes_ = 0;
  chunk_line_bytes_ = 0;
  chunk_size_seen_digit_ = false;
}

ParseResult<ParseStep> Parser::Feed(std::string_view input) {
  switch (state_) {
    case State::kFailed:
      return std::unexpected(error_);
    case State::kComplete:
      state_ = State::kStart;
      [[fallthrough]];
    case State::kStart:
    case State::kHead:
      return FeedHead(input);
    case State::kHeadDone:
      state_ = State::kComplete;
      return Step(ParseEvent::kComplete, 0);
    case State::kBodyLength: {
      if (remaining_ == 0) {
        state_ = State::kComplete;
        return Step(ParseEvent::kComplete, 0);
      }
      if (input.empty()) return Step(ParseEvent::kNeedMore, 0);
      size_t take = input.size() < remaining_ ? input.size() : static_cast<size_t>(remaining_);
      remaining_ -= take;
      body_bytes_ += take;
      return Step(ParseEvent::kBody, take, input.substr(0, take));
    }
    case State::kBodyClose: {
      if (input.empty()) return Step(ParseEvent::kNeedMore, 0);
      if (input.size() > limits_.max_body_bytes - body_bytes_) {
        return Fail(413, "body larger than the limit");
      }
      body_bytes_ += input.size();
      return Step(ParseEvent::kBody, input.size(), input);
    }
    case State::kTrailers:
      return FeedTrailers(input);
    default:
      return FeedChunked(input);
  }
}

ParseResult<ParseStep> Parser::Finish() {
  switch (state_) {
    case State::kFailed:
      return std::unexpected(error_);
    case State::kStart:
    case State::kComplete:
      return Step(ParseEvent::kNeedMore, 0);
    case State::kBodyClose:
    case State::kHeadDone:
      state_ = State::kComplete;
      return Step(ParseEvent::kComplete, 0);
    case State::kBodyLength:
      if (remaining_ == 0) {
        state_ = State::kComplete;
        return Step(ParseEvent::kComplete, 0);
      }
      return Fail(400, "connection closed before the end of the body");
    case State::kHead:
      return Fail(400, "connection closed in the middle of the head");
    default:
      return Fail(400, "connection closed in the middle of a chunked body");
  }
}

ParseResult<ParseStep> Parser::FeedHead(std::string_view input) {
  size_t i = 0;
  if (state_ == State::kStart) {
    if (kind_ == MessageKind::kRequest) {
      // RFC 9112 2.2: ignore empty lines before the request line (CRLF only).
      while (i < input.size()) {
        if (pending_cr_) {
          if (input[i] != '\n') return Fail(400, "bare CR before the request line");
          pending_cr_ = false;
          ++i;
        } else if (input[i] == '\r') {
          pending_cr_ = true;
          ++i;
        } else if (input[i] == '\n') {
          return Fail(400, "bare LF before the request line");
        } else {
          break;
        }
      }
    }
    if (i == input.size()) return Step(ParseEvent::kNeedMore, i);
    StartMessage();
    state_ = State::kHead;
  }

  std::string_view rest = input.substr(i);
  size_t end = FindTerminatorEnd(head_buf_, rest);
  const size_t line_limit = limits_.max_request_line_bytes;
  // A head with bare LFs may never reach CRLFCRLF: refuse it as soon as one arrives instead
  // of waiting for the header timeout (found by the gateway: a client ending lines with LF
  // got no answer). Done whether or not the head is complete, so that the answer does not
  // depend on how the bytes were segmented.
  std::string_view arrived = end == std::string_view::npos ? rest : rest.substr(0, end);
  for (size_t k = arrived.find('\n'); k != std::string_view::npos; k = arrived.find('\n', k + 1)) {
    const char before = k > 0 ? arrived[k - 1] : (head_buf_.empty() ? '\0' : head_buf_.back());
    if (before != '\r') return Fail(400, "bare LF in the head");
  }
  if (end == std::string_view::npos) {
    size_t total = head_buf_.size() + rest.size();
    // 414 as soon as the first line is known to be too long.
    if (total > line_limit + 1) {
      std::string_view first = head_buf_;
      size_t nl = first.find('\n');
      if (nl == std::string_view::npos) {
        size_t in_rest = rest.find('\n');
        nl = in_rest == std::string_view::npos ? total : head_buf_.size() + in_rest;
      }
      if (nl > line_limit + 1) {
        return Fail(
            414, kind_ == MessageKind::kRequest ? "request line too long" : "status line too long");
      }
    }
    if (total > limits_.max_header_bytes) return Fail(431, "header section too large");
    head_buf_.append(rest);
    return Step(ParseEvent::kNeedMore, input.size());
  }
  if (head_buf_.size() + end > limits_.max_header_bytes) {
    // Still prefer 414 when the first line alone is over its limit.
    head_buf_.append(rest.substr(0, end));
    size_t nl = head_buf_.find('\n');
    if (nl > line_limit + 1) return Fail(414, "request line too long");
    return Fail(431, "header section too large");
  }
  head_buf_.append(rest.substr(0, end));
  if (auto ok = ParseHead(); !ok) return std::unexpected(ok.error());
  return Step(ParseEvent::kHead, i + end);
}

ParseResult<void> Parser::ParseHead() {
  std::string_view buf = head_buf_;
  head_.raw = buf;
  size_t eol = buf.find("\r\n");  // exists: buf ends with CRLFCRLF
  std::string_view line = buf.substr(0, eol);
  if (line.size() > limits_.max_request_line_bytes) {
    return Fail(414,
                kind_ == MessageKind::kRequest ? "request line too long" : "status line too long");
  }
  auto first = kind_ == MessageKind::kRequest ? ParseRequestLine(line) : ParseStatusLine(line);
  if (!first) return first;
  std::string_view block = buf.substr(eol + 2, buf.size() - (eol + 2) - 2);
  if (auto ok = ParseFields(block, &head_.headers, false); !ok) return ok;
  return DecideFraming();
}

ParseResult<void> Parser::ParseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  if (!IsToken(method)) return Fail(400, "invalid method");
  std::string_view rest = line.substr(sp1 + 1);
  size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return Fail(400, "request line without an HTTP version");
  std::string_view target = rest.substr(0, sp2);
  if (target.empty()) return Fail(400, "empty request target");
  for (char c : target) {
    if (!kTables.target[U(c)]) return Fail(400, "invalid character in request target");
  }
  int minor = ParseVersion(rest.substr(sp2 + 1));
  if (minor == -1) return Fail(400, "malformed HTTP version");
  if (minor == -2) return Fail(505, "HTTP version not supported");

  bool connect = method == "CONNECT";
  if (connect) {
    // authority-form: host:port, nothing else.
    if (target[0] == '/' || target.find('/') != std::string_view::npos ||
        target.find(':') == std::string_view::npos) {
      return Fail(400, "CONNECT needs an authority-form target (host:port)");
    }
  } else if (target[0] != '/') {
    if (target == "*") {
      if (method != "OPTIONS") return Fail(400, "asterisk-form target only with OPTIONS");
    } else {
      size_t scheme_end = target.find("://");
      if (scheme_end == std::string_view::npos || scheme_end == 0 ||
          !IsToken(target.substr(0, scheme_end))) {
        return Fail(400, "invalid request target");
      }
    }
  }
  head_.method = method;
  head_.target = target;
  head_.version_minor = minor;
  return {};
}

ParseResult<void> Parser::ParseStatusLine(std::string_view line) {
  if (line.size() < 12 || line[8] != ' ') return Fail(502, "malformed status line");
  int minor = ParseVersion(line.substr(0, 8));
  if (minor < 0) return Fail(502, "unsupported HTTP version in status line");
  int status = 0;
  for (size_t k = 9; k < 12; ++k) {
    if (line[k] < '0' || line[k] > '9') return Fail(502, "malformed status code");
    status = status * 10 + (line[k] - '0');
  }
  if (status < 100) return Fail(502, "malformed status code");
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') return Fail(502, "malformed status line");
    reason = line.substr(13);
    for (char c : reason) {
      if (!kTables.field_value[U(c)]) return Fail(502, "invalid character in reason phrase");
    }
  }
  head_.status = status;
  head_.reason = reason;
  head_.version_minor = minor;
  return {};
}

ParseResult<void> Parser::ParseFields(std::string_view block, std::vector<HeaderView>* out,
                                      bool trailers) {
  // One pass per line: the name (token chars), ':', the value (field-value chars); the
  // first byte outside the value class must be the CR of a CRLF.
  const char* data = block.data();
  const size_t size = block.size();  // the block ends with CRLF
  size_t pos = 0;
  while (pos < size) {
    if (data[pos] == ' ' || data[pos] == '\t') {
      return Fail(400, "obsolete line folding (obs-fold) is not allowed");
    }
    size_t i = pos;
    while (i < size && kTables.tchar[U(data[i])]) ++i;
    if (i == size || data[i] != ':') {
      char c = i == size ? '\r' : data[i];
      if (c == ' ' || c == '\t') return Fail(400, "whitespace between field name and colon");
      if (c == '\r' && i + 1 < size && data[i + 1] == '\n') {
        return Fail(400, "field line without a colon");
      }
      if (c == '\r') return Fail(400, "bare CR in header section");
      if (c == '\n') return Fail(400, "bare LF in header section");
      return Fail(400, "invalid character in field name");
    }
    if (i == pos) return Fail(400, "empty field name");
    std::string_view name(data + pos, i - pos);
    size_t value_start = ++i;
    for (uint64_t w; i + 8 <= size; i += 8) {
      std::memcpy(&w, data + i, 8);
      if (!NoControlByte(w)) break;
    }
    while (i < size && kTables.field_value[U(data[i])]) ++i;
    if (i + 1 >= size || data[i] != '\r' || data[i + 1] != '\n') {
      char c = i < size ? data[i] : '\0';
      if (c == '\r') return Fail(400, "bare CR in field value");
      if (c == '\n') return Fail(400, "bare LF in field value");
      return Fail(400, "control character in field value");
    }
    if (out->size() >= limits_.max_headers) {
      return Fail(431, trailers ? "too many trailer fields" : "too many header fields");
    }
    out->push_back(
        HeaderView{name, TrimOws(std::string_view(data + value_start, i - value_start))});
    pos = i + 2;
  }
  return {};
}

ParseResult<void> Parser::DecideFraming() {
  const bool request = kind_ == MessageKind::kRequest;
  bool has_cl = false;
  uint64_t cl = 0;
  int te_count = 0;
  std::string_view te;
  int hosts = 0;
  bool conn_close = false, conn_keep_alive = false, conn_upgrade = false, has_upgrade = false;

  for (const auto& h : head_.headers) {
    std::string_view name = h.name;
    // Only six names matter here; most fields are rejected by their length alone.
    switch (name.size()) {
      case 4:
      case 6:
      case 7:
      case 10:
      case 14:
      case 17:
        break;
      default:
        continue;
    }
    if (IEq(name, "content-length")) {
      if (has_cl) return Fail(400, "duplicate Content-Length");
      has_cl = true;
      if (h.value.empty()) return Fail(400, "empty Content-Length");
      if (h.value.size() > 18) return Fail(400, "Content-Length too large");
      for (char c : h.value) {
        if (c < '0' || c > '9') return Fail(400, "invalid Content-Length");
        cl = cl * 10 + static_cast<uint64_t>(c - '0');
      }
    } else if (IEq(name, "transfer-encoding")) {
      ++te_count;
      te = h.value;
    } else if (IEq(name, "host")) {
      ++hosts;
    } else if (IEq(name, "connection")) {
      ForEachListElement(h.value, [&](std::string_view token) {
        if (IEq(token, "close")) conn_close = true;
        if (IEq(token, "keep-alive")) conn_keep_alive = true;
        if (IEq(token, "upgrade")) conn_upgrade = true;
      });
    } else if (IEq(name, "upgrade")) {
      has_upgrade = true;
    } else if (request && IEq(name, "expect")) {
      if (IEq(h.value, "100-continue")) head_.expect_continue = true;
    }
  }

  head_.keep_alive = head_.version_minor >= 1 ? !conn_close : (conn_keep_alive && !conn_close);
  head_.upgrade = conn_upgrade && has_upgrade;

  if (te_count > 0) {
    if (te_count > 1) return Fail(400, "multiple Transfer-Encoding fields");
    if (has_cl) return Fail(400, "both Content-Length and Transfer-Encoding");
    if (head_.version_minor == 0) return Fail(400, "Transfer-Encoding in an HTTP/1.0 message");
    if (!IEq(te, "chunked")) {
      int chunked = 0;
      bool last_chunked = false;
      ForEachListElement(te, [&](std::string_view coding) {
        last_chunked = IEq(coding, "chunked");
        if (last_chunked) ++chunked;
      });
      if (last_chunked && chunked == 1) {
        return Fail(501, "unsupported transfer coding: only \"chunked\" is accepted");
      }
      return Fail(400, "invalid Transfer-Encoding: \"chunked\" must be the only coding");
    }
  }

  if (request) {
    if (head_.version_minor >= 1 && hosts == 0) return Fail(400, "missing Host");
    if (hosts > 1) return Fail(400, "multiple Host fields");
  } else {
    const int s = head_.status;
    if (request_head_ || (s >= 100 && s < 200) || s == 204 || s == 304 ||
        (request_connect_ && s >= 200 && s < 300)) {
      head_.framing = BodyFraming::kNone;
      state_ = State::kHeadDone;
      return {};
    }
  }

  if (te_count > 0) {
    head_.framing = BodyFraming::kChunked;
    state_ = State::kChunkSize;
  } else if (has_cl) {
    if (cl > limits_.max_body_bytes) return Fail(413, "body larger than the limit");
    head_.framing = BodyFraming::kContentLength;
    head_.content_length = cl;
    remaining_ = cl;
    state_ = State::kBodyLength;
  } else if (request) {
    head_.framing = BodyFraming::kNone;
    state_ = State::kHeadDone;
  } else {
    head_.framing = BodyFraming::kUntilClose;
    head_.keep_alive = false;
    state_ = State::kBodyClose;
  }
  return {};
}

ParseResult<ParseStep> Parser::FeedChunked(std::string_view input) {
  size_t i = 0;
  const size_t n = input.size();
  while (i < n) {
    char c = input[i];
    switch (state_) {
      case State::kChunkSize: {
        int h = kTables.hex[U(c)];
        if (h >= 0) {
          if (remaining_ > (std::numeric_limits<uint64_t>::max() >> 4)) {
            return Fail(400, "chunk size overflows");
          }
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
          chunk_size_seen_digit_ = true;
        } else if (!chunk_size_seen_digit_) {
          return Fail(400, "invalid chunk size");
        } else if (c == ';') {
          state_ = State::kChunkExt;
        } else if (c == ' ' || c == '\t') {
          state_ = State::kChunkSizeWs;
        } else if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else {
          return Fail(400, "invalid chunk size");
        }
        break;
      }
      case State::kChunkSizeWs:
        if (c == ';') {
          state_ = State::kChunkExt;
        } else if (c != ' ' && c != '\t') {
          return Fail(400, "invalid chunk size line");
        }
        break;
      case State::kChunkExt:
        if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (!kTables.field_value[U(c)]) {
          return Fail(400, "invalid character in chunk extension");
        }
        break;
      case State::kChunkSizeLf:
        if (c != '\n') return Fail(400, "bare CR in chunk size line");
        ++i;
        chunk_line_bytes_ = 0;
        chunk_size_seen_digit_ = false;
        if (remaining_ == 0) {
          state_ = State::kTrailers;
          trailer_buf_.assign("\r\n");  // the last-chunk's CRLF: the section ends at CRLFCRLF
          auto step = FeedTrailers(input.substr(i));
          if (step) step->consumed += i;
          return step;
        }
        if (remaining_ > limits_.max_body_bytes - body_bytes_) {
          return Fail(413, "body larger than the limit");
        }
        state_ = State::kChunkData;
        continue;
      case State::kChunkData: {
        size_t take = (n - i) < remaining_ ? (n - i) : static_cast<size_t>(remaining_);
        std::string_view data = input.substr(i, take);
        i += take;
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) state_ = State::kChunkDataCr;
        return Step(ParseEvent::kBody, i, data);
      }
      case State::kChunkDataCr:
        if (c != '\r') return Fail(400, "chunk data not followed by CRLF");
        state_ = State::kChunkDataLf;
        break;
      case State::kChunkDataLf:
        if (c != '\n') return Fail(400, "chunk data not followed by CRLF");
        state_ = State::kChunkSize;
        remaining_ = 0;
        chunk_line_bytes_ = 0;
        ++i;
        continue;
      default:
        return Fail(500, "parser in an impossible state");
    }
    ++i;
    if (++chunk_line_bytes_ > limits_.max_chunk_line_bytes) {
      return Fail(400, "chunk size line too long");
    }
  }
  return Step(ParseEvent::kNeedMore, n);
}

ParseResult<ParseStep> Parser::FeedTrailers(std::string_view input) {
  size_t end = FindTerminatorEnd(trailer_buf_, input);
  if (end == std::string_view::npos) {
    if (trailer_buf_.size() + input.size() > limits_.max_header_bytes) {
      return Fail(431, "trailer section too large");
    }
    trailer_buf_.append(input);
    return Step(ParseEvent::kNeedMore, input.size());
  }
  if (trailer_buf_.size() + end > limits_.max_header_bytes) {
    return Fail(431, "trailer section too large");
  }
  trailer_buf_.append(input.substr(0, end));
  std::string_view block = trailer_buf_;
  block = block.substr(2, block.size() - 4);  // drop the seeded CRLF and the final one
  if (auto ok = ParseFields(block, &trailers_, true); !ok) return std::unexpected(ok.error());
  state_ = State::kComplete;
  return Step(ParseEvent::kComplete, end);
}

ParseResult<void> FillRequest(const MessageHead& head, Request* out) {
  out->method.assign(head.method);
  out->target.assign(head.target);
  out->version_minor = head.version_minor;
  std::string_view target = head.target;
  std::string_view path = target;
  std::string_view query;
  if (target[0] != '/' && target != "*" && head.method != "CONNECT") {
    // absolute-form: skip scheme://authority.
    size_t authority = target.find("://") + 3;
    size_t slash = target.find_first_of("/?", authority);
    path = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t q = path.find('?');
  if (q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (path.empty()) path = "/";
  auto decoded = PercentDecode(path);
  if (!decoded) return std::unexpected(ParseError{400, "malformed percent escape in path"});
  out->path = std::move(*decoded);
  out->query.assign(query);
  auto& fields = out->headers.mutable_fields();
  fields.clear();
  fields.reserve(head.headers.size());
  for (const auto& h : head.headers) fields.push_back({std::string(h.name), std::string(h.value)});
  return {};
}

void FillResponse(const MessageHead& head, Response* out) {
  out->status = head.status;
  auto& fields = out->headers.mutable_fields();
  fields.clear();
  fields.reserve(head.headers.size());
  for (const auto& h : head.headers) fields.push_back({std::string(h.name), std::string(h.value)});
}

namespace {

// Feeds `bytes` to `parser` until one message completes; calls on_head at kHead.
template <typename OnHead>
ParseResult<std::string> ParseOne(Parser& parser, std::string_view bytes, size_t* consumed,
                                  OnHead&& on_head) {
  std::string body;
  size_t used = 0;
  std::string_view in = bytes;
  for (;;) {
    auto step = parser.Feed(in);
    if (!step) return std::unexpected(step.error());
    in.remove_prefix(step->consumed);
    used += step->consumed;
    switch (step->event) {
      case ParseEvent::kHead:
        if (auto ok = on_head(); !ok) return std::unexpected(ok.error());
        break;
      case ParseEvent::kBody:
        body.append(step->body);
        break;
      case ParseEvent::kComplete:
        if (consumed) *consumed = used;
        return body;
      case ParseEvent::kNeedMore: {
        auto fin = parser.Finish();
        if (!fin) return std::unexpected(fin.error());
        if (fin->event == ParseEvent::kComplete) {
          if (consumed) *consumed = used;
          return body;
        }
        return std::unexpected(ParseError{400, "incomplete message"});
      }
    }
  }
}

}  // namespace

ParseResult<Request> ParseRequest(std::string_view bytes, ParserLimits limits, size_t* consumed) {
  Parser parser(MessageKind::kRequest, limits);
  Request request;
  auto body =
      ParseOne(parser, bytes, consumed, [&] { return FillRequest(parser.head(), &request); });
  if (!body) return std::unexpected(body.error());
  request.body = std::move(*body);
  return request;
}

ParseResult<Response> ParseResponse(std::string_view bytes, std::string_view request_method,
                                    ParserLimits limits, size_t* consumed) {
  Parser parser(MessageKind::kResponse, limits);
  parser.SetRequestMethod(request_method);
  Response response;
  auto body = ParseOne(parser, bytes, consumed, [&]() -> ParseResult<void> {
    FillResponse(parser.head(), &response);
    return {};
  });
  if (!body) return std::unexpected(body.error());
  response.body = std::move(*body);
  return response;
}

}  // namespace berth::http
