// The orchestrator's control plane through a real `berthd dev --no-agent`: the /v1/apps API,
// the controller running inside berthd (its assignments, status, events and routes), and the
// `berth` app commands. Nodes are written straight into the store through /v1/kv (the agent
// is another test's), so these tests need no root.
#include <gtest/gtest.h>

#include <fstream>

#include "orchestrator/codec.h"
#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

namespace orch = berth::orchestrator;

constexpr const char* kWeb = R"(name: web
services:
  front:
    image: web/front:1
    replicas: 2
    resources: {cpu: 100m, memory: 64Mi}
    ports: [{name: http, containerPort: 8080}]
    update: {maxSurge: 1, maxUnavailable: 0}
    expose: [{host: web.local, path: /}]
)";

std::string WithImage(std::string spec, std::string_view image) {
  spec.replace(spec.find("web/front:1"), 11, image);
  return spec;
}

class AppsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"),
                                       std::vector<std::string>{"--node-grace", "3s"});
    ASSERT_TRUE(berthd_->Start());
  }

  Json Call(std::string_view method, std::string_view path, std::string body = {}, int want = 200) {
    auto r = berthd_->Request(method, path, std::move(body));
    EXPECT_TRUE(r) << path;
    if (!r) return Json();
    EXPECT_EQ(r->status, want) << method << " " << path << ": " << r->body;
    auto j = ParseJson(r->body);
    return j ? *j : Json();
  }
  void PutKey(const std::string& key, const std::string& value) {
    Call("PUT", "/v1/kv" + key, Json{{"value", value}}.dump());
  }
  std::optional<std::string> GetKey(const std::string& key) {
    auto r = berthd_->Request("GET", "/v1/kv" + key);
    if (!r || r->status != 200) return std::nullopt;
    auto j = ParseJson(r->body);
    return (*j)["kv"].value("value", "");
  }
  void PutNode(const std::string& id, int64_t memory = 8LL << 30) {
    orch::Node n;
    n.id = id;
    n.capacity = {4000, memory, 1000};
    PutKey(orch::NodeKey(id), orch::NodeToJson(n));
  }
  // The app's services as GET /v1/apps/{ns}/{app} shows them.
  Json Service(std::string_view app, std::string_view svc) {
    Json a = Call("GET", "/v1/apps/default/" + std::string(app));
    for (const auto& s : a["services"]) {
      if (s["name"] == svc) return s;
    }
    return Json();
  }
  // Marks every instance of the service ready, as its agent would.
  void ReportReady(std::string_view app, std::string_view svc) {
    Json s = Service(app, svc);
    for (const auto& i : s["instances"]) {
      orch::Instance in;
      in.id = i["id"];
      in.ns = "default";
      in.app = app;
      in.node_id = i["node"];
      PutKey(orch::StatusKey(in), orch::InstanceStatusToJson({orch::InstanceState::kReady, 1, ""}));
    }
  }

  TempDir dir_{"berth-apps"};
  std::unique_ptr<Berthd> berthd_;
};

TEST_F(AppsTest, ApplyPlacesScalesAndDeleteRemovesEverything) {
  PutNode("n1");
  PutNode("n2");
  Json r = Call("POST", "/v1/apps", kWeb, 201);
  EXPECT_EQ(r["action"], "created");
  EXPECT_EQ(r["rolling"], Json::array({"front"}));
  ASSERT_TRUE(WaitFor([&] { return Service("web", "front")["instances"].size() == 2; }))
      << Service("web", "front").dump();
  Json s = Service("web", "front");
  EXPECT_EQ(s["desired"], 2);
  EXPECT_EQ(s["instances"][0]["state"], "pending");
  EXPECT_NE(s["instances"][0]["node"], s["instances"][1]["node"]);  // spread

  Json list = Call("GET", "/v1/apps");
  ASSERT_EQ(list["apps"].size(), 1u);
  EXPECT_EQ(list["apps"][0]["name"], "web");

  Call("POST", "/v1/apps/default/web/services/front/scale", R"({"replicas":3})");
  ASSERT_TRUE(WaitFor([&] { return Service("web", "front")["instances"].size() == 3; }));
  Call("POST", "/v1/apps/default/web/services/front/scale", R"({"replicas":"3"})", 400);
  Call("POST", "/v1/apps/default/web/services/nope/scale", R"({"replicas":1})", 404);

  // expose -> a gateway route owned by the app.
  ASSERT_TRUE(WaitFor([&] { return GetKey("/gateway/routes/default.web.front").has_value(); }));
  auto route = ParseJson(*GetKey("/gateway/routes/default.web.front"));
  EXPECT_EQ((*route)["owner"], "app:default/web");
  EXPECT_EQ((*route)["targets"][0]["service"], "front");

  Json events = Call("GET", "/v1/apps/default/web")["events"];
  std::vector<std::string> reasons;
  for (const auto& e : events) reasons.push_back(e["reason"]);
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "Created"), reasons.end());
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "Scaled"), reasons.end());

  Call("DELETE", "/v1/apps/default/web");
  Call("GET", "/v1/apps/default/web", {}, 404);
  Call("DELETE", "/v1/apps/default/web", {}, 404);
  ASSERT_TRUE(WaitFor([&] {
    auto r = berthd_->Request("GET", "/v1/kv/nodes/?prefix");
    auto j = ParseJson(r->body);
    return !GetKey("/gateway/routes/default.web.front") && (*j)["kvs"].size() == 2;  // nodes
  }));
}

