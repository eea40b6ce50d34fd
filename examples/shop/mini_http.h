// A deliberately tiny HTTP/1.1 server and client for the demo services, so they link
// statically with nothing but libc and the C++ runtime and fit in a one-layer image.
// One thread per connection, keep-alive, Content-Length bodies. Not for Berth itself
// (that is src/core/http); only for the example app.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace shop {

struct Request {
  std::string method, path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

inline std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

inline std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads one request from `fd` into `req`, using `buf` for bytes read ahead. False on EOF or
// a malformed request.
inline bool ReadRequest(int fd, std::string& buf, Request& req) {
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 64 * 1024) return false;
    char tmp[8192];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, n);
  }
  std::string head = buf.substr(0, end);
  buf.erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  req = Request{};
  req.method = line.substr(0, sp1);
  req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string h = head.substr(pos, e - pos);
    size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string v = h.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      req.headers[Lower(h.substr(0, colon))] = v;
    }
    pos = e + 2;
  }
  size_t len = 0;
  if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
    len = std::strtoul(it->second.c_str(), nullptr, 10);
    if (len > (1 << 20)) return false;
  }
  while (buf.size() < len) {
    char tmp[8192];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, n);
  }
  req.body = buf.substr(0, len);
  buf.erase(0, len);
  return true;
}

inline const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

inline bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += n;
  }
  return true;
}

// Serves on 0.0.0.0:port, calling `handler` per request, until SIGTERM: then it exits at
// once, as many real services do (Berth takes an instance out of the registry and the
// gateway before it sends SIGTERM, so no request is lost).
inline int Serve(int port, const std::function<Response(const Request&)>& handler) {
  std::signal(SIGTERM, [](int) { ::_exit(0); });
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1024) != 0) {
    std::perror("listen");
    return 1;
  }
  std::printf("listening on :%d\n", port);
  std::fflush(stdout);
  for (;;) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([c, &handler] {
      std::string buf;
      Request req;
      while (ReadRequest(c, buf, req)) {
        Response resp = handler(req);
        bool close = Lower(req.headers["connection"]) == "close";
        std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + Reason(resp.status) +
                          "\r\nContent-Type: " + resp.content_type +
                          "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                          (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + resp.body;
        if (!SendAll(c, out) || close) break;
      }
      ::close(c);
    }).detach();
  }
}

// GET http://host:port/path with Connection: close (host: an IPv4 literal or localhost);
// returns status (0 on failure) and body.
inline int Get(const std::string& url, std::string* body) {
  if (url.rfind("http://", 0) != 0) return 0;
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  std::string host = hostport.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  // IPv4 literals and "localhost" only: a static binary in a one-file image has no resolver
  // (glibc's getaddrinfo needs the NSS libraries the image does not hold), and the agent hands
  // out the gateway's address as a literal.
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(std::atoi(port.c_str())));
  if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &target.sin_addr) != 1) {
    return 0;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{.tv_sec = 3, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int ok = ::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target);
  if (ok != 0) {
    ::close(fd);
    return 0;
  }
  std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: " + hostport + "\r\nConnection: close\r\n\r\n";
  if (!SendAll(fd, req)) {
    ::close(fd);
    return 0;
  }
  std::string resp;
  char tmp[8192];
  ssize_t n;
  while ((n = ::recv(fd, tmp, sizeof tmp, 0)) > 0) resp.append(tmp, n);
  ::close(fd);
  size_t sp = resp.find(' ');
  size_t hdr_end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos) return 0;
  if (body) *body = resp.substr(hdr_end + 4);
  return std::atoi(resp.c_str() + sp + 1);
}

}  // namespace shop
