#include "core/http/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::http {
namespace {

// One parsed message as seen through the incremental API.
struct Parsed {
  std::string method, target, reason;
  int status = 0;
  int version_minor = -1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  BodyFraming framing = BodyFraming::kNone;
  bool keep_alive = false;
  bool expect_continue = false;
  bool upgrade = false;
  std::string body;
  std::string raw_body;  // bytes consumed after the head, as a proxy would forward them
};

struct Outcome {
  std::vector<Parsed> messages;
  std::optional<ParseError> error;
  bool finished_clean = true;  // Finish() at the end did not fail
};

// Feeds `input` in pieces of `piece` bytes (0: all at once), collecting every message.
Outcome Drive(MessageKind kind, std::string_view input, size_t piece = 0, ParserLimits limits = {},
              std::string_view request_method = "GET", bool finish = false) {
  Parser parser(kind, limits);
  parser.SetRequestMethod(request_method);
  Outcome out;
  Parsed current;
  bool in_message = false;
  std::string pending;  // bytes not consumed yet (the "socket buffer")
  size_t fed = 0;
  while (true) {
    size_t take = piece == 0 ? input.size() - fed : std::min(piece, input.size() - fed);
    pending.append(input.substr(fed, take));
    fed += take;
    std::string_view in = pending;
    for (;;) {
      auto step = parser.Feed(in);
      if (!step) {
        out.error = step.error();
        return out;
      }
      std::string_view used = in.substr(0, step->consumed);
      in.remove_prefix(step->consumed);
      if (step->event == ParseEvent::kNeedMore) {
        EXPECT_TRUE(in.empty()) << "kNeedMore must consume everything";
        if (in_message) current.raw_body.append(used);
        break;
      }
      if (step->event == ParseEvent::kHead) {
        const auto& h = parser.head();
        current = Parsed{};
        in_message = true;
        current.method = h.method;
        current.target = h.target;
        current.status = h.status;
        current.reason = h.reason;
        current.version_minor = h.version_minor;
        for (const auto& f : h.headers) current.headers.emplace_back(f.name, f.value);
        current.framing = h.framing;
        current.keep_alive = h.keep_alive;
        current.expect_continue = h.expect_continue;
        current.upgrade = h.upgrade;
      } else if (step->event == ParseEvent::kBody) {
        EXPECT_FALSE(step->body.empty());
        current.body.append(step->body);
        current.raw_body.append(used);
      } else if (step->event == ParseEvent::kComplete) {
        current.raw_body.append(used);
        for (const auto& f : parser.trailers()) current.trailers.emplace_back(f.name, f.value);
        out.messages.push_back(current);
        in_message = false;
      }
    }
    pending.erase(0, pending.size() - in.size());
    if (fed == input.size()) break;
  }
  if (finish) {
    auto step = parser.Finish();
    if (!step) {
      out.error = step.error();
      out.finished_clean = false;
    } else if (step->event == ParseEvent::kComplete && in_message) {
      out.messages.push_back(current);
    }
  }
  return out;
}

// Runs `input` whole, byte by byte and in 7-byte pieces; all must agree.
Outcome RunAllWays(MessageKind kind, std::string_view input, ParserLimits limits = {}) {
  Outcome whole = Drive(kind, input, 0, limits);
  for (size_t piece : {1, 2, 7}) {
    Outcome split = Drive(kind, input, piece, limits);
    EXPECT_EQ(whole.error.has_value(), split.error.has_value()) << "piece " << piece;
    if (whole.error && split.error) {
      EXPECT_EQ(whole.error->status, split.error->status) << "piece " << piece;
    }
    EXPECT_EQ(whole.messages.size(), split.messages.size()) << "piece " << piece;
    for (size_t i = 0; i < std::min(whole.messages.size(), split.messages.size()); ++i) {
      EXPECT_EQ(whole.messages[i].body, split.messages[i].body);
      EXPECT_EQ(whole.messages[i].headers, split.messages[i].headers);
      EXPECT_EQ(whole.messages[i].trailers, split.messages[i].trailers);
      EXPECT_EQ(whole.messages[i].raw_body, split.messages[i].raw_body);
    }
  }
  return whole;
}

Outcome Req(std::string_view input, ParserLimits limits = {}) {
  return RunAllWays(MessageKind::kRequest, input, limits);
}

// Expects `input` to be rejected with `status`.
void ExpectReject(std::string_view input, int status, ParserLimits limits = {}) {
  SCOPED_TRACE(std::string(input));
  Outcome o = Req(input, limits);
  ASSERT_TRUE(o.error.has_value()) << "accepted";
  EXPECT_EQ(o.error->status, status) << o.error->message;
  EXPECT_FALSE(o.error->message.empty());
  EXPECT_TRUE(o.messages.empty());
}

TEST(ParserTest, ParsesSimpleGet) {
  Outcome o = Req("GET /v1/kv?prefix=true HTTP/1.1\r\nHost: a\r\nX-Y:  spaced value \t\r\n\r\n");
  ASSERT_FALSE(o.error) << o.error->message;
  ASSERT_EQ(o.messages.size(), 1u);
  const Parsed& m = o.messages[0];
  EXPECT_EQ(m.method, "GET");
  EXPECT_EQ(m.target, "/v1/kv?prefix=true");
  EXPECT_EQ(m.version_minor, 1);
  EXPECT_EQ(m.framing, BodyFraming::kNone);
  EXPECT_TRUE(m.keep_alive);
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[1].first, "X-Y");
  EXPECT_EQ(m.headers[1].second, "spaced value");
}

