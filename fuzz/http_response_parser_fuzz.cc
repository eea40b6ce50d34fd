// Fuzzes the HTTP/1.1 response parser. The first byte picks the piece size and whether the
// response answers a HEAD, a CONNECT or a GET.
#include <cstddef>
#include <cstdint>

#include "http_parser_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 16;
  const char* methods[] = {"GET", "HEAD", "CONNECT", "POST"};
  const char* method = methods[(data[0] >> 4) % 4];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  berth::http::fuzz::RunBoth(berth::http::MessageKind::kResponse, method, input, piece);
  auto one = berth::http::ParseResponse(input, method);
  (void)one;
  return 0;
}
