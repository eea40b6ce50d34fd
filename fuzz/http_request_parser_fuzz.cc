// Fuzzes the HTTP/1.1 request parser: any input, fed whole and in pieces (the first byte
// picks the piece size), must give the same events, bodies and errors, and no crash.
#include <cstddef>
#include <cstdint>

#include "http_parser_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 16;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  berth::http::fuzz::RunBoth(berth::http::MessageKind::kRequest, "GET", input, piece);
  auto one = berth::http::ParseRequest(input);
  (void)one;
  return 0;
}
