// bench/registry: the service registry against etcd, same load, one run.
//
//   build/release/bench/bench_registry [--seconds 5] [--clients 32] [--watchers 10000]
//                                      [--rounds 20] [--streams 100] [--per-connection 1]
//                                      [--inproc 1] [--ops 1] [--fanout 1]
//
// The control plane runs in a child process (this binary with `serve`): the sqlite store
// (durable), the registry, its REST API. The parent drives it over HTTP, and etcd (started
// here on loopback ports with a temp data dir) over its JSON gateway, with the same clients:
// - registrations/s: PUT /v1/registry/... (each a real change) vs etcd PUT of a same-sized
//   value;
// - lookups/s: GET a 10-instance service vs an etcd prefix range over 10 keys;
// - watch fan-out: N watchers of one service (vs N etcd watches of a prefix); one change;
//   the time until the last watcher has it, per round (p50, p99), and over every delivery.
//   Two shapes: the watchers multiplexed over `--streams` connections (POST
//   /v1/registry:watch; etcd: that many create requests in one /v3/watch body, which its
//   gateway decodes one after another onto one gRPC stream), and one connection per watcher;
// - resident memory growth of the control plane per watcher (vs etcd's).
// Also the in-process fan-out (N Registry::Watch subscriptions, no HTTP), and the CPU per
// operation of the servers and of the load generator (this process, on the same cores:
// `*_client_cpu_us_per_op`, alike for both sides).
// Output: `name value unit` lines and the ratios.
#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "api/api_server.h"
#include "api/registry_endpoints.h"
#include "common/load.h"
#include "common/stream_fleet.h"
#include "core/http/client.h"
#include "core/json.h"
#include "core/log.h"
#include "harness/harness.h"
#include "registry/component.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/sqlite/sqlite_store.h"

using berth::bench::Base64;
using berth::bench::Drive;
using berth::bench::DriveStats;
using berth::bench::FanOut;
using berth::bench::MakeRequest;
using berth::bench::Percentile;
using berth::bench::RaiseFdLimit;
using berth::bench::RssKb;
using berth::bench::RunFanOut;
using berth::bench::Shape;
using berth::testing::EtcdCluster;
using berth::testing::Process;
using berth::testing::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

struct Load : berth::bench::Load {
  int watchers = 10000;
  int rounds = 20;
  // Connections the watchers share in the multiplexed shape: 100 × 100 watches, as 100
  // client processes (gateways, sidecars) each watching 100 services over one stream.
  int streams = 100;
  bool per_connection = true;  // also the one-connection-per-watcher shape
  bool inproc = true;          // the in-process figures
  bool fanout = true;          // the fan-out figures
  bool ops = true;             // registrations/s and lookups/s over HTTP
};

void Line(const std::string& name, double value, const std::string& unit) {
  fmt::print("{} {} {}\n", name,
             value >= 100 ? fmt::format("{:.0f}", value) : fmt::format("{:.3g}", value), unit);
  std::fflush(stdout);
}

// User + system CPU seconds a process has used so far (/proc/<pid>/stat), -1 if unknown.
double CpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  double utime = -1, stime = -1;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state; utime is 14, stime 15
    if (i == 14) utime = std::atof(f.c_str());
    if (i == 15) {
      stime = std::atof(f.c_str());
      break;
    }
  }
  if (utime < 0 || stime < 0) return -1;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---- the control plane (child process) ------------------------------------------------

