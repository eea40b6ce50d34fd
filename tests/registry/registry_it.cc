// The registry over the real sqlite store with real sockets: health checks against a live
// HTTP server, lease expiry, watches across a reconnect, and `dig` against the DNS server.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "harness/harness.h"
#include "registry/dns/answerer.h"
#include "registry/dns/server.h"
#include "registry/health/checker.h"
#include "registry/registry.h"
#include "registry/testing/http_stub.h"
#include "registry/testing/local_exec_runner.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::registry {
namespace {

using berth::testing::TempDir;
using berth::testing::WaitFor;
using namespace std::chrono_literals;

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty()) out.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

Instance Make(std::string service, std::string id, std::string address, uint32_t port) {
  Instance in;
  in.service = std::move(service);
  in.id = std::move(id);
  in.address = std::move(address);
  in.port = port;
  return in;
}

// A sqlite store in a temp dir on a given clock, a registry over it, and an io_context
// thread for checks and DNS.
class RegistryIt : public ::testing::Test {
 protected:
  void Open(Clock& clock) {
    auto s = store::OpenSqliteStore(dir_.Sub("store.db"), {.durable = false}, clock);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    registry_ = std::make_unique<Registry>(*store_, clock);
    io_thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (checker_) checker_->Stop();
    if (dns_) dns_->Stop();
    work_.reset();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    dns_.reset();
    answerer_.reset();
    checker_.reset();
    registry_.reset();
    store_.reset();
  }
  uint16_t StartDns() {
    answerer_ = std::make_unique<dns::Answerer>(*registry_);
    auto d = dns::DnsServer::Listen(io_, *answerer_, {.address = "127.0.0.1:0"});
    EXPECT_TRUE(d.has_value()) << d.error().message;
    dns_ = std::move(*d);
    dns_->Start();
    return dns_->port();
  }
  void StartChecker() {
    checker_ = std::make_unique<health::HealthChecker>(io_, *registry_, &exec_,
                                                       health::HealthCheckerOptions{});
    ASSERT_TRUE(checker_->Start().has_value());
  }
  std::string Dig(uint16_t port, const std::string& args) {
    return RunCommand(fmt::format("dig @127.0.0.1 -p {} +time=5 +tries=2 {}", port, args));
  }
  Health HealthOf(std::string_view service, std::string_view id) {
    auto in = registry_->GetInstance("default", service, id);
    return in ? in->health : Health::kCritical;
  }

  TempDir dir_{"berth-registry-it"};
  // The clocks outlive the store (its lease reaper reads them until TearDown closes it).
  SystemClock system_clock_;
  ManualClock manual_clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Registry> registry_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread io_thread_;
  testing::LocalExecRunner exec_{io_};
  std::unique_ptr<health::HealthChecker> checker_;
  std::unique_ptr<dns::Answerer> answerer_;
  std::unique_ptr<dns::DnsServer> dns_;
};

