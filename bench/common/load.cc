// Drive: a closed-loop HTTP load generator as light as wrk-class ones, so that the CPU it
// takes from the cores it shares with the servers it measures stays small and alike for
// every server. One thread multiplexes every connection with level-triggered epoll:
// non-blocking sockets with TCP_NODELAY, each request serialized once into the
// connection's reused buffer and written with one `send`, each answer read into a reused
// buffer by a minimal reader (status line, Content-Length, chunked bodies, a body until
// close), one `recv` per readiness event. Plus RSS and base64 helpers.
#include "common/load.h"

#include <fmt/core.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace berth::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kInitialBuffer = 16 * 1024;
constexpr size_t kMaxAnswer = 64 * 1024 * 1024;
constexpr auto kReconnectDelay = std::chrono::milliseconds(10);  // after a failed connect

// Where `base` ("http://host:port") points, and its Host header.
struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string host;
};

std::optional<Target> Resolve(const std::string& base) {
  std::string_view rest = base;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  std::string host(authority), port = "80";
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(authority.substr(1, close - 1));
    if (close + 2 < authority.size()) port = std::string(authority.substr(close + 2));
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  Target t;
  std::memcpy(&t.addr, found->ai_addr, found->ai_addrlen);
  t.len = found->ai_addrlen;
  freeaddrinfo(found);
  t.host = std::string(authority);
  return t;
}

bool Bodyless(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "DELETE" || method == "OPTIONS";
}

// `request` on the wire (as http::Serialize writes it, plus Host) into `out`, reused.
void SerializeInto(const http::Request& request, const std::string& host, std::string& out) {
  out.clear();
  std::string_view method = request.method.empty() ? "GET" : request.method;
  out.append(method).push_back(' ');
  if (!request.target.empty()) {
    out.append(request.target);
  } else {
    out.append(request.path.empty() ? "/" : request.path);
    if (!request.query.empty()) out.append("?").append(request.query);
  }
  out.append(" HTTP/1.1\r\n");
  if (!request.headers.Has("Host")) out.append("Host: ").append(host).append("\r\n");
  for (const auto& f : request.headers.fields()) {
    if (http::EqualsIgnoreCase(f.name, "Content-Length")) continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!request.body.empty() || !Bodyless(method)) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof(digits), request.body.size()).ptr;
    out.append("Content-Length: ").append(digits, end).append("\r\n");
  }
  out.append("\r\n").append(request.body);
}

// Whether `value` contains `token`, ASCII case-insensitively.
bool ContainsIgnoreCase(std::string_view value, std::string_view token) {
  for (size_t i = 0; i + token.size() <= value.size(); ++i) {
    if (http::EqualsIgnoreCase(value.substr(i, token.size()), token)) return true;
  }
  return false;
}

enum class Framing { kLength, kChunked, kUntilClose };
enum class ChunkStage { kSize, kData, kTrailer };
enum class Parsed { kMore, kDone, kBad };

struct Conn {
  int fd = -1;
  uint64_t generation = 0;  // bumped when the socket is closed
  int client = 0;
  int64_t next = 0;              // the next operation's number
  bool connecting = false;       // waiting for a non-blocking connect
  bool writing = false;          // part of the request still to send (EPOLLOUT armed)
  bool in_flight = false;        // a request sent or being sent, its answer not complete
  Clock::time_point retry_at{};  // when set (not epoch): reconnect then
  std::string out;
  size_t out_sent = 0;
  std::unique_ptr<char[]> in;
  size_t cap = 0;
  size_t used = 0;
  // The answer being read.
  size_t scanned = 0;  // the head's end was not found before this offset
  size_t body = 0;     // where the body starts; 0 while the head is incomplete
  int status = 0;
  bool close_after = false;
  Framing framing = Framing::kLength;
  size_t end = 0;  // kLength: where the answer ends
  ChunkStage stage = ChunkStage::kSize;
  size_t pos = 0;  // kChunked: where parsing continues

  void ResetAnswer() {
    scanned = body = end = pos = 0;
    status = 0;
    close_after = false;
    framing = Framing::kLength;
    stage = ChunkStage::kSize;
  }
};

