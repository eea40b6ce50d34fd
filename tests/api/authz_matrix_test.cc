// The authorization matrix: every endpoint berthd serves (read from its own route table,
// GET /v1/api/endpoints) × {admin, operator of the namespace, operator of another namespace,
// global viewer, no token}, against a real `berthd dev` with its agent. Each endpoint has a
// case below: a concrete request on objects of namespace "shop" and the rule this test
// expects (written here, not read from the server, so a wrong declaration fails). An endpoint
// without a case fails the test until one is added. Refused calls must leave every object as
// it was; lists seen by a namespaced token must hold only its namespaces.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

// Who may call, as this test expects it.
enum class Rule {
  kPublic,           // everyone, without a token
  kAnyToken,         // any valid token
  kClusterAdmin,     // global admin only
  kClusterOperator,  // global operator or admin
  kClusterViewer,    // any global role
  kNsOperator,       // operator in shop (global or bound) or admin
  kNsViewer,         // any role in shop
  kAdminOnly,        // admin (or a node token, not in this matrix), even in its namespace
};

enum class Who { kNone, kViewer, kOpBilling, kOpShop, kAdmin };
constexpr Who kEveryone[] = {Who::kNone, Who::kViewer, Who::kOpBilling, Who::kOpShop, Who::kAdmin};

std::string_view WhoName(Who w) {
  switch (w) {
    case Who::kNone:
      return "no token";
    case Who::kViewer:
      return "global viewer";
    case Who::kOpBilling:
      return "operator of billing";
    case Who::kOpShop:
      return "operator of shop";
    case Who::kAdmin:
      return "admin";
  }
  return "?";
}

bool Allowed(Rule rule, Who who) {
  switch (rule) {
    case Rule::kPublic:
      return true;
    case Rule::kAnyToken:
      return who != Who::kNone;
    case Rule::kClusterAdmin:
    case Rule::kAdminOnly:
      return who == Who::kAdmin;
    case Rule::kClusterOperator:
      return who == Who::kAdmin;
    case Rule::kClusterViewer:
      return who == Who::kAdmin || who == Who::kViewer;
    case Rule::kNsOperator:
      return who == Who::kAdmin || who == Who::kOpShop;
    case Rule::kNsViewer:
      return who == Who::kAdmin || who == Who::kOpShop || who == Who::kViewer;
  }
  return false;
}

struct Case {
  Rule rule;
  std::string path;  // with query; "{n}" becomes a fresh number
  std::string body;
  int want = 0;           // the status an allowed caller gets (0: any but 401/403/5xx)
  bool stream = false;    // answers a stream: only its head is read
  bool filtered = false;  // a list: a namespaced token sees only its namespaces in it
};

constexpr const char* kImage = "authz-test:1";

