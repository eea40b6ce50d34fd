// Watch fan-out over HTTP streams, shared by the benches that measure it (bench/registry,
// bench/config): a fleet of streaming connections on one io_context thread, each carrying
// one or many watches, recording per round when each watcher's delivery line arrives.
// Header-only; used from a bench's main thread (the fleet's reads run on its own thread).
#pragma once

#include <fmt/core.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/load.h"

namespace berth::bench {

// One shape of watchers: `connections` streaming HTTP requests, each carrying
// `per_connection` watches (1: a connection per watcher; more: a multiplexed stream).
struct Shape {
  std::vector<std::string> requests;  // one per connection (raw HTTP/1.1)
  std::vector<int> watches;           // per connection: how many watches it carries
  std::string marker;                 // a line with it is one watcher's delivery
  std::string created_marker;         // a line with it confirms one watch (empty: the headers do)
};

// The connections of a shape on one io_context thread. Decodes the chunked bodies into
// lines and records, per round, when each watcher's line arrives after Arm().
class StreamFleet {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StreamFleet(int port, Shape shape) : port_(port), shape_(std::move(shape)) {
    conns_.resize(shape_.requests.size());
  }
  ~StreamFleet() { Close(); }

  int watchers() const {
    int n = 0;
    for (int w : shape_.watches) n += w;
    return n;
  }
  bool Open(std::chrono::seconds deadline) {
    for (size_t i = 0; i < conns_.size(); ++i) {
      conns_[i] = std::make_unique<Conn>(io_);
      conns_[i]->watches = shape_.watches[i];
      Connect(i);
    }
    thread_ = std::thread([this] { io_.run(); });
    auto end = Clock::now() + deadline;
    while (Clock::now() < end) {
      if (ready_ == watchers()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  int ready() const { return ready_; }
  // Bytes read from every connection so far (headers and chunk framing included).
  int64_t bytes() const { return bytes_; }
  // Starts a round: every watcher's next delivery counts.
  void Arm(Clock::time_point t0) {
    std::lock_guard lock(mu_);
    t0_ = t0;
    arrivals_.clear();
    ++round_;
  }
  // Waits until every watcher has its delivery this round; returns arrival offsets (ms).
  std::vector<double> Collect(std::chrono::seconds deadline) {
    auto end = Clock::now() + deadline;
    while (Clock::now() < end) {
      {
        std::lock_guard lock(mu_);
        if (static_cast<int>(arrivals_.size()) >= ready_) return arrivals_;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    std::lock_guard lock(mu_);
    return arrivals_;
  }
  void Close() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    conns_.clear();
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    asio::ip::tcp::socket socket;
    std::array<char, 65536> buf{};
    std::string head;  // until the header section is complete
    bool in_body = false;
    // Chunked decoding: reading a size line, or `left` bytes of data, then its CRLF.
    std::string size_line;
    size_t left = 0;
    int crlf = 0;  // CRLF bytes still to skip after a chunk's data
    std::string line;
    int watches = 1;
    int seen_round = 0;
    int seen = 0;  // deliveries in round seen_round
  };
  void Connect(size_t i) {
    Conn& c = *conns_[i];
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_));
    c.socket.async_connect(ep, [this, i](const asio::error_code& ec) {
      if (ec) return;
      asio::async_write(conns_[i]->socket, asio::buffer(shape_.requests[i]),
                        [this, i](const asio::error_code& ec, size_t) {
                          if (!ec) Read(i);
                        });
    });
  }
  void OnLine(Conn& c, std::string_view line, Clock::time_point now) {
    if (line.find(shape_.marker) == std::string::npos) {
      if (!shape_.created_marker.empty() && line.find(shape_.created_marker) != std::string::npos) {
        ++ready_;
      }
      return;
    }
    std::lock_guard lock(mu_);
    if (round_ == 0) return;
    if (c.seen_round != round_) {
      c.seen_round = round_;
      c.seen = 0;
    }
    if (c.seen >= c.watches) return;
    ++c.seen;
    arrivals_.push_back(std::chrono::duration<double, std::milli>(now - t0_).count());
  }
  void OnBody(Conn& c, std::string_view data, Clock::time_point now) {
    while (!data.empty()) {
      if (c.crlf > 0) {
        data.remove_prefix(1);
        --c.crlf;
        continue;
      }
      if (c.left == 0) {  // a chunk-size line
        size_t nl = data.find('\n');
        c.size_line.append(data.substr(0, nl));
        if (nl == std::string_view::npos) return;
        data.remove_prefix(nl + 1);
        c.left = std::strtoul(c.size_line.c_str(), nullptr, 16);
        c.size_line.clear();
        if (c.left == 0) c.crlf = 2;  // the last chunk (unexpected here)
        continue;
      }
      size_t n = std::min(c.left, data.size());
      std::string_view piece = data.substr(0, n);
      data.remove_prefix(n);
      c.left -= n;
      if (c.left == 0) c.crlf = 2;
      while (!piece.empty()) {
        size_t nl = piece.find('\n');
        if (nl == std::string_view::npos) {
          c.line.append(piece);  // the rest of this line comes later
          break;
        }
        if (c.line.empty()) {
          OnLine(c, piece.substr(0, nl), now);  // a whole line in place, no copy
        } else {
          c.line.append(piece.substr(0, nl));
          OnLine(c, c.line, now);
          c.line.clear();
        }
        piece.remove_prefix(nl + 1);
      }
    }
  }
  void Read(size_t i) {
    Conn& c = *conns_[i];
    c.socket.async_read_some(asio::buffer(c.buf), [this, i](const asio::error_code& ec, size_t n) {
      if (ec) return;
      auto now = Clock::now();
      bytes_ += static_cast<int64_t>(n);
      Conn& c = *conns_[i];
      std::string_view data(c.buf.data(), n);
      if (!c.in_body) {
        c.head.append(data);
        auto end = c.head.find("\r\n\r\n");
        if (end != std::string::npos) {
          c.in_body = true;
          if (shape_.created_marker.empty()) ready_ += c.watches;
          std::string rest = c.head.substr(end + 4);
          c.head.clear();
          OnBody(c, rest, now);
        }
      } else {
        OnBody(c, data, now);
      }
      Read(i);
    });
  }

  int port_;
  Shape shape_;
  asio::io_context io_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::thread thread_;
  std::atomic<int> ready_{0};
  std::atomic<int64_t> bytes_{0};
  std::mutex mu_;
  Clock::time_point t0_;
  int round_ = 0;
  std::vector<double> arrivals_;
};

struct FanOut {
  std::vector<double> last;  // per round: ms until the last watcher had it
  std::vector<double> all;   // every delivery
  int missing = 0;
  double rss_per_watcher_bytes = 0;
  int64_t bytes = 0;  // read by every watcher over the rounds (after the watches opened)
};

// Opens the shape's watches, measures the server's resident growth per watch, then runs
// `rounds` changes (`change(round)`) and collects when each watcher's delivery arrived.
inline FanOut RunFanOut(int port, pid_t server_pid, Shape shape, int rounds,
                        const std::function<void(int round)>& change) {
  FanOut out;
  int64_t rss0 = RssKb(server_pid);
  StreamFleet fleet(port, std::move(shape));
  if (!fleet.Open(std::chrono::seconds(120))) {
    fmt::print(stderr, "only {} of {} watches opened\n", fleet.ready(), fleet.watchers());
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let the server settle
  int64_t rss1 = RssKb(server_pid);
  out.rss_per_watcher_bytes =
      static_cast<double>(rss1 - rss0) * 1024.0 / std::max(1, fleet.ready());
  const int64_t bytes0 = fleet.bytes();
  for (int r = 1; r <= rounds; ++r) {
    auto t0 = StreamFleet::Clock::now();
    fleet.Arm(t0);
    change(r);
    auto arrivals = fleet.Collect(std::chrono::seconds(30));
    out.missing += fleet.ready() - static_cast<int>(arrivals.size());
    if (!arrivals.empty()) out.last.push_back(*std::max_element(arrivals.begin(), arrivals.end()));
    out.all.insert(out.all.end(), arrivals.begin(), arrivals.end());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the round's tail drains
  }
  out.bytes = fleet.bytes() - bytes0;
  fleet.Close();
  return out;
}

}  // namespace berth::bench