// Records every health transition of one instance as the registry watch reports it.
struct HealthLog {
  std::mutex mu;
  std::vector<std::pair<Health, std::string>> transitions;
  WatchHandler Handler(std::string id) {
    return [this, id](WatchBatch&& b) {
      std::lock_guard lock(mu);
      for (auto& e : b.events) {
        if (e.id != id || !e.instance) continue;
        if (transitions.empty() || transitions.back().first != e.instance->health) {
          transitions.emplace_back(e.instance->health, e.instance->health_output);
        }
      }
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return transitions.size();
  }
};

TEST_F(RegistryIt, UnhealthyHttpServiceLeavesWithinFallAndReturnsWithinRise) {
  SystemClock& clock = system_clock_;
  Open(clock);
  registry::testing::HttpStub stub;
  auto in = Make("web", "w1", "127.0.0.1", stub.port());
  in.check = CheckSpec{.kind = CheckSpec::Kind::kHttp,
                       .http = fmt::format("http://127.0.0.1:{}/healthz", stub.port()),
                       .interval = 100ms,
                       .timeout = 100ms,
                       .rise = 2,
                       .fall = 3};
  HealthLog log;
  auto sub = registry_->Watch("default", "web", 0, log.Handler("w1"));
  ASSERT_TRUE(sub.has_value());
  ASSERT_TRUE(registry_->Register(in).has_value());
  StartChecker();
  ASSERT_TRUE(WaitFor([&] { return HealthOf("web", "w1") == Health::kPassing; }));

  stub.SetStatus(503);
  ASSERT_TRUE(WaitFor([&] { return HealthOf("web", "w1") == Health::kCritical; }));
  // Counted, not timed: the store recorded the transition after exactly `fall` failures,
  // and the server had answered at least that many (one more may be in flight now).
  EXPECT_EQ(registry_->GetInstance("default", "web", "w1")->health_output,
            "HTTP 503 (3 consecutive)");
  EXPECT_GE(stub.Served(503), 3);
  EXPECT_LE(stub.Served(503), 4);
  auto passing = registry_->GetService("default", "web", {.passing_only = true});
  ASSERT_TRUE(passing.has_value());
  EXPECT_TRUE(passing->instances.empty());

  int64_t ok_before = stub.Served(200);
  stub.SetStatus(200);
  ASSERT_TRUE(WaitFor([&] { return HealthOf("web", "w1") == Health::kPassing; }));
  EXPECT_EQ(registry_->GetInstance("default", "web", "w1")->health_output,
            "HTTP 200 (2 consecutive)");
  EXPECT_GE(stub.Served(200) - ok_before, 2);
  EXPECT_LE(stub.Served(200) - ok_before, 3);
  // The watch saw: critical (registered), passing, critical, passing — nothing else.
  ASSERT_TRUE(WaitFor([&] { return log.size() == 4; }));
  std::lock_guard lock(log.mu);
  EXPECT_EQ(log.transitions[0].first, Health::kCritical);
  EXPECT_EQ(log.transitions[1].first, Health::kPassing);
  EXPECT_EQ(log.transitions[2].first, Health::kCritical);
  EXPECT_EQ(log.transitions[3].first, Health::kPassing);
}

TEST_F(RegistryIt, InstanceWhoseHeartbeatStopsIsGoneWithinTtlPlusOneSecond) {
  // The store's leases run on this clock, so the bound is checked on the store's own time.
  ManualClock& clock = manual_clock_;
  Open(clock);
  auto in = Make("web", "w1", "10.0.0.1", 80);
  in.ttl_seconds = 5;
  auto reg = registry_->Register(in);
  ASSERT_TRUE(reg.has_value()) << reg.error().message;
  for (int i = 0; i < 3; ++i) {  // heartbeats keep it
    clock.Advance(4s);
    ASSERT_TRUE(registry_->Heartbeat("default", "web", "w1").has_value());
  }
  // Heartbeats stop. Just before TTL the lease still has time left and the instance is there.
  clock.Advance(4900ms);
  auto ttl = store_->LeaseTimeToLive(reg->lease);
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GE(ttl->ttl, 0);
  EXPECT_TRUE(registry_->GetInstance("default", "web", "w1").has_value());
  // At TTL + 1 s on the store's clock it must go (the reaper runs in real time: wait).
  clock.Advance(1100ms);
  ASSERT_TRUE(WaitFor([&] { return !registry_->GetInstance("default", "web", "w1").has_value(); }))
      << "instance still registered 1 s after its TTL lapsed";
  EXPECT_EQ(registry_->Heartbeat("default", "web", "w1").error().code, ErrorCode::kNotFound);
}

TEST_F(RegistryIt, HeartbeatStopsInRealTimeAndTheInstanceGoes) {
  SystemClock& clock = system_clock_;
  Open(clock);
  auto in = Make("web", "w1", "10.0.0.1", 80);
  in.ttl_seconds = 1;
  ASSERT_TRUE(registry_->Register(in).has_value());
  std::mutex mu;
  int64_t deleted_at = 0;
  auto sub = registry_->Watch("default", "web", 0, [&](WatchBatch&& b) {
    for (auto& e : b.events) {
      if (e.type == WatchEvent::Type::kDelete) {
        std::lock_guard lock(mu);
        deleted_at = e.revision;
      }
    }
  });
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return deleted_at > 0;
  }));
  EXPECT_FALSE(registry_->GetInstance("default", "web", "w1").has_value());
}

