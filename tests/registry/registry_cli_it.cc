// `berth service ...` against a real API server (in process) over the sqlite store.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>

#include "api/api_server.h"
#include "api/registry_endpoints.h"
#include "harness/harness.h"
#include "registry/component.h"
#include "registry/testing/http_stub.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::registry {
namespace {

using berth::testing::TempDir;
using berth::testing::WaitFor;

struct Out {
  int code = -1;
  std::string text;
};

class RegistryCliIt : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.Sub("store.db"), {.durable = false}, clock_);
    ASSERT_TRUE(s.has_value());
    store_ = std::move(*s);
    tokens_ = std::make_unique<security::TokenService>(*store_, clock_);
    audit_ = std::make_unique<security::AuditLog>(*store_, clock_);
    token_ = tokens_->Create("cli", {.role = security::Role::kAdmin}, "test")->secret;
    auto c = Component::Start(*store_, clock_, {.dns_address = ""});
    ASSERT_TRUE(c.has_value());
    component_ = std::move(*c);
    api::Router router;
    api::RegisterRegistryEndpoints(router, component_->registry(), component_->io(),
                                   component_->blocking());
    auto a = api::ApiServer::Start(
        {.address = "127.0.0.1:0"},
        {.tokens = tokens_.get(), .audit = audit_.get(), .clock = &clock_}, std::move(router));
    ASSERT_TRUE(a.has_value());
    api_ = std::move(*a);
  }
  void TearDown() override {
    if (api_) api_->Stop();
    api_.reset();
    component_.reset();
  }
  Out Berth(const std::string& args) {
    std::string cmd =
        fmt::format("{} --addr http://127.0.0.1:{} --token {} {} 2>&1",
                    berth::testing::BinaryPath("src/cmd/berth"), api_->port(), token_, args);
    Out out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.text.append(buf, n);
    int status = ::pclose(f);
    out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
  }

  // Runs `berth ARGS` (a watch: it does not end by itself) until its output holds every
  // one of `want`, then stops it; returns the output.
  std::string WatchUntil(const std::vector<std::string>& args,
                         const std::vector<std::string>& want) {
    std::vector<std::string> argv = {berth::testing::BinaryPath("src/cmd/berth"), "--addr",
                                     fmt::format("http://127.0.0.1:{}", api_->port()), "--token",
                                     token_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = berth::testing::Process::Start(
        "berth-watch", argv, {.log_path = dir_.Sub(fmt::format("watch{}.log", watches_++))});
    if (!p) {
      ADD_FAILURE() << "cannot start berth";
      return "";
    }
    WaitFor([&] {
      std::string out = p->Logs();
      return std::ranges::all_of(
          want, [&](const std::string& w) { return out.find(w) != std::string::npos; });
    });
    p->Stop();
    return p->Logs();
  }

  SystemClock clock_;
  TempDir dir_{"berth-registry-cli-it"};
  int watches_ = 0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<security::TokenService> tokens_;
  std::unique_ptr<security::AuditLog> audit_;
  std::unique_ptr<Component> component_;
  std::unique_ptr<api::ApiServer> api_;
  std::string token_;
};

TEST_F(RegistryCliIt, RegisterListGetWatchDeregister) {
  registry::testing::HttpStub stub;
  auto r = Berth(fmt::format(
      "service register web --address 127.0.0.1:{} --id web-1 --tag blue --tag v2 --meta zone=a "
      "--ttl 30s --check-http http://127.0.0.1:{}/health --interval 1s",
      stub.port(), stub.port()));
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("registered default/web/web-1"), std::string::npos) << r.text;
  r = Berth("service register web --address 10.0.0.2:8080");
  ASSERT_EQ(r.code, 0) << r.text;  // id defaults to web-10.0.0.2-8080
  ASSERT_TRUE(WaitFor([&] {        // both passing (web-1 once its HTTP check has passed)
    auto j = ParseJson(Berth("-o json service get web --passing").text);
    return j && (*j)["instances"].size() == 2;
  }));
  r = Berth("service ls");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.text.find("web"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("2/2"), std::string::npos) << r.text;
  r = Berth("-o json service get web --tag blue");
  ASSERT_EQ(r.code, 0);
  auto j = ParseJson(r.text);
  ASSERT_TRUE(j.has_value()) << r.text;
  ASSERT_EQ((*j)["instances"].size(), 1u);
  EXPECT_EQ((*j)["instances"][0]["metadata"]["zone"], "a");
  int64_t index = (*j)["index"];
  EXPECT_EQ(Berth("service heartbeat web web-1").code, 0);
  EXPECT_EQ(Berth("service deregister web web-10.0.0.2-8080").code, 0);
  // watch replays from a revision; stopped once it has printed what it must.
  std::string out =
      WatchUntil({"-o", "json", "service", "watch", "web", "--revision", std::to_string(index)},
                 {R"("type":"delete")", "web-10.0.0.2-8080"});
  EXPECT_NE(out.find(R"("type":"delete")"), std::string::npos) << out;
  EXPECT_NE(out.find("web-10.0.0.2-8080"), std::string::npos) << out;
  // Several names share one multiplexed stream; each line names its watch.
  ASSERT_EQ(Berth("service register api --address 10.0.0.9:90 --id api-1").code, 0);
  out = WatchUntil(
      {"-o", "json", "service", "watch", "web", "api", "--revision", std::to_string(index)},
      {R"("type":"delete","watch_id":0)", R"("type":"put","watch_id":1)", "api-1"});
  EXPECT_NE(out.find(R"("type":"delete","watch_id":0)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("type":"put","watch_id":1)"), std::string::npos) << out;
  EXPECT_NE(out.find("api-1"), std::string::npos) << out;
}

