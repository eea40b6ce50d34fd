// /v1/nodes against a real `berthd dev --no-agent`: registration under a lease, heartbeats,
// lease expiry, cordon/drain kept across re-registration, assignment list and watch
// (resumed from a revision), status reports under the node's lease, roles, bad input.
#include <gtest/gtest.h>

#include <thread>

#include "core/http/client.h"
#include "core/http/testing/json_lines.h"
#include "core/json.h"
#include "harness/harness.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

namespace orch = berth::orchestrator;

class NodeApi : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(berthd_.Start()); }

  Json Call(std::string_view method, std::string_view path, std::string body = {}, int want = 200,
            std::string token = "\x01") {
    auto r = berthd_.Request(method, path, std::move(body), std::move(token));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (!r) return Json();
    EXPECT_EQ(r->status, want) << method << " " << path << ": " << r->body;
    auto j = ParseJson(r->body);
    return j ? *j : Json();
  }

  Json Register(const std::string& node, int ttl, std::string labels = R"({"zone":"a"})") {
    return Call("PUT", "/v1/nodes/" + node,
                R"({"labels":)" + labels +
                    R"(,"capacity":{"cpu_millis":2000,"memory_bytes":1073741824,"pids":512},)"
                    R"("address":"127.0.0.1","ttl_seconds":)" +
                    std::to_string(ttl) + "}");
  }

  Json Node(const std::string& node, int want = 200) {
    return Call("GET", "/v1/nodes/" + node, {}, want);
  }

  // Writes an assignment straight into the store, as the reconciler does.
  int64_t Assign(const std::string& node, const std::string& id) {
    orch::Assignment a;
    a.instance.id = id;
    a.instance.ns = "default";
    a.instance.app = "shop";
    a.instance.service = "api";
    a.instance.node_id = node;
    a.instance.resources = {250, 64 << 20, 32};
    a.spec.name = "api";
    a.spec.image = "shop-api:v1";
    a.spec.resources = a.instance.resources;
    auto j = Call("PUT", "/v1/kv" + orch::AssignmentKey(a.instance),
                  Json{{"value", orch::AssignmentToJson(a)}}.dump());
    return j.value("revision", int64_t{0});
  }

  TempDir dir_{"berth-node-api"};
  // Without the orchestrator's controller: these tests write assignments by hand, which a
  // controller would stop (their app does not exist).
  Berthd berthd_{dir_.MakeSubdir("data"), {"--no-controller"}};
};

TEST_F(NodeApi, RegistersUnderALeaseThatHeartbeatsKeepAndExpiryEnds) {
  Json reg = Register("node-1", 2);
  int64_t lease = reg.value("lease", int64_t{0});
  ASSERT_GT(lease, 0);
  EXPECT_EQ(reg["node"]["status"], "ready");
  EXPECT_EQ(reg["node"]["capacity"]["cpu_millis"], 2000);
  Json list = Call("GET", "/v1/nodes");
  ASSERT_EQ(list["nodes"].size(), 1u);
  EXPECT_EQ(list["nodes"][0]["id"], "node-1");
  EXPECT_EQ(list["nodes"][0]["labels"]["zone"], "a");
  EXPECT_EQ(list["nodes"][0]["address"], "127.0.0.1");

  // Heartbeats keep the node for several TTLs.
  for (int i = 0; i < 6; ++i) {
    Call("POST", "/v1/nodes/node-1/heartbeat", R"({"lease":)" + std::to_string(lease) + "}");
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  EXPECT_EQ(Node("node-1")["status"], "ready");

  // Without them the key goes with the lease, and a heartbeat says to register again.
  ASSERT_TRUE(WaitFor([&] {
    auto r = berthd_.Request("GET", "/v1/nodes/node-1");
    return r && r->status == 404;
  }));
  Json hb =
      Call("POST", "/v1/nodes/node-1/heartbeat", R"({"lease":)" + std::to_string(lease) + "}", 404);
  EXPECT_NE(hb["error"]["message"].get<std::string>().find("register again"), std::string::npos);
  // A heartbeat with another lease than the node's is refused too.
  int64_t lease2 = Register("node-1", 30).value("lease", int64_t{0});
  ASSERT_NE(lease2, lease);
  Call("POST", "/v1/nodes/node-1/heartbeat", R"({"lease":)" + std::to_string(lease) + "}", 404);
  Call("POST", "/v1/nodes/node-1/heartbeat", R"({"lease":)" + std::to_string(lease2) + "}");
}

TEST_F(NodeApi, CordonAndDrainOutliveReRegistration) {
  Register("node-1", 30);
  EXPECT_EQ(Call("POST", "/v1/nodes/node-1/cordon")["status"], "cordoned");
  EXPECT_EQ(Register("node-1", 30)["node"]["status"], "cordoned");
  EXPECT_EQ(Call("POST", "/v1/nodes/node-1/drain")["status"], "draining");
  EXPECT_EQ(Register("node-1", 30)["node"]["status"], "draining");
  EXPECT_EQ(Call("POST", "/v1/nodes/node-1/uncordon")["status"], "ready");
  EXPECT_EQ(Register("node-1", 30)["node"]["status"], "ready");
  // The stored node still decodes for the reconciler, with its address kept.
  Json kv = Call("GET", "/v1/kv/nodes/node-1");
  ASSERT_TRUE(kv["kv"].contains("value")) << kv.dump();
  auto n = orch::NodeFromJson(kv["kv"]["value"].get<std::string>());
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->status, orch::NodeStatus::kReady);
  EXPECT_EQ(n->capacity.memory_bytes, 1073741824);
  Call("POST", "/v1/nodes/nope/cordon", {}, 404);
}

