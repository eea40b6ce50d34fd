// bench/config: config delivery (the configuration center's multiplexed watch) against
// etcd's watch, same machine, same run.
//
//   build/release/bench/bench_config [--subscribers 1000,10000] [--streams 100] [--rounds 20]
//                                    [--big-subscribers 1000]
//
// The control plane runs in a child process (this binary with `serve`): the sqlite store
// (durable), the ConfigCenter, its DeliveryHub and the /v1/configs endpoints. The parent
// holds N subscribers of one item over `--streams` connections (POST /v1/configs:watch,
// content included) and publishes a new version per round; etcd (started here) gets N
// watches of one key over as many /v3/watch streams and a put per round. Printed, each with
// the load average of that moment:
// - config_mux_N_last_p50/p99: ms from the publish until the last subscriber has the new
//   bytes (etcd: until the last watch has the event with the value); delivery_p99 over every
//   delivery; missed deliveries;
// - rss_per_subscriber: the server's resident growth per subscriber;
// - config_big_*: one 1 MiB item changed with `--big-subscribers` subscribers: bytes read by
//   all of them per change (vs subscribers × 1 MiB: 1.0 means each got it once and nobody
//   else did) and the time until the last has it; etcd the same with a 1 MiB value.
#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/api_server.h"
#include "api/config_endpoints.h"
#include "common/load.h"
#include "common/stream_fleet.h"
#include "core/http/client.h"
#include "core/json.h"
#include "core/log.h"
#include "harness/harness.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/sqlite/sqlite_store.h"

using berth::bench::Base64;
using berth::bench::FanOut;
using berth::bench::LoadAverage;
using berth::bench::Percentile;
using berth::bench::RaiseFdLimit;
using berth::bench::RunFanOut;
using berth::bench::Shape;
using berth::testing::EtcdCluster;
using berth::testing::Process;
using berth::testing::TempDir;

namespace {

void Line(const std::string& name, double value, const std::string& unit) {
  fmt::print("{} {} {} loadavg {}\n", name,
             value >= 100 ? fmt::format("{:.0f}", value) : fmt::format("{:.3g}", value), unit,
             LoadAverage());
  std::fflush(stdout);
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
  berth::config::ConfigCenter center(**store, clock);
  (void)center.PutNamespace({.ns = "bench", .max_bytes = int64_t{8} << 30}, {.name = "bench"});
  berth::config::DeliveryHub hub(**store, center);
  if (auto s = hub.Start(); !s) {
    fmt::print(stderr, "hub: {}\n", s.error().message);
    return 1;
  }
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  berth::api::Router router;
  berth::api::RegisterConfigEndpoints(router, center);
  berth::api::RegisterConfigDeliveryEndpoints(router, center, hub, io);
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
  for (;;) pause();
}

// ---- load ------------------------------------------------------------------------------

struct Options {
  std::vector<int> subscribers = {1000, 10000};
  int streams = 100;
  int rounds = 20;
  int big_subscribers = 1000;
};

int OnStream(int total, int streams, int i) {
  return total / streams + (i < total % streams ? 1 : 0);
}

std::string Letters(size_t n, int round) {
  std::string s(n, 'a');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + round) % 26);
  return s;
}

struct Sides {
  int port = 0;
  pid_t pid = 0;
  std::string token;
  int eport = 0;
  pid_t epid = 0;
  std::string ebase;
};

// `total` subscribers of `item` over `streams` connections, ours and etcd's.
std::pair<Shape, Shape> Shapes(const Sides& s, const std::string& item, int total, int streams) {
  Shape ours{.marker = "\"type\":\"change\"", .created_marker = ""};
  Shape etcd{.marker = "\"events\"", .created_marker = "\"created\":true"};
  const std::string ecreate =
      fmt::format(R"({{"create_request":{{"key":"{}"}}}})", Base64("/bench/" + item));
  for (int i = 0; i < streams; ++i) {
    int n = OnStream(total, streams, i);
    if (n == 0) continue;
    berth::Json body{{"watches", berth::Json::array()}, {"instance", fmt::format("b{}", i)}};
    // Each watch starts with the current version (before the rounds; not counted).
    for (int k = 0; k < n; ++k) {
      body["watches"].push_back({{"namespace", "bench"}, {"name", item}, {"revision", 0}});
    }
    std::string text = body.dump();
    ours.requests.push_back(fmt::format(
        "POST /v1/configs:watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n"
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        s.token, text.size(), text));
    ours.watches.push_back(n);
    std::string ebody;
    for (int k = 0; k < n; ++k) ebody += ecreate;
    etcd.requests.push_back(fmt::format(
        "POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: {}\r\n\r\n{}",
        ebody.size(), ebody));
    etcd.watches.push_back(n);
  }
  return {ours, etcd};
}