int Serve(const std::string& dir, const std::string& info_file) {
  RaiseFdLimit();
  berth::log::Configure(berth::log::Level::kWarn, false);
  signal(SIGPIPE, SIG_IGN);
  berth::SystemClock clock;
  auto store = berth::store::OpenSqliteStore(dir + "/store.db", {}, clock);
  if (!store) {
    fmt::print(stderr, "store: {}\n", store.error().message);
    return 1;
  }
  berth::security::TokenService tokens(**store, clock);
  berth::security::AuditLog audit(**store, clock);
  auto token = tokens.Create("bench", {.role = berth::security::Role::kAdmin}, "bench");
  auto component = berth::registry::Component::Start(**store, clock, {.dns_address = ""});
  if (!component) {
    fmt::print(stderr, "registry: {}\n", component.error().message);
    return 1;
  }
  berth::api::Router router;
  berth::api::RegisterRegistryEndpoints(router, (*component)->registry(), (*component)->io(),
                                        (*component)->blocking());
  auto api = berth::api::ApiServer::Start({.address = "127.0.0.1:0", .threads = 2},
                                          {.tokens = &tokens, .audit = &audit, .clock = &clock},
                                          std::move(router));
  if (!api) {
    fmt::print(stderr, "api: {}\n", api.error().message);
    return 1;
  }
  {
    std::ofstream out(info_file + ".tmp");
    out << (*api)->port() << "\n" << token->secret << "\n";
  }
  std::rename((info_file + ".tmp").c_str(), info_file.c_str());
  // Until the parent closes our stdin... or kills us.
  for (;;) pause();
}

// ---- load ------------------------------------------------------------------------------

std::string RegistrationBody(int64_t i) {
  return fmt::format(
      R"({{"address":"10.{}.{}.{}","port":{},"tags":["v1","bench"],"metadata":{{"zone":"a"}}}})",
      (i >> 16) & 255, (i >> 8) & 255, i & 255, 1 + i % 60000);
}

// ---- watch fan-out over HTTP streams: common/stream_fleet.h --------------------------

// `watchers` spread over `streams` connections as evenly as possible: how many on stream i.
int WatchesOnStream(int watchers, int streams, int i) {
  return watchers / streams + (i < watchers % streams ? 1 : 0);
}

// In-process registrations/s (no HTTP): `clients` threads calling Registry::Register.
void InProcessRegistrations(const Load& load, const TempDir& dir, bool durable) {
  berth::SystemClock clock;
  auto store = berth::store::OpenSqliteStore(dir.Sub(durable ? "reg-durable.db" : "reg-fast.db"),
                                             {.durable = durable}, clock);
  if (!store) return;
  berth::registry::Registry reg(**store, clock);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < load.clients; ++c) {
    threads.emplace_back([&, c] {
      for (int64_t i = 0; !stop; ++i) {
        berth::registry::Instance in;
        in.service = fmt::format("svc{}", c);
        in.id = fmt::format("i{}", i % 500);
        in.address = "10.0.0.1";
        in.port = static_cast<uint32_t>(1 + i % 60000);
        if (reg.Register(in)) ++done;
      }
    });
  }
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(load.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  Line(durable ? "registry_inproc_registrations_per_sec"
               : "registry_inproc_registrations_nosync_per_sec",
       static_cast<double>(done) / secs, "ops/s");
}