// Parses the head in c.in[0, c.body): status, framing, Connection: close.
bool ParseHead(Conn& c) {
  std::string_view head(c.in.get(), c.body - 2);  // through the last field's CRLF
  if (head.size() < 12 || !head.starts_with("HTTP/1.")) return false;
  int status = 0;
  auto [p, ec] = std::from_chars(head.data() + 9, head.data() + 12, status);
  if (ec != std::errc() || p != head.data() + 12) return false;
  c.status = status;
  c.close_after = head[7] == '0';  // HTTP/1.0 closes unless told otherwise
  std::optional<size_t> length;
  bool chunked = false;
  size_t line = head.find("\r\n") + 2;
  while (line < head.size()) {
    size_t eol = head.find("\r\n", line);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view field = head.substr(line, eol - line);
    line = eol + 2;
    size_t colon = field.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = field.substr(0, colon), value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (http::EqualsIgnoreCase(name, "Content-Length")) {
      size_t n = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size()) return false;
      length = n;
    } else if (http::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      chunked = ContainsIgnoreCase(value, "chunked");
    } else if (http::EqualsIgnoreCase(name, "Connection")) {
      if (ContainsIgnoreCase(value, "close")) c.close_after = true;
      if (ContainsIgnoreCase(value, "keep-alive")) c.close_after = false;
    }
  }
  if (status / 100 == 1 || status == 204 || status == 304) {
    c.framing = Framing::kLength;
    c.end = c.body;
  } else if (chunked) {
    c.framing = Framing::kChunked;
    c.pos = c.body;
  } else if (length) {
    c.framing = Framing::kLength;
    c.end = c.body + *length;
  } else {
    c.framing = Framing::kUntilClose;
    c.close_after = true;
  }
  return true;
}

// Advances the answer in c.in[0, c.used); on kDone, c.end is where it ends.
Parsed ParseAnswer(Conn& c) {
  std::string_view in(c.in.get(), c.used);
  if (c.body == 0) {
    size_t from = c.scanned > 3 ? c.scanned - 3 : 0;
    size_t found = in.find("\r\n\r\n", from);
    if (found == std::string_view::npos) {
      c.scanned = c.used;
      return Parsed::kMore;
    }
    c.body = found + 4;
    if (!ParseHead(c)) return Parsed::kBad;
  }
  switch (c.framing) {
    case Framing::kLength:
      return c.used >= c.end ? Parsed::kDone : Parsed::kMore;
    case Framing::kUntilClose:
      return Parsed::kMore;  // done at EOF
    case Framing::kChunked:
      for (;;) {
        if (c.stage == ChunkStage::kData) {
          if (c.used < c.end + 2) return Parsed::kMore;
          if (in[c.end] != '\r' || in[c.end + 1] != '\n') return Parsed::kBad;
          c.pos = c.end + 2;
          c.stage = ChunkStage::kSize;
          continue;
        }
        size_t eol = in.find("\r\n", c.pos);
        if (eol == std::string_view::npos) return Parsed::kMore;
        if (c.stage == ChunkStage::kTrailer) {
          if (eol == c.pos) {  // the empty line after the last chunk
            c.end = eol + 2;
            return Parsed::kDone;
          }
          c.pos = eol + 2;
          continue;
        }
        size_t size = 0;
        auto r = std::from_chars(in.data() + c.pos, in.data() + eol, size, 16);
        if (r.ec != std::errc() || (r.ptr != in.data() + eol && *r.ptr != ';' && *r.ptr != ' ')) {
          return Parsed::kBad;
        }
        c.pos = eol + 2;
        if (size == 0) {
          c.stage = ChunkStage::kTrailer;
        } else {
          c.end = c.pos + size;
          c.stage = ChunkStage::kData;
        }
      }
  }
  return Parsed::kBad;
}

class Driver {
 public:
  Driver(const Target& target, const Load& load, const MakeRequest& make)
      : target_(target), make_(make), conns_(static_cast<size_t>(std::max(0, load.clients))) {
    for (size_t i = 0; i < conns_.size(); ++i) conns_[i].client = static_cast<int>(i);
  }
  ~Driver() {
    for (auto& c : conns_) Close(c);
    if (epoll_ >= 0) ::close(epoll_);
  }