TEST_F(AppsTest, DryRunShowsTheDiffAndStoresNothing) {
  Call("POST", "/v1/apps", kWeb, 201);
  int64_t app_rev = Call("GET", "/v1/apps/default/web")["revision"];
  Json r = Call("POST", "/v1/apps?dry_run=1", WithImage(kWeb, "web/front:2"));
  EXPECT_EQ(r["dry_run"], true);
  EXPECT_EQ(r["action"], "configured");
  ASSERT_EQ(r["diff"].size(), 1u);
  EXPECT_EQ(r["diff"][0]["path"], "services.front.image");
  EXPECT_EQ(r["diff"][0]["before"], "web/front:1");
  EXPECT_EQ(r["diff"][0]["after"], "web/front:2");
  Json stored = Call("GET", "/v1/apps/default/web");
  EXPECT_EQ(stored["spec"]["services"]["front"]["image"], "web/front:1");
  EXPECT_EQ(stored["revision"], app_rev);
  EXPECT_EQ(Call("GET", "/v1/apps/default/web/services/front/rollout")["history"].size(), 1u);
  Json json_spec = Call("POST", "/v1/apps?dry_run=1",
                        R"({"name":"web","services":{"front":{"image":"web/front:1","replicas":2,)"
                        R"("resources":{"cpu":"100m","memory":"64Mi"},)"
                        R"("ports":[{"name":"http","containerPort":8080}],)"
                        R"("update":{"maxSurge":1,"maxUnavailable":0},)"
                        R"("expose":[{"host":"web.local","path":"/"}]}}})");
  EXPECT_EQ(json_spec["action"], "unchanged") << json_spec.dump();
}