// Nanoseconds since the epoch, as Loki's push API writes timestamps.
std::string NowNs() {
  return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

// Keyed "METHOD pattern", as the route table names endpoints.
std::map<std::string, Case> Cases() {
  const std::string shop_app =
      "namespace: shop\nname: web{n}\nservices:\n  front:\n    image: authz-test:1\n"
      "    replicas: 1\n";
  const std::string run =
      R"({"namespace":"shop","image":"authz-test:1","cmd":["true"],"network":"none"})";
  const std::string route = R"({"match":{"prefix":"/s{n}"},"service":"api","namespace":"shop"})";
  return {
      // System.
      {"GET /v1/health", {Rule::kPublic, "/v1/health", "", 200}},
      {"GET /v1/status", {Rule::kAnyToken, "/v1/status", "", 200}},
      {"GET /v1/api/endpoints", {Rule::kAnyToken, "/v1/api/endpoints", "", 200}},
      // Who the caller is and what it may do; the web console's sign-in and its files.
      {"GET /v1/auth/whoami", {Rule::kAnyToken, "/v1/auth/whoami", "", 200}},
      {"POST /v1/auth/access",
       {Rule::kAnyToken, "/v1/auth/access",
        R"({"checks":[{"method":"GET","path":"/v1/apps/shop/web"}]})", 200}},
      {"POST /v1/auth/login-links", {Rule::kAnyToken, "/v1/auth/login-links", "{}", 201}},
      {"POST /v1/auth/login", {Rule::kPublic, "/v1/auth/login", R"({"code":1})", 400}},
      // Only a console session may end itself (409 for the other tokens).
      {"POST /v1/auth/logout", {Rule::kAnyToken, "/v1/auth/logout", "", 409}},
      {"GET /", {Rule::kPublic, "/", "", 302}},
      {"GET /ui", {Rule::kPublic, "/ui", "", 301}},
      {"GET /ui/{path...}", {Rule::kPublic, "/ui/apps", ""}},
      // What changed (names only), the newest events, every instance: of readable namespaces.
      {"GET /v1/changes", {Rule::kAnyToken, "/v1/changes", "", 200, true}},
      {"GET /v1/events", {Rule::kAnyToken, "/v1/events?limit=5", "", 200}},
      {"GET /v1/instances", {Rule::kAnyToken, "/v1/instances?limit=5", "", 200}},
      // Raw KV (admin).
      {"GET /v1/kv", {Rule::kClusterAdmin, "/v1/kv?prefix&limit=1", "", 200}},
      {"GET /v1/kv/{key...}", {Rule::kClusterAdmin, "/v1/kv/authz/k", ""}},
      {"PUT /v1/kv/{key...}", {Rule::kClusterAdmin, "/v1/kv/authz/k", R"({"value":"1"})", 200}},
      {"DELETE /v1/kv/{key...}", {Rule::kClusterAdmin, "/v1/kv/authz/k", "", 200}},
      {"GET /v1/watch", {Rule::kClusterAdmin, "/v1/watch?prefix", "", 200, true}},
      {"GET /v1/watch/{key...}", {Rule::kClusterAdmin, "/v1/watch/authz/k", "", 200, true}},
      {"POST /v1/leases", {Rule::kClusterAdmin, "/v1/leases", R"({"ttl":60})"}},
      // An unknown lease answers 200 with ttl -1, as etcd's TimeToLive does.
      {"GET /v1/leases/{id}", {Rule::kClusterAdmin, "/v1/leases/4242424242424242", ""}},
      {"PUT /v1/leases/{id}/keepalive",
       {Rule::kClusterAdmin, "/v1/leases/4242424242424242/keepalive", "", 404}},
      {"DELETE /v1/leases/{id}", {Rule::kClusterAdmin, "/v1/leases/4242424242424242", "", 404}},
      {"POST /v1/compact", {Rule::kClusterAdmin, "/v1/compact", R"({"revision":1})"}},
      // Tokens and audit (admin).
      {"POST /v1/tokens", {Rule::kClusterAdmin, "/v1/tokens", R"({"role":"viewer"})", 201}},
      {"GET /v1/tokens", {Rule::kClusterAdmin, "/v1/tokens", "", 200}},
      {"PUT /v1/tokens/{id}",
       {Rule::kClusterAdmin, "/v1/tokens/0000000000000000", R"({"role":"viewer"})", 404}},
      {"DELETE /v1/tokens/{id}", {Rule::kClusterAdmin, "/v1/tokens/0000000000000000", "", 404}},
      {"GET /v1/audit", {Rule::kClusterAdmin, "/v1/audit?limit=1", "", 200}},
      // Nodes: cluster-wide.
      {"PUT /v1/nodes/{node}",
       {Rule::kClusterOperator, "/v1/nodes/n9",
        R"({"address":"127.0.0.1","ttl_seconds":600,"capacity":{"cpu_millis":1000,"memory_bytes":1073741824,"pids":1000}})",
        200}},
      {"POST /v1/nodes/{node}/heartbeat",
       {Rule::kClusterOperator, "/v1/nodes/n9/heartbeat", R"({"lease":7})", 404}},
      {"GET /v1/nodes", {Rule::kClusterViewer, "/v1/nodes", "", 200}},
      {"GET /v1/nodes/{node}", {Rule::kClusterViewer, "/v1/nodes/n9", "", 200}},
      {"POST /v1/nodes/{node}/cordon", {Rule::kClusterOperator, "/v1/nodes/n9/cordon", "", 200}},
      {"POST /v1/nodes/{node}/uncordon",
       {Rule::kClusterOperator, "/v1/nodes/n9/uncordon", "", 200}},
      {"POST /v1/nodes/{node}/drain", {Rule::kClusterOperator, "/v1/nodes/n9/drain", "", 200}},
      {"GET /v1/nodes/{node}/assignments",
       {Rule::kClusterViewer, "/v1/nodes/n9/assignments", "", 200}},
      {"PUT /v1/nodes/{node}/status/{ns}/{app}/{instance}",
       {Rule::kClusterOperator, "/v1/nodes/n9/status/shop/web/i1", R"({"state":"ready"})", 200}},
      {"DELETE /v1/nodes/{node}/status/{ns}/{app}/{instance}",
       {Rule::kClusterOperator, "/v1/nodes/n9/status/shop/web/i1", "", 200}},
      {"GET /v1/nodes/{node}/checks", {Rule::kClusterViewer, "/v1/nodes/n9/checks", "", 200}},
      // Registry: namespaced.
      {"PUT /v1/registry/{ns}/{service}/{instance}",
       {Rule::kNsOperator, "/v1/registry/shop/api/i2", R"({"address":"127.0.0.1","port":8081})",
        200}},
      {"PUT /v1/registry/{ns}/{service}/{instance}/heartbeat",
       {Rule::kNsOperator, "/v1/registry/shop/api/i1/heartbeat", "", 200}},
      // Past the namespace check only the instance's node token or an admin may report, and
      // only for a node-local exec check: this instance has none, so 409 for everyone the
      // namespace lets in (the 403 for an operator: tests/nodes/node_checks_it.cc).
      {"PUT /v1/registry/{ns}/{service}/{instance}/health",
       {Rule::kNsOperator, "/v1/registry/shop/api/i1/health", R"({"status":"passing"})", 409}},
      {"DELETE /v1/registry/{ns}/{service}/{instance}",
       {Rule::kNsOperator, "/v1/registry/shop/api/i1", "", 200}},
      {"GET /v1/registry/{ns}/{service}/{instance}",
       {Rule::kNsViewer, "/v1/registry/shop/api/i1", "", 200}},
      {"GET /v1/registry/{ns}/{service}", {Rule::kNsViewer, "/v1/registry/shop/api", "", 200}},
      {"GET /v1/registry/{ns}", {Rule::kNsViewer, "/v1/registry/shop", "", 200}},
      {"POST /v1/registry:watch",
       {Rule::kNsViewer, "/v1/registry:watch", R"({"watches":[{"namespace":"shop"}]})", 200, true}},
      {"GET /v1/registry", {Rule::kAnyToken, "/v1/registry", "", 200, false, true}},
      // Gateway routes and per-service settings.
      {"GET /v1/routes", {Rule::kAnyToken, "/v1/routes", "", 200, false, true}},
      {"GET /v1/routes/{name}", {Rule::kNsViewer, "/v1/routes/shop-route", "", 200}},
      {"PUT /v1/routes/{name}", {Rule::kNsOperator, "/v1/routes/shop-route-{n}", route, 200}},
      {"DELETE /v1/routes/{name}", {Rule::kNsOperator, "/v1/routes/shop-route", "", 200}},
      {"POST /v1/routes:apply",
       {Rule::kNsOperator, "/v1/routes:apply",
        R"({"routes":[{"name":"shop-a{n}","match":{"prefix":"/a{n}"},"service":"api","namespace":"shop"}]})",
        200}},
      {"GET /v1/gateway/services", {Rule::kAnyToken, "/v1/gateway/services", "", 200, false, true}},
      {"GET /v1/gateway/services/{ns}/{service}",
       {Rule::kNsViewer, "/v1/gateway/services/shop/api", "", 200}},
      {"PUT /v1/gateway/services/{ns}/{service}",
       {Rule::kNsOperator, "/v1/gateway/services/shop/api", R"({"lb":"random"})", 200}},
      {"DELETE /v1/gateway/services/{ns}/{service}",
       {Rule::kNsOperator, "/v1/gateway/services/shop/api", "", 200}},
      // Configuration center: items in a config namespace; namespaces' settings are the admin's.
      {"GET /v1/configs/{ns}", {Rule::kNsViewer, "/v1/configs/shop", "", 200}},
      {"GET /v1/configs/{ns}/{name}", {Rule::kNsViewer, "/v1/configs/shop/app.yaml", "", 200}},
      {"PUT /v1/configs/{ns}/{name}",
       {Rule::kNsOperator, "/v1/configs/shop/c{n}.yaml", R"({"content":"a: {n}\n"})", 201}},
      {"DELETE /v1/configs/{ns}/{name}", {Rule::kNsOperator, "/v1/configs/shop/app.yaml", "", 200}},
      {"GET /v1/configs/{ns}/{name}/history",
       {Rule::kNsViewer, "/v1/configs/shop/app.yaml/history", "", 200}},
      {"GET /v1/configs/{ns}/{name}/diff",
       {Rule::kNsViewer, "/v1/configs/shop/app.yaml/diff?from=1&to=2", "", 200}},
      {"POST /v1/configs/{ns}/{name}/rollback",
       {Rule::kNsOperator, "/v1/configs/shop/app.yaml/rollback", R"({"to":1})", 200}},
      {"POST /v1/configs/{ns}/{name}/publish",
       {Rule::kNsOperator, "/v1/configs/shop/app.yaml/publish", "", 200}},
      {"POST /v1/configs/{ns}/{name}/promote",
       {Rule::kNsOperator, "/v1/configs/shop/app.yaml/promote", "", 409}},
      {"POST /v1/configs/{ns}/{name}/abort",
       {Rule::kNsOperator, "/v1/configs/shop/app.yaml/abort", "", 409}},
      {"GET /v1/configs/{ns}/{name}/draft",
       {Rule::kNsViewer, "/v1/configs/shop/app.yaml/draft", "", 200}},
      {"DELETE /v1/configs/{ns}/{name}/draft",
       {Rule::kNsOperator, "/v1/configs/shop/app.yaml/draft", "", 0}},  // published by then
      {"GET /v1/configs/{ns}/{name}/status",
       {Rule::kNsViewer, "/v1/configs/shop/app.yaml/status", "", 200}},
      {"POST /v1/configs:watch",
       {Rule::kNsViewer, "/v1/configs:watch",
        R"({"watches":[{"namespace":"shop","name":"app.yaml"}]})", 200, true}},
      {"GET /v1/configs/{ns}/{name}/watch",
       {Rule::kNsViewer, "/v1/configs/shop/app.yaml/watch", "", 200}},
      {"POST /v1/configs/{ns}/{name}/ack",
       {Rule::kNsViewer, "/v1/configs/shop/app.yaml/ack", R"({"consumer":"c1","version":1})", 200}},
      {"GET /v1/config-namespaces",
       {Rule::kAnyToken, "/v1/config-namespaces", "", 200, false, true}},
      {"GET /v1/config-namespaces/{ns}", {Rule::kNsViewer, "/v1/config-namespaces/shop", "", 200}},
      {"PUT /v1/config-namespaces/{ns}",
       {Rule::kClusterAdmin, "/v1/config-namespaces/shop", R"({"max_items":500})", 200}},
      // Not empty: refused with 409 after the check.
      {"DELETE /v1/config-namespaces/{ns}",
       {Rule::kClusterAdmin, "/v1/config-namespaces/shop", "", 409}},
      {"GET /v1/config-namespaces/{ns}/export",
       {Rule::kNsViewer, "/v1/config-namespaces/shop/export", "", 200}},
      {"POST /v1/config-namespaces/{ns}/import",
       {Rule::kNsOperator, "/v1/config-namespaces/shop/import",
        R"({"configs":[{"name":"i{n}.yaml","content":"b: {n}\n"}]})", 200}},
      // Secrets: names for viewers, values only with ?reveal to an admin (config_test.cc).
      {"GET /v1/secrets/{ns}", {Rule::kNsViewer, "/v1/secrets/shop", "", 200}},
      {"GET /v1/secrets/{ns}/{name}", {Rule::kNsViewer, "/v1/secrets/shop/db", "", 200}},
      {"PUT /v1/secrets/{ns}/{name}",
       {Rule::kNsOperator, "/v1/secrets/shop/s{n}", R"({"value":"x{n}"})", 201}},
      {"DELETE /v1/secrets/{ns}/{name}", {Rule::kNsOperator, "/v1/secrets/shop/db", "", 200}},
      {"GET /v1/secrets/{ns}/{name}/history",
       {Rule::kNsViewer, "/v1/secrets/shop/db/history", "", 200}},
      {"POST /v1/secrets:rotate-key", {Rule::kClusterAdmin, "/v1/secrets:rotate-key", "", 200}},
      // Apps.
      {"POST /v1/apps", {Rule::kNsOperator, "/v1/apps", shop_app, 201}},
      {"GET /v1/apps", {Rule::kAnyToken, "/v1/apps", "", 200, false, true}},
      {"GET /v1/apps/{ns}/{app}", {Rule::kNsViewer, "/v1/apps/shop/web", "", 200}},
      {"DELETE /v1/apps/{ns}/{app}", {Rule::kNsOperator, "/v1/apps/shop/web", "", 200}},
      {"POST /v1/apps/{ns}/{app}/services/{svc}/scale",
       {Rule::kNsOperator, "/v1/apps/shop/web/services/front/scale", R"({"replicas":2})", 200}},
      {"GET /v1/apps/{ns}/{app}/services/{svc}/rollout",
       {Rule::kNsViewer, "/v1/apps/shop/web/services/front/rollout", "", 200}},
      {"POST /v1/apps/{ns}/{app}/services/{svc}/rollout/undo",
       {Rule::kNsOperator, "/v1/apps/shop/web/services/front/rollout/undo", ""}},
      {"POST /v1/apps/{ns}/{app}/services/{svc}/rollout/promote",
       {Rule::kNsOperator, "/v1/apps/shop/web/services/front/rollout/promote", "", 409}},
      {"POST /v1/apps/{ns}/{app}/services/{svc}/rollout/abort",
       {Rule::kNsOperator, "/v1/apps/shop/web/services/front/rollout/abort", "", 409}},
      // Containers: in the namespace they were run in.
      {"POST /v1/containers", {Rule::kNsOperator, "/v1/containers", run, 201}},
      {"GET /v1/containers", {Rule::kAnyToken, "/v1/containers?all", "", 200, false, true}},
      {"GET /v1/containers/{name}", {Rule::kNsViewer, "/v1/containers/shop-c", "", 200}},
      {"DELETE /v1/containers/{name}", {Rule::kNsOperator, "/v1/containers/shop-c?force", "", 200}},
      {"POST /v1/containers/{name}/stop",
       {Rule::kNsOperator, "/v1/containers/shop-c/stop", R"({"grace_ms":0})", 200}},
      {"POST /v1/containers/{name}/start",
       {Rule::kNsOperator, "/v1/containers/shop-c/start", "", 200}},
      {"GET /v1/containers/{name}/logs",
       {Rule::kNsViewer, "/v1/containers/shop-c/logs?tail=1", "", 200, true}},
      {"POST /v1/containers/{name}/exec",
       {Rule::kNsOperator, "/v1/containers/shop-c/exec", R"({"cmd":["true"]})", 200}},
      // A plain GET is no WebSocket handshake: 400 once the caller is let in.
      {"GET /v1/containers/{name}/terminal",
       {Rule::kNsOperator, "/v1/containers/shop-c/terminal", "", 400}},
      // Images: node-wide; reading them needs a role anywhere.
      {"GET /v1/images", {Rule::kAnyToken, "/v1/images", "", 200}},
      {"GET /v1/images/{ref...}", {Rule::kAnyToken, "/v1/images/authz-test:1", "", 200}},
      {"DELETE /v1/images/{ref...}", {Rule::kClusterOperator, "/v1/images/nope:1", "", 404}},
      {"POST /v1/images/import",
       {Rule::kClusterAdmin, "/v1/images/import", R"({"path":"/nonexistent/x.tar"})"}},
      {"POST /v1/images/build",
       {Rule::kClusterAdmin, "/v1/images/build", R"({"dir":"/nonexistent/ctx","name":"x:1"})"}},
      {"POST /v1/images/pull",
       {Rule::kClusterOperator, "/v1/images/pull",
        R"({"ref":"127.0.0.1:1/nope:1","plain_http":true})"}},
      // The log center's Loki API: a stream's namespace is its namespace label. Pushing needs
      // operator there; reads show only the namespaces the caller may read (fixtures: app
      // "web" logs in shop and billing).
      {"POST /loki/api/v1/push",
       {Rule::kNsOperator, "/loki/api/v1/push",
        R"({"streams":[{"stream":{"namespace":"shop","app":"web"},"values":[[")" + NowNs() +
            R"(","pushed {n}"]]}]})",
        204}},
      {"GET /loki/api/v1/query",
       {Rule::kAnyToken, "/loki/api/v1/query?query=%7Bapp%3D%22web%22%7D", "", 200, false, true}},
      {"GET /loki/api/v1/query_range",
       {Rule::kAnyToken, "/loki/api/v1/query_range?query=%7Bapp%3D%22web%22%7D", "", 200, false,
        true}},
      {"GET /loki/api/v1/labels", {Rule::kAnyToken, "/loki/api/v1/labels", "", 200}},
      {"GET /loki/api/v1/label/{name}/values",
       {Rule::kAnyToken, "/loki/api/v1/label/namespace/values", "", 200, false, true}},
      {"GET /loki/api/v1/series",
       {Rule::kAnyToken, "/loki/api/v1/series?match[]=%7Bapp%3D%22web%22%7D", "", 200, false,
        true}},
      {"GET /loki/api/v1/tail",
       {Rule::kAnyToken, "/loki/api/v1/tail?query=%7Bapp%3D%22web%22%7D", "", 200, true}},
      {"GET /loki/api/v1/status/buildinfo",
       {Rule::kAnyToken, "/loki/api/v1/status/buildinfo", "", 200}},
      {"GET /loki/api/v1/format_query",
       {Rule::kAnyToken, "/loki/api/v1/format_query?query=%7Bapp%3D%22web%22%7D", "", 200}},
      // Its analyses: lists over the namespaces the caller may read.
      {"GET /v1/logs/patterns", {Rule::kAnyToken, "/v1/logs/patterns?since=1h", "", 200}},
      {"GET /v1/logs/exceptions", {Rule::kAnyToken, "/v1/logs/exceptions", "", 200}},
      {"GET /v1/logs/slow-routes", {Rule::kAnyToken, "/v1/logs/slow-routes", "", 200}},
      {"GET /v1/logs/errors", {Rule::kAnyToken, "/v1/logs/errors", "", 200, false, true}},
      // The image scanner.
      {"GET /v1/security/db", {Rule::kAnyToken, "/v1/security/db", "", 200}},
      {"POST /v1/security/db/import",
       {Rule::kClusterAdmin, "/v1/security/db/import", R"({"path":"/nonexistent/osv"})", 404}},
      {"GET /v1/security/scan/{ref...}",
       {Rule::kAnyToken, "/v1/security/scan/authz-test:1", "", 200}},
      {"GET /v1/security/sbom/{ref...}",
       {Rule::kAnyToken, "/v1/security/sbom/authz-test:1?format=spdx", "", 200}},
      {"GET /v1/security/findings", {Rule::kAnyToken, "/v1/security/findings", "", 200}},
      {"GET /v1/security/ignores", {Rule::kAnyToken, "/v1/security/ignores", "", 200, false, true}},
      {"POST /v1/security/ignores",
       {Rule::kNsOperator, "/v1/security/ignores",
        R"({"advisory":"CVE-2023-{n}","namespace":"shop","reason":"not reachable","expires":"30d"})",
        201}},
      {"GET /v1/security/policies",
       {Rule::kAnyToken, "/v1/security/policies", "", 200, false, true}},
      {"GET /v1/security/policies/{ns}", {Rule::kNsViewer, "/v1/security/policies/shop", "", 200}},
      {"PUT /v1/security/policies/{ns}",
       {Rule::kAdminOnly, "/v1/security/policies/shop", "mode: audit\nlevel: privileged\n", 200}},
      {"DELETE /v1/security/policies/{ns}",
       {Rule::kAdminOnly, "/v1/security/policies/shop", "", 200}},
      {"DELETE /v1/security/ignores/{id}",
       {Rule::kNsOperator, "/v1/security/ignores/{ignore}", "", 200}},
  };
}

