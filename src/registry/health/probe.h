// One health probe of one instance: its result, and the probes the checker runs on an Asio
// io_context without a thread of their own. Each probe calls `done` exactly once, on an
// io_context thread, within about its timeout.
//
// Verdicts: HTTP 2xx/3xx passing, 429 warning, anything else (or no answer) critical. TCP
// connect passing, else critical. Exec exit 0 passing, 1 warning, else critical (the Nagios
// convention Consul also uses).
// Thread-safety: start probes from any thread; `done` runs on the io_context.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "registry/model.h"

namespace berth::registry::health {

struct ProbeResult {
  Health status = Health::kCritical;
  std::string output;  // short reason: "HTTP 200", "connect: Connection refused", "timeout"
};

using ProbeDone = std::function<void(ProbeResult)>;

// GET `url` (http:// only for now), one request per connection ("Connection: close").
void RunHttpProbe(asio::io_context& io, const std::string& url, std::chrono::milliseconds timeout,
                  ProbeDone done);
// Connects to "host:port".
void RunTcpProbe(asio::io_context& io, const std::string& host_port,
                 std::chrono::milliseconds timeout, ProbeDone done);

// Runs a check command for an instance. berthd's only implementation runs it inside the
// instance's container (container_exec_runner.h); tests use testing::LocalExecRunner.
class ExecRunner {
 public:
  virtual ~ExecRunner() = default;
  virtual void Run(const Instance& instance, const std::vector<std::string>& argv,
                   std::chrono::milliseconds timeout, ProbeDone done) = 0;
};

}  // namespace berth::registry::health