TEST_F(AppsTest, InvalidSpecIsA400WithItsLineAndTheStoredAppStays) {
  Call("POST", "/v1/apps", kWeb, 201);
  auto r = berthd_->Request("POST", "/v1/apps",
                            "name: web\nservices:\n  front:\n    image: web/front:2\n"
                            "    replicas: three\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("app.yaml:5"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("replicas"), std::string::npos) << r->body;
  auto empty = berthd_->Request("POST", "/v1/apps", "");
  EXPECT_EQ(empty->status, 400);
  EXPECT_EQ(Call("GET", "/v1/apps/default/web")["spec"]["services"]["front"]["image"],
            "web/front:1");
  // A viewer cannot apply.
  Json tok = Call("POST", "/v1/tokens", R"({"name":"v","role":"viewer"})", 201);
  auto denied = berthd_->Request("POST", "/v1/apps", kWeb, tok.value("token", ""));
  EXPECT_EQ(denied->status, 403);
}

TEST_F(AppsTest, MoreMemoryThanAnyNodeHasIsUnschedulableAndTheRunningVersionStays) {
  PutNode("n1", 2LL << 30);
  Call("POST", "/v1/apps", kWeb, 201);
  ASSERT_TRUE(WaitFor([&] { return Service("web", "front")["instances"].size() == 2; }));
  ReportReady("web", "front");
  ASSERT_TRUE(WaitFor([&] { return Service("web", "front")["available"] == 2; }));
  std::string big = WithImage(kWeb, "web/front:2");
  big.replace(big.find("memory: 64Mi"), 12, "memory: 8Gi");
  Call("POST", "/v1/apps", big);
  ASSERT_TRUE(WaitFor([&] { return Service("web", "front").contains("unschedulable"); }))
      << Service("web", "front").dump();
  Json s = Service("web", "front");
  std::string reason = s["unschedulable"]["reason"];
  EXPECT_EQ(reason.rfind("no node has 8 GiB memory free", 0), 0u) << reason;
  EXPECT_EQ(s["instances"].size(), 2u);
  EXPECT_EQ(s["available"], 2);  // the running version keeps running
  EXPECT_EQ(s["up_to_date"], 0);
}

// The CLI over the same server.
class AppsCliTest : public AppsTest {
 protected:
  using Out = ToolResult;
  Out Berth(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions opts;
    opts.env = {{"BERTH_ADDR", berthd_->base()},
                {"BERTH_TOKEN", berthd_->admin_token()},
                {"XDG_CONFIG_HOME", dir_.Sub("config")},
                {"HOME", dir_.path()}};
    opts.log_path = dir_.Sub("cli-" + std::to_string(counter_++) + ".log");
    return RunTool("berth", std::move(args), std::move(opts));
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.Sub(name);
    std::ofstream(path) << text;
    return path;
  }
  int counter_ = 0;
};

TEST_F(AppsCliTest, ApplyGetDescribeScaleRolloutDelete) {
  PutNode("n1");
  std::string v1 = Write("web.yaml", kWeb);
  std::string v2 = Write("web-v2.yaml", WithImage(kWeb, "web/front:2"));
  Out o = Berth({"apply", "-f", v1});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("app default/web created"), std::string::npos) << o.text;

  o = Berth({"apply", "-f", v2, "--dry-run"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("~ services.front.image: web/front:1 -> web/front:2"), std::string::npos)
      << o.text;

  o = Berth({"get", "apps"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("web"), std::string::npos) << o.text;

  ASSERT_TRUE(WaitFor([&] { return Service("web", "front")["instances"].size() == 2; }));
  o = Berth({"get", "instances"});
  EXPECT_NE(o.text.find("pending"), std::string::npos) << o.text;
  o = Berth({"-o", "json", "get", "services"});
  auto j = ParseJson(o.text);
  ASSERT_TRUE(j) << o.text;
  EXPECT_EQ((*j)["services"][0]["image"], "web/front:1");

  o = Berth({"scale", "web/front=3"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("default/web/front scaled to 3"), std::string::npos) << o.text;
  o = Berth({"scale", "web/front=x"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("error: replicas \"x\" is not a non-negative integer"), std::string::npos)
      << o.text;

  o = Berth({"describe", "app", "web"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("Service front"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("Scaled"), std::string::npos) << o.text;

  o = Berth({"apply", "-f", v2});
  EXPECT_EQ(o.code, 0) << o.text;
  o = Berth({"rollout", "history", "web/front"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("web/front:1"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("web/front:2"), std::string::npos) << o.text;
  o = Berth({"rollout", "undo", "web/front"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_EQ(Call("GET", "/v1/apps/default/web")["spec"]["services"]["front"]["image"],
            "web/front:1");
  o = Berth({"rollout", "status", "web/front"});
  EXPECT_EQ(o.code, 0) << o.text;

  o = Berth({"apply", "-f", Write("bad.yaml", "name: web\nservices: {front: {replicas: 1}}\n")});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("error: HTTP 400: bad.yaml:"), std::string::npos) << o.text;

  o = Berth({"delete", "-f", v1});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("app default/web deleted"), std::string::npos) << o.text;
  o = Berth({"delete", "app", "default/web"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("HTTP 404"), std::string::npos) << o.text;
}

// A canary through the API and the CLI (nodes and agents' reports written by hand): status,
// the routes the controller writes, promote, and abort.
TEST_F(AppsCliTest, CanaryStatusPromoteAndAbort) {
  PutNode("n1");
  PutNode("n2");
  const std::string spec = R"(name: web
services:
  front:
    image: web/front:1
    replicas: 2
    resources: {cpu: 100m, memory: 64Mi}
    ports: [{name: http, containerPort: 8080}]
    update: {maxSurge: 1, maxUnavailable: 0, canary: {replicas: 1}}
    expose: [{host: web.local, path: /, canaryWeight: 25}]
)";
  auto rollout = [&] { return Call("GET", "/v1/apps/default/web/services/front/rollout"); };
  auto phase = [&] {
    Json r = rollout();
    return r.contains("rollout") && r["rollout"]["to"] == r["deploy_hash"]
               ? r["rollout"].value("phase", "")
               : std::string("pending");
  };
  auto targets = [&]() -> Json {
    auto v = GetKey("/gateway/routes/default.web.front");
    if (!v) return Json();
    auto j = ParseJson(*v);
    return j ? (*j)["targets"] : Json();
  };
  auto instances = [&] { return Service("web", "front")["instances"].size(); };

  ASSERT_EQ(Berth({"apply", "-f", Write("v1.yaml", spec)}).code, 0);
  ASSERT_TRUE(WaitFor([&] { return instances() == 2; }));
  ReportReady("web", "front");
  ASSERT_TRUE(WaitFor([&] { return phase() == "complete"; })) << rollout().dump();

  ASSERT_EQ(Berth({"apply", "-f", Write("v2.yaml", WithImage(spec, "web/front:2"))}).code, 0);
  ASSERT_TRUE(WaitFor([&] { return instances() == 3; })) << Service("web", "front").dump();
  Out o = Berth({"rollout", "status", "web/front"});
  EXPECT_NE(o.text.find("progressing: canary 0 of 1 available (web/front:2), 25% of traffic; "
                        "stable 2 of 2 available (web/front:1)"),
            std::string::npos)
      << o.text;
  ReportReady("web", "front");
  ASSERT_TRUE(WaitFor([&] { return phase() == "paused"; })) << rollout().dump();
  o = Berth({"rollout", "status", "web/front", "--watch", "--timeout", "30s"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("paused: canary 1 of 1 available"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("waiting for berth rollout promote|abort"), std::string::npos) << o.text;
  ASSERT_TRUE(WaitFor([&] { return targets().size() == 2; })) << targets().dump();
  Json t = targets();
  EXPECT_EQ(t[0]["weight"], 75);
  EXPECT_EQ(t[1]["weight"], 25);
  EXPECT_EQ(t[1]["tags"][0], "deploy=" + rollout().value("deploy_hash", ""));

  o = Berth({"rollout", "promote", "web/front"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("web/front promoted"), std::string::npos) << o.text;
  o = Berth({"rollout", "promote", "web/front"});
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_NE(o.text.find("no canary waiting for promotion"), std::string::npos) << o.text;
  ASSERT_TRUE(WaitFor([&] {
    ReportReady("web", "front");
    return phase() == "complete";
  })) << rollout().dump();
  ASSERT_TRUE(WaitFor([&] { return targets().size() == 1 && !targets()[0].contains("tags"); }))
      << targets().dump();
  const Json promoted = Service("web", "front");
  const Json current_hash = rollout()["deploy_hash"];
  for (const auto& i : promoted["instances"]) {
    EXPECT_EQ(i["deploy_hash"], current_hash) << "only the new version is left";
  }

  // A third version, aborted: back to web/front:2, the canary goes.
  ASSERT_EQ(Berth({"apply", "-f", Write("v3.yaml", WithImage(spec, "web/front:3"))}).code, 0);
  ASSERT_TRUE(WaitFor([&] { return instances() == 3; }));
  ReportReady("web", "front");
  ASSERT_TRUE(WaitFor([&] { return phase() == "paused"; })) << rollout().dump();
  o = Berth({"rollout", "abort", "web/front"});
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("aborted: back to the stable version"), std::string::npos) << o.text;
  EXPECT_EQ(Call("GET", "/v1/apps/default/web")["spec"]["services"]["front"]["image"],
            "web/front:2");
  ASSERT_TRUE(WaitFor([&] { return instances() == 2; })) << Service("web", "front").dump();
  ASSERT_TRUE(WaitFor([&] { return targets().size() == 1 && !targets()[0].contains("tags"); }))
      << targets().dump();
  o = Berth({"rollout", "abort", "web/front"});
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_NE(o.text.find("no canary in progress"), std::string::npos) << o.text;
}

}  // namespace
}  // namespace berth::testing
