// The REST API end to end against a real berthd: auth, roles, audit, KV, watch, and every
// kind of bad input getting the right status and a clear message while nothing stored
// changes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "core/http/testing/json_lines.h"
#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"));
    ASSERT_TRUE(berthd_->Start()) << "berthd dev did not become healthy";
  }

  Json Body(const http::Response& r) {
    auto j = ParseJson(r.body);
    EXPECT_TRUE(j.has_value()) << r.body;
    return j ? *j : Json();
  }

  // Sends raw bytes on a fresh connection; returns what the server answered.
  std::string Raw(const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(berthd_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return "";
    }
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += n;
    }
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      out.append(buf, n);
      if (out.find("\r\n\r\n") != std::string::npos) break;
    }
    ::close(fd);
    return out;
  }

  std::string CreateToken(const std::string& role) {
    auto r = berthd_->Request("POST", "/v1/tokens",
                              R"({"role":")" + role + R"(","name":"t-)" + role + R"("})");
    EXPECT_TRUE(r.has_value());
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return Body(*r).value("token", std::string());
  }

  TempDir dir_{"berth-api"};
  std::unique_ptr<Berthd> berthd_;
};

TEST_F(ApiTest, HealthIsPublicAndEverythingElseNeedsAToken) {
  auto health = berthd_->Request("GET", "/v1/health", "", "");
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);

  for (const char* path : {"/v1/status", "/v1/kv?prefix", "/metrics", "/v1/tokens"}) {
    auto r = berthd_->Request("GET", path, "", "");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(Body(*r)["error"]["code"], "unauthenticated") << path;
    EXPECT_NE(Body(*r)["error"]["message"].get<std::string>().find("bearer"), std::string::npos);
  }
  auto bad = berthd_->Request("GET", "/v1/status", "", "berth_0123abcd_wrongsecret");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 401);
  auto garbage = berthd_->Request("GET", "/v1/status", "", "not-a-token");
  ASSERT_TRUE(garbage.has_value());
  EXPECT_EQ(garbage->status, 401);
  EXPECT_NE(Body(*garbage)["error"]["message"].get<std::string>().find("malformed"),
            std::string::npos);
}