void Report(const std::string& prefix, const FanOut& ours, const FanOut& theirs) {
  Line(prefix + "_last_p50", Percentile(ours.last, 0.5), "ms");
  Line(prefix + "_last_p99", Percentile(ours.last, 0.99), "ms");
  Line(prefix + "_delivery_p99", Percentile(ours.all, 0.99), "ms");
  Line(prefix + "_missed", ours.missing, "deliveries");
  Line("etcd_" + prefix + "_last_p50", Percentile(theirs.last, 0.5), "ms");
  Line("etcd_" + prefix + "_last_p99", Percentile(theirs.last, 0.99), "ms");
  Line("etcd_" + prefix + "_delivery_p99", Percentile(theirs.all, 0.99), "ms");
  Line("etcd_" + prefix + "_missed", theirs.missing, "deliveries");
  Line(prefix + "_rss_per_subscriber", ours.rss_per_watcher_bytes, "bytes");
  Line("etcd_" + prefix + "_rss_per_subscriber", theirs.rss_per_watcher_bytes, "bytes");
  if (Percentile(theirs.last, 0.99) > 0) {
    Line(prefix + "_last_p99_vs_etcd_ratio",
         Percentile(ours.last, 0.99) / Percentile(theirs.last, 0.99), "x");
  }
}

// A publish of `content` to bench/<item> (ours) and a put of it at /bench/<item> (etcd).
struct Changer {
  explicit Changer(const Sides& s) : sides(s) {
    ours = std::move(*berth::http::Client::Create(fmt::format("http://127.0.0.1:{}", s.port)));
    etcd = std::move(*berth::http::Client::Create(s.ebase));
  }
  void Publish(const std::string& item, const std::string& content) {
    berth::http::Request req;
    req.method = "PUT";
    req.target = "/v1/configs/bench/" + item;
    req.headers.Set("Authorization", "Bearer " + sides.token);
    req.headers.Set("Content-Type", "application/json");
    req.body = berth::Json{{"content", content}, {"format", "text"}}.dump();
    auto r = ours->Send(req);
    if (!r || r->status >= 300) {
      fmt::print(stderr, "publish {}: {}\n", item, r ? r->body : r.error().message);
    }
  }
  void Put(const std::string& item, const std::string& content) {
    berth::http::Request req;
    req.method = "POST";
    req.target = "/v3/kv/put";
    req.headers.Set("Content-Type", "application/json");
    req.body =
        fmt::format(R"({{"key":"{}","value":"{}"}})", Base64("/bench/" + item), Base64(content));
    auto r = etcd->Send(req);
    if (!r || r->status >= 300) {
      fmt::print(stderr, "etcd put {}: {}\n", item, r ? r->body : r.error().message);
    }
  }
  const Sides& sides;
  std::unique_ptr<berth::http::Client> ours;
  std::unique_ptr<berth::http::Client> etcd;
};

void FanOutFigures(const Sides& s, const Options& o, Changer& change) {
  for (int n : o.subscribers) {
    const std::string item = fmt::format("app{}.yaml", n);
    change.Publish(item, "round: 0\n");
    change.Put(item, "round: 0\n");
    auto [ours_shape, etcd_shape] = Shapes(s, item, n, o.streams);
    FanOut ours = RunFanOut(s.port, s.pid, ours_shape, o.rounds, [&](int r) {
      change.Publish(item, fmt::format("round: {}\nvalue: {}\n", r, Letters(100, r)));
    });
    FanOut theirs = RunFanOut(s.eport, s.epid, etcd_shape, o.rounds, [&](int r) {
      change.Put(item, fmt::format("round: {}\nvalue: {}\n", r, Letters(100, r)));
    });
    Line(fmt::format("config_mux_{}_subscribers", n), n, "subscribers");
    Line(fmt::format("config_mux_{}_streams", n), o.streams, "connections");
    Report(fmt::format("config_mux_{}", n), ours, theirs);
  }
}