// Field names match case-insensitively, letters only: '^' and '~' (both token characters)
// differ in the same bit as 'A' and 'a' but are different names.
TEST(ParserTest, FieldNamesMatchIgnoringTheCaseOfLettersOnly) {
  Parser p(MessageKind::kRequest);
  auto step = p.Feed("POST /x HTTP/1.1\r\nhOsT: a\r\nCONTENT-length: 2\r\nX^Y: caret\r\n\r\nok");
  ASSERT_TRUE(step);
  ASSERT_EQ(step->event, ParseEvent::kHead);
  EXPECT_EQ(p.head().framing, BodyFraming::kContentLength);
  EXPECT_EQ(p.head().Get("Host"), "a");
  EXPECT_EQ(p.head().Get("x^y"), "caret");
  EXPECT_EQ(p.head().Get("X~Y"), std::nullopt);
  EXPECT_EQ(p.head().Get("content-lengtH"), "2");
  EXPECT_EQ(p.head().Get("content-length "), std::nullopt);
  // A duplicate differing only in case is still a duplicate.
  Parser q(MessageKind::kRequest);
  auto dup =
      q.Feed("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\ncontent-LENGTH: 2\r\n\r\nok");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().status, 400);
}

// Field values are scanned 8 bytes at a time: a control byte (or DEL) is refused at every
// offset of a long value, HTAB and obs-text are kept wherever they are.
TEST(ParserTest, ControlBytesAreRefusedAtEveryOffsetOfAValue) {
  for (size_t at = 0; at < 24; ++at) {
    for (char bad : {'\x01', '\x1f', '\x7f', '\x00', '\n', '\r'}) {
      std::string value(24, 'v');
      value[at] = bad;
      ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + value + "w\r\n\r\n", 400);
    }
    std::string value(24, 'v');
    value[at] = '\t';
    value[(at + 5) % 24] = '\x80';
    value[(at + 9) % 24] = '\xff';
    Outcome o = Req("GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + value + "w\r\n\r\n");
    ASSERT_FALSE(o.error) << at << ": " << o.error->message;
    ASSERT_EQ(o.messages.size(), 1u);
    ASSERT_EQ(o.messages[0].headers.size(), 2u);
    // OWS at the ends is trimmed; inside the value, HTAB stays.
    std::string expect = value + "w";
    while (expect.front() == '\t') expect.erase(0, 1);
    EXPECT_EQ(o.messages[0].headers[1].second, expect) << at;
  }
}

