// Node-local exec checks (docs/decisions/0007) on a real cluster: `berthd server` and a
// `berthd agent` authenticating with a token bound to its node. A registry instance names a
// container on the agent's node ("berth.container", "berth.node"); its exec check runs in that
// runc container on the agent — the control plane has no agent of its own — and is reported
// through PUT .../health. It passes, turns critical after exactly `fall` failures when the
// file goes, passes again after exactly `rise` successes, and turns critical once the agent
// is gone (its node lease ends). A node's token cannot report on another node's instances.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/http/client.h"
#include "tests/nodes/cluster.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

// PUT/GET with a given token; the status and the parsed body.
struct Answer {
  int status = 0;
  Json body;
};

Answer As(const Cluster& c, const std::string& token, std::string_view method,
          const std::string& path, const Json& body = Json()) {
  http::Headers h;
  h.Set("Authorization", "Bearer " + token);
  std::string text;
  if (!body.is_null()) {
    h.Set("Content-Type", "application/json");
    text = body.dump();
  }
  auto r = http::Fetch(method, "http://127.0.0.1:" + std::to_string(c.port()) + path,
                       std::move(text), std::move(h));
  Answer a;
  if (!r) return a;
  a.status = r->status;
  auto j = ParseJson(r->body);
  if (j) a.body = *j;
  return a;
}

Json ExecRegistration(const std::string& container, const std::string& node) {
  return Json{{"address", "127.0.0.1"},
              {"port", 80},
              {"metadata", {{"berth.container", container}, {"berth.node", node}}},
              {"check",
               {{"exec", {"/bin/sh", "-c", "test -f /tmp/ok || exit 2"}},
                {"interval", "1s"},
                {"timeout", "1s"},
                {"rise", 2},
                {"fall", 3}}}};
}

class NodeChecksIT : public ::testing::Test {
 protected:
  Json Instance(const std::string& path) { return cluster_.Call("GET", path); }

  Cluster cluster_;
};

TEST_F(NodeChecksIT, ExecCheckOnARemoteAgentFollowsTheFileAndTheNode) {
  ASSERT_TRUE(cluster_.StartServer("server", {"--no-controller"}));
  cluster_.UseNodeTokens();
  ASSERT_TRUE(cluster_.StartAgent(0, "n1"));
  auto box = ServiceFromYaml("box", R"(image: busy:v1
command: ["/bin/sh", "-c", "touch /tmp/ok; exec sleep 3600"]
)");
  cluster_.Assign("n1", "shop", "store", box, "box-00000001");
  ASSERT_TRUE(WaitFor([&] { return cluster_.StateOf("n1", "box-00000001") == "ready"; }))
      << cluster_.Instances("n1").dump();
  const int pid = cluster_.InitPid(0, "box-00000001");
  ASSERT_GT(pid, 0);
  const std::string ok_file = fmt::format("/proc/{}/root/tmp/ok", pid);
  ASSERT_TRUE(fs::exists(ok_file));

  // Registered by an admin, as a user would: the check runs on node n1.
  const std::string path = "/v1/registry/shop/box/box-00000001";
  int status = 0;
  Json reg = cluster_.Call("PUT", path, ExecRegistration("box-00000001", "n1").dump(), &status);
  ASSERT_EQ(status, 200) << reg.dump();
  EXPECT_EQ(reg.value("health", ""), "critical");

  // Passing: only the agent can have run it (this control plane has no agent).
  ASSERT_TRUE(WaitFor([&] { return Instance(path).value("health", "") == "passing"; }))
      << Instance(path).dump();
  EXPECT_NE(Instance(path).value("health_output", "").find("first result"), std::string::npos)
      << Instance(path).dump();

  // The file goes: critical after exactly `fall` (3) consecutive failures.
  ASSERT_TRUE(fs::remove(ok_file));
  ASSERT_TRUE(WaitFor([&] { return Instance(path).value("health", "") == "critical"; }))
      << Instance(path).dump();
  std::string output = Instance(path).value("health_output", "");
  EXPECT_NE(output.find("exit 2"), std::string::npos) << output;
  EXPECT_NE(output.find("(3 consecutive)"), std::string::npos) << output;

  // It comes back: passing after exactly `rise` (2) consecutive passes.
  std::ofstream(ok_file) << "ok\n";
  ASSERT_TRUE(WaitFor([&] { return Instance(path).value("health", "") == "passing"; }))
      << Instance(path).dump();
  output = Instance(path).value("health_output", "");
  EXPECT_NE(output.find("(2 consecutive)"), std::string::npos) << output;

  // The agent dies: once its node lease (3 s) ends the leader marks the instance critical
  // instead of leaving it passing with nobody checking.
  cluster_.KillAgent(0);
  ASSERT_TRUE(WaitFor([&] { return Instance(path).value("health", "") == "critical"; }))
      << Instance(path).dump();
  output = Instance(path).value("health_output", "");
  EXPECT_NE(output.find("node n1 is down"), std::string::npos) << output;
}

