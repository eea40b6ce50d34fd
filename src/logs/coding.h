// Byte encodings shared by the log store's files: little-endian fixed-width integers,
// LEB128 varints, zig-zag for signed deltas, and CRC-32C (hardware instruction when the CPU
// has SSE4.2, a table otherwise) over each framed record.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace berth::logs {

inline void PutFixed32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}
inline void PutFixed64(std::string& out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline void PutVarint(std::string& out, uint64_t v) {
  char b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out.append(b, n);
}
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ (v >> 63); }
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Reads a varint from the front of `in` and advances it; nullopt when truncated or too long.
inline std::optional<uint64_t> GetVarint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift <= 63 && !in.empty(); shift += 7) {
    auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  return std::nullopt;
}

// Appends a varint length and the bytes.
inline void PutLengthPrefixed(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}
inline std::optional<std::string_view> GetLengthPrefixed(std::string_view& in) {
  auto n = GetVarint(in);
  if (!n || *n > in.size()) return std::nullopt;
  std::string_view s = in.substr(0, *n);
  in.remove_prefix(*n);
  return s;
}

// CRC-32C (Castagnoli), the checksum of every framed record in the log store's files.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

// Frames `payload` as [u32 length][u32 crc32c(payload)][payload] and appends it to `out`.
void AppendFramed(std::string& out, std::string_view payload);
// Reads one framed record from the front of `in`: the payload and advances, nullopt at a
// clean end; `torn` is set when the rest is not a whole, intact record (torn write or
// corruption), which recovery cuts off.
std::optional<std::string_view> ReadFramed(std::string_view& in, bool& torn);
inline constexpr size_t kFrameHeader = 8;

}  // namespace berth::logs
