// Strict, incremental HTTP/1.1 parser (RFC 9112) for requests and responses, shared by the
// control-plane server, the client and the gateway's proxy data plane.
//
// The caller owns the socket buffer and feeds whatever bytes it has; each Feed() reports one
// event and how many input bytes it consumed:
//
//   kNeedMore  every input byte was consumed (consumed == input.size()); read more.
//   kHead      the head is complete: head() holds method/target or status, headers and the
//              body framing. Views in head() point into the parser's own copy of the head,
//              so they stay valid until the next message starts (the Feed() after kComplete)
//              whatever the caller does with its buffer.
//   kBody      `body` is a piece of decoded body (chunk framing removed), a view into the
//              input just fed: use it before touching that buffer again.
//   kComplete  the message ended (after trailers, see trailers()). Bytes after `consumed`
//              belong to the next message (pipelining): feed them again.
//
// Loop until kNeedMore, removing `consumed` bytes each time:
//
//   for (;;) {
//     auto step = parser.Feed(in);
//     if (!step) return Answer(step.error().status, step.error().message);  // then close
//     std::string_view used = in.substr(0, step->consumed);
//     in.remove_prefix(step->consumed);
//     if (step->event == ParseEvent::kNeedMore) break;   // in is empty now
//     ...
//   }
//
// Raw pass-through: after kHead, the bytes consumed by every later step up to and including
// kComplete are exactly the message's body bytes on the wire (chunk framing and trailers
// included), so a proxy can forward `used` unchanged instead of `body`.
//
// Strictness: CRLF line endings only (bare CR or bare LF is an error), no obs-fold, token
// characters in methods and field names, no whitespace before ':', no control characters in
// values or targets, HTTP/1.0 and 1.1 only, exactly one Host in 1.1 requests, no
// Content-Length together with Transfer-Encoding, one well-formed Content-Length, and the
// only transfer coding accepted is a single "chunked". Errors carry the status a server
// should answer (400, 413, 414, 431, 501, 505); in response mode every error has status 502
// (what a proxy answers downstream). After an error the parser stays failed.
//
// Thread-safety: one Parser per connection, used from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/message.h"

namespace berth::http {

enum class MessageKind { kRequest, kResponse };

// How the body after the head is delimited.
enum class BodyFraming {
  kNone,           // no body (requests without CL/TE, HEAD responses, 1xx/204/304)
  kContentLength,  // exactly head().content_length bytes
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // responses only: body runs until the peer closes (call Finish on EOF)
};

struct ParseError {
  int status = 400;     // HTTP status to answer (502 for every response-mode error)
  std::string message;  // what is wrong, e.g. "duplicate Content-Length"
};

template <typename T>
using ParseResult = std::expected<T, ParseError>;

struct HeaderView {
  std::string_view name;   // as on the wire
  std::string_view value;  // leading/trailing whitespace removed
};

// A parsed head. Views point into the parser's storage (see above).
struct MessageHead {
  // Requests.
  std::string_view method;  // "GET"
  std::string_view target;  // "/v1/kv?x=1" as sent
  // Responses.
  int status = 0;
  std::string_view reason;

  int version_minor = 1;  // HTTP/1.x
  std::vector<HeaderView> headers;

  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;   // with kContentLength
  bool keep_alive = true;        // from version and Connection (false with kUntilClose)
  bool expect_continue = false;  // request has "Expect: 100-continue"
  bool upgrade = false;          // "Connection: upgrade" and an Upgrade field present

  std::string_view raw;  // the whole head as received, request/status line to final CRLF

  // First value of field `name` (case-insensitive).
  std::optional<std::string_view> Get(std::string_view name) const;
};

struct ParserLimits {
  size_t max_request_line_bytes = 8 * 1024;  // request/status line, CRLF excluded: 414
  size_t max_header_bytes = 64 * 1024;       // whole head including the first line: 431
  size_t max_headers = 100;                  // field lines: 431
  uint64_t max_body_bytes = std::numeric_limits<uint64_t>::max();  // decoded body: 413
  size_t max_chunk_line_bytes = 4096;  // chunk size plus extensions: 400
};

enum class ParseEvent { kNeedMore, kHead, kBody, kComplete };

struct ParseStep {
  ParseEvent event = ParseEvent::kNeedMore;
  size_t consumed = 0;    // input bytes used by this step
  std::string_view body;  // with kBody: decoded body bytes (a view into the input)
};

class Parser {
 public:
  explicit Parser(MessageKind kind, ParserLimits limits = {});