std::string Fill(std::string s, int n) {
  for (size_t p; (p = s.find("{n}")) != std::string::npos;) s.replace(p, 3, std::to_string(n));
  return s;
}

class AuthzMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    data_ = dir_.MakeSubdir("data");
    std::string octet = std::to_string(::getpid() % 200 + 20);
    bridge_ = "bauthz" + std::to_string(::getpid() % 10000);
    process_ = Process::Start("berthd", {BerthdPath(), "dev", "--data-dir", data_, "--api",
                                         "127.0.0.1:" + std::to_string(port_), "--dns", "none",
                                         "--gateway", "none", "--no-controller", "--subnet",
                                         "100.98." + octet + ".0/24", "--bridge", bridge_});
    ASSERT_TRUE(process_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); }));
    std::ifstream(data_ + "/admin.token") >> tokens_[Who::kAdmin];
    ASSERT_FALSE(tokens_[Who::kAdmin].empty());
    tokens_[Who::kViewer] = NewToken(R"({"role":"viewer","name":"viewer"})");
    tokens_[Who::kOpShop] =
        NewToken(R"({"role":"operator","namespaces":["shop"],"name":"shop-op"})");
    tokens_[Who::kOpBilling] =
        NewToken(R"({"role":"operator","namespaces":["billing"],"name":"billing-op"})");
    // A tiny image: busybox's sh, sleep and true.
    std::string ctx = dir_.MakeSubdir("ctx");
    fs::create_directories(ctx + "/bin");
    fs::copy_file("/bin/busybox", ctx + "/bin/busybox");
    for (const char* a : {"sh", "sleep", "true"}) fs::create_symlink("busybox", ctx + "/bin/" + a);
    auto b =
        Call(Who::kAdmin, "POST", "/v1/images/build", Json{{"dir", ctx}, {"name", kImage}}.dump());
    ASSERT_EQ(b.status, 201) << b.body;
  }

  void TearDown() override {
    if (process_ && process_->Running()) {
      auto ps = Call(Who::kAdmin, "GET", "/v1/containers?all");
      if (auto j = ParseJson(ps.body); j && j->contains("containers")) {
        for (const auto& c : (*j)["containers"]) {
          Call(Who::kAdmin, "DELETE", "/v1/containers/" + c.value("name", "") + "?force");
        }
      }
      process_->Stop();
    }
    std::system(("ip link delete " + bridge_ + " 2>/dev/null").c_str());
  }

  struct Answer {
    int status = -1;
    std::string body;
  };

  Answer Call(Who who, std::string_view method, const std::string& path, std::string body = {},
              bool stream = false) {
    const std::string& token = tokens_[who];
    if (stream) return Head(method, path, body, token);
    http::Headers h;
    if (!token.empty()) h.Set("Authorization", "Bearer " + token);
    if (!body.empty()) h.Set("Content-Type", "application/json");
    auto r = http::Fetch(method, "http://127.0.0.1:" + std::to_string(port_) + path,
                         std::move(body), std::move(h));
    if (!r) return {-1, r.error().message};
    return {r->status, r->body};
  }

  // A streaming answer: its status line only (and the error body when it is not a stream).
  Answer Head(std::string_view method, const std::string& path, const std::string& body,
              const std::string& token) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return {};
    }
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = std::string(method) + " " + path + " HTTP/1.1\r\nHost: x\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    ssize_t n;
    while (out.find("\r\n\r\n") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      out.append(buf, n);
    }
    ::close(fd);
    Answer a;
    if (out.starts_with("HTTP/1.1 ")) a.status = std::atoi(out.c_str() + 9);
    a.body = out;
    return a;
  }

  std::string NewToken(const std::string& body) {
    auto r = Call(Who::kAdmin, "POST", "/v1/tokens", body);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = ParseJson(r.body);
    return j ? j->value("token", std::string()) : "";
  }

  void Must(std::string_view method, const std::string& path, const std::string& body = {}) {
    auto r = Call(Who::kAdmin, method, path, body);
    ASSERT_GE(r.status, 200) << method << " " << path << ": " << r.body;
    ASSERT_LT(r.status, 300) << method << " " << path << ": " << r.body;
  }

  // The objects every case acts on, (re)made by the admin: in shop, and in billing for the
  // lists.
  void EnsureFixtures() {
    for (std::string ns : {"shop", "billing"}) {
      Must("POST", "/v1/apps",
           "namespace: " + ns + "\nname: web\nservices:\n  front:\n    image: authz-test:1\n");
      Must("PUT", "/v1/registry/" + ns + "/api/i1",
           R"({"address":"127.0.0.1","port":8080,"ttl":"600s"})");
      Must("PUT", "/v1/routes/" + ns + "-route?force",
           R"({"match":{"prefix":"/)" + ns + R"("},"service":"api","namespace":")" + ns + "\"}");
      Must("PUT", "/v1/gateway/services/" + ns + "/api", R"({"lb":"round_robin"})");
      Call(Who::kAdmin, "DELETE", "/v1/containers/" + ns + "-c?force");
      Must("POST", "/v1/containers",
           Json{{"name", ns + "-c"},
                {"namespace", ns},
                {"image", kImage},
                {"cmd", {"sleep", "3600"}},
                {"network", "none"}}
               .dump());
    }
    // A config with two released versions and a draft in each namespace.
    for (std::string ns : {"shop", "billing"}) {
      Must("PUT", "/v1/config-namespaces/" + ns, R"({"max_items":1000})");
      Call(Who::kAdmin, "DELETE", "/v1/configs/" + ns + "/app.yaml");
      Must("PUT", "/v1/configs/" + ns + "/app.yaml", R"({"content":"v: 1\n"})");
      Must("PUT", "/v1/configs/" + ns + "/app.yaml", R"({"content":"v: 2\n"})");
      Must("PUT", "/v1/configs/" + ns + "/app.yaml", R"({"content":"v: 3\n","draft":true})");
      Must("PUT", "/v1/secrets/" + ns + "/db", R"({"value":"pw"})");
    }
    Must(
        "PUT", "/v1/nodes/n9",
        R"({"address":"127.0.0.1","ttl_seconds":600,"capacity":{"cpu_millis":1000,"memory_bytes":1073741824,"pids":1000}})");
    for (std::string ns : {"shop", "billing"}) {  // a log line of app web in each namespace
      Must("POST", "/loki/api/v1/push",
           R"({"streams":[{"stream":{"namespace":")" + ns + R"(","app":"web"},"values":[[")" +
               NowNs() + R"(","fixture"]]}]})");
    }
    for (std::string ns : {"shop", "billing"}) {  // admits everything, records it
      Must("PUT", "/v1/security/policies/" + ns, "mode: audit\nlevel: privileged\n");
    }
    for (std::string ns : {"billing", "shop"}) {
      auto r = Call(Who::kAdmin, "POST", "/v1/security/ignores",
                    R"({"advisory":"CVE-2024-0001","namespace":")" + ns +
                        R"(","reason":"fixture","expires":"30d"})");
      ASSERT_EQ(r.status, 201) << r.body;
      shop_ignore_ = ParseJson(r.body).value().value("id", "");
    }
  }

  // What the refused callers must not have changed.
  std::string Snapshot() {
    std::string out;
    for (const char* path :
         {"/v1/apps/shop/web", "/v1/registry/shop/api/i1", "/v1/routes/shop-route",
          "/v1/gateway/services/shop/api", "/v1/containers/shop-c", "/v1/tokens", "/v1/nodes/n9",
          "/v1/kv/authz/k", "/v1/security/ignores", "/v1/configs/shop/app.yaml/history",
          "/v1/configs/shop/app.yaml/draft", "/v1/config-namespaces/shop", "/v1/secrets/shop/db"}) {
      auto r = Call(Who::kAdmin, "GET", path);
      auto j = ParseJson(r.body);
      if (j && j->is_object()) {
        for (const char* volatile_field :
             {"uptime_ms", "read_revision", "events", "lease", "ttl", "last_heartbeat_ms"}) {
          j->erase(volatile_field);
        }
      }
      out += std::string(path) + " " + std::to_string(r.status) + " " + (j ? j->dump() : r.body) +
             "\n";
    }
    return out;
  }

  void RunRound(Who who, const std::vector<std::pair<std::string, Case>>& cases) {
    for (const auto& [key, c] : cases) {
      const std::string method = key.substr(0, key.find(' '));
      std::string path = Fill(c.path, ++counter_);
      if (auto at = path.find("{ignore}"); at != std::string::npos)
        path.replace(at, 8, shop_ignore_);
      auto r = Call(who, method, path, Fill(c.body, counter_), c.stream);
      const std::string where = fmt::format("{} as {} ({} {})", key, WhoName(who), method, path);
      if (!Allowed(c.rule, who)) {
        EXPECT_EQ(r.status, who == Who::kNone ? 401 : 403) << where << ": " << r.body;
        continue;
      }
      EXPECT_NE(r.status, 401) << where << ": " << r.body;
      EXPECT_NE(r.status, 403) << where << ": " << r.body;
      // 500 is a handler that answered without authorizing (or a bug); a pull from a registry
      // that is not there may well be 503.
      EXPECT_NE(r.status, 500) << where << ": " << r.body;
      if (c.want != 0) {
        EXPECT_EQ(r.status, c.want) << where << ": " << r.body;
      }
      if (c.filtered && r.status == 200) {
        const bool sees_shop = r.body.find("\"shop\"") != std::string::npos;
        const bool sees_billing = r.body.find("\"billing\"") != std::string::npos;
        EXPECT_EQ(sees_shop, who != Who::kOpBilling) << where << ": " << r.body;
        EXPECT_EQ(sees_billing, who != Who::kOpShop) << where << ": " << r.body;
      }
    }
  }

  TempDir dir_{"berth-authz"};
  std::string data_, bridge_;
  int port_ = 0;
  int counter_ = 0;
  std::string shop_ignore_;  // an ignore in shop, made by EnsureFixtures
  std::unique_ptr<Process> process_;
  std::map<Who, std::string> tokens_{{Who::kNone, ""}};
};