TEST_F(NodeApi, ListsAndWatchesAssignmentsFromARevision) {
  Register("node-1", 30);
  Register("node-2", 30);
  Assign("node-1", "api-00000001");
  Assign("node-2", "api-00000002");
  Json list = Call("GET", "/v1/nodes/node-1/assignments");
  ASSERT_EQ(list["assignments"].size(), 1u);
  EXPECT_EQ(list["assignments"][0]["instance"]["id"], "api-00000001");
  int64_t from = list.value("revision", int64_t{0}) + 1;

  // Allocations show up in the node list.
  Json nodes = Call("GET", "/v1/nodes");
  ASSERT_EQ(nodes["nodes"].size(), 2u);
  EXPECT_EQ(nodes["nodes"][0]["allocated"]["cpu_millis"], 250);
  EXPECT_EQ(nodes["nodes"][0]["instances"], 1);

  // Changes after the list: one put and one delete on node-1, one put on node-2.
  int64_t r1 = Assign("node-1", "api-00000003");
  Call("DELETE", "/v1/kv/nodes/node-1/assignments/default/shop/api-00000001");
  Assign("node-2", "api-00000004");

  auto client = http::Client::Create(berthd_.base());
  ASSERT_TRUE(client);
  http::Request req;
  req.method = "GET";
  req.target = "/v1/nodes/node-1/assignments?watch=1&revision=" + std::to_string(from);
  req.headers.Set("Authorization", "Bearer " + berthd_.admin_token());
  std::vector<Json> lines;
  auto st = http::testing::StreamJsonLines(**client, req, [&](const Json& j) {
    if (j["type"] != "progress") lines.push_back(j);
    return lines.size() < 2;
  });
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["type"], "put");
  EXPECT_EQ(lines[0]["revision"], r1);
  EXPECT_EQ(lines[0]["assignment"]["instance"]["id"], "api-00000003");
  EXPECT_EQ(lines[1]["type"], "delete");
  EXPECT_EQ(lines[1]["key"], "/nodes/node-1/assignments/default/shop/api-00000001");
  EXPECT_FALSE(lines[1].contains("assignment"));

  // Resuming after the first event delivers the second again, and nothing of node-2.
  auto client2 = http::Client::Create(berthd_.base());
  req.target = "/v1/nodes/node-1/assignments?watch=1&revision=" + std::to_string(r1 + 1);
  lines.clear();
  st = http::testing::StreamJsonLines(**client2, req, [&](const Json& j) {
    lines.push_back(j);
    return j["type"] != "progress";
  });
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0]["type"], "delete");
  EXPECT_EQ(lines.back()["type"], "progress");  // the keep-alive line of an idle stream
}

