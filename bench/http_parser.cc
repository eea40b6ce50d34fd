// bench/http_parser: parses a typical proxied request head (~700 bytes, 14 fields), a
// chunked upload and a pipelined batch with core/http's Parser, and prints throughput beside
// a floor measured in the same run: memmem for "\r\n\r\n" over the same bytes, the least
// any head parser must do. (No third-party HTTP parser is installed to compare against;
// picohttpparser publishes ~1-2 GB/s for similar heads on modern x86.)
// Output: `name value unit` lines. Flags: --iterations N.
#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/http/parser.h"

namespace {

using berth::http::MessageKind;
using berth::http::ParseEvent;
using berth::http::Parser;
using Clock = std::chrono::steady_clock;

const std::string kHead =
    "GET /api/v1/namespaces/default/services/checkout/instances?watch=true&revision=12345 "
    "HTTP/1.1\r\n"
    "Host: gateway.berth.local:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; tz=Europe/Berlin\r\n"
    "Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl\r\n"
    "X-Request-Id: 7f9c2ba4-e88f-4b2a-9d3c-1a2b3c4d5e6f\r\n"
    "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"
    "X-Forwarded-Proto: https\r\n"
    "Cache-Control: no-cache\r\n"
    "Pragma: no-cache\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "\r\n";

[[noreturn]] void Die(const std::string& why) {
  fmt::print(stderr, "parse failed: {}\n", why);
  std::exit(1);
}

template <typename Fn>
double SecondsFor(Fn&& fn) {
  auto start = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  size_t iterations = 1'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::stoul(argv[i + 1]);
  }
  volatile size_t sink = 0;

  // Heads, one parser reused as on a keep-alive connection.
  Parser parser(MessageKind::kRequest);
  double parse_s = SecondsFor([&] {
    for (size_t i = 0; i < iterations; ++i) {
      auto head = parser.Feed(kHead);
      auto done = parser.Feed({});
      if (!head || !done) Die(head ? done.error().message : head.error().message);
      sink = sink + head->consumed + parser.head().headers.size() + (done ? 1 : 0);
    }
  });
  double floor_s = SecondsFor([&] {
    for (size_t i = 0; i < iterations; ++i) {
      const void* p = memmem(kHead.data(), kHead.size(), "\r\n\r\n", 4);
      sink = sink + static_cast<size_t>(static_cast<const char*>(p) - kHead.data());
    }
  });
  double mb = static_cast<double>(kHead.size() * iterations) / 1e6;
  fmt::print("http_parser_head_requests_per_second {:.0f} req/s\n", iterations / parse_s);
  fmt::print("http_parser_head_throughput {:.0f} MB/s\n", mb / parse_s);
  fmt::print("floor_memmem_crlfcrlf_throughput {:.0f} MB/s\n", mb / floor_s);
  fmt::print("http_parser_head_vs_floor_ratio {:.2f} x\n", parse_s / floor_s);

  // Chunked body: 64 KiB in 4 KiB chunks, decoded.
  std::string chunked = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string piece(4096, 'x');
  for (int i = 0; i < 16; ++i) chunked += fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
  chunked += "0\r\n\r\n";
  size_t body_iterations = iterations / 50 + 1;
  double chunk_s = SecondsFor([&] {
    for (size_t i = 0; i < body_iterations; ++i) {
      std::string_view in = chunked;
      for (;;) {
        auto step = parser.Feed(in);
        if (!step) Die(step.error().message);
        in.remove_prefix(step->consumed);
        sink = sink + step->body.size();
        if (step->event == ParseEvent::kComplete) break;
      }
    }
  });
  fmt::print("http_parser_chunked_framing_throughput_no_copy {:.0f} MB/s\n",
             static_cast<double>(chunked.size() * body_iterations) / 1e6 / chunk_s);

  // Pipelined: 16 small requests per buffer.
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += fmt::format("GET /r/{} HTTP/1.1\r\nHost: h\r\n\r\n", i);
  size_t batch_iterations = iterations / 16 + 1;
  double pipe_s = SecondsFor([&] {
    for (size_t i = 0; i < batch_iterations; ++i) {
      std::string_view in = batch;
      while (!in.empty()) {
        auto step = parser.Feed(in);
        if (!step) Die(step.error().message);
        in.remove_prefix(step->consumed);
        sink = sink + 1;
      }
      parser.Feed({});
    }
  });
  fmt::print("http_parser_pipelined_requests_per_second {:.0f} req/s\n",
             16.0 * batch_iterations / pipe_s);
  return sink == 0 ? 1 : 0;
}