  // Runs until `deadline`; answers not complete by then are not counted.
  bool Run(Clock::time_point deadline) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return false;
    for (auto& c : conns_) Connect(c);
    std::vector<epoll_event> events(std::max<size_t>(16, conns_.size()));
    for (;;) {
      auto now = Clock::now();
      if (now >= deadline) break;
      auto wake = deadline;
      for (auto& c : conns_) {
        if (c.retry_at == Clock::time_point{}) continue;
        if (c.retry_at <= now) {
          c.retry_at = {};
          Connect(c);
        } else {
          wake = std::min(wake, c.retry_at);
        }
      }
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                         static_cast<int>(std::max<int64_t>(0, wait)));
      if (n < 0 && errno != EINTR) return false;
      if (Clock::now() >= deadline) break;  // what arrived after the end does not count
      for (int k = 0; k < n; ++k) OnEvent(conns_[events[k].data.u32], events[k].events);
    }
    return true;
  }

  int64_t done() const { return done_; }
  int64_t failed() const { return failed_; }
  const std::map<int, int64_t>& statuses() const { return statuses_; }

 private:
  void Close(Conn& c) {
    if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    ++c.generation;
    c.connecting = c.writing = c.in_flight = false;
    c.used = 0;
    c.ResetAnswer();
  }

  void Connect(Conn& c) {
    c.fd = ::socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return Retry(c);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!c.in) {
      c.cap = kInitialBuffer;
      c.in = std::make_unique<char[]>(c.cap);
    }
    int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len);
    c.connecting = rc != 0;
    if (rc != 0 && errno != EINPROGRESS) return Retry(c);
    epoll_event ev{.events = c.connecting ? uint32_t{EPOLLOUT} : uint32_t{EPOLLIN},
                   .data = {.u32 = static_cast<uint32_t>(c.client)}};
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return Retry(c);
    if (!c.connecting) Start(c);
  }

  // A connect failed: counted, and tried again a little later.
  void Retry(Conn& c) {
    ++failed_;
    Close(c);
    c.retry_at = Clock::now() + kReconnectDelay;
  }

  // The operation in flight failed (or the connection under it): counted; a new connection.
  void Fail(Conn& c) {
    ++failed_;
    Close(c);
    Connect(c);
  }

  void Watch(Conn& c, uint32_t events) {
    epoll_event ev{.events = events, .data = {.u32 = static_cast<uint32_t>(c.client)}};
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Sends operation `c.next` of this connection.
  void Start(Conn& c) {
    SerializeInto(make_(c.client, c.next++), target_.host, c.out);
    c.out_sent = 0;
    c.in_flight = true;
    Send(c);
  }

  void Send(Conn& c) {
    while (c.out_sent < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.writing) Watch(c, EPOLLIN | EPOLLOUT);
        c.writing = true;
        return;
      }
      return Fail(c);
    }
    if (c.writing) Watch(c, EPOLLIN);
    c.writing = false;
  }

  void OnEvent(Conn& c, uint32_t events) {
    if (c.fd < 0) return;
    if (c.connecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return Retry(c);
      c.connecting = false;
      Watch(c, EPOLLIN);
      return Start(c);
    }
    if ((events & EPOLLOUT) && c.writing) {
      uint64_t generation = c.generation;
      Send(c);
      if (c.generation != generation) return;  // failed (and maybe already reconnecting)
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(c);
  }

  void Read(Conn& c) {
    if (c.cap - c.used < 4096) {
      if (c.cap >= kMaxAnswer) return Fail(c);
      auto bigger = std::make_unique<char[]>(c.cap * 2);
      std::memcpy(bigger.get(), c.in.get(), c.used);
      c.in = std::move(bigger);
      c.cap *= 2;
    }
    ssize_t n = ::recv(c.fd, c.in.get() + c.used, c.cap - c.used, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return Fail(c);
    }
    if (n == 0) {  // the server closed: the end of a body-until-close answer, or a failure
      if (c.in_flight && c.body != 0 && c.framing == Framing::kUntilClose) {
        c.end = c.used;
        return Complete(c);
      }
      return Fail(c);
    }
    c.used += static_cast<size_t>(n);
    for (;;) {
      switch (ParseAnswer(c)) {
        case Parsed::kMore:
          return;
        case Parsed::kBad:
          return Fail(c);
        case Parsed::kDone:
          if (c.status / 100 == 1) {  // an interim answer: the real one follows
            Consume(c);
            continue;
          }
          return Complete(c);
      }
    }
  }

  // Drops the answer in c.in[0, c.end), keeping what follows it.
  void Consume(Conn& c) {
    size_t rest = c.used - c.end;
    if (rest > 0) std::memmove(c.in.get(), c.in.get() + c.end, rest);
    c.used = rest;
    c.ResetAnswer();
  }

  void Complete(Conn& c) {
    if (!c.in_flight) return Fail(c);  // an answer nobody asked for
    ++(c.status / 100 == 2 ? done_ : failed_);
    if (c.status / 100 != 2) ++statuses_[c.status];
    c.in_flight = false;
    bool close = c.close_after;
    Consume(c);
    if (close || c.used > 0) {
      Close(c);
      return Connect(c);
    }
    Start(c);
  }

  const Target& target_;
  const MakeRequest& make_;
  std::vector<Conn> conns_;
  int epoll_ = -1;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  std::map<int, int64_t> statuses_;  // non-2xx answers by status
};

}  // namespace

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

double SelfCpuSeconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

double Drive(const std::string& base, const Load& load, const MakeRequest& make, int64_t* errors,
             DriveStats* stats) {
  DriveStats s;
  auto target = Resolve(base);
  double cpu0 = SelfCpuSeconds();
  auto start = Clock::now();
  if (target) {
    Driver driver(*target, load, make);
    if (!driver.Run(start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(load.seconds)))) {
      fmt::print(stderr, "load driver: epoll: {}\n", std::strerror(errno));
    }
    s.ops = driver.done();
    s.errors = driver.failed();
    s.statuses = driver.statuses();
  } else {
    fmt::print(stderr, "load driver: cannot resolve {}\n", base);
    s.errors = load.clients;
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  s.cpu_seconds = SelfCpuSeconds() - cpu0;
  if (errors) *errors = s.errors;
  if (stats) *stats = s;
  return s.seconds > 0 ? static_cast<double>(s.ops) / s.seconds : 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void RaiseFdLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
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