TEST_F(ApiTest, AdminTokenFileIsPrivateAndPrintedOnce) {
  struct stat st {};
  ASSERT_EQ(::stat((berthd_->data_dir() + "/admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_NE(berthd_->process().Logs().find(berthd_->admin_token()), std::string::npos);
  // A restart does not mint or print a new one.
  std::string token = berthd_->admin_token();
  berthd_->process().Stop();
  berthd_->Reset();
  ASSERT_TRUE(berthd_->Start());
  EXPECT_EQ(berthd_->admin_token(), token);
  EXPECT_EQ(berthd_->process().Logs().find("admin token"), std::string::npos);
  auto r = berthd_->Request("GET", "/v1/status");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_F(ApiTest, RolesAreCheckedPerEndpoint) {
  std::string viewer = CreateToken("viewer");
  std::string op = CreateToken("operator");
  ASSERT_FALSE(viewer.empty());

  auto status = berthd_->Request("GET", "/v1/status", "", viewer);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(Body(*status)["caller"]["role"], "viewer");

  int64_t before = berthd_->Revision();
  for (const auto& token : {viewer, op}) {
    auto put = berthd_->Request("PUT", "/v1/kv/x", R"({"value":"1"})", token);
    ASSERT_TRUE(put.has_value());
    EXPECT_EQ(put->status, 403);
    EXPECT_EQ(Body(*put)["error"]["code"], "permission_denied");
    EXPECT_NE(Body(*put)["error"]["message"].get<std::string>().find("needs role admin"),
              std::string::npos);
  }
  // The refused writes are audited but the KV space is unchanged.
  auto get = berthd_->Request("GET", "/v1/kv/x");
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 404);
  auto audit = berthd_->Request("GET", "/v1/audit?limit=10");
  ASSERT_TRUE(audit.has_value());
  int refused = 0;
  Json records = Body(*audit)["records"];  // a named value: range-for over a temporary dangles
  for (const auto& rec : records) {
    if (rec["action"] == "PUT /v1/kv/x" && rec["status"] == 403) ++refused;
  }
  EXPECT_EQ(refused, 2);
  EXPECT_GT(berthd_->Revision(), before);  // audit records are writes too
}

TEST_F(ApiTest, RevokedTokenStopsWorking) {
  auto r = berthd_->Request("POST", "/v1/tokens", R"({"role":"viewer","name":"temp"})");
  ASSERT_TRUE(r.has_value());
  auto j = Body(*r);
  std::string token = j["token"];
  std::string id = j["id"];
  EXPECT_EQ(berthd_->Request("GET", "/v1/status", "", token)->status, 200);
  auto list = berthd_->Request("GET", "/v1/tokens");
  EXPECT_EQ(list->body.find(token), std::string::npos) << "token list must never show secrets";
  EXPECT_EQ(berthd_->Request("DELETE", "/v1/tokens/" + id)->status, 200);
  EXPECT_EQ(berthd_->Request("GET", "/v1/status", "", token)->status, 401);
  EXPECT_EQ(berthd_->Request("DELETE", "/v1/tokens/" + id)->status, 404);
}

TEST_F(ApiTest, KvRoundTripWithCompareAndSwapAndAudit) {
  auto put = berthd_->Request("PUT", "/v1/kv/apps/default/shop", R"({"value":"v1"})");
  ASSERT_TRUE(put.has_value());
  ASSERT_EQ(put->status, 200) << put->body;
  int64_t rev = Body(*put)["revision"];

  auto get = berthd_->Request("GET", "/v1/kv/apps/default/shop");
  ASSERT_EQ(get->status, 200);
  auto kv = Body(*get)["kv"];
  EXPECT_EQ(kv["key"], "/apps/default/shop");
  EXPECT_EQ(kv["value"], "v1");
  EXPECT_EQ(kv["mod_revision"], rev);
  EXPECT_EQ(kv["version"], 1);

  auto stale =
      berthd_->Request("PUT", "/v1/kv/apps/default/shop",
                       R"({"value":"v2","prev_revision":)" + std::to_string(rev - 1) + "}");
  EXPECT_EQ(stale->status, 409);
  auto cas = berthd_->Request("PUT", "/v1/kv/apps/default/shop",
                              R"({"value":"v2","prev_revision":)" + std::to_string(rev) + "}");
  EXPECT_EQ(cas->status, 200) << cas->body;

  berthd_->Request("PUT", "/v1/kv/apps/default/cart", R"({"value":"c"})");
  auto list = berthd_->Request("GET", "/v1/kv/apps/default/?prefix");
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(Body(*list)["count"], 2);

  auto del = berthd_->Request("DELETE", "/v1/kv/apps/?prefix");
  EXPECT_EQ(Body(*del)["deleted"], 2);
  EXPECT_EQ(berthd_->Request("GET", "/v1/kv/apps/default/shop")->status, 404);

  auto audit = berthd_->Request("GET", "/v1/audit?limit=100");
  bool seen = false;
  Json records = Body(*audit)["records"];
  for (const auto& rec : records) {
    if (rec["action"] == "DELETE /v1/kv/apps/" && rec["status"] == 200 && rec["actor"] == "admin") {
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << audit->body;
}

TEST_F(ApiTest, BadInputGetsAClearErrorAndChangesNothing) {
  ASSERT_EQ(berthd_->Request("PUT", "/v1/kv/keep", R"({"value":"original"})")->status, 200);
  int64_t before = berthd_->Revision();

  struct Case {
    std::string method, path, body;
    int status;
    std::string message_part;
  };
  std::vector<Case> cases = {
      {"PUT", "/v1/kv/keep", R"({"value": "x",)", 400, "malformed JSON"},
      {"PUT", "/v1/kv/keep", R"({"value": 7})", 400,
       "request body:1:11: value: must be a string, got 7"},
      {"PUT", "/v1/kv/keep", R"({"value": "x", "colour": "red"})", 400,
       "request body:1:16: colour: unknown field"},
      {"PUT", "/v1/kv/keep", R"({"value": "x", "value": "y"})", 400, "value: given twice"},
      {"PUT", "/v1/kv/keep", R"(["value"])", 400, "must be an object, got an array"},
      {"PUT", "/v1/kv/keep", "", 400, "empty"},
      {"PUT", "/v1/kv/" + std::string(2000, 'k'), R"({"value":"x"})", 400, "exceeds the limit"},
      {"PUT", "/v1/kv/a%00b", R"({"value":"x"})", 400, "NUL"},
      {"PUT", "/v1/kv/keep", R"({"value":"x","lease":"soon"})", 400, "lease"},
      {"GET", "/v1/kv/keep?revision=abc", "", 400, "revision"},
      {"POST", "/v1/tokens", R"({"role":"root"})", 400, "unknown role"},
      {"POST", "/v1/tokens", R"({"node":"N_1"})", 400, "is not a node name"},
      {"POST", "/v1/tokens", R"({"node":"n1","role":"admin"})", 400, "operator role"},
      {"POST", "/v1/leases", R"({"ttl":0})", 400, "ttl"},
      {"GET", "/v1/nothing", "", 404, "no endpoint"},
  };
  for (const auto& c : cases) {
    auto r = berthd_->Request(c.method, c.path, c.body);
    ASSERT_TRUE(r.has_value()) << c.path;
    EXPECT_EQ(r->status, c.status)
        << c.method << " " << c.path << " " << c.body << " -> " << r->body;
    auto j = Body(*r);
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.message_part), std::string::npos)
        << "message for " << c.body << ": " << j["error"]["message"];
  }
  // A body over the limit (4 MiB) is refused before it is read.
  auto big = berthd_->Request("PUT", "/v1/kv/keep", std::string(5 << 20, 'x'));
  if (big) {
    EXPECT_EQ(big->status, 413);
  }
  // Oversized header section and request line.
  EXPECT_NE(
      Raw("GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100'000, 'a') + "\r\n\r\n")
          .find(" 431 "),
      std::string::npos);
  EXPECT_NE(
      Raw("GET /v1/" + std::string(20'000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n").find(" 414 "),
      std::string::npos);
  EXPECT_NE(Raw("GARBAGE\r\n\r\n").find(" 400 "), std::string::npos);

  // Only audit records were written (refused mutating calls are audited); the key is intact.
  // (The leader keys are the controller's and the health checker's, written at start.)
  auto keep = berthd_->Request("GET", "/v1/kv/keep");
  EXPECT_EQ(Body(*keep)["kv"]["value"], "original");
  EXPECT_EQ(Body(*keep)["kv"]["version"], 1);
  auto kvs = berthd_->Request("GET", "/v1/kv?prefix&keys_only");
  Json all = Body(*kvs)["kvs"];
  for (const auto& kv : all) {
    std::string key = kv["key"];
    EXPECT_TRUE(key == "/keep" || key.starts_with("/security/") || key == "/orchestrator/leader" ||
                key == "/registry-health/leader")
        << key;
  }
  EXPECT_GE(berthd_->Revision(), before);
}

TEST_F(ApiTest, WatchStreamsEveryEventFromAnOldRevisionInOrder) {
  std::vector<int64_t> revisions;
  for (int i = 0; i < 5; ++i) {
    auto r = berthd_->Request("PUT", "/v1/kv/w/k" + std::to_string(i),
                              R"({"value":")" + std::to_string(i) + R"("})");
    revisions.push_back(Body(*r)["revision"]);
  }
  berthd_->Request("PUT", "/v1/kv/other", R"({"value":"x"})");

  auto client = http::Client::Create(berthd_->base());
  ASSERT_TRUE(client.has_value());
  http::Request req;
  req.method = "GET";
  req.target = "/v1/watch/w/?prefix&revision=" + std::to_string(revisions[0]);
  req.headers.Set("Authorization", "Bearer " + berthd_->admin_token());
  std::vector<Json> events;
  std::thread writer([&] {
    // One more event after the replay: it must arrive live, after the five.
    WaitFor([&] { return events.size() >= 5; });
    berthd_->Request("DELETE", "/v1/kv/w/k0");
  });
  auto r = http::testing::StreamJsonLines(
      **client, req,
      [&](const Json& j) {
        events.push_back(j);
        return events.size() < 6;
      },
      [](const http::Response& head) { EXPECT_EQ(head.status, 200); });
  writer.join();
  ASSERT_EQ(events.size(), 6u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i]["type"], "put");
    EXPECT_EQ(events[i]["kv"]["key"], "/w/k" + std::to_string(i));
    EXPECT_EQ(events[i]["revision"], revisions[i]);
  }
  EXPECT_EQ(events[5]["type"], "delete");
  EXPECT_EQ(events[5]["kv"]["key"], "/w/k0");
}

TEST_F(ApiTest, WatchFromACompactedRevisionSaysSo) {
  auto r1 = berthd_->Request("PUT", "/v1/kv/c", R"({"value":"1"})");
  int64_t first = Body(*r1)["revision"];
  auto r2 = berthd_->Request("PUT", "/v1/kv/c", R"({"value":"2"})");
  int64_t second = Body(*r2)["revision"];
  ASSERT_EQ(
      berthd_->Request("POST", "/v1/compact", R"({"revision":)" + std::to_string(second) + "}")
          ->status,
      200);
  auto w = berthd_->Request("GET", "/v1/watch/c?revision=" + std::to_string(first));
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->status, 410);
  EXPECT_EQ(Body(*w)["error"]["code"], "compacted");
  auto old = berthd_->Request("GET", "/v1/kv/c?revision=" + std::to_string(first));
  EXPECT_EQ(old->status, 410);
}

TEST_F(ApiTest, MetricsNeedATokenAndSpeakPrometheusText) {
  auto r = berthd_->Request("GET", "/metrics");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->headers.Get("Content-Type")->find("text/plain"), std::string::npos);
  EXPECT_NE(r->body.find("# TYPE berth_api_requests_total counter"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace berth::testing