void BigItemFigures(const Sides& s, const Options& o, Changer& change) {
  constexpr size_t kBig = size_t{1} << 20;
  const int rounds = std::max(1, o.rounds / 4);
  change.Publish("big.txt", Letters(kBig, 0));
  change.Put("big.txt", Letters(kBig, 0));
  // Subscribers of another item on the same server: a change of big.txt must not reach them.
  auto [bystanders, unused] = Shapes(s, "app1000.yaml", o.big_subscribers, o.streams);
  berth::bench::StreamFleet others(s.port, bystanders);
  others.Open(std::chrono::seconds(120));
  const int64_t others0 = others.bytes();
  auto [ours_shape, etcd_shape] = Shapes(s, "big.txt", o.big_subscribers, o.streams);
  FanOut ours = RunFanOut(s.port, s.pid, ours_shape, rounds,
                          [&](int r) { change.Publish("big.txt", Letters(kBig, r)); });
  const int64_t others_bytes = others.bytes() - others0;
  others.Close();
  FanOut theirs = RunFanOut(s.eport, s.epid, etcd_shape, rounds,
                            [&](int r) { change.Put("big.txt", Letters(kBig, r)); });
  const double ideal = static_cast<double>(o.big_subscribers) * kBig;
  Line("config_big_subscribers", o.big_subscribers, "subscribers");
  Line("config_big_bytes_per_change", static_cast<double>(ours.bytes) / rounds, "bytes");
  Line("config_big_bytes_vs_once_each", static_cast<double>(ours.bytes) / rounds / ideal, "x");
  Line("config_big_bytes_to_other_subscribers", static_cast<double>(others_bytes), "bytes");
  Line("config_big_last_p50", Percentile(ours.last, 0.5), "ms");
  Line("config_big_last_p99", Percentile(ours.last, 0.99), "ms");
  Line("config_big_missed", ours.missing, "deliveries");
  Line("etcd_big_bytes_per_change", static_cast<double>(theirs.bytes) / rounds, "bytes");
  Line("etcd_big_bytes_vs_once_each", static_cast<double>(theirs.bytes) / rounds / ideal, "x");
  Line("etcd_big_last_p50", Percentile(theirs.last, 0.5), "ms");
  Line("etcd_big_last_p99", Percentile(theirs.last, 0.99), "ms");
  Line("etcd_big_missed", theirs.missing, "deliveries");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && !std::strcmp(argv[1], "serve")) return Serve(argv[2], argv[3]);
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--subscribers")) {
      o.subscribers.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string n; std::getline(list, n, ',');)
        o.subscribers.push_back(std::atoi(n.c_str()));
    }
    if (!std::strcmp(argv[i], "--streams")) o.streams = std::max(1, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--rounds")) o.rounds = std::max(1, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--big-subscribers")) o.big_subscribers = std::atoi(argv[i + 1]);
  }
  RaiseFdLimit();
  signal(SIGPIPE, SIG_IGN);
  berth::log::Configure(berth::log::Level::kWarn, false);
  TempDir dir("bench-config");
  fmt::print("# streams {} rounds {} loadavg {}\n", o.streams, o.rounds, LoadAverage());

  std::string info = dir.Sub("serve.info");
  char self[4096] = {};
  ssize_t self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string exe = self_len > 0 ? std::string(self, static_cast<size_t>(self_len)) : argv[0];
  auto server = Process::Start("berth-config", {exe, "serve", dir.MakeSubdir("cp"), info});
  if (!berth::testing::WaitFor([&] { return std::ifstream(info).good(); })) {
    fmt::print(stderr, "control plane did not start:\n{}\n", server->Logs());
    return 1;
  }
  Sides s;
  {
    std::ifstream in(info);
    in >> s.port >> s.token;
  }
  s.pid = server->Pid();
  EtcdCluster etcd;
  if (!etcd.Start(1)) {
    fmt::print(stderr, "etcd: {}\n", etcd.error());
    return 1;
  }
  s.ebase = etcd.ClientEndpoint(0);
  s.eport = etcd.ClientPort(0);
  s.epid = etcd.member_process(0)->Pid();
  Changer change(s);
  FanOutFigures(s, o, change);
  if (o.big_subscribers > 0) BigItemFigures(s, o, change);
  server->Kill(SIGKILL);
  return 0;
}
