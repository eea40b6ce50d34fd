// The registry's DNS server: UDP and TCP (RFC 7766: two-byte length prefix, several queries
// per connection, idle timeout) on the same port, on a caller's Asio io_context. Answers
// come from an Answerer (see answerer.h).
// Thread-safety: Listen/Start/Stop from one thread; the io_context may run on any threads.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/error.h"
#include "registry/dns/answerer.h"

namespace berth::registry::dns {

struct DnsServerOptions {
  std::string address = "127.0.0.1:8600";  // UDP and TCP; port 0 picks a free one (same for both)
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  size_t max_tcp_connections = 512;
};

class DnsServer {
 public:
  static Result<std::unique_ptr<DnsServer>> Listen(asio::io_context& io, Answerer& answerer,
                                                   DnsServerOptions options = {});
  virtual ~DnsServer() = default;
  virtual void Start() = 0;
  // Closes the sockets; pending handlers finish on the io_context. Idempotent.
  virtual void Stop() = 0;
  virtual uint16_t port() const = 0;
};

}  // namespace berth::registry::dns
