// bench/store: writes/s and reads/s through the HTTP API for berthd with the sqlite back-end
// and with the etcd back-end, and for etcd itself driven directly by the same number of
// clients, both through its JSON gateway (HTTP/1.1, the figure issue 21 names) and through
// its native gRPC API (what etcd's own benchmark tool measures), all in one run; plus
// berthd's resident memory idle and under load.
//
//   build/release/bench/bench_store [--seconds 5] [--clients 32] [--only etcd|sqlite]
//                                   [--rounds N]
//
// Each client writes keys k0..k999 of its own, then reads back keys its writes stored.
// Output: `name value unit` lines (each phase also with the load generator's CPU per
// operation and the 1-minute load average when it ended), then the ratios issues 2 and 21
// ask about. berthd's API reads are linearizable (the etcd back-end answers them from its
// watch-fed mirror after one shared revision check, store/etcd/etcd_store.h).
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "common/etcd_grpc_load.h"
#include "common/load.h"
#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

using berth::bench::Base64;
using berth::bench::Drive;
using berth::bench::DriveEtcdGrpc;
using berth::bench::DriveStats;
using berth::bench::EtcdOp;
using berth::bench::Load;
using berth::bench::MakeRequest;
using berth::bench::RssKb;
using berth::testing::EtcdCluster;
using berth::testing::FreePort;
using berth::testing::Process;
using berth::testing::TempDir;

