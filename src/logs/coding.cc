#include "logs/coding.h"

#include <array>

namespace berth::logs {
namespace {

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = MakeTable();

uint32_t Crc32cTable(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (unsigned char ch : data) crc = kTable[(crc ^ ch) & 0xff] ^ (crc >> 8);
  return ~crc;
}

__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(std::string_view data, uint32_t crc) {
  uint64_t c = ~crc;
  const char* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, static_cast<unsigned char>(*p++));
  return ~c32;
}

}  // namespace

uint32_t Crc32c(std::string_view data, uint32_t crc) {
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  return hardware ? Crc32cHardware(data, crc) : Crc32cTable(data, crc);
}

void AppendFramed(std::string& out, std::string_view payload) {
  PutFixed32(out, static_cast<uint32_t>(payload.size()));
  PutFixed32(out, Crc32c(payload));
  out.append(payload);
}

std::optional<std::string_view> ReadFramed(std::string_view& in, bool& torn) {
  torn = false;
  if (in.empty()) return std::nullopt;
  if (in.size() < kFrameHeader) {
    torn = true;
    return std::nullopt;
  }
  uint32_t len = DecodeFixed32(in.data());
  uint32_t crc = DecodeFixed32(in.data() + 4);
  if (len > in.size() - kFrameHeader) {
    torn = true;
    return std::nullopt;
  }
  std::string_view payload = in.substr(kFrameHeader, len);
  if (Crc32c(payload) != crc) {
    torn = true;
    return std::nullopt;
  }
  in.remove_prefix(kFrameHeader + len);
  return payload;
}

}  // namespace berth::logs
