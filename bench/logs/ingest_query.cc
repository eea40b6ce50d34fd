// bench_logs: the log center's figures from issue 17, each beside the peer measured in the
// same run, with the load average.
//   1. ingest through the push API: lines/s and MiB/s, and MiB/s per core of berthd's CPU
//      (user+system from /proc) into compressed storage. Published figures quoted beside it:
//      Vector 86 MiB/s and Fluent Bit 64 MiB/s (TCP -> /dev/null, no storage); neither is a
//      Debian package.
//   2. stored bytes vs the raw text and vs `zstd -3` of it (target <= 1/8 of raw).
//   3. `|= "error"` over everything, and a label-selected `|= "error"`, as count queries, vs
//      `rg -c` over the raw text and `zstdcat | rg -c` (target: within 1.5x of rg).
//   4. peak RSS of berthd while ingesting into 100,000 streams (target <= 256 MB).
// Usage: bench_logs [--bytes N] [--streams N] [--runs N] [--big-streams N]
// Run it as `/work/coord/quiet build/release/bench/bench_logs` on a quiet machine.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/load.h"
#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace {

using berth::Json;
using berth::testing::Process;
using berth::testing::TempDir;
namespace http = berth::http;

constexpr int64_t kSec = 1'000'000'000;

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// user+system CPU seconds of `pid` (clock ticks from /proc/<pid>/stat).
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string s((std::istreambuf_iterator<char>(in)), {});
  auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t PeakRssKb(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) return std::stoll(line.substr(6));
  }
  return -1;
}

// Generated logs: a mix of access-log lines (logfmt), JSON application lines and Java
// stack traces; about 2% of lines say "error". Deterministic for a seed.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}
  std::string Line(int stream) {
    std::uniform_int_distribution<int> pct(0, 99);
    int kind = pct(rng_);
    int req = static_cast<int>(rng_() % 1000000);
    static const char* routes[] = {"/api/items", "/api/cart", "/api/users/login", "/healthz",
                                   "/api/orders"};
    static const char* users[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
    const char* route = routes[rng_() % 5];
    if (kind < 2) {
      return fmt::format(
          "level=error msg=\"request failed\" route={} status=500 error=\"upstream connect error: "
          "connection refused\" "
          "request_id={:08x} upstream=10.0.{}.{}:8080",
          route, req, stream % 256, rng_() % 256);
    }
    if (kind < 50) {
      return fmt::format(
          "level=info method=GET route={} status=200 bytes={} duration={}ms request_id={:08x} "
          "user={}",
          route, rng_() % 50000, rng_() % 300, req, users[rng_() % 6]);
    }
    if (kind < 90) {
      return fmt::format(
          R"({{"level":"info","ts":"2026-12-07T19:{:02}:{:02}.{:03}Z","logger":"shop.cart","msg":"cart updated","cart_id":"{:x}","items":{},"user":"{}"}})",
          rng_() % 60, rng_() % 60, rng_() % 1000, rng_(), rng_() % 20, users[rng_() % 6]);
    }
    return fmt::format(
        "WARN  [pool-{}-thread-{}] c.e.shop.Inventory - stock low for sku={} remaining={} "
        "warehouse=wh-{}",
        rng_() % 8, rng_() % 16, rng_() % 100000, rng_() % 10, rng_() % 4);
  }

 private:
  std::mt19937_64 rng_;
};

struct Server {
  std::unique_ptr<Process> process;
  int port = 0;
  std::string token;
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
};

