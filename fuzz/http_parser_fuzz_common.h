// Shared driver for the HTTP parser fuzzers: feeds the input whole and again in pieces,
// checks the parser's contract on every step and that both runs agree.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/http/parser.h"

namespace berth::http::fuzz {

struct Trace {
  std::string events;  // one letter per event, plus the error status
  std::string bodies;
  std::string raw_after_head;
};

inline void Check(bool ok) {
  if (!ok) std::abort();
}

inline Trace Drive(MessageKind kind, std::string_view method, std::string_view input,
                   size_t piece) {
  ParserLimits limits;
  limits.max_request_line_bytes = 512;
  limits.max_header_bytes = 2048;
  limits.max_headers = 20;
  limits.max_body_bytes = 1 << 16;
  Parser parser(kind, limits);
  parser.SetRequestMethod(method);
  Trace t;
  std::string pending;
  size_t fed = 0;
  bool in_body = false;
  for (;;) {
    size_t take = piece == 0 ? input.size() - fed : std::min(piece, input.size() - fed);
    pending.append(input.substr(fed, take));
    fed += take;
    std::string_view in = pending;
    for (;;) {
      auto step = parser.Feed(in);
      if (!step) {
        Check(step.error().status >= 400 && step.error().status < 600);
        Check(!step.error().message.empty());
        t.events += "E" + std::to_string(step.error().status);
        return t;
      }
      Check(step->consumed <= in.size());
      std::string_view used = in.substr(0, step->consumed);
      in.remove_prefix(step->consumed);
      if (in_body) t.raw_after_head.append(used);
      switch (step->event) {
        case ParseEvent::kNeedMore:
          Check(in.empty());
          break;
        case ParseEvent::kHead: {
          const MessageHead& h = parser.head();
          Check(h.raw.size() >= 4 && h.raw.substr(h.raw.size() - 4) == "\r\n\r\n");
          if (kind == MessageKind::kRequest) Check(!h.method.empty() && !h.target.empty());
          t.events += "H";
          in_body = true;
          break;
        }
        case ParseEvent::kBody:
          Check(!step->body.empty());
          Check(step->body.data() >= used.data() &&
                step->body.data() + step->body.size() <= used.data() + used.size());
          t.bodies.append(step->body);
          t.events += "B";
          break;
        case ParseEvent::kComplete:
          t.events += "C";
          in_body = false;
          break;
      }
      if (step->event == ParseEvent::kNeedMore) break;
    }
    pending.erase(0, pending.size() - in.size());
    if (fed == input.size()) break;
  }
  auto fin = parser.Finish();
  t.events += fin ? (fin->event == ParseEvent::kComplete ? "F" : "I") : "X";
  return t;
}

// Letters in `events` differ between runs only in how many B's a body took.
inline std::string Squash(const std::string& events) {
  std::string out;
  for (char c : events) {
    if (c == 'B' && !out.empty() && out.back() == 'B') continue;
    out.push_back(c);
  }
  return out;
}

inline void RunBoth(MessageKind kind, std::string_view method, std::string_view input,
                    size_t piece) {
  Trace whole = Drive(kind, method, input, 0);
  Trace split = Drive(kind, method, input, piece);
  // Acceptance and every event before an error must not depend on segmentation; the status
  // of an error may (a bare LF can be seen before or after a request-line error).
  std::string a = Squash(whole.events), b = Squash(split.events);
  Check(a.substr(0, a.find('E')) == b.substr(0, b.find('E')));
  Check(whole.bodies == split.bodies);
  // Bytes consumed before an error may differ with the piece size; otherwise all must agree.
  if (whole.events.find('E') == std::string::npos) {
    Check(whole.raw_after_head == split.raw_after_head);
  }
}

}  // namespace berth::http::fuzz
