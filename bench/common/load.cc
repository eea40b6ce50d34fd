#include "common/load.h"

#include <fmt/core.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "core/http/client.h"

namespace berth::bench {

double SelfCpuSeconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

double Drive(const std::string& base, const Load& load, const MakeRequest& make, int64_t* errors,
             DriveStats* stats) {
  double cpu0 = SelfCpuSeconds();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0}, failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < load.clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = http::Client::Create(base);
      if (!client) {
        failed.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      for (int64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto r = (*client)->Send(make(c, i));
        auto& counter = (r && r->status / 100 == 2) ? done : failed;
        counter.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(load.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (errors) *errors = failed.load();
  if (stats) {
    *stats = {.ops = done.load(),
              .errors = failed.load(),
              .seconds = elapsed,
              .cpu_seconds = SelfCpuSeconds() - cpu0};
  }
  return static_cast<double>(done.load()) / elapsed;
}

int64_t RssKb(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::string Base64(std::string_view in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kTable[(v >> shift) & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 0) return out;
  uint32_t v = uint8_t(in[i]) << 16;
  if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
  out += kTable[v >> 18];
  out += kTable[(v >> 12) & 63];
  out += rest == 2 ? kTable[(v >> 6) & 63] : '=';
  out += '=';
  return out;
}

}  // namespace berth::bench