// In-process fan-out: N Registry::Watch subscriptions over a sqlite store.
void InProcessFanOut(const Load& load, const TempDir& dir) {
  berth::SystemClock clock;
  auto store = berth::store::OpenSqliteStore(dir.Sub("inproc.db"), {}, clock);
  if (!store) return;
  berth::registry::Registry reg(**store, clock);
  berth::registry::Instance in;
  in.service = "fan";
  in.id = "seed";
  in.address = "10.0.0.1";
  in.port = 1;
  (void)reg.Register(in);
  std::mutex mu;
  std::vector<double> arrivals;
  Clock::time_point t0;
  int64_t rss0 = RssKb(getpid());
  std::vector<std::unique_ptr<berth::registry::Subscription>> subs;
  subs.reserve(static_cast<size_t>(load.watchers));
  for (int i = 0; i < load.watchers; ++i) {
    auto s = reg.Watch("default", "fan", 0, [&](berth::registry::WatchBatch&&) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      std::lock_guard lock(mu);
      arrivals.push_back(ms);
    });
    subs.push_back(std::move(*s));
  }
  int64_t rss1 = RssKb(getpid());
  std::vector<double> last;
  for (int r = 1; r <= load.rounds; ++r) {
    {
      std::lock_guard lock(mu);
      arrivals.clear();
      t0 = Clock::now();
    }
    in.port = static_cast<uint32_t>(r + 1);
    (void)reg.Register(in);
    for (int spin = 0; spin < 30000; ++spin) {
      {
        std::lock_guard lock(mu);
        if (arrivals.size() >= subs.size()) break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::lock_guard lock(mu);
    if (!arrivals.empty()) last.push_back(*std::max_element(arrivals.begin(), arrivals.end()));
  }
  Line("registry_inproc_fanout_last_p50", Percentile(last, 0.5), "ms");
  Line("registry_inproc_fanout_last_p99", Percentile(last, 0.99), "ms");
  Line("registry_inproc_rss_per_watcher", static_cast<double>(rss1 - rss0) * 1024.0 / load.watchers,
       "bytes");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && !std::strcmp(argv[1], "serve")) return Serve(argv[2], argv[3]);
  Load load;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) load.seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--clients")) load.clients = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--watchers")) load.watchers = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) load.rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--streams")) load.streams = std::max(1, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--per-connection")) load.per_connection = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--inproc")) load.inproc = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--fanout")) load.fanout = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--ops")) load.ops = std::atoi(argv[i + 1]);
  }
  RaiseFdLimit();
  signal(SIGPIPE, SIG_IGN);
  berth::log::Configure(berth::log::Level::kWarn, false);
  TempDir dir("bench-registry");
  fmt::print("# clients {} seconds {} watchers {} rounds {} streams {}\n", load.clients,
             load.seconds, load.watchers, load.rounds, load.streams);

  if (load.inproc) {
    InProcessRegistrations(load, dir, true);
    InProcessRegistrations(load, dir, false);
    InProcessFanOut(load, dir);
  }
  if (getenv("BENCH_INPROC_ONLY")) return 0;

  // The control plane, in its own process so its memory is its own.
  std::string info = dir.Sub("serve.info");
  char self[4096] = {};
  ssize_t self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string exe = self_len > 0 ? std::string(self, static_cast<size_t>(self_len)) : argv[0];
  auto server = Process::Start("berth-registry", {exe, "serve", dir.MakeSubdir("cp"), info});
  if (!berth::testing::WaitFor([&] { return std::ifstream(info).good(); })) {
    fmt::print(stderr, "control plane did not start:\n{}\n", server->Logs());
    return 1;
  }
  int port = 0;
  std::string token;
  {
    std::ifstream in(info);
    in >> port >> token;
  }
  std::string base = fmt::format("http://127.0.0.1:{}", port);
  EtcdCluster etcd;
  if (!etcd.Start(1)) {
    fmt::print(stderr, "etcd: {}\n", etcd.error());
    return 1;
  }
  std::string ebase = etcd.ClientEndpoint(0);
  int eport = etcd.ClientPort(0);
  pid_t epid = etcd.member_process(0)->Pid();

  if (load.ops) {
    // Registrations vs puts.
    int64_t err1 = 0, err2 = 0;
    DriveStats reg_stats, put_stats, lookup_stats, range_stats;
    const pid_t cp_pid = server->Pid();
    double cpu0 = CpuSeconds(cp_pid);
    double reg = Drive(
        base, load,
        [&](int c, int64_t i) {
          berth::http::Request r;
          r.method = "PUT";
          r.target = fmt::format("/v1/registry/bench/svc{}/i{}", c, i % 500);
          r.headers.Set("Authorization", "Bearer " + token);
          r.headers.Set("Content-Type", "application/json");
          r.body = RegistrationBody(i);
          return r;
        },
        &err1, &reg_stats);
    double cpu1 = CpuSeconds(cp_pid);
    std::string value = RegistrationBody(12345);
    double ecpu0 = CpuSeconds(epid);
    double puts = Drive(
        ebase, load,
        [&](int c, int64_t i) {
          berth::http::Request r;
          r.method = "POST";
          r.target = "/v3/kv/put";
          r.headers.Set("Content-Type", "application/json");
          r.body = fmt::format(R"({{"key":"{}","value":"{}"}})",
                               Base64(fmt::format("/registry/bench/svc{}/i{}", c, i % 500)),
                               Base64(RegistrationBody(i)));
          return r;
        },
        &err2, &put_stats);
    Line("registry_registrations_per_sec", reg, "ops/s");
    Line("etcd_puts_per_sec", puts, "ops/s");
    Line("registrations_vs_etcd_puts_ratio", puts > 0 ? reg / puts : 0, "x");
    // CPU of the serving process (every thread, user + system) per operation.
    double ecpu1 = CpuSeconds(epid);
    if (reg > 0 && cpu0 >= 0 && cpu1 >= 0) {
      Line("registry_cpu_us_per_registration", (cpu1 - cpu0) * 1e6 / (reg * load.seconds), "us");
    }
    if (puts > 0 && ecpu0 >= 0 && ecpu1 >= 0) {
      Line("etcd_cpu_us_per_put", (ecpu1 - ecpu0) * 1e6 / (puts * load.seconds), "us");
    }
    // CPU of the load generator (this process) per completed operation: taken from the
    // same 2 cores as the servers, alike for both sides.
    Line("registry_client_cpu_us_per_op", reg_stats.CpuUsPerOp(), "us");
    Line("etcd_client_cpu_us_per_op", put_stats.CpuUsPerOp(), "us");
    if (err1 || err2) fmt::print("# errors: registry {} etcd {}\n", err1, err2);

    // Lookups: a 10-instance service vs a 10-key prefix range.
    for (int i = 0; i < 10; ++i) {
      (void)berth::http::Fetch("PUT", fmt::format("{}/v1/registry/bench/lookup/i{}", base, i),
                               RegistrationBody(i), [&] {
                                 berth::http::Headers h;
                                 h.Set("Authorization", "Bearer " + token);
                                 return h;
                               }());
      (void)berth::http::Fetch(
          "POST", ebase + "/v3/kv/put",
          fmt::format(R"({{"key":"{}","value":"{}"}})", Base64(fmt::format("/lookup/i{}", i)),
                      Base64(RegistrationBody(i))));
    }
    double lookups = Drive(
        base, load,
        [&](int, int64_t) {
          berth::http::Request r;
          r.method = "GET";
          r.target = "/v1/registry/bench/lookup?passing";
          r.headers.Set("Authorization", "Bearer " + token);
          return r;
        },
        &err1, &lookup_stats);
    double ranges = Drive(
        ebase, load,
        [&](int, int64_t) {
          berth::http::Request r;
          r.method = "POST";
          r.target = "/v3/kv/range";
          r.headers.Set("Content-Type", "application/json");
          r.body = fmt::format(R"({{"key":"{}","range_end":"{}"}})", Base64("/lookup/"),
                               Base64("/lookup0"));
          return r;
        },
        &err2, &range_stats);
    Line("registry_lookups_per_sec", lookups, "ops/s");
    Line("etcd_ranges_per_sec", ranges, "ops/s");
    Line("lookups_vs_etcd_ranges_ratio", ranges > 0 ? lookups / ranges : 0, "x");
    Line("registry_lookup_client_cpu_us_per_op", lookup_stats.CpuUsPerOp(), "us");
    Line("etcd_range_client_cpu_us_per_op", range_stats.CpuUsPerOp(), "us");
    if (err1 || err2) fmt::print("# errors: lookups {} ranges {}\n", err1, err2);
  }

  if (!load.fanout) {
    server->Kill(SIGKILL);
    return 0;
  }
  // Watch fan-out over HTTP streams, in two shapes: one connection per watcher, and the
  // watchers multiplexed over `streams` connections (POST /v1/registry:watch; etcd: many
  // create requests in one /v3/watch request body, as its clients share one gRPC stream).
  (void)berth::http::Fetch("PUT", base + "/v1/registry/bench/fan/seed", RegistrationBody(1), [&] {
    berth::http::Headers h;
    h.Set("Authorization", "Bearer " + token);
    return h;
  }());
  auto change_client = berth::http::Client::Create(base);
  auto change_ours = [&](int r) {
    berth::http::Request req;
    req.method = "PUT";
    req.target = "/v1/registry/bench/fan/seed";
    req.headers.Set("Authorization", "Bearer " + token);
    req.body = RegistrationBody(100 + r);
    (void)(*change_client)->Send(req);
  };
  auto echange = berth::http::Client::Create(ebase);
  int eround = 0;
  auto change_etcd = [&](int) {
    berth::http::Request req;
    req.method = "POST";
    req.target = "/v3/kv/put";
    req.headers.Set("Content-Type", "application/json");
    req.body = fmt::format(R"({{"key":"{}","value":"{}"}})", Base64("/fan/seed"),
                           Base64(RegistrationBody(100 + ++eround)));
    (void)(*echange)->Send(req);
  };
  std::string ecreate = fmt::format(R"({{"create_request":{{"key":"{}","range_end":"{}"}}}})",
                                    Base64("/fan/"), Base64("/fan0"));
  auto etcd_request = [&](int watches) {
    std::string body;
    for (int k = 0; k < watches; ++k) body += ecreate;
    return fmt::format(
        "POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: {}\r\n\r\n{}",
        body.size(), body);
  };
  auto report = [&](const std::string& prefix, const std::string& eprefix, const FanOut& ours,
                    const FanOut& theirs) {
    Line(prefix + "_last_p50", Percentile(ours.last, 0.5), "ms");
    Line(prefix + "_last_p99", Percentile(ours.last, 0.99), "ms");
    Line(prefix + "_delivery_p99", Percentile(ours.all, 0.99), "ms");
    Line(prefix + "_missed", ours.missing, "deliveries");
    Line(eprefix + "_last_p50", Percentile(theirs.last, 0.5), "ms");
    Line(eprefix + "_last_p99", Percentile(theirs.last, 0.99), "ms");
    Line(eprefix + "_delivery_p99", Percentile(theirs.all, 0.99), "ms");
    Line(eprefix + "_missed", theirs.missing, "deliveries");
    Line(prefix + "_rss_per_watcher", ours.rss_per_watcher_bytes, "bytes");
    Line(eprefix + "_rss_per_watcher", theirs.rss_per_watcher_bytes, "bytes");
    Line(prefix + "_last_p99_vs_etcd_ratio",
         Percentile(theirs.last, 0.99) > 0
             ? Percentile(ours.last, 0.99) / Percentile(theirs.last, 0.99)
             : 0,
         "x");
  };
  Line("registry_watchers", load.watchers, "watchers");
  // Multiplexed: watchers spread over `streams` connections.
  {
    Shape ours_shape{.marker = "\"type\":\"put\"", .created_marker = "\"type\":\"created\""};
    Shape etcd_shape{.marker = "\"events\"", .created_marker = "\"created\":true"};
    for (int i = 0; i < load.streams; ++i) {
      int n = WatchesOnStream(load.watchers, load.streams, i);
      if (n == 0) continue;
      std::string body = R"({"progress_interval":"0s","watches":[)";
      for (int k = 0; k < n; ++k) {
        body +=
            fmt::format(R"({}{{"id":{},"namespace":"bench","service":"fan"}})", k ? "," : "", k);
      }
      body += "]}";
      ours_shape.requests.push_back(fmt::format(
          "POST /v1/registry:watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n"
          "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
          token, body.size(), body));
      ours_shape.watches.push_back(n);
      etcd_shape.requests.push_back(etcd_request(n));
      etcd_shape.watches.push_back(n);
    }
    FanOut ours = RunFanOut(port, server->Pid(), ours_shape, load.rounds, change_ours);
    FanOut theirs = RunFanOut(eport, epid, etcd_shape, load.rounds, change_etcd);
    Line("registry_mux_streams", load.streams, "connections");
    report("registry_mux_fanout", "etcd_mux_fanout", ours, theirs);
  }
  // One connection per watcher (GET ...?watch; etcd: one create request per /v3/watch).
  if (load.per_connection) {
    std::string watch_req = fmt::format(
        "GET /v1/registry/bench/fan?watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        "{}\r\n\r\n",
        token);
    Shape ours_shape{.requests = std::vector<std::string>(load.watchers, watch_req),
                     .watches = std::vector<int>(load.watchers, 1),
                     .marker = "\"type\":\"put\""};
    Shape etcd_shape{.requests = std::vector<std::string>(load.watchers, etcd_request(1)),
                     .watches = std::vector<int>(load.watchers, 1),
                     .marker = "\"events\"",
                     .created_marker = "\"created\":true"};
    FanOut ours = RunFanOut(port, server->Pid(), ours_shape, load.rounds, change_ours);
    FanOut theirs = RunFanOut(eport, epid, etcd_shape, load.rounds, change_etcd);
    report("registry_fanout", "etcd_fanout", ours, theirs);
  }
  server->Kill(SIGKILL);
  return 0;
}