TEST_F(RegistryIt, WatcherFromRevisionReceivesEveryChangeInOrderAcrossAReconnect) {
  SystemClock& clock = system_clock_;
  Open(clock);
  std::vector<int64_t> expected;
  ASSERT_TRUE(registry_->Register(Make("web", "seed", "10.0.0.1", 80)).has_value());
  int64_t n = *store_->CurrentRevision();
  for (int i = 0; i < 20; ++i) {
    auto r = registry_->Register(Make("web", fmt::format("i{}", i), "10.0.0.2", 8000 + i));
    ASSERT_TRUE(r.has_value());
    expected.push_back(r->revision);
    if (i % 3 == 0) {
      ASSERT_TRUE(registry_->Register(Make("other", "x", "10.0.0.3", 1)).has_value());  // unwatched
    }
  }
  std::mutex mu;
  std::vector<int64_t> got;
  auto handler = [&](WatchBatch&& b) {
    std::lock_guard lock(mu);
    for (auto& e : b.events) got.push_back(e.revision);
  };
  auto sub = registry_->Watch("default", "web", n + 1, handler);
  ASSERT_TRUE(sub.has_value());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return got.size() >= expected.size();
  }));
  (*sub)->Cancel();  // the client goes away...
  int64_t last;
  {
    std::lock_guard lock(mu);
    last = got.back();
  }
  // ...changes happen while it is away...
  for (int i = 0; i < 10; ++i) {
    auto d = registry_->Deregister("default", "web", fmt::format("i{}", i));
    ASSERT_TRUE(d.has_value());
    expected.push_back(*d);
  }
  // ...and it resumes from the last revision it saw + 1.
  auto again = registry_->Watch("default", "web", last + 1, handler);
  ASSERT_TRUE(again.has_value());
  for (int i = 0; i < 5; ++i) {
    auto r = registry_->Register(Make("web", fmt::format("late{}", i), "10.0.0.4", 9000 + i));
    expected.push_back(r->revision);
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return got.size() >= expected.size();
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(got, expected);
}