namespace {

struct Berthd {
  std::unique_ptr<Process> process;
  std::string base;
  std::string token;
};

Berthd StartBerthd(const TempDir& dir, const std::string& name, const std::string& store) {
  Berthd b;
  int port = FreePort();
  std::string data = dir.MakeSubdir(name);
  b.process =
      Process::Start(name, {berth::testing::BerthdPath(), "dev", "--data-dir", data, "--api",
                            fmt::format("127.0.0.1:{}", port), "--store", store, "--log-level",
                            "warn", "--dns", "none", "--gateway", "none", "--no-agent"});
  b.base = fmt::format("http://127.0.0.1:{}", port);
  if (!berth::testing::WaitFor(
          [&] { return berth::testing::HttpGet(port, "/v1/health").has_value(); })) {
    fmt::print(stderr, "{} did not start:\n{}\n", name, b.process->Logs());
    std::exit(1);
  }
  std::ifstream in(data + "/admin.token");
  std::getline(in, b.token);
  return b;
}

// How many requests each client's write phase made (operation i of client c writes key
// k{i % 1000}), so that the read phase that follows reads only keys that exist: a GET of a
// missing key is a 404 from berthd (an error, not counted) but an empty 200 from etcd.
using Written = std::shared_ptr<std::vector<int64_t>>;

Written NewWritten(const Load& load) {
  return std::make_shared<std::vector<int64_t>>(static_cast<size_t>(load.clients), 0);
}

// Key index for read `i` of client `c`: among the keys its writes surely stored (the last
// write may still have been in flight when the phase stopped).
int64_t ReadKey(const Written& written, int c, int64_t i) {
  int64_t stored = std::min<int64_t>(1000, (*written)[static_cast<size_t>(c)] - 1);
  return i % std::max<int64_t>(1, stored);
}

MakeRequest ApiPut(const std::string& token, const std::string& value, Written written) {
  return [token, value, written](int c, int64_t i) {
    (*written)[static_cast<size_t>(c)] = i + 1;
    berth::http::Request r;
    r.method = "PUT";
    r.target = fmt::format("/v1/kv/bench/c{}/k{}", c, i % 1000);
    r.headers.Set("Authorization", "Bearer " + token);
    r.headers.Set("Content-Type", "application/json");
    r.body = fmt::format(R"({{"value":"{}"}})", value);
    return r;
  };
}

MakeRequest ApiGet(const std::string& token, Written written) {
  return [token, written](int c, int64_t i) {
    berth::http::Request r;
    r.method = "GET";
    r.target = fmt::format("/v1/kv/bench/c{}/k{}", c, ReadKey(written, c, i));
    r.headers.Set("Authorization", "Bearer " + token);
    return r;
  };
}

MakeRequest EtcdPut(const std::string& value, Written written) {
  return [value, written](int c, int64_t i) {
    (*written)[static_cast<size_t>(c)] = i + 1;
    berth::http::Request r;
    r.method = "POST";
    r.target = "/v3/kv/put";
    r.headers.Set("Content-Type", "application/json");
    r.body = fmt::format(R"({{"key":"{}","value":"{}"}})",
                         Base64(fmt::format("/bench/c{}/k{}", c, i % 1000)), Base64(value));
    return r;
  };
}

MakeRequest EtcdGet(Written written) {
  return [written](int c, int64_t i) {
    berth::http::Request r;
    r.method = "POST";
    r.target = "/v3/kv/range";
    r.headers.Set("Content-Type", "application/json");
    r.body = fmt::format(R"({{"key":"{}"}})",
                         Base64(fmt::format("/bench/c{}/k{}", c, ReadKey(written, c, i))));
    return r;
  };
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void Line(const std::string& name, double value, const std::string& unit) {
  fmt::print("{} {:.0f} {}\n", name, value, unit);
  std::fflush(stdout);
}

// One phase: `name` ops/s, then the load generator's CPU per operation (this process,
// alike for every server) and the failures, if any.
double Phase(const std::string& name, const std::string& base, const Load& load,
             const MakeRequest& make) {
  DriveStats stats;
  double rate = Drive(base, load, make, nullptr, &stats);
  Line(name, rate, "ops/s");
  fmt::print("{}_client_cpu_us_per_op {:.1f} us\n", name, stats.CpuUsPerOp());
  fmt::print("{}_load_average {}\n", name, berth::bench::LoadAverage());
  if (stats.errors) {
    std::string by_status;
    for (const auto& [status, n] : stats.statuses) by_status += fmt::format(" {}:{}", status, n);
    fmt::print("# errors: {} {} (by HTTP status:{})\n", name, stats.errors, by_status);
  }
  std::fflush(stdout);
  return rate;
}

// The same for etcd over gRPC: `clients` calls in flight on 2 HTTP/2 connections.
double GrpcPhase(const std::string& name, const EtcdCluster& etcd, const Load& load, EtcdOp op,
                 const std::string& value, const Written& written) {
  berth::bench::DriveStats stats;
  auto key = [op, written](int c, int64_t i) {
    if (op != EtcdOp::kRange) {
      (*written)[static_cast<size_t>(c)] = i + 1;
      return fmt::format("/bench-grpc/c{}/k{}", c, i % 1000);
    }
    return fmt::format("/bench-grpc/c{}/k{}", c, ReadKey(written, c, i));
  };
  std::string hostport = etcd.ClientEndpoint(0).substr(7);
  double rate = DriveEtcdGrpc(hostport, load, 2, op, key, value, &stats);
  Line(name, rate, "ops/s");
  fmt::print("{}_client_cpu_us_per_op {:.1f} us\n", name, stats.CpuUsPerOp());
  fmt::print("{}_load_average {}\n", name, berth::bench::LoadAverage());
  if (stats.errors) fmt::print("# errors: {} {}\n", name, stats.errors);
  std::fflush(stdout);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  Load load;
  std::string only;
  int rounds = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) load.seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--clients")) load.clients = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  if (rounds < 1) {
    fmt::print(stderr, "--rounds takes a whole number >= 1\n");
    return 2;
  }
  if (!only.empty() && only != "etcd" && only != "sqlite") {
    fmt::print(stderr, "--only takes etcd or sqlite\n");
    return 2;
  }
  const std::string value(100, 'v');
  TempDir dir("berth-bench-store");
  fmt::print("# bench/store: {} clients, {} s per phase, 100-byte values, 1000 keys per client\n",
             load.clients, load.seconds);
  fmt::print("# load average at start: {}\n", berth::bench::LoadAverage());

  // 1. berthd dev, sqlite.
  double sqlite_w = 0, sqlite_r = 0;
  if (only != "etcd") {
    auto sqlite = StartBerthd(dir, "berthd-sqlite", "sqlite");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    Line("berthd_sqlite_idle_rss", RssKb(sqlite.process->Pid()) / 1024.0, "MB");
    Written sqlite_keys = NewWritten(load);
    sqlite_w = Phase("berthd_sqlite_api_writes", sqlite.base, load,
                     ApiPut(sqlite.token, value, sqlite_keys));
    sqlite_r =
        Phase("berthd_sqlite_api_reads", sqlite.base, load, ApiGet(sqlite.token, sqlite_keys));
    Line("berthd_sqlite_loaded_rss", RssKb(sqlite.process->Pid()) / 1024.0, "MB");
    sqlite.process->Stop();
  }