TEST_F(NodeApi, StatusReportsLiveUnderTheNodesLease) {
  const std::string path = "/v1/nodes/node-1/status/default/shop/api-00000001";
  const std::string body =
      R"({"state":"ready","readySinceMs":1700000000000,"message":"","ip":"100.64.0.9","ports":{"8080":0}})";
  // Not registered: refused.
  Call("PUT", path, body, 404);
  Register("node-1", 2);
  Assign("node-1", "api-00000001");
  Call("PUT", path, body);
  Json n = Node("node-1");
  ASSERT_EQ(n["assignments"].size(), 1u);
  EXPECT_EQ(n["assignments"][0]["state"], "ready");
  EXPECT_EQ(n["assignments"][0]["ip"], "100.64.0.9");
  EXPECT_EQ(n["ready"], 1);
  // The reconciler reads it.
  Json kv = Call("GET", "/v1/kv/nodes/node-1/status/default/shop/api-00000001");
  auto s = orch::InstanceStatusFromJson(kv["kv"]["value"].get<std::string>());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->state, orch::InstanceState::kReady);
  // Deleted explicitly...
  Call("DELETE", path);
  EXPECT_EQ(Node("node-1")["assignments"][0]["state"], "pending");
  // ...or with the node's lease: the node shows as down (unregistered) while assignments
  // still name it.
  Call("PUT", path, body);
  ASSERT_TRUE(WaitFor([&] {
    auto r = berthd_.Request("GET", "/v1/nodes/node-1");
    auto j = r ? ParseJson(r->body) : Result<Json>(Json());
    return r && r->status == 200 && j && (*j)["registered"] == false;
  }));
  Json gone = Node("node-1");
  EXPECT_EQ(gone["status"], "down");
  EXPECT_EQ(gone["assignments"][0]["state"], "pending");
  Call("GET", "/v1/kv/nodes/node-1/status/default/shop/api-00000001", {}, 404);
}

TEST_F(NodeApi, BadInputIsRefusedAndChangesNothing) {
  Register("node-1", 30);
  // Refused calls are audited (a store write), so compare what is under /nodes/.
  Json before = Call("GET", "/v1/kv/nodes/?prefix");
  struct Case {
    std::string method, path, body, want;
  };
  const std::vector<Case> cases = {
      {"PUT", "/v1/nodes/Node_1", R"({"capacity":{}})", "is not valid"},
      {"PUT", "/v1/nodes/node-2", R"({})", "request body:1:1: \"capacity\" is required"},
      {"PUT", "/v1/nodes/node-2", R"({"capacity":{"cpu_millis":-5}})", "non-negative"},
      {"PUT", "/v1/nodes/node-2", R"({"capacity":{"cpus":2}})", "capacity.cpus: unknown field"},
      {"PUT", "/v1/nodes/node-2", R"({"capacity":{},"ttl_seconds":0})", "ttl_seconds"},
      {"PUT", "/v1/nodes/node-2", R"({"capacity":{},"labels":{"a":1}})", "must be a string"},
      {"PUT", "/v1/nodes/node-2", R"({"capacity":{},"labels":{"a b":"c"}})", "is not valid"},
      {"PUT", "/v1/nodes/node-2", R"({"capacity":{},"extra":true})", "unknown field"},
      {"PUT", "/v1/nodes/node-2", R"([1])", "must be an object, got an array"},
      {"POST", "/v1/nodes/node-1/heartbeat", R"({})", "\"lease\" is required"},
      {"PUT", "/v1/nodes/node-1/status/default/shop/api-1", R"({"state":"sleepy"})",
       "state: must be one of pending, starting, ready, unready, stopping, stopped or failed, got "
       "\"sleepy\""},
      {"PUT", "/v1/nodes/node-1/status/default/shop/api-1", R"({"message":"x"})",
       "\"state\" is required"},
      {"PUT", "/v1/nodes/node-1/status/default/shop/api-1", R"({"state":"ready","ports":{"0":1}})",
       "ports"},
      {"PUT", "/v1/nodes/node-1/status/default/Shop/api-1", R"({"state":"ready"})",
       "app \"Shop\" is not valid"},
      {"GET", "/v1/nodes/node-1/assignments?watch=1&revision=x", "", "must be an integer"},
  };
  for (const auto& c : cases) {
    Json j = Call(c.method, c.path, c.body, 400);
    ASSERT_TRUE(j.contains("error")) << c.path << " " << c.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.want), std::string::npos)
        << c.body << " -> " << j.dump();
  }
  EXPECT_EQ(Call("GET", "/v1/kv/nodes/?prefix")["kvs"], before["kvs"]);
  EXPECT_EQ(Call("GET", "/v1/nodes")["nodes"].size(), 1u);
}

TEST_F(NodeApi, ViewersReadButCannotChangeNodes) {
  Register("node-1", 30);
  Json t = Call("POST", "/v1/tokens", R"({"name":"watcher","role":"viewer"})", 201);
  std::string viewer = t.value("token", "");
  ASSERT_FALSE(viewer.empty()) << t.dump();
  Call("GET", "/v1/nodes", {}, 200, viewer);
  Call("GET", "/v1/nodes/node-1/assignments", {}, 200, viewer);
  Call("POST", "/v1/nodes/node-1/cordon", {}, 403, viewer);
  Call("PUT", "/v1/nodes/node-2", R"({"capacity":{}})", 403, viewer);
  Call("GET", "/v1/nodes", {}, 401, "");
  EXPECT_EQ(Node("node-1")["status"], "ready");
}

}  // namespace
}  // namespace berth::testing
