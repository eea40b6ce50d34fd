// Feeds arbitrary bytes to the log center's parsers: the first byte picks one (a LogQL query,
// a Loki JSON push, a snappy protobuf push, a stack-trace record, an access record), the rest
// is its input. Beyond "no crash": a query error names its position ("line L, col C"), a push
// error names the element; a parsed trace has a language and a type, and its fingerprint is
// 16 hex digits; an access record has a route and a duration that is a number.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "logs/analysis/exceptions.h"
#include "logs/analysis/routes.h"
#include "logs/logql/parser.h"
#include "logs/push.h"

namespace {

using namespace berth::logs;

void Must(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      if (auto q = logql::Parse(text); !q) {
        Must(q.error().message.find("col ") != std::string::npos ||
             q.error().message.find("query") != std::string::npos);
      }
      break;
    case 1:
      if (auto p = DecodePushJson(text); p) {
        for (const auto& s : p->streams) Must(!s.labels.Canonical().empty());
      } else {
        Must(!p.error().message.empty());
      }
      break;
    case 2:
      if (auto p = DecodePushProtobuf(text); !p) Must(!p.error().message.empty());
      break;
    case 3:
      if (auto t = analysis::ParseStackTrace(text)) {
        Must(!t->language.empty() && !t->type.empty());
        Must(analysis::Fingerprint(*t).size() == 16);
        analysis::ExceptionGroups g;
        Must(g.Add(text, 1, "i"));
      }
      (void)analysis::MaskVariables(text);
      break;
    case 4:
      if (auto r = analysis::ReadAccessRecord(text, [](std::string_view) { return ""; })) {
        Must(!r->route.empty() && !std::isnan(r->duration_ms));
      }
      break;
  }
  return 0;
}