TEST_F(RegistryCliIt, BadInputIsAClearErrorAndExitCodeOne) {
  auto r = Berth("service register web --address 10.0.0.1:70000");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("port: must be an integer from 1 to 65535, got 70000"), std::string::npos)
      << r.text;
  r = Berth("service register web --address 10.0.0.1:80 --ttl 0s");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("ttl: must be at least 1s"), std::string::npos) << r.text;
  r = Berth("service register web --address 10.0.0.1:80 --check-http ftp://x/");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("http:// or https://"), std::string::npos) << r.text;
  // --addr is berth's global flag (the API server) wherever it stands; the instance's address
  // is --address, and the error says so.
  r = Berth("service register web --addr 10.0.0.1:80");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.text,
            "error: --address HOST:PORT is required: the instance's address; --addr "
            "(http://10.0.0.1:80) names the berth API server\n");
  r = Berth("-o json service ls");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ((*ParseJson(r.text))["services"].size(), 0u);
}

TEST_F(RegistryCliIt, CheckExecAndNodeRegisterANodeLocalExecCheck) {
  // --check-exec is split at spaces (no shell); each --check-exec-arg is one argument as it
  // is, spaces, quotes and a leading dash included. --node names the node (berth.node).
  auto r = Berth(
      "service register api --address 10.0.0.5:8081 --id api-1 --node n1 "
      "--meta berth.container=api-00000001 --check-exec '/bin/sh  -c' "
      "--check-exec-arg 'test -f \"/tmp/ready\" || exit 2' --check-exec-arg -x --interval 5s");
  ASSERT_EQ(r.code, 0) << r.text;
  r = Berth("-o json service get api");
  ASSERT_EQ(r.code, 0) << r.text;
  auto j = ParseJson(r.text);
  ASSERT_TRUE(j.has_value()) << r.text;
  ASSERT_EQ((*j)["instances"].size(), 1u) << r.text;
  const Json in = (*j)["instances"][0];
  EXPECT_EQ(in["check"]["exec"],
            Json::array({"/bin/sh", "-c", "test -f \"/tmp/ready\" || exit 2", "-x"}))
      << r.text;
  EXPECT_EQ(in["check"]["interval"], "5s") << r.text;
  EXPECT_EQ(in["metadata"]["berth.node"], "n1") << r.text;
  EXPECT_EQ(in["metadata"]["berth.container"], "api-00000001") << r.text;
  // --node alone (no check) names the node too, and agrees with the same --meta.
  r = Berth(
      "service register api --address 10.0.0.6:8081 --id api-2 --node n2 --meta berth.node=n2");
  ASSERT_EQ(r.code, 0) << r.text;
  r = Berth("-o json service get api");
  j = ParseJson(r.text);
  ASSERT_TRUE(j.has_value()) << r.text;
  ASSERT_EQ((*j)["instances"].size(), 2u) << r.text;
  for (const auto& i : (*j)["instances"]) {
    EXPECT_EQ(i["metadata"]["berth.node"], i["id"] == "api-1" ? "n1" : "n2") << r.text;
  }
}

TEST_F(RegistryCliIt, BadCheckFlagsAreAClearErrorAndStoreNothing) {
  struct Case {
    std::string args, error;
  };
  const std::vector<Case> cases = {
      {"--check-http http://127.0.0.1:1/ --check-exec true",
       "--check-http and --check-exec are exclusive"},
      {"--check-tcp 127.0.0.1:1 --check-exec true", "--check-tcp and --check-exec are exclusive"},
      {"--check-http http://127.0.0.1:1/ --check-tcp 127.0.0.1:1",
       "--check-http and --check-tcp are exclusive"},
      {"--check-exec \"/bin/sh -c 'exit 0'\" --meta berth.container=c --node n1",
       "quotes and backslashes are not interpreted"},
      {"--check-exec ' ' --meta berth.container=c --node n1", "--check-exec needs a command"},
      {"--check-exec-arg -c", "--check-exec-arg needs --check-exec"},
      {"--interval 5s", "--interval needs --check-http, --check-tcp or --check-exec"},
      {"--node n2 --meta berth.node=n1", "--node n2 and --meta berth.node=n1 name different"},
      {"--node Not_A_Node", "berth.node"},                              // the server's 400
      {"--check-exec true --node n1", "metadata \"berth.container\""},  // the server's 400
      // Without a node, this control plane has no agent to run it: the server's 400.
      {"--check-exec true --meta berth.container=c", "metadata \"berth.node\""},
  };
  for (const auto& c : cases) {
    auto r = Berth("service register web --address 10.0.0.1:80 " + c.args);
    EXPECT_EQ(r.code, 1) << c.args << ": " << r.text;
    EXPECT_NE(r.text.find("error: "), std::string::npos) << c.args << ": " << r.text;
    EXPECT_NE(r.text.find(c.error), std::string::npos) << c.args << ": " << r.text;
  }
  auto r = Berth("-o json service ls");
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_EQ((*ParseJson(r.text))["services"].size(), 0u) << r.text;
}

}  // namespace
}  // namespace berth::registry
