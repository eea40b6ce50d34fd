// A fixed-size read buffer of one connection, taken from its worker's pool while in use (an
// idle keep-alive connection holds none). Bytes live in [begin, end); reads append at the
// end, consumers advance begin. Thread-safety: that of its owner (one worker thread).
#pragma once

#include <asio/buffer.hpp>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace berth::gateway::server {

inline constexpr size_t kIoBufferSize = 16 * 1024;

struct IoBuffer {
  std::unique_ptr<char[]> data;
  size_t begin = 0;
  size_t end = 0;

  std::string_view view() const { return {data.get() + begin, end - begin}; }
  size_t size() const { return end - begin; }
  bool empty() const { return begin == end; }
  void Consume(size_t n) {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  // Free space at the end, compacting first when the tail is full.
  char* WritePtr() { return data.get() + end; }
  size_t WriteSpace() {
    if (end == kIoBufferSize && begin > 0) {
      std::memmove(data.get(), data.get() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    return kIoBufferSize - end;
  }
  // The free space as one buffer for a read. WriteSpace() may compact (moving the data and
  // `end`), so the pointer is taken after it: never `buffer(WritePtr(), WriteSpace())`, whose
  // argument order is unspecified.
  asio::mutable_buffer ReadInto() {
    const size_t space = WriteSpace();
    return {WritePtr(), space};
  }
};

}  // namespace berth::gateway::server