  // Consumes a prefix of `input` and reports the next event (see the header comment).
  ParseResult<ParseStep> Feed(std::string_view input);

  // The peer closed the connection. Returns kComplete when that ends an until-close body,
  // kNeedMore when the parser was between messages (a clean close), and an error when a
  // message was cut short.
  ParseResult<ParseStep> Finish();

  // Response mode: the method of the request this response answers. HEAD means no body;
  // a 2xx to CONNECT means a tunnel (no body). Kept until changed.
  void SetRequestMethod(std::string_view method);

  // Drops any partial message and error; the next Feed starts a new message.
  void Reset();

  const MessageHead& head() const { return head_; }
  // Trailer fields of a chunked message, valid at kComplete until the next message starts.
  const std::vector<HeaderView>& trailers() const { return trailers_; }
  // Decoded body bytes delivered so far for the current message.
  uint64_t body_bytes() const { return body_bytes_; }
  // True between messages (nothing of the next message received yet).
  bool idle() const;
  // True while part of a head has arrived but not all of it (for header timeouts).
  bool in_head() const {
    return state_ == State::kHead || (state_ == State::kStart && pending_cr_);
  }
  const ParserLimits& limits() const { return limits_; }
  void set_limits(const ParserLimits& limits) { limits_ = limits; }

 private:
  enum class State {
    kStart,        // between messages
    kHead,         // collecting head bytes
    kHeadDone,     // kHead reported; next call picks body framing
    kBodyLength,   // content-length body
    kBodyClose,    // until-close body
    kChunkSize,    // hex digits
    kChunkSizeWs,  // whitespace after size: only ';' may follow
    kChunkExt,     // extension bytes up to CR
    kChunkSizeLf,  // CR seen, LF must follow
    kChunkData,
    kChunkDataCr,  // CRLF after chunk data
    kChunkDataLf,
    kTrailers,  // collecting the trailer section
    kComplete,  // kComplete reported
    kFailed,
  };

  ParseResult<ParseStep> FeedHead(std::string_view input);
  ParseResult<ParseStep> FeedChunked(std::string_view input);
  ParseResult<ParseStep> FeedTrailers(std::string_view input);
  ParseResult<void> ParseHead();
  ParseResult<void> ParseRequestLine(std::string_view line);
  ParseResult<void> ParseStatusLine(std::string_view line);
  ParseResult<void> ParseFields(std::string_view block, std::vector<HeaderView>* out,
                                bool trailers);
  ParseResult<void> DecideFraming();
  void StartMessage();
  std::unexpected<ParseError> Fail(int status, std::string message);

  MessageKind kind_;
  ParserLimits limits_;
  State state_ = State::kStart;
  bool pending_cr_ = false;    // request mode: a CR of a leading empty line was seen
  bool request_head_ = false;  // response mode: answering a HEAD request
  bool request_connect_ = false;
  std::string head_buf_;  // the head's bytes (owned, so head_ views survive the caller)
  std::string trailer_buf_;
  MessageHead head_;
  std::vector<HeaderView> trailers_;
  uint64_t remaining_ = 0;  // content-length or current chunk bytes left
  uint64_t body_bytes_ = 0;
  size_t chunk_line_bytes_ = 0;
  bool chunk_size_seen_digit_ = false;
  ParseError error_;
};

// Copies a parsed request head into a Request (path percent-decoded, query split off).
// Fails with 400 on a malformed percent escape in the path.
ParseResult<void> FillRequest(const MessageHead& head, Request* out);
// Copies a parsed response head into a Response.
void FillResponse(const MessageHead& head, Response* out);

// One-shot helpers for tests and fuzzers: parses exactly one complete message from `bytes`
// (body collected), failing when it is incomplete. `*consumed` receives the bytes used.
ParseResult<Request> ParseRequest(std::string_view bytes, ParserLimits limits = {},
                                  size_t* consumed = nullptr);
ParseResult<Response> ParseResponse(std::string_view bytes, std::string_view request_method = "GET",
                                    ParserLimits limits = {}, size_t* consumed = nullptr);

}  // namespace berth::http