Server StartBerthd(const std::string& data_dir, const std::vector<std::string>& extra = {}) {
  Server s;
  s.port = berth::testing::FreePort();
  std::vector<std::string> argv = {berth::testing::BerthdPath(),
                                   "dev",
                                   "--data-dir",
                                   data_dir,
                                   "--api",
                                   "127.0.0.1:" + std::to_string(s.port),
                                   "--dns",
                                   "none",
                                   "--gateway",
                                   "none",
                                   "--no-agent",
                                   "--api-threads",
                                   "4"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.process = Process::Start("berthd", argv);
  if (!s.process || !berth::testing::WaitFor([&] {
        return berth::testing::HttpGet(s.port, "/v1/health").has_value();
      })) {
    std::fprintf(stderr, "berthd did not start\n");
    std::exit(1);
  }
  std::ifstream in(data_dir + "/admin.token");
  std::getline(in, s.token);
  return s;
}

void StopBerthd(Server& s) {
  s.process->Stop(std::chrono::seconds(300));  // SIGTERM: berthd flushes heads into segments
  s.process.reset();
}

http::Request PushRequest(const Server& s, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/loki/api/v1/push";
  r.headers.Set("Authorization", "Bearer " + s.token);
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

double RunTimed(const std::string& cmd) {
  auto t0 = std::chrono::steady_clock::now();
  int rc = std::system(cmd.c_str());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0 && WEXITSTATUS(rc) != 1)
    std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
  return secs;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

uint64_t DirBytes(const std::string& dir, std::string_view suffix) {
  std::string cmd = fmt::format(
      "find {} -name '*{}' -printf '%s\\n' | awk '{{s+=$1}} END {{print s+0}}'", dir, suffix);
  FILE* p = popen(cmd.c_str(), "r");
  uint64_t n = 0;
  if (p && std::fscanf(p, "%lu", &n) != 1) n = 0;
  if (p) pclose(p);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t total_bytes = 1ull << 30;
  int streams = 200;
  int runs = 3;
  int big_streams = 100'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--bytes")
      total_bytes = std::stoull(argv[i + 1]);
    else if (a == "--streams")
      streams = std::stoi(argv[i + 1]);
    else if (a == "--runs")
      runs = std::stoi(argv[i + 1]);
    else if (a == "--big-streams")
      big_streams = std::stoi(argv[i + 1]);
  }
  TempDir dir("berth-bench-logs");
  std::string raw_path = dir.Sub("raw.log");
  std::string data = dir.MakeSubdir("data");

  // ---- 1. ingest through the push API ----
  Server s = StartBerthd(data);
  const int64_t t0 = (std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                              .count() /
                          kSec -
                      3000) *
                     kSec;
  Generator gen(42);
  std::ofstream raw(raw_path, std::ios::binary);
  // Batches of ~1 MiB (Promtail's default batch size), streams round robin.
  std::vector<std::string> bodies;
  uint64_t produced = 0, lines = 0;
  int64_t ts = t0;
  const int per_stream = 64;
  while (produced < total_bytes) {
    Json streams_json = Json::array();
    size_t batch_bytes = 0;
    for (int st = 0; st < streams && batch_bytes < (1 << 20); ++st) {
      int sid = static_cast<int>((lines / per_stream + st) % streams);
      Json values = Json::array();
      for (int k = 0; k < per_stream; ++k) {
        std::string line = gen.Line(sid);
        raw << line << '\n';
        batch_bytes += line.size();
        values.push_back(Json::array({std::to_string(ts), std::move(line)}));
        ts += 1000;
      }
      lines += per_stream;
      streams_json.push_back(Json{{"stream",
                                   {{"namespace", fmt::format("ns{}", sid % 10)},
                                    {"app", fmt::format("app{}", sid % 20)},
                                    {"instance", fmt::format("i{}", sid)}}},
                                  {"values", std::move(values)}});
    }
    produced += batch_bytes;
    bodies.push_back(Json{{"streams", std::move(streams_json)}}.dump());
  }
  raw.close();
  double cpu0 = ProcessCpuSeconds(s.process->Pid());
  auto w0 = std::chrono::steady_clock::now();
  {
    std::atomic<size_t> next{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 2; ++c) {
      clients.emplace_back([&] {
        auto client = http::Client::Create(s.base());
        for (size_t i; (i = next.fetch_add(1)) < bodies.size();) {
          auto r = (*client)->Send(PushRequest(s, bodies[i]));
          if (!r || r->status != 204)
            std::fprintf(stderr, "push failed: %s\n",
                         r ? r->body.c_str() : r.error().message.c_str());
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  double cpu = ProcessCpuSeconds(s.process->Pid()) - cpu0;
  bodies.clear();
  double mib = static_cast<double>(produced) / (1 << 20);
  std::printf("# load average %s\n", LoadAvg().c_str());
  std::printf("ingest_push_lines_per_second %.0f lines/s\n", static_cast<double>(lines) / wall);
  std::printf("ingest_push_mib_per_second %.1f MiB/s (wall, %.0f MiB in %.1f s)\n", mib / wall, mib,
              wall);
  std::printf(
      "ingest_push_mib_per_core_second %.1f MiB/s per core (berthd CPU %.1f s; target >= 50)\n",
      mib / cpu, cpu);
  std::printf("ingest_peer_vector_published 86 MiB/s (TCP -> /dev/null, no storage; quoted)\n");
  std::printf("ingest_peer_fluent_bit_published 64 MiB/s (TCP -> /dev/null, no storage; quoted)\n");
  StopBerthd(s);  // flushes every head into segments

  // ---- 2. stored bytes ----
  uint64_t stored = DirBytes(data + "/logs/ns", ".seg") + DirBytes(data + "/logs/ns", ".idx");
  std::string zst = raw_path + ".zst";
  double zstd_secs = RunTimed(fmt::format("zstd -q -3 -f -T1 {} -o {}", raw_path, zst));
  uint64_t zst_bytes = DirBytes(dir.path(), ".zst");
  std::printf("# load average %s\n", LoadAvg().c_str());
  std::printf("stored_bytes %lu bytes (raw %lu: %.3f of raw, 1/%.1f; target <= 1/8)\n", stored,
              produced, static_cast<double>(stored) / static_cast<double>(produced),
              static_cast<double>(produced) / static_cast<double>(stored));
  std::printf("peer_zstd3_bytes %lu bytes (%.3f of raw, 1/%.1f; %.1f MiB/s on one core)\n",
              zst_bytes, static_cast<double>(zst_bytes) / static_cast<double>(produced),
              static_cast<double>(produced) / static_cast<double>(zst_bytes), mib / zstd_secs);
  std::printf("stored_vs_zstd3 %.2f ratio\n",
              static_cast<double>(stored) / static_cast<double>(zst_bytes));

  // ---- 3. queries vs rg ----
  s = StartBerthd(data);
  auto client = http::Client::Create(s.base(), {.timeout = std::chrono::seconds(600)});
  auto query = [&](const std::string& q) {
    http::Request r;
    r.method = "GET";
    r.target =
        fmt::format("/loki/api/v1/query?query={}&time={}", http::PercentEncode(q), ts + kSec);
    r.headers.Set("Authorization", "Bearer " + s.token);
    auto t = std::chrono::steady_clock::now();
    auto resp = (*client)->Send(r);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    std::string value = "?";
    if (resp && resp->status == 200) {
      auto j = berth::ParseJson(resp->body, {.max_bytes = resp->body.size() + 1});
      if (j && !(*j)["data"]["result"].empty()) value = (*j)["data"]["result"][0]["value"][1];
    } else {
      std::fprintf(stderr, "query failed: %s\n",
                   resp ? resp->body.c_str() : resp.error().message.c_str());
    }
    return std::make_pair(secs, value);
  };
  std::string range = fmt::format("{}s", (ts - t0) / kSec + 60);
  std::string all_q =
      fmt::format(R"(sum(count_over_time({{namespace=~"ns.*"}} |= "error" [{}])))", range);
  std::string sel_q = fmt::format(
      R"(sum(count_over_time({{namespace="ns3", app="app3"}} |= "error" [{}])))", range);
  std::vector<double> t_all, t_sel, t_rg, t_zrg;
  std::string n_all, n_sel;
  for (int r = 0; r < runs; ++r) {
    auto a = query(all_q);
    t_all.push_back(a.first);
    n_all = a.second;
    auto b = query(sel_q);
    t_sel.push_back(b.first);
    n_sel = b.second;
    t_rg.push_back(RunTimed(fmt::format("rg -c error {} > /dev/null", raw_path)));
    t_zrg.push_back(RunTimed(fmt::format("zstdcat {} | rg -c error > /dev/null", zst)));
  }
  FILE* p = popen(fmt::format("rg -c error {}", raw_path).c_str(), "r");
  long rg_count = 0;
  if (p && std::fscanf(p, "%ld", &rg_count) != 1) rg_count = -1;
  if (p) pclose(p);
  std::printf("# load average %s\n", LoadAvg().c_str());
  std::printf("query_error_all_seconds %.3f s (count %s; median of %d)\n", Median(t_all),
              n_all.c_str(), runs);
  std::printf("peer_rg_error_seconds %.3f s (count %ld)\n", Median(t_rg), rg_count);
  std::printf("peer_zstdcat_rg_error_seconds %.3f s\n", Median(t_zrg));
  std::printf("query_error_all_vs_rg %.2f ratio (target <= 1.5)\n", Median(t_all) / Median(t_rg));
  std::printf("query_error_selected_seconds %.3f s (count %s: one of %d streams, label index)\n",
              Median(t_sel), n_sel.c_str(), streams);
  std::printf("query_error_selected_vs_rg %.3f ratio\n", Median(t_sel) / Median(t_rg));
  StopBerthd(s);

  // ---- 4. RSS with many streams ----
  std::string data2 = dir.MakeSubdir("data2");
  s = StartBerthd(data2, {"--logs-max-streams", std::to_string(big_streams + 10)});
  auto c2 = http::Client::Create(s.base());
  Generator g2(7);
  int64_t ts2 = t0;
  for (int base = 0; base < big_streams; base += 1000) {
    Json streams_json = Json::array();
    for (int k = base; k < std::min(big_streams, base + 1000); ++k) {
      Json values = Json::array();
      for (int l = 0; l < 5; ++l)
        values.push_back(Json::array({std::to_string(ts2 + l), g2.Line(k)}));
      streams_json.push_back(Json{{"stream",
                                   {{"namespace", fmt::format("ns{}", k % 10)},
                                    {"app", fmt::format("app{}", k % 50)},
                                    {"instance", fmt::format("instance-{}", k)}}},
                                  {"values", std::move(values)}});
    }
    auto r = (*c2)->Send(PushRequest(s, Json{{"streams", std::move(streams_json)}}.dump()));
    if (!r || r->status != 204)
      std::fprintf(stderr, "push failed: %s\n",
                   r ? r->body.substr(0, 300).c_str() : r.error().message.c_str());
    ts2 += 10;
  }
  int64_t rss = berth::bench::RssKb(s.process->Pid());
  int64_t peak = PeakRssKb(s.process->Pid());
  std::printf("# load average %s\n", LoadAvg().c_str());
  std::printf("ingest_rss_%d_streams %.1f MB (peak %.1f MB; target <= 256)\n", big_streams,
              static_cast<double>(rss) / 1024, static_cast<double>(peak) / 1024);
  StopBerthd(s);
  return 0;
}