TEST_F(AuthzMatrixTest, EveryEndpointAnswersEachCallerAsItsRuleSays) {
  auto listing = Call(Who::kAdmin, "GET", "/v1/api/endpoints");
  ASSERT_EQ(listing.status, 200) << listing.body;
  auto endpoints = ParseJson(listing.body);
  ASSERT_TRUE(endpoints.has_value());
  auto cases = Cases();
  // Every served endpoint has a case (and every case an endpoint): a new endpoint fails here
  // until its rule is written down above.
  std::vector<std::pair<std::string, Case>> reads, deletes;
  std::set<std::string> served;
  for (const auto& e : (*endpoints)["endpoints"]) {
    std::string key = e["method"].get<std::string>() + " " + e["pattern"].get<std::string>();
    served.insert(key);
    auto it = cases.find(key);
    ASSERT_NE(it, cases.end()) << "endpoint " << key << " (access " << e["access"]
                               << ") has no case in the authorization matrix: add one";
    (key.starts_with("DELETE ") ? deletes : reads).push_back(*it);
  }
  for (const auto& [key, c] : cases) {
    EXPECT_TRUE(served.contains(key)) << "case " << key << " names no endpoint berthd serves";
  }
  // Destructive calls last in each round, so the others find their objects.
  reads.insert(reads.end(), deletes.begin(), deletes.end());

  EnsureFixtures();
  const std::string before = Snapshot();
  for (Who who : {Who::kNone, Who::kViewer, Who::kOpBilling}) RunRound(who, reads);
  EXPECT_EQ(Snapshot(), before) << "a refused caller changed something";
  for (Who who : {Who::kOpShop, Who::kAdmin}) {
    EnsureFixtures();
    RunRound(who, reads);
  }
}

