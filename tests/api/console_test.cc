// The web console's server side against a real berthd: the embedded console is served with
// its caching and security headers, the caller learns who it is and what it may do, one-time
// login links work once, the change feed names what changed, and the lists the console pages
// through are paged and filtered on the server.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"));
    ASSERT_TRUE(berthd_->Start()) << "berthd dev did not become healthy";
  }

  Json Call(std::string_view method, std::string_view path, std::string body = {},
            std::string token = "\x01", int want = 200) {
    return berthd_->CallJson(method, path, std::move(body), std::move(token), want);
  }
  std::string CreateToken(const std::string& role) { return berthd_->CreateToken(role); }

  void ApplyApp(const std::string& ns, const std::string& name) {
    std::string spec = "namespace: " + ns + "\nname: " + name +
                       "\nservices:\n  web:\n    image: web:v1\n    replicas: 1\n";
    auto r = berthd_->Request("POST", "/v1/apps", spec);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->status == 201 || r->status == 200) << r->body;
  }

  TempDir dir_{"berth-console"};
  std::unique_ptr<Berthd> berthd_;
};

TEST_F(ConsoleTest, ServesTheEmbeddedConsoleWithItsHeaders) {
  auto root = berthd_->Request("GET", "/", "", "");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->status, 302);
  auto page = berthd_->Request("GET", "/ui/", "", "");
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_NE(page->body.find("<div id=\"app\">"), std::string::npos);
  std::string csp(page->headers.Get("Content-Security-Policy").value_or(""));
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  // Every file the page names is embedded, cached for a year, and the same with or without
  // gzip.
  std::vector<std::string> files;  // every "/ui/assets/..." the page names
  for (size_t at = page->body.find("/ui/assets/"); at != std::string::npos;
       at = page->body.find("/ui/assets/", at + 1)) {
    files.push_back(page->body.substr(at, page->body.find('"', at) - at));
  }
  int seen = 0;
  for (const std::string& file : files) {
    ++seen;
    http::Headers gz;
    gz.Set("Accept-Encoding", "gzip");
    auto packed = http::Fetch("GET", berthd_->base() + file, "", gz);
    auto plain = http::Fetch("GET", berthd_->base() + file);
    ASSERT_TRUE(packed && plain);
    EXPECT_EQ(packed->status, 200) << file;
    EXPECT_EQ(packed->headers.Get("Content-Encoding").value_or(""), "gzip");
    EXPECT_EQ(packed->headers.Get("Cache-Control").value_or(""),
              "public, max-age=31536000, immutable");
    EXPECT_EQ(plain->status, 200);
    EXPECT_FALSE(plain->headers.Has("Content-Encoding"));
    EXPECT_LT(packed->body.size(), plain->body.size());
    http::Headers cond;
    cond.Set("If-None-Match", std::string(plain->headers.Get("ETag").value_or("")));
    auto again = http::Fetch("GET", berthd_->base() + file, "", cond);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->status, 304);
  }
  EXPECT_EQ(seen, 2) << "want one script and one stylesheet in " << page->body;
  // Client-side routes get the page; a missing file does not.
  auto deep = berthd_->Request("GET", "/ui/apps/shop/shop", "", "");
  ASSERT_TRUE(deep.has_value());
  EXPECT_EQ(deep->status, 200);
  auto missing = berthd_->Request("GET", "/ui/assets/main-GONE.js", "", "");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ConsoleTest, WhoAmIAndAccessAnswerFromTheEnforcedRoles) {
  std::string viewer = CreateToken("viewer");
  auto me = Call("GET", "/v1/auth/whoami", "", viewer);
  EXPECT_EQ(me["role"], "viewer");
  EXPECT_EQ(me["name"], "t-viewer");
  const std::string checks = R"({"checks":[
      {"method":"GET","path":"/v1/apps"},
      {"method":"POST","path":"/v1/apps/shop/shop/services/api/scale"},
      {"method":"DELETE","path":"/v1/tokens/abc"},
      {"method":"GET","path":"/v1/no/such/thing"}]})";
  auto v = Call("POST", "/v1/auth/access", checks, viewer)["results"];
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0]["allowed"], true);
  EXPECT_EQ(v[1]["allowed"], false);
  EXPECT_NE(v[1].value("reason", "").find("needs role operator"), std::string::npos) << v[1];
  EXPECT_EQ(v[2]["allowed"], false);
  EXPECT_EQ(v[3]["allowed"], false);
  EXPECT_NE(v[3].value("reason", "").find("no endpoint"), std::string::npos);
  auto a = Call("POST", "/v1/auth/access", checks)["results"];
  EXPECT_EQ(a[1]["allowed"], true);
  EXPECT_EQ(a[2]["allowed"], true);
  // What access said is what the API does: the viewer's scale is refused.
  auto forged = berthd_->Request("POST", "/v1/apps/shop/shop/services/api/scale",
                                 R"({"replicas":3})", viewer);
  ASSERT_TRUE(forged.has_value());
  EXPECT_EQ(forged->status, 403);
  // Bad requests name what is wrong.
  auto bad = Call("POST", "/v1/auth/access", R"({"checks":[{"method":"GET"}]})", viewer, 400);
  EXPECT_NE(bad["error"].value("message", "").find("checks[0]"), std::string::npos);
}

