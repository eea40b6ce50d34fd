// A real upstream for the gateway's integration tests and benchmark: one thread per
// connection, blocking sockets, Berth's strict parser. It answers every request with a text
// body listing what it received (method, target, headers, body size), so tests can check what
// the gateway forwarded, and it logs each request to --log, so tests can check what never
// arrived. Query parameters steer it:
//   status=N       answer with status N
//   delay_ms=N     wait before answering
//   size=N         answer with N bytes of 'x' instead of the listing
//   chunked=1      answer with a chunked body
//   wait_file=P    (with chunked) send a first chunk, wait until file P exists, then the rest
//   echo=1         answer with the request body
//   close=1        close the connection after answering
//   exit=1         exit at once without answering (a crashing upstream)
// An Upgrade request gets 101 and then every byte echoed back (WebSocket passthrough test).
//   upstream_server --port N --name NAME [--log FILE] [--fail-file FILE]
// (--port 0 prints the chosen port; while FILE exists every answer is 503.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "core/http/parser.h"

namespace {

std::string g_name = "upstream";
std::string g_fail_file;  // while this file exists, every answer is 503
std::mutex g_log_mu;
FILE* g_log = nullptr;

void Log(const std::string& line) {
  if (!g_log) return;
  std::lock_guard lock(g_log_mu);
  std::fprintf(g_log, "%s\n", line.c_str());
  std::fflush(g_log);
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto kv = query.substr(0, amp);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name)
      return eq == std::string_view::npos ? "1" : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

void Serve(int fd) {
  berth::http::Parser parser(berth::http::MessageKind::kRequest);
  std::string buf;
  char tmp[65536];
  size_t off = 0;
  for (;;) {
    // Read one request (head + body).
    std::string method, target, listing, body;
    bool echo = false, upgrade = false, have_head = false, complete = false, body_started = false;
    uint64_t body_bytes = 0;
    while (!complete) {
      std::string_view in(buf.data() + off, buf.size() - off);
      auto step = parser.Feed(in);
      if (!step) {
        Log("BAD " + step.error().message);
        std::string resp =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        SendAll(fd, resp);
        ::close(fd);
        return;
      }
      off += step->consumed;
      if (step->event == berth::http::ParseEvent::kHead) {
        const auto& h = parser.head();
        method = h.method;
        target = h.target;
        have_head = true;
        upgrade = h.upgrade;
        echo = Param(target, "echo") == "1";
        Log("REQ " + method + " " + target);
        if (Param(target, "exit") == "1") _exit(1);
        listing = "name=" + g_name + "\nmethod=" + method + "\ntarget=" + target + "\n";
        for (const auto& f : h.headers) {
          listing += std::string(f.name) + ": " + std::string(f.value) + "\n";
        }
        continue;
      }
      if (step->event == berth::http::ParseEvent::kBody) {
        if (!body_started) {
          body_started = true;
          Log("BODYSTART");
        }
        body_bytes += step->body.size();
        if (echo) body.append(step->body);
        continue;
      }
      if (step->event == berth::http::ParseEvent::kComplete) {
        complete = true;
        break;
      }
      // kNeedMore
      if (off == buf.size()) {
        buf.clear();
        off = 0;
      }
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    (void)have_head;
    Log("DONE " + method + " " + target + " body=" + std::to_string(body_bytes));
    listing += "body-bytes=" + std::to_string(body_bytes) + "\n";

    if (upgrade) {
      SendAll(
          fd,
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      if (off < buf.size()) SendAll(fd, std::string_view(buf).substr(off));
      for (;;) {
        ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) break;
        if (!SendAll(fd, std::string_view(tmp, static_cast<size_t>(n)))) break;
      }
      ::close(fd);
      return;
    }
    if (auto d = Param(target, "delay_ms"); !d.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(d.c_str())));
    }
    int status = 200;
    if (auto s = Param(target, "status"); !s.empty()) status = std::atoi(s.c_str());
    struct stat fail_st;
    if (!g_fail_file.empty() && ::stat(g_fail_file.c_str(), &fail_st) == 0) status = 503;
    std::string payload = echo ? body : listing;
    if (auto s = Param(target, "size"); !s.empty())
      payload.assign(std::strtoull(s.c_str(), nullptr, 10), 'x');
    const bool close_after = Param(target, "close") == "1";
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " +
                       std::string(berth::http::ReasonPhrase(status)) +
                       "\r\nX-Upstream: " + g_name + "\r\nContent-Type: text/plain\r\n";
    if (close_after) head += "Connection: close\r\n";
    bool ok = true;
    if (Param(target, "chunked") == "1") {
      head += "Transfer-Encoding: chunked\r\n\r\n";
      ok = SendAll(fd, head);
      const std::string wait_file = Param(target, "wait_file");
      size_t pos = 0;
      bool first = true;
      while (ok && pos < payload.size()) {
        size_t n = std::min<size_t>(4096, payload.size() - pos);
        char size_line[32];
        std::snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
        ok = SendAll(fd, size_line) && SendAll(fd, std::string_view(payload).substr(pos, n)) &&
             SendAll(fd, "\r\n");
        pos += n;
        if (first && !wait_file.empty()) {
          struct stat st;
          for (int i = 0; i < 60000 && ::stat(wait_file.c_str(), &st) != 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }
        first = false;
      }
      if (ok) ok = SendAll(fd, "0\r\n\r\n");
    } else {
      if (method != "HEAD" && status != 204 && status != 304) {
        head += "Content-Length: " + std::to_string(payload.size()) + "\r\n";
      }
      head += "\r\n";
      if (method != "HEAD") head += payload;
      ok = SendAll(fd, head);
    }
    if (!ok || close_after || !parser.head().keep_alive) {
      ::close(fd);
      return;
    }
    if (off == buf.size()) {
      buf.clear();
      off = 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port")
      port = std::atoi(argv[i + 1]);
    else if (a == "--name")
      g_name = argv[i + 1];
    else if (a == "--log")
      g_log = std::fopen(argv[i + 1], "a");
    else if (a == "--fail-file")
      g_fail_file = argv[i + 1];
  }
  signal(SIGPIPE, SIG_IGN);
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(ls, 1024) != 0) {
    std::perror("upstream_server: bind/listen");
    return 1;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("port %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(ls, nullptr, nullptr);
    if (fd < 0) continue;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::thread(Serve, fd).detach();
  }
}