TEST(ParserTest, ParsesContentLengthBody) {
  Outcome o = Req("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0].framing, BodyFraming::kContentLength);
  EXPECT_EQ(o.messages[0].body, "hello world");
  EXPECT_EQ(o.messages[0].raw_body, "hello world");
}

TEST(ParserTest, ParsesZeroContentLength) {
  Outcome o = Req("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0].body, "");
}

TEST(ParserTest, DecodesChunkedBodyWithExtensionsAndTrailers) {
  std::string wire =
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "6 ; x\r\n world\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nChecksum: abc\r\nX-Trailer: 1\r\n\r\n";
  Outcome o = Req(wire);
  ASSERT_FALSE(o.error) << o.error->message;
  ASSERT_EQ(o.messages.size(), 1u);
  const Parsed& m = o.messages[0];
  EXPECT_EQ(m.framing, BodyFraming::kChunked);
  EXPECT_EQ(m.body, "hello world0123456789");
  ASSERT_EQ(m.trailers.size(), 2u);
  EXPECT_EQ(m.trailers[0], (std::pair<std::string, std::string>("Checksum", "abc")));
  // Raw pass-through reproduces the body bytes on the wire exactly.
  EXPECT_EQ(m.raw_body, wire.substr(wire.find("\r\n\r\n") + 4));
}

TEST(ParserTest, ChunkedWithoutTrailers) {
  Outcome o =
      Req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0].body, "abc");
  EXPECT_TRUE(o.messages[0].trailers.empty());
}

TEST(ParserTest, HandlesPipelinedRequests) {
  std::string wire =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
      "\r\n"  // a stray empty line before a request line is ignored
      "DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  Outcome o = Req(wire);
  ASSERT_FALSE(o.error) << o.error->message;
  ASSERT_EQ(o.messages.size(), 4u);
  EXPECT_EQ(o.messages[0].target, "/a");
  EXPECT_EQ(o.messages[1].body, "xyz");
  EXPECT_EQ(o.messages[2].body, "ok");
  EXPECT_EQ(o.messages[3].method, "DELETE");
  EXPECT_FALSE(o.messages[3].keep_alive);
}

TEST(ParserTest, LeavesNextMessageBytesUnconsumed) {
  Parser p(MessageKind::kRequest);
  std::string_view wire = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next";
  auto head = p.Feed(wire);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->event, ParseEvent::kHead);
  EXPECT_EQ(wire.substr(head->consumed), "GET /next");
  auto done = p.Feed(wire.substr(head->consumed));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->event, ParseEvent::kComplete);
  EXPECT_EQ(done->consumed, 0u);
}

TEST(ParserTest, HeadViewsSurviveCallerBufferReuse) {
  Parser p(MessageKind::kRequest);
  std::string buffer = "GET /stable HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
  auto step = p.Feed(buffer);
  ASSERT_TRUE(step);
  std::fill(buffer.begin(), buffer.end(), 'z');
  EXPECT_EQ(p.head().target, "/stable");
  EXPECT_EQ(p.head().Get("a"), "b");
  EXPECT_EQ(p.head().raw, "GET /stable HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n");
}