// A watch of every namespace, opened by a token bound to billing, carries billing's events
// and none of shop's.
TEST_F(AuthzMatrixTest, AWatchOfEveryNamespaceShowsANamespacedTokenOnlyItsOwn) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{.tv_sec = 60, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = "GET /v1/registry?watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    tokens_[Who::kOpBilling] + "\r\n\r\n";
  ASSERT_GT(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), 0);
  std::string got;
  char buf[4096];
  ssize_t n;
  while (got.find("\r\n\r\n") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    got.append(buf, n);
  }
  ASSERT_TRUE(got.starts_with("HTTP/1.1 200")) << got;
  // Shop's registration first: it must not show up before billing's.
  Must("PUT", "/v1/registry/shop/api/w1", R"({"address":"127.0.0.1","port":8080})");
  Must("PUT", "/v1/registry/billing/api/w1", R"({"address":"127.0.0.1","port":8080})");
  while (got.find("\"billing\"") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    got.append(buf, n);
  }
  ::close(fd);
  EXPECT_NE(got.find("\"billing\""), std::string::npos) << got;
  EXPECT_EQ(got.find("\"shop\""), std::string::npos) << got;
}

// The CLI makes namespaced tokens and shows what they hold.
TEST_F(AuthzMatrixTest, TheCliCreatesAndListsNamespacedTokens) {
  auto berth = [&](std::vector<std::string> args, const std::string& token) {
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions o;
    o.env = {{"BERTH_ADDR", "http://127.0.0.1:" + std::to_string(port_)},
             {"BERTH_TOKEN", token},
             {"HOME", dir_.path()},
             {"XDG_CONFIG_HOME", dir_.Sub("config")}};
    o.log_path = dir_.Sub("cli-" + std::to_string(++counter_) + ".log");
    return RunTool("berth", std::move(args), std::move(o), std::chrono::seconds(60));
  };
  const std::string& admin = tokens_[Who::kAdmin];
  auto created =
      berth({"token", "create", "--role", "operator", "--namespace", "shop", "--name", "cli-shop"},
            admin);
  ASSERT_EQ(created.code, 0) << created.text;
  std::string token = created.text.substr(0, created.text.find('\n'));
  ASSERT_TRUE(token.starts_with("berth_")) << created.text;
  auto mixed = berth(
      {"token", "create", "--role", "viewer", "--bind", "shop=operator", "--name", "cli-mixed"},
      admin);
  ASSERT_EQ(mixed.code, 0) << mixed.text;
  auto ls = berth({"token", "ls"}, admin);
  ASSERT_EQ(ls.code, 0) << ls.text;
  EXPECT_NE(ls.text.find("operator of shop"), std::string::npos) << ls.text;
  EXPECT_NE(ls.text.find("viewer; operator of shop"), std::string::npos) << ls.text;
  // The new token acts in shop and nowhere else.
  auto in_shop = berth({"get", "-n", "shop", "apps"}, token);
  EXPECT_EQ(in_shop.code, 0) << in_shop.text;
  auto in_default = berth({"get", "apps"}, token);
  EXPECT_NE(in_default.code, 0);
  EXPECT_NE(in_default.text.find("namespace default"), std::string::npos) << in_default.text;
  auto refused = berth({"token", "ls"}, token);
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.text.find("needs role admin as a global role"), std::string::npos)
      << refused.text;
  auto bad = berth({"token", "create", "--role", "admin", "--namespace", "shop"}, admin);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.text.find("admin is a global role"), std::string::npos) << bad.text;
}

}  // namespace
}  // namespace berth::testing
