// Helpers shared by the HTTP benches (bench/store, bench/registry): a closed-loop load
// driver over keep-alive connections, a process's resident memory, and the base64 that
// etcd's JSON gateway wants for keys and values.
//
// The driver runs on the same cores as the servers it measures, so it is built to cost
// little CPU per request (one thread multiplexing every connection with epoll, one `send`
// and usually one `recv` per request, a minimal answer reader; see load.cc) and reports
// what it cost: whatever it takes is taken alike from every server it drives.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/message.h"

namespace berth::bench {

struct Load {
  int clients = 32;
  double seconds = 5;
};

// Builds the request for operation `i` of client `c`.
using MakeRequest = std::function<http::Request(int c, int64_t i)>;

// What one Drive measured.
struct DriveStats {
  int64_t ops = 0;                  // completed operations (2xx answers)
  int64_t errors = 0;               // failed operations and connection errors
  std::map<int, int64_t> statuses;  // of the failed operations answered: how many per status
  double seconds = 0;               // the measured time
  double cpu_seconds = 0;  // user + system CPU of this process (the load generator) meanwhile
  // µs of load-generator CPU per completed operation (0 when none completed).
  double CpuUsPerOp() const { return ops > 0 ? cpu_seconds * 1e6 / static_cast<double>(ops) : 0; }
};

// A closed loop over `load.clients` keep-alive connections to `base` ("http://host:port"),
// each with exactly one request in flight, for `load.seconds`: operation i of connection c
// is `make(c, i)`, sent when the answer to operation i-1 is complete. All connections are
// multiplexed on the calling thread. Returns completed operations per second (only 2xx
// answers count; answers still in flight at the end do not); a non-2xx answer, a malformed
// one or a connection error counts as failed, and a failed connection is replaced by a new
// one. Stores the failures in `*errors` and the whole measurement in `*stats` when given.
// `make` is called on the calling thread only.
double Drive(const std::string& base, const Load& load, const MakeRequest& make,
             int64_t* errors = nullptr, DriveStats* stats = nullptr);

// User + system CPU seconds this process has used so far (getrusage(RUSAGE_SELF)).
double SelfCpuSeconds();

// The machine's 1, 5 and 15 minute load averages ("0.52 0.61 0.70"), from /proc/loadavg.
std::string LoadAverage();

// VmRSS of `pid` in KiB, or -1 when it cannot be read.
int64_t RssKb(pid_t pid);

// The p-quantile (0..1) of `v` by nearest rank; 0 for an empty `v`.
double Percentile(std::vector<double> v, double p);

// Raises this process's open-files soft limit to its hard limit (watch benches hold many).
void RaiseFdLimit();

// Standard base64 with padding (RFC 4648 §4).
std::string Base64(std::string_view in);

}  // namespace berth::bench
