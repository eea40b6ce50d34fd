// Health checks with several control planes on one store: two `berthd server` processes over
// one real etcd. Only the holder of the registry's health lease runs the checks; when it is
// SIGKILLed, the other takes over once the lease lapses and the checks go on (an instance
// that turns unhealthy leaves the passing set, and comes back).
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"
#include "registry/testing/http_stub.h"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class Server {
 public:
  Server(std::string name, const std::string& store, std::string data_dir)
      : name_(std::move(name)), data_dir_(std::move(data_dir)), port_(FreePort()) {
    process_ = Process::Start(name_, {BerthdPath(), "server", "--data-dir", data_dir_, "--api",
                                      "127.0.0.1:" + std::to_string(port_), "--store", store,
                                      "--dns", "none", "--no-controller"});
  }
  bool Ready() {
    return process_ && WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); });
  }
  Result<http::Response> Request(std::string_view method, std::string_view path,
                                 const std::string& token, std::string body = {}) {
    http::Headers h;
    h.Set("Authorization", "Bearer " + token);
    if (!body.empty()) h.Set("Content-Type", "application/json");
    return http::Fetch(method, "http://127.0.0.1:" + std::to_string(port_) + std::string(path),
                       std::move(body), std::move(h));
  }
  // The value of a metric line "name value" on /metrics, or -1.
  int64_t Metric(const std::string& token, const std::string& name) {
    auto r = Request("GET", "/metrics", token);
    if (!r || r->status != 200) return -1;
    size_t at = 0;
    while ((at = r->body.find(name + " ", at)) != std::string::npos) {
      if (at == 0 || r->body[at - 1] == '\n') return std::stoll(r->body.substr(at + name.size()));
      at += name.size();
    }
    return -1;
  }
  Process& process() { return *process_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::string name_;
  std::string data_dir_;
  int port_;
  std::unique_ptr<Process> process_;
};

// The ids of the passing instances of default/web, as one server answers.
std::string Passing(Server& s, const std::string& token) {
  auto r = s.Request("GET", "/v1/registry/default/web?passing", token);
  if (!r || r->status != 200) return "?";
  auto j = ParseJson(r->body);
  if (!j) return "?";
  std::string ids;
  for (const auto& in : (*j)["instances"]) ids += in.value("id", "") + ",";
  return ids;
}

TEST(HealthLeaderIT, OnlyTheLeaderChecksAndTheOtherServerTakesOverWhenItDies) {
  EtcdCluster etcd;
  ASSERT_TRUE(etcd.Start(1)) << etcd.error();
  const std::string store = "etcd://" + etcd.ClientHostPorts();
  TempDir dir("berth-health-leader");
  registry::testing::HttpStub web;

  auto a = std::make_unique<Server>("berthd-a", store, dir.MakeSubdir("a"));
  ASSERT_TRUE(a->Ready());
  std::string token;
  std::ifstream(a->data_dir() + "/admin.token") >> token;  // tokens live in the shared store
  ASSERT_FALSE(token.empty());
  auto b = std::make_unique<Server>("berthd-b", store, dir.MakeSubdir("b"));
  ASSERT_TRUE(b->Ready());

  // Exactly one of the two runs the checks: the first one up holds the lease.
  EXPECT_EQ(a->Metric(token, "berth_registry_health_leader"), 1);
  EXPECT_EQ(b->Metric(token, "berth_registry_health_leader"), 0);
  EXPECT_EQ(b->Metric(token, "berth_registry_probes_total"), -1);  // no checker on b at all

  const std::string body = Json{
      {"address", "127.0.0.1"},
      {"port", web.port()},
      {"check",
       {{"http", "http://127.0.0.1:" + std::to_string(web.port()) + "/"},
        {"interval", "200ms"},
        {"timeout", "200ms"},
        {"rise", 2},
        {"fall", 2}}}}.dump();
  auto put = b->Request("PUT", "/v1/registry/default/web/w1", token, body);  // either server
  ASSERT_TRUE(put && put->status == 200) << (put ? put->body : put.error().message);
  ASSERT_TRUE(WaitFor([&] { return Passing(*b, token) == "w1,"; })) << Passing(*b, token);
  EXPECT_GE(a->Metric(token, "berth_registry_probes_total"), 1);
  EXPECT_EQ(b->Metric(token, "berth_registry_health_leader"), 0);

  // The leader dies without resigning: b leads once a's lease lapses, and checks.
  a->process().Kill(SIGKILL);
  ASSERT_TRUE(a->process().Wait(60s));
  web.SetStatus(503);
  ASSERT_TRUE(WaitFor([&] { return Passing(*b, token).empty(); })) << Passing(*b, token);
  EXPECT_EQ(b->Metric(token, "berth_registry_health_leader"), 1);
  EXPECT_GE(b->Metric(token, "berth_registry_probes_total"), 2);
  auto got = b->Request("GET", "/v1/registry/default/web/w1", token);
  ASSERT_TRUE(got && got->status == 200);
  EXPECT_NE(got->body.find("HTTP 503 (2 consecutive)"), std::string::npos) << got->body;

  web.SetStatus(200);
  ASSERT_TRUE(WaitFor([&] { return Passing(*b, token) == "w1,"; })) << Passing(*b, token);

  // A restarted a (same data dir, same candidate id) waits: b keeps the lease.
  a = std::make_unique<Server>("berthd-a2", store, a->data_dir());
  ASSERT_TRUE(a->Ready());
  EXPECT_EQ(a->Metric(token, "berth_registry_health_leader"), 0);
  EXPECT_EQ(b->Metric(token, "berth_registry_health_leader"), 1);

  // b stops cleanly and resigns: a takes over at once (no lease to wait out) and checks.
  b->process().Stop();
  web.SetStatus(500);
  ASSERT_TRUE(WaitFor([&] { return Passing(*a, token).empty(); })) << Passing(*a, token);
  EXPECT_EQ(a->Metric(token, "berth_registry_health_leader"), 1);
}

}  // namespace
}  // namespace berth::testing
