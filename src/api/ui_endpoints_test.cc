#include "api/ui_endpoints.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <vector>

namespace berth::api {
namespace {

std::vector<unsigned char> Gzip(std::string_view text) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<unsigned char> out(deflateBound(&z, text.size()) + 32);
  z.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

class CapturingWriter : public http::ResponseWriter {
 public:
  void Send(http::Response response) override { sent = std::move(response); }
  void StartStream(int, http::Headers) override {}
  bool Write(std::string) override { return true; }
  void End() override {}
  bool Closed() const override { return false; }
  void OnClose(std::function<void()>) override {}
  http::Response sent;
};

const std::string kIndex =
    "<html><meta name=\"csp-nonce\" content=\"__BERTH_CSP_NONCE__\"><script "
    "src=\"/ui/assets/main-AB12.js\"></script></html>";
const std::string kScript = "console.log('berth');";

class UiEndpoints : public ::testing::Test {
 protected:
  UiEndpoints() : index_gz_(Gzip(kIndex)), script_gz_(Gzip(kScript)) {
    assets_ = {
        {"/ui/assets/main-AB12.js", "text/javascript; charset=utf-8", script_gz_, kScript.size(),
         "\"abc\"", true},
        {"/ui/index.html", "text/html; charset=utf-8", index_gz_, kIndex.size(), "\"idx\"", false},
    };
    RegisterUiEndpoints(router_, assets_);
  }

  http::Response Get(std::string path,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto match = router_.Find("GET", path);
    EXPECT_NE(match.endpoint, nullptr) << path;
    if (!match.endpoint) return {};
    EXPECT_EQ(match.endpoint->access, Access::kPublic);
    http::Request request;
    request.method = "GET";
    request.path = path;
    request.target = path;
    for (auto& [k, v] : headers) request.headers.Set(k, v);
    auto writer = std::make_shared<CapturingWriter>();
    auto call = std::make_shared<Call>(std::move(request), writer, security::Principal{},
                                       std::move(match.params), [](int, std::string_view) {});
    match.endpoint->handler(call);
    return writer->sent;
  }

  std::vector<unsigned char> index_gz_, script_gz_;
  std::vector<UiAsset> assets_;
  Router router_;
};

TEST_F(UiEndpoints, RootAndBareUiRedirectToTheConsole) {
  auto root = Get("/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.headers.Get("Location").value_or(""), "/ui/");
  auto bare = Get("/ui");
  EXPECT_EQ(bare.status, 301);
  EXPECT_EQ(bare.headers.Get("Location").value_or(""), "/ui/");
}

TEST_F(UiEndpoints, PageCarriesAFreshNonceInItsPolicyAndBody) {
  auto a = Get("/ui/");
  auto b = Get("/ui/apps/shop/shop");  // a client-side route gets the same page
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(a.headers.Get("Content-Type").value_or(""), "text/html; charset=utf-8");
  EXPECT_EQ(a.body.find("__BERTH_CSP_NONCE__"), std::string::npos);
  std::string csp(a.headers.Get("Content-Security-Policy").value_or(""));
  auto at = csp.find("'nonce-");
  ASSERT_NE(at, std::string::npos) << csp;
  std::string nonce = csp.substr(at + 7, 32);
  EXPECT_NE(a.body.find("content=\"" + nonce + "\""), std::string::npos) << a.body;
  EXPECT_EQ(b.body.find(nonce), std::string::npos) << "nonces must differ per response";
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(a.headers.Get("Cache-Control").value_or(""), "no-cache, no-store");
  EXPECT_EQ(a.headers.Get("X-Content-Type-Options").value_or(""), "nosniff");
}

TEST_F(UiEndpoints, HashedFilesAreImmutableAndGzippedWhenAccepted) {
  auto r = Get("/ui/assets/main-AB12.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("Content-Encoding").value_or(""), "gzip");
  EXPECT_EQ(r.headers.Get("Cache-Control").value_or(""), "public, max-age=31536000, immutable");
  EXPECT_EQ(r.headers.Get("ETag").value_or(""), "\"abc\"");
  EXPECT_EQ(r.body, std::string(script_gz_.begin(), script_gz_.end()));
}

TEST_F(UiEndpoints, ClientsWithoutGzipGetThePlainFile) {
  for (auto header : {std::string(), std::string("identity"), std::string("gzip;q=0")}) {
    std::vector<std::pair<std::string, std::string>> h;
    if (!header.empty()) h.push_back({"Accept-Encoding", header});
    auto r = Get("/ui/assets/main-AB12.js", h);
    ASSERT_EQ(r.status, 200) << header;
    EXPECT_FALSE(r.headers.Has("Content-Encoding")) << header;
    EXPECT_EQ(r.body, kScript) << header;
  }
}

TEST_F(UiEndpoints, MatchingEtagAnswers304WithoutBody) {
  auto r = Get("/ui/assets/main-AB12.js", {{"If-None-Match", "\"zzz\", \"abc\""}});
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(Get("/ui/assets/main-AB12.js", {{"If-None-Match", "\"old\""}}).status, 200);
}

TEST_F(UiEndpoints, UnknownAssetIsA404NotThePage) {
  auto r = Get("/ui/assets/main-OLD.js");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("no console file"), std::string::npos);
}

TEST(UiEndpointsWithoutConsole, SaysItWasBuiltWithout) {
  Router router;
  RegisterUiEndpoints(router, {});
  auto match = router.Find("GET", "/ui/");
  ASSERT_NE(match.endpoint, nullptr);
  http::Request request;
  request.method = "GET";
  request.path = "/ui/";
  auto writer = std::make_shared<CapturingWriter>();
  match.endpoint->handler(std::make_shared<Call>(std::move(request), writer, security::Principal{},
                                                 match.params, [](int, std::string_view) {}));
  EXPECT_EQ(writer->sent.status, 404);
  EXPECT_NE(writer->sent.body.find("BERTH_UI=OFF"), std::string::npos);
}

}  // namespace
}  // namespace berth::api