TEST_F(NodeChecksIT, ANodeTokenReportsOnlyOnItsOwnNodesInstances) {
  ASSERT_TRUE(cluster_.StartServer("server", {"--no-controller"}));
  const std::string n1 = cluster_.CreateNodeToken("n1");
  const std::string n2 = cluster_.CreateNodeToken("n2");
  ASSERT_FALSE(n1.empty());
  ASSERT_FALSE(n2.empty());
  int status = 0;
  Json op = cluster_.Call("POST", "/v1/tokens", Json{{"role", "operator"}}.dump(), &status);
  ASSERT_EQ(status, 201) << op.dump();
  const std::string operator_token = op.value("token", "");

  const std::string path = "/v1/registry/shop/box/x";
  Json reg = cluster_.Call("PUT", path, ExecRegistration("x", "n2").dump(), &status);
  ASSERT_EQ(status, 200) << reg.dump();
  Json http_reg = {{"address", "127.0.0.1"},
                   {"port", 80},
                   {"check", {{"http", "http://127.0.0.1:1/"}, {"interval", "1h"}}}};
  cluster_.Call("PUT", "/v1/registry/shop/web/h", http_reg.dump(), &status);
  ASSERT_EQ(status, 200);

  const Json passing = {{"status", "passing"}, {"output", "exit 0"}};
  // Node n1 cannot set the health of n2's instance; nothing changes.
  Answer a = As(cluster_, n1, "PUT", path + "/health", passing);
  EXPECT_EQ(a.status, 403) << a.body.dump();
  EXPECT_NE(a.body.dump().find("node n1"), std::string::npos) << a.body.dump();
  EXPECT_EQ(Instance(path).value("health_output", ""), "no check result yet");
  // Nor can an operator token bound to no node.
  a = As(cluster_, operator_token, "PUT", path + "/health", passing);
  EXPECT_EQ(a.status, 403) << a.body.dump();
  // Nor can anyone set health that the control plane checks itself.
  a = As(cluster_, n2, "PUT", "/v1/registry/shop/web/h/health", passing);
  EXPECT_EQ(a.status, 409) << a.body.dump();
  // A bad report is refused with what is wrong.
  a = As(cluster_, n2, "PUT", path + "/health", Json{{"status", "fine"}});
  EXPECT_EQ(a.status, 400) << a.body.dump();
  EXPECT_NE(a.body.dump().find("fine"), std::string::npos) << a.body.dump();
  EXPECT_EQ(Instance(path).value("health_output", ""), "no check result yet");

  // n2 lists its check and reports it.
  a = As(cluster_, n2, "GET", "/v1/nodes/n2/checks");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["instances"].size(), 1u) << a.body.dump();
  EXPECT_EQ(a.body["instances"][0].value("id", ""), "x");
  a = As(cluster_, n2, "PUT", path + "/health", passing);
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body.value("health", ""), "passing");

  // A node token acts only as its node.
  EXPECT_EQ(As(cluster_, n1, "GET", "/v1/nodes/n2/checks").status, 403);
  EXPECT_EQ(As(cluster_, n1, "PUT", "/v1/nodes/n2",
               Json{{"capacity", {{"cpu_millis", 1000}, {"memory_bytes", 1 << 30}, {"pids", 100}}}})
                .status,
            403);
  EXPECT_EQ(As(cluster_, n1, "GET", "/v1/apps").status, 403);
  EXPECT_EQ(As(cluster_, n1, "GET", "/v1/nodes/n1/checks").body["instances"].size(), 0u);

  // A node token registers, renews and removes only instances that name its node.
  // (Exec checks need an admin; these registrations carry none.)
  auto plain = [](const std::string& node) {
    return Json{{"address", "127.0.0.1"}, {"port", 80}, {"metadata", {{"berth.node", node}}}};
  };
  a = As(cluster_, n1, "PUT", path, plain("n1"));  // n2's instance, taken over
  EXPECT_EQ(a.status, 403) << a.body.dump();
  EXPECT_NE(a.body.dump().find("belongs to node n2"), std::string::npos) << a.body.dump();
  a = As(cluster_, n1, "PUT", "/v1/registry/shop/box/y", plain("n2"));
  EXPECT_EQ(a.status, 403) << a.body.dump();
  EXPECT_NE(a.body.dump().find("berth.node"), std::string::npos) << a.body.dump();
  EXPECT_EQ(As(cluster_, n1, "DELETE", path).status, 403);
  EXPECT_EQ(As(cluster_, n1, "PUT", path + "/heartbeat").status, 403);
  a = As(cluster_, n1, "DELETE", "/v1/registry/shop/web/h");  // an instance of no node
  EXPECT_EQ(a.status, 403) << a.body.dump();
  EXPECT_NE(a.body.dump().find("belongs to no node"), std::string::npos) << a.body.dump();
  EXPECT_EQ(Instance(path)["metadata"].value("berth.node", ""), "n2");
  EXPECT_EQ(Instance("/v1/registry/shop/web/h").value("id", ""), "h");
  cluster_.Call("GET", "/v1/registry/shop/box/y", "", &status);
  EXPECT_EQ(status, 404);
  // Its own node's instance: registered and removed.
  a = As(cluster_, n1, "PUT", "/v1/registry/shop/box/z", plain("n1"));
  EXPECT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(As(cluster_, n1, "DELETE", "/v1/registry/shop/box/z").status, 200);

  // Node n2 never joined: the leader does not leave its reported "passing" standing.
  ASSERT_TRUE(WaitFor([&] { return Instance(path).value("health", "") == "critical"; }))
      << Instance(path).dump();
  EXPECT_NE(Instance(path).value("health_output", "").find("node n2 is down"), std::string::npos);
}

}  // namespace
}  // namespace berth::testing