TEST_F(RegistryIt, DigSrvReturnsExactlyThePassingInstances) {
  SystemClock& clock = system_clock_;
  Open(clock);
  ASSERT_TRUE(registry_->Register(Make("web", "w1", "10.0.0.1", 8081)).has_value());
  ASSERT_TRUE(registry_->Register(Make("web", "w2", "10.0.0.2", 8082)).has_value());
  ASSERT_TRUE(registry_->Register(Make("web", "w3", "10.0.0.3", 8083)).has_value());
  ASSERT_TRUE(registry_->Register(Make("web", "w4", "10.0.0.4", 8084)).has_value());
  ASSERT_TRUE(registry_->SetHealth("default", "web", "w3", Health::kCritical, "down").has_value());
  ASSERT_TRUE(registry_->SetHealth("default", "web", "w4", Health::kWarning, "slow").has_value());
  auto prod = Make("api", "a1", "10.9.0.1", 7001);
  prod.ns = "prod";
  ASSERT_TRUE(registry_->Register(prod).has_value());
  uint16_t port = StartDns();

  auto srv = Lines(Dig(port, "web.service.berth SRV +short"));
  std::set<std::string> got(srv.begin(), srv.end());
  EXPECT_EQ(got, (std::set<std::string>{"1 1 8081 0a000001.addr.berth.",
                                        "1 1 8082 0a000002.addr.berth."}));
  auto tcp = Lines(Dig(port, "web.service.default.berth SRV +short +tcp"));
  EXPECT_EQ(std::set<std::string>(tcp.begin(), tcp.end()), got);
  auto a = Lines(Dig(port, "web.service.berth A +short"));
  EXPECT_EQ(std::set<std::string>(a.begin(), a.end()),
            (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(Lines(Dig(port, "api.service.prod.berth A +short")),
            std::vector<std::string>{"10.9.0.1"});
  // The SRV answer carries the targets' addresses and a short TTL.
  auto full = Dig(port, "web.service.berth SRV +noall +answer +additional");
  EXPECT_NE(full.find("0a000001.addr.berth.\t5\tIN\tA\t10.0.0.1"), std::string::npos) << full;
  EXPECT_NE(full.find("web.service.berth.\t5\tIN\tSRV"), std::string::npos) << full;
  EXPECT_NE(Dig(port, "nope.service.berth SRV").find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(Dig(port, "example.com A").find("status: REFUSED"), std::string::npos);
}

TEST_F(RegistryIt, DigSeesAnInstanceLeaveWhenItsCheckFails) {
  SystemClock& clock = system_clock_;
  Open(clock);
  registry::testing::HttpStub good, bad;
  auto check = [](uint16_t p) {
    return CheckSpec{.kind = CheckSpec::Kind::kHttp,
                     .http = fmt::format("http://127.0.0.1:{}/", p),
                     .interval = 100ms,
                     .timeout = 100ms,
                     .rise = 1,
                     .fall = 2};
  };
  auto a = Make("web", "a", "127.0.0.1", good.port());
  a.check = check(good.port());
  auto b = Make("web", "b", "127.0.0.2", bad.port());
  b.check = check(bad.port());
  ASSERT_TRUE(registry_->Register(a).has_value());
  ASSERT_TRUE(registry_->Register(b).has_value());
  StartChecker();
  uint16_t port = StartDns();
  ASSERT_TRUE(WaitFor([&] { return Lines(Dig(port, "web.service.berth A +short")).size() == 2; }));
  bad.SetStatus(500);
  ASSERT_TRUE(WaitFor([&] {
    return Lines(Dig(port, "web.service.berth A +short")) == std::vector<std::string>{"127.0.0.1"};
  }));
}

TEST_F(RegistryIt, LargeAnswersAreTruncatedOverUdpAndCompleteOverTcp) {
  SystemClock& clock = system_clock_;
  Open(clock);
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(registry_
                    ->Register(Make("big", fmt::format("i{}", i),
                                    fmt::format("10.1.{}.{}", i / 200, i % 200 + 1),
                                    static_cast<uint32_t>(9000 + i)))
                    .has_value());
  }
  uint16_t port = StartDns();
  auto udp = Dig(port, "big.service.berth SRV +noedns +ignore");
  EXPECT_NE(udp.find(" tc"), std::string::npos) << udp;
  // dig retries over TCP on TC by itself, and gets everything.
  EXPECT_EQ(Lines(Dig(port, "big.service.berth SRV +noedns +short")).size(), 60u);
}

TEST_F(RegistryIt, BadInputGetsAClearErrorAndChangesNothing) {
  SystemClock& clock = system_clock_;
  Open(clock);
  ASSERT_TRUE(registry_->Register(Make("web", "w1", "10.0.0.1", 80)).has_value());
  int64_t rev = *store_->CurrentRevision();
  struct Case {
    std::string ns, service, body, message;
  };
  std::vector<Case> cases = {
      {"Bad_NS", "web", R"({"address":"10.0.0.1","port":80})", "namespace \"Bad_NS\""},
      {"default", "web", R"({"address":"10.0.0.1","port":0})",
       "port: must be an integer from 1 to 65535, got 0"},
      {"default", "web", R"({"address":"10.0.0.1","port":70000})",
       "port: must be an integer from 1 to 65535, got 70000"},
      {"default", "web", R"({"address":"10.0.0.1","port":80,"ttl":"0s"})",
       "ttl: must be at least 1s"},
      {"default", "web", R"({"address":"10.0.0.1","port":80,"check":{"http":"ftp://x/"}})",
       "http:// or https://"},
  };
  std::string huge = R"({"address":"10.0.0.1","port":80,"metadata":{)";
  for (int i = 0; i < 1000; ++i) huge += fmt::format("{}\"k{}\":\"v\"", i ? "," : "", i);
  huge += "}}";
  cases.push_back({"default", "web", huge, "metadata: has 1000 entries; at most 64"});
  for (const auto& c : cases) {
    auto parsed = ParseRegistration(c.body, c.ns, c.service, "w1");
    ASSERT_FALSE(parsed.has_value()) << c.body;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find(c.message), std::string::npos) << parsed.error().message;
  }
  auto bad = Make("web", "w1", "10.0.0.1", 70000);
  EXPECT_EQ(registry_->Register(bad).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(*store_->CurrentRevision(), rev);
  EXPECT_EQ(registry_->GetInstance("default", "web", "w1")->port, 80u);
}

}  // namespace
}  // namespace berth::registry