TEST(ParserTest, KeepAliveFollowsVersionAndConnection) {
  auto ka = [](std::string_view wire) {
    Outcome o = Req(wire);
    EXPECT_FALSE(o.error);
    return !o.messages.empty() && o.messages[0].keep_alive;
  };
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

TEST(ParserTest, ReportsExpectContinueAndUpgrade) {
  Outcome o =
      Req("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"
          "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(o.messages.size(), 2u);
  EXPECT_TRUE(o.messages[0].expect_continue);
  EXPECT_TRUE(o.messages[1].upgrade);
}

TEST(ParserTest, AcceptsTargetForms) {
  EXPECT_FALSE(Req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").error);
  EXPECT_FALSE(Req("GET http://h/x?y HTTP/1.1\r\nHost: h\r\n\r\n").error);
  EXPECT_FALSE(Req("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n").error);
  ExpectReject("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

// --- framing conflicts and request smuggling ------------------------------------------

TEST(ParserSmugglingTest, RejectsContentLengthWithTransferEncoding_CLTE) {
  ExpectReject(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nG",
      400);
}

TEST(ParserSmugglingTest, RejectsTransferEncodingWithContentLength_TECL) {
  ExpectReject(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
      "8\r\nSMUGGLED\r\n0\r\n\r\n",
      400);
}

TEST(ParserSmugglingTest, RejectsObfuscatedTransferEncoding_TETE) {
  const char* kBad400[] = {
      "Transfer-Encoding: chunked, identity",
      "Transfer-Encoding: identity",
      "Transfer-Encoding: chunked, chunked",
      "Transfer-Encoding: xchunked",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
      "Transfer-Encoding: \"chunked\"",
      "Transfer-Encoding: chunk",
      "Transfer-Encoding:",
  };
  for (const char* te : kBad400) {
    ExpectReject(std::string("POST / HTTP/1.1\r\nHost: h\r\n") + te + "\r\n\r\n0\r\n\r\n", 400);
  }
  // Whitespace before the colon and obs-fold continuation are malformed, not ignorable.
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n",
               400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", 400);
  // A real but unsupported coding before chunked: 501 (RFC 9112 6.1).
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
               501);
}

TEST(ParserSmugglingTest, AcceptsChunkedWithOwsAndCase) {
  // "\tchunked" is OWS + chunked: legal and unambiguous.
  Outcome o =
      Req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tCHUNKED \r\n\r\n1\r\nx\r\n0\r\n\r\n");
  ASSERT_FALSE(o.error) << o.error->message;
  EXPECT_EQ(o.messages[0].body, "x");
}

TEST(ParserSmugglingTest, RejectsTransferEncodingInHttp10) {
  ExpectReject("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

TEST(ParserSmugglingTest, RejectsDuplicateOrInvalidContentLength) {
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
               400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
               400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400);
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
               400);
}

TEST(ParserSmugglingTest, RejectsMissingOrDuplicateHost) {
  ExpectReject("GET / HTTP/1.1\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

TEST(ParserSmugglingTest, RejectsBadChunkSizes) {
  auto chunked = [](std::string body) {
    return "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
  };
  ExpectReject(chunked("g\r\nx\r\n0\r\n\r\n"), 400);
  ExpectReject(chunked("\r\n0\r\n\r\n"), 400);
  ExpectReject(chunked("-1\r\nx\r\n0\r\n\r\n"), 400);
  ExpectReject(chunked("0x1\r\nx\r\n0\r\n\r\n"), 400);
  ExpectReject(chunked("1 1\r\nx\r\n0\r\n\r\n"), 400);
  ExpectReject(chunked("10000000000000000\r\nx\r\n0\r\n\r\n"), 400);  // 2^64: overflows
  ExpectReject(chunked("3\r\nabcd\r\n0\r\n\r\n"), 400);               // data longer than size
  ExpectReject(chunked("3\nabc\r\n0\r\n\r\n"), 400);                  // bare LF
  ExpectReject(chunked("3\rabc\r\n0\r\n\r\n"), 400);                  // bare CR
  ExpectReject(chunked("3\r\nabc\n0\r\n\r\n"), 400);                  // data ended by bare LF
  ExpectReject(chunked("3;a\x01\r\nabc\r\n0\r\n\r\n"), 400);          // CTL in extension
  ExpectReject(chunked("3;" + std::string(5000, 'a') + "\r\nabc\r\n0\r\n\r\n"), 400);
  ExpectReject(chunked(std::string(5000, '0') + "3\r\nabc\r\n0\r\n\r\n"), 400);
}

TEST(ParserSmugglingTest, RejectsBadTrailers) {
  std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  ExpectReject(head + "0\r\nBad Name: x\r\n\r\n", 400);
  ExpectReject(head + "0\r\n folded\r\n\r\n", 400);
  ExpectReject(head + "0\r\nA: b\nC: d\r\n\r\n", 400);
}

// --- line syntax ------------------------------------------------------------------------

TEST(ParserSyntaxTest, RequiresCrlf) {
  ExpectReject("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
  ExpectReject("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(ParserSyntaxTest, RejectsLfOnlyHeadBeforeItEnds) {
  // "\n\n" never forms CRLFCRLF: the parser must not wait for more bytes.
  Parser p(MessageKind::kRequest);
  auto step = p.Feed("GET / HTTP/1.1\nHost: h\n\n");
  ASSERT_FALSE(step);
  EXPECT_EQ(step.error().status, 400);
}

TEST(ParserSyntaxTest, RejectsObsFold) {
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400);
}

TEST(ParserSyntaxTest, RejectsInvalidMethodAndFieldNames) {
  ExpectReject("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX@Y: z\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX\x7f: z\r\n\r\n", 400);
}

TEST(ParserSyntaxTest, RejectsControlCharactersInValues) {
  static constexpr char kNul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
  ExpectReject(std::string(kNul, sizeof(kNul) - 1), 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b b\r\n\r\n", 400);
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400);
  // obs-text and HTAB are allowed.
  EXPECT_FALSE(Req("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\tok\r\n\r\n").error);
}

TEST(ParserSyntaxTest, RejectsUnsupportedVersions) {
  ExpectReject("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
  ExpectReject("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
  ExpectReject("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
  ExpectReject("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
  ExpectReject("GET /\r\n\r\n", 400);
}

// --- limits -----------------------------------------------------------------------------

TEST(ParserLimitsTest, RequestLineTooLongIs414) {
  ParserLimits limits;
  limits.max_request_line_bytes = 64;
  ExpectReject("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, limits);
  // Detected before the line ends, so a client cannot make us buffer without bound.
  Outcome o = Drive(MessageKind::kRequest, "GET /" + std::string(100, 'a'), 0, limits);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->status, 414);
  // Exactly at the limit passes.
  std::string line = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 64u);
  EXPECT_FALSE(Req(line + "\r\nHost: h\r\n\r\n", limits).error);
}

TEST(ParserLimitsTest, HeaderSectionTooLargeIs431) {
  ParserLimits limits;
  limits.max_header_bytes = 256;
  ExpectReject("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(300, 'v') + "\r\n\r\n", 431,
               limits);
  Outcome o =
      Drive(MessageKind::kRequest, "GET / HTTP/1.1\r\nX: " + std::string(300, 'v'), 0, limits);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->status, 431);
}

TEST(ParserLimitsTest, TooManyHeadersIs431) {
  ParserLimits limits;
  limits.max_headers = 5;
  std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 5; ++i) wire += "X" + std::to_string(i) + ": v\r\n";
  ExpectReject(wire + "\r\n", 431, limits);
}

TEST(ParserLimitsTest, BodyTooLargeIs413) {
  ParserLimits limits;
  limits.max_body_bytes = 10;
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", 413, limits);
  ExpectReject(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n"
      "5\r\nabcde\r\n0\r\n\r\n",
      413, limits);
  EXPECT_FALSE(
      Req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits).error);
}

TEST(ParserLimitsTest, TrailerSectionTooLargeIs431) {
  ParserLimits limits;
  limits.max_header_bytes = 128;
  ExpectReject("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " +
                   std::string(200, 'x') + "\r\n\r\n",
               431, limits);
}

TEST(ParserTest, StaysFailedAfterAnError) {
  Parser p(MessageKind::kRequest);
  ASSERT_FALSE(p.Feed("BAD LINE\r\n\r\n"));
  auto again = p.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().status, 400);
  p.Reset();
  EXPECT_TRUE(p.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
}

TEST(ParserTest, FinishReportsTruncation) {
  Outcome o =
      Drive(MessageKind::kRequest, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", 0,
            {}, "GET", true);
  ASSERT_TRUE(o.error);
  EXPECT_FALSE(o.finished_clean);
  Outcome clean =
      Drive(MessageKind::kRequest, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, {}, "GET", true);
  EXPECT_FALSE(clean.error);
  EXPECT_EQ(clean.messages.size(), 1u);
}

// --- responses --------------------------------------------------------------------------

TEST(ResponseParserTest, ParsesContentLengthAndChunked) {
  Outcome o = RunAllWays(MessageKind::kResponse,
                         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
                         "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n0\r\n\r\n");
  ASSERT_FALSE(o.error) << o.error->message;
  ASSERT_EQ(o.messages.size(), 2u);
  EXPECT_EQ(o.messages[0].status, 200);
  EXPECT_EQ(o.messages[0].reason, "OK");
  EXPECT_EQ(o.messages[0].body, "hi");
  EXPECT_EQ(o.messages[1].status, 201);
  EXPECT_EQ(o.messages[1].body, "abc");
}

TEST(ResponseParserTest, ReadsUntilCloseWithoutFraming) {
  for (size_t piece : {0, 1, 3}) {
    Outcome o =
        Drive(MessageKind::kResponse, "HTTP/1.1 200 OK\r\n\r\nall of it", piece, {}, "GET", true);
    ASSERT_FALSE(o.error);
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_EQ(o.messages[0].framing, BodyFraming::kUntilClose);
    EXPECT_FALSE(o.messages[0].keep_alive);
    EXPECT_EQ(o.messages[0].body, "all of it");
  }
}

TEST(ResponseParserTest, NoBodyForHeadAnd204And304And1xx) {
  Outcome head =
      Drive(MessageKind::kResponse,
            "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 0, {}, "HEAD");
  ASSERT_FALSE(head.error);
  EXPECT_EQ(head.messages.size(), 2u);
  EXPECT_EQ(head.messages[0].framing, BodyFraming::kNone);
  Outcome o = RunAllWays(MessageKind::kResponse,
                         "HTTP/1.1 100 Continue\r\n\r\n"
                         "HTTP/1.1 204 No Content\r\n\r\n"
                         "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
                         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.messages.size(), 4u);
  EXPECT_EQ(o.messages[3].body, "z");
}

TEST(ResponseParserTest, AcceptsEmptyReason) {
  auto r = ParseResponse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(ParseResponse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"));
}

TEST(ResponseParserTest, ErrorsAre502) {
  for (std::string_view bad : {
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 099 Low\r\n\r\n",
           "HTTP/3.0 200 OK\r\n\r\n",
           "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       }) {
    Outcome o = Drive(MessageKind::kResponse, bad);
    ASSERT_TRUE(o.error) << bad;
    EXPECT_EQ(o.error->status, 502) << bad;
  }
}

TEST(ResponseParserTest, ResponseBodyLimit) {
  ParserLimits limits;
  limits.max_body_bytes = 4;
  Outcome o =
      Drive(MessageKind::kResponse, "HTTP/1.1 200 OK\r\n\r\n123456", 0, limits, "GET", true);
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->status, 502);
}

// --- helpers ----------------------------------------------------------------------------

TEST(FillRequestTest, SplitsAndDecodesTarget) {
  auto r = ParseRequest("GET /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/a b/c");
  EXPECT_EQ(r->query, "x=1&y=%41");
  EXPECT_EQ(r->QueryParam("y"), "A");
  auto abs = ParseRequest("GET http://host:80/p?q HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(abs);
  EXPECT_EQ(abs->path, "/p");
  EXPECT_EQ(abs->query, "q");
  auto bad = ParseRequest("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().status, 400);
}

TEST(FillRequestTest, ParseRequestRoundTripsSerialize) {
  Request req;
  req.method = "PUT";
  req.target = "/v1/kv/a";
  req.headers.Add("Host", "example");
  req.body = "payload";
  size_t consumed = 0;
  std::string wire = Serialize(req);
  auto back = ParseRequest(wire, {}, &consumed);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(consumed, wire.size());
  EXPECT_EQ(back->method, "PUT");
  EXPECT_EQ(back->body, "payload");
  EXPECT_EQ(back->headers.Get("content-length"), "7");
}

}  // namespace
}  // namespace berth::http
