// DNS wire format, the small part the registry's DNS server needs (RFC 1035, RFC 2782 SRV,
// RFC 6891 EDNS0 OPT): parse a query with bounds checks on every read, build a response
// with name compression and truncation (TC) when it does not fit.
// Thread-safety: pure functions over plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace berth::registry::dns {

namespace type {
inline constexpr uint16_t kA = 1;
inline constexpr uint16_t kNs = 2;
inline constexpr uint16_t kCname = 5;
inline constexpr uint16_t kSoa = 6;
inline constexpr uint16_t kTxt = 16;
inline constexpr uint16_t kAaaa = 28;
inline constexpr uint16_t kSrv = 33;
inline constexpr uint16_t kOpt = 41;
inline constexpr uint16_t kAny = 255;
}  // namespace type

inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassAny = 255;
inline constexpr size_t kHeaderBytes = 12;
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxLabelBytes = 63;
inline constexpr size_t kClassicUdpBytes = 512;

enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

struct Question {
  std::string name;  // lower-case, labels joined by '.', no trailing dot ("" for the root)
  uint16_t type = 0;
  uint16_t klass = 0;
};

struct Query {
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool rd = false;
  Question question;
  bool edns = false;           // an OPT record was present
  uint16_t edns_udp_size = 0;  // requestor's UDP payload size (from OPT)
};

struct ParseResult {
  enum class Kind {
    kQuery,  // `query` is valid
    kError,  // answer with `rcode` (FORMERR, NOTIMP), echoing `id`
    kDrop,   // not worth an answer (too short to have an id, or a response)
  };
  Kind kind = Kind::kDrop;
  Query query;
  Rcode rcode = Rcode::kFormErr;
  std::string error;  // why, for logs and tests
};

// Parses a DNS query message.
ParseResult ParseQuery(std::span<const uint8_t> message);

struct Record {
  std::string name;
  uint16_t type = type::kA;
  uint32_t ttl = 0;
  uint32_t a = 0;                               // kA: IPv4 in host order
  uint16_t priority = 0, weight = 0, port = 0;  // kSrv
  std::string target;                           // kSrv
};

struct Response {
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool rd = false;
  bool aa = true;
  Rcode rcode = Rcode::kNoError;
  std::optional<Question> question;
  std::vector<Record> answers;
  std::vector<Record> additional;
  bool edns = false;  // add an OPT record (when the query had one)
  uint16_t edns_udp_size = 1232;
};

// Serializes `response`; if it would exceed `max_bytes`, keeps as many whole answers as fit,
// drops the additional section and sets TC.
std::vector<uint8_t> BuildResponse(const Response& response, size_t max_bytes);

// Helpers shared with the server and tests.
std::string EncodeIpv4Hex(uint32_t ip);  // 10.0.0.1 -> "0a000001"
std::optional<uint32_t> ParseIpv4(std::string_view text);

}  // namespace berth::registry::dns