// A token with a role in some namespaces only: the console learns its bindings, asks about
// requests whose namespace the path does not say, and its lists hold only those namespaces.
TEST_F(ConsoleTest, NamespacedTokenSeesAndMayDoOnlyItsNamespaces) {
  ApplyApp("team-a", "shop");
  ApplyApp("team-b", "bank");
  auto created =
      Call("POST", "/v1/tokens", R"({"role":"operator","namespaces":["team-a"],"name":"t-team-a"})",
           "\x01", 201);
  const std::string token = created.value("token", "");
  ASSERT_FALSE(token.empty());
  auto me = Call("GET", "/v1/auth/whoami", "", token);
  EXPECT_EQ(me["role"], "none");
  ASSERT_EQ(me["bindings"].size(), 1u);
  EXPECT_EQ(me["bindings"][0]["namespace"], "team-a");
  EXPECT_EQ(me["bindings"][0]["role"], "operator");
  auto r = Call("POST", "/v1/auth/access", R"({"checks":[
      {"method":"POST","path":"/v1/apps","namespace":"team-a"},
      {"method":"POST","path":"/v1/apps","namespace":"team-b"},
      {"method":"POST","path":"/v1/apps/team-a/shop/services/web/scale"},
      {"method":"POST","path":"/v1/apps/team-b/bank/services/web/scale"},
      {"method":"GET","path":"/v1/tokens"}]})",
                token)["results"];
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0]["allowed"], true) << r[0];
  EXPECT_EQ(r[1]["allowed"], false);
  EXPECT_NE(r[1].value("reason", "").find("team-b"), std::string::npos) << r[1];
  EXPECT_EQ(r[2]["allowed"], true) << r[2];
  EXPECT_EQ(r[3]["allowed"], false);
  EXPECT_EQ(r[4]["allowed"], false);
  // What access said is what the API does.
  auto scale = berthd_->Request("POST", "/v1/apps/team-b/bank/services/web/scale",
                                R"({"replicas":2})", token);
  ASSERT_TRUE(scale.has_value());
  EXPECT_EQ(scale->status, 403);
  // Lists hold only team-a; asking for team-b by name is refused.
  auto apps = Call("GET", "/v1/apps", "", token);
  EXPECT_EQ(apps["total"], 1);
  ASSERT_EQ(apps["apps"].size(), 1u);
  EXPECT_EQ(apps["apps"][0]["namespace"], "team-a");
  Call("GET", "/v1/apps?namespace=team-b", "", token, 403);
  Call("GET", "/v1/apps?health=unhealthy&namespace=team-b", "", token, 403);
  Call("GET", "/v1/instances?namespace=team-b", "", token, 403);
  const Json own_events = Call("GET", "/v1/events?limit=500", "", token);
  for (const auto& e : own_events["events"]) {
    EXPECT_EQ(e["namespace"], "team-a") << e;
  }
  // A console session opened by this token has its bindings, not more.
  auto link = Call("POST", "/v1/auth/login-links", "{}", token, 201);
  auto session =
      Call("POST", "/v1/auth/login", R"({"code":")" + link.value("code", "") + R"("})", "");
  auto session_me = Call("GET", "/v1/auth/whoami", "", session.value("token", ""));
  EXPECT_EQ(session_me["role"], "none");
  EXPECT_EQ(session_me["bindings"], me["bindings"]);
  Call("GET", "/v1/apps?namespace=team-b", "", session.value("token", ""), 403);
}

TEST_F(ConsoleTest, LoginLinkWorksOnceForASessionOfTheCallersRole) {
  std::string viewer = CreateToken("viewer");
  auto link = Call("POST", "/v1/auth/login-links", "{}", viewer, 201);
  std::string code = link.value("code", "");
  ASSERT_EQ(code.size(), 64u);
  EXPECT_EQ(link.value("path", ""), "/ui/login#code=" + code);
  auto session = Call("POST", "/v1/auth/login", R"({"code":")" + code + R"("})", "");
  std::string token = session.value("token", "");
  ASSERT_FALSE(token.empty());
  EXPECT_NE(token, viewer);
  EXPECT_EQ(session["role"], "viewer");
  auto me = Call("GET", "/v1/auth/whoami", "", token);
  EXPECT_EQ(me["name"], "ui:t-viewer");
  EXPECT_EQ(me["role"], "viewer");
  // Once only.
  auto again = Call("POST", "/v1/auth/login", R"({"code":")" + code + R"("})", "", 401);
  EXPECT_NE(again["error"].value("message", "").find("berth ui"), std::string::npos) << again;
  // Logging out ends the session token, and only a session can log out this way.
  Call("POST", "/v1/auth/logout", "{}", token);
  Call("GET", "/v1/auth/whoami", "", token, 401);
  Call("POST", "/v1/auth/logout", "{}", viewer, 409);
  Call("GET", "/v1/auth/whoami", "", viewer);
  // Junk codes are refused without a store lookup worth the name.
  Call("POST", "/v1/auth/login", R"({"code":"nope"})", "", 401);
  Call("POST", "/v1/auth/login", R"({"code":7})", "", 400);
}