  // 2. etcd (one member, default durability): directly over JSON and gRPC, then berthd dev
  //    over it.
  EtcdCluster etcd;
  if (!etcd.Start(1)) {
    fmt::print(stderr, "etcd did not start: {}\n", etcd.error());
    return 1;
  }
  Written etcd_keys = NewWritten(load);
  double etcd_w =
      Phase("etcd_direct_writes", etcd.ClientEndpoint(0), load, EtcdPut(value, etcd_keys));
  double etcd_r = Phase("etcd_direct_reads", etcd.ClientEndpoint(0), load, EtcdGet(etcd_keys));
  if (only == "sqlite") {
    fmt::print("ratio_sqlite_writes_vs_etcd {:.2f} x (target >= 2)\n", sqlite_w / etcd_w);
    fmt::print("ratio_sqlite_reads_vs_etcd {:.2f} x\n", sqlite_r / etcd_r);
    return 0;
  }
  Written grpc_keys = NewWritten(load);
  auto over_etcd = StartBerthd(dir, "berthd-etcd", "etcd://" + etcd.ClientHostPorts());
  Written over_etcd_keys = NewWritten(load);
  // Rounds alternate the peers phase by phase, so that a change in the machine's load (other
  // work on its two cores) falls on all of them alike; the ratios use each figure's median.
  std::vector<double> ew{etcd_w}, er{etcd_r}, gw, gr, bw, br;
  for (int round = 1; round <= rounds; ++round) {
    if (rounds > 1) fmt::print("# round {} of {}\n", round, rounds);
    if (round > 1) {
      ew.push_back(
          Phase("etcd_direct_writes", etcd.ClientEndpoint(0), load, EtcdPut(value, etcd_keys)));
    }
    gw.push_back(GrpcPhase("etcd_grpc_writes", etcd, load, EtcdOp::kPut, value, grpc_keys));
    if (round == 1)
      GrpcPhase("etcd_grpc_txn_writes", etcd, load, EtcdOp::kTxnPut, value, grpc_keys);
    bw.push_back(Phase("berthd_etcd_api_writes", over_etcd.base, load,
                       ApiPut(over_etcd.token, value, over_etcd_keys)));
    if (round > 1) {
      er.push_back(Phase("etcd_direct_reads", etcd.ClientEndpoint(0), load, EtcdGet(etcd_keys)));
    }
    gr.push_back(GrpcPhase("etcd_grpc_reads", etcd, load, EtcdOp::kRange, value, grpc_keys));
    br.push_back(Phase("berthd_etcd_api_reads", over_etcd.base, load,
                       ApiGet(over_etcd.token, over_etcd_keys)));
  }
  Line("berthd_etcd_loaded_rss", RssKb(over_etcd.process->Pid()) / 1024.0, "MB");
  over_etcd.process->Stop();
  etcd_w = Median(ew);
  etcd_r = Median(er);
  const double grpc_w = Median(gw), grpc_r = Median(gr), berthd_w = Median(bw),
               berthd_r = Median(br);
  if (rounds > 1) {
    fmt::print("# medians of {} rounds\n", rounds);
    Line("etcd_direct_writes_median", etcd_w, "ops/s");
    Line("etcd_grpc_writes_median", grpc_w, "ops/s");
    Line("berthd_etcd_api_writes_median", berthd_w, "ops/s");
    Line("etcd_direct_reads_median", etcd_r, "ops/s");
    Line("etcd_grpc_reads_median", grpc_r, "ops/s");
    Line("berthd_etcd_api_reads_median", berthd_r, "ops/s");
  }

  if (only.empty()) {
    fmt::print("ratio_sqlite_writes_vs_etcd {:.2f} x (target >= 2)\n", sqlite_w / etcd_w);
    fmt::print("ratio_sqlite_reads_vs_etcd {:.2f} x\n", sqlite_r / etcd_r);
  }
  fmt::print("ratio_berthd_etcd_writes_vs_etcd_direct {:.2f} x (target >= 0.8)\n",
             berthd_w / etcd_w);
  fmt::print("ratio_berthd_etcd_reads_vs_etcd_direct {:.2f} x (target >= 2)\n", berthd_r / etcd_r);
  fmt::print("ratio_berthd_etcd_writes_vs_etcd_grpc {:.2f} x\n", berthd_w / grpc_w);
  fmt::print("ratio_berthd_etcd_reads_vs_etcd_grpc {:.2f} x\n", berthd_r / grpc_r);
  fmt::print("# load average at end: {}\n", berth::bench::LoadAverage());
  return 0;
}