TEST_F(ConsoleTest, ChangeFeedNamesTheAppsThatChange) {
  auto client = http::Client::Create(berthd_->base());
  ASSERT_TRUE(client.has_value());
  http::Request req;
  req.method = "GET";
  // From the revision before the change: it arrives whether the apply below runs before or
  // after the stream opens.
  req.target = "/v1/changes?topics=apps&revision=" + std::to_string(berthd_->Revision() + 1);
  req.headers.Set("Authorization", "Bearer " + CreateToken("viewer"));
  std::vector<Json> lines;
  std::string pending;
  std::thread writer([&] { ApplyApp("shop", "cart"); });
  auto r = (*client)->Stream(
      req, [](const http::Response& head) { EXPECT_EQ(head.status, 200); },
      [&](std::string_view data) {
        pending.append(data);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          auto j = ParseJson(pending.substr(0, nl));
          pending.erase(0, nl + 1);
          if (j && j->contains("topic")) lines.push_back(*j);
        }
        return lines.empty();
      });
  writer.join();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["topic"], "apps");
  EXPECT_EQ(lines[0]["namespace"], "shop");
  EXPECT_EQ(lines[0]["name"], "cart");
  EXPECT_GT(lines[0].value("revision", int64_t{0}), 0);
  Call("GET", "/v1/changes?topics=apps,bogus", "", "\x01", 400);
}

TEST_F(ConsoleTest, AppListIsPagedAndFilteredOnTheServer) {
  for (int i = 0; i < 7; ++i) ApplyApp(i < 4 ? "team-a" : "team-b", "app-" + std::to_string(i));
  std::set<std::string> seen;
  std::string next;
  int pages = 0;
  do {
    auto page = Call("GET", "/v1/apps?limit=3" + (next.empty() ? "" : "&continue=" + next));
    EXPECT_EQ(page["total"], 7);
    EXPECT_LE(page["apps"].size(), 3u);
    for (const auto& a : page["apps"]) {
      EXPECT_TRUE(
          seen.insert(a["namespace"].get<std::string>() + "/" + a["name"].get<std::string>())
              .second)
          << "listed twice: " << a["name"];
      EXPECT_TRUE(a.contains("health"));
    }
    next = page.value("continue", "");
    ++pages;
  } while (!next.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(pages, 3);
  auto team_b = Call("GET", "/v1/apps?namespace=team-b");
  EXPECT_EQ(team_b["total"], 3);
  auto q = Call("GET", "/v1/apps?q=app-1");
  ASSERT_EQ(q["apps"].size(), 1u);
  EXPECT_EQ(q["apps"][0]["name"], "app-1");
  // No node runs them: none is healthy, and the health filter and counts say so.
  auto healthy = Call("GET", "/v1/apps?health=healthy");
  EXPECT_EQ(healthy["total"], 0);
  auto unhealthy = Call("GET", "/v1/apps?health=unhealthy&limit=2");
  EXPECT_EQ(unhealthy["total"], 7);
  EXPECT_EQ(unhealthy["apps"].size(), 2u);
  Call("GET", "/v1/apps?limit=9999", "", "\x01", 400);
  Call("GET", "/v1/apps?health=sleepy", "", "\x01", 400);
  // The newest events across apps come first (the controller adds its own as it goes, so
  // which app is newest is not fixed; the order and the coverage are).
  auto events = Call("GET", "/v1/events?limit=3")["events"];
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GE(events[i - 1].value("time_ms", int64_t{0}), events[i].value("time_ms", int64_t{0}));
  }
  std::set<std::string> with_events;
  const Json all_events = Call("GET", "/v1/events?limit=500");
  for (const auto& e : all_events["events"]) {
    with_events.insert(e["namespace"].get<std::string>() + "/" + e["app"].get<std::string>());
  }
  EXPECT_EQ(with_events.size(), 7u);
  Call("GET", "/v1/events?limit=0", "", "\x01", 400);
  auto instances = Call("GET", "/v1/instances?namespace=team-a&limit=5");
  EXPECT_TRUE(instances["instances"].is_array());
}

}  // namespace
}  // namespace berth::testing
