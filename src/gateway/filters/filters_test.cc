#include <gtest/gtest.h>

#include "core/json.h"
#include "gateway/filters/api_key.h"
#include "gateway/filters/cors.h"
#include "gateway/filters/factory.h"
#include "gateway/filters/jwt.h"
#include "gateway/filters/rate_limit.h"
#include "gateway/testing/jwt_signer.h"

namespace berth::gateway::filters {
namespace {

using testing::JwtSigner;

struct Req {
  std::vector<HeaderRef> headers;
  ManualClock clock;
  RequestContext ctx;
  Req(std::initializer_list<HeaderRef> h, std::string_view method = "GET") : headers(h) {
    ctx.method = method;
    ctx.path = "/";
    ctx.client_ip = "10.1.1.1";
    ctx.headers = &headers;
    ctx.clock = &clock;
  }
};

FilterFactoryPtr Make(std::string_view name, const std::string& json) {
  auto doc = input::ParseJson(json, "filter");
  EXPECT_TRUE(doc.has_value()) << doc.error().message;
  if (!doc) return nullptr;
  auto f = CreateFilterFactory(name, doc->root(), ".", "r");
  EXPECT_TRUE(f.has_value()) << f.error().message;
  return f ? *f : nullptr;
}

TEST(Base64UrlTest, RoundTrips) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\xfe\x00x"}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_FALSE(Base64UrlDecode("a+b/").has_value());
}

class JwtAlgTest : public ::testing::TestWithParam<JwtSigner::Alg> {};

TEST_P(JwtAlgTest, AcceptsGoodTokensAndRefusesBadOnes) {
  JwtSigner signer(GetParam(), "k1");
  JwtSigner other(GetParam(), "k1");  // same kid, different key: bad signature
  JwtVerifierOptions opts;
  opts.issuer = "berth";
  opts.audiences = {"shop"};
  opts.clock_skew_seconds = 0;
  auto v = JwtVerifier::Create(testing::Jwks({signer.Jwk()}), opts);
  ASSERT_TRUE(v) << v.error().message;
  const int64_t now = 1'800'000'000;
  auto claims = [&](int64_t exp, std::string aud, std::string iss = "berth") {
    return "{\"sub\":\"alice\",\"iss\":\"" + iss + "\",\"aud\":" + aud +
           ",\"exp\":" + std::to_string(exp) + ",\"nbf\":" + std::to_string(now - 10) + "}";
  };
  auto ok = (*v)->Verify(signer.Sign(claims(now + 60, "\"shop\"")), now);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->subject, "alice");
  EXPECT_TRUE((*v)->Verify(signer.Sign(claims(now + 60, "[\"x\",\"shop\"]")), now));
  EXPECT_EQ((*v)->Verify(other.Sign(claims(now + 60, "\"shop\"")), now).error().message,
            "bad signature");
  EXPECT_EQ((*v)->Verify(signer.Sign(claims(now - 1, "\"shop\"")), now).error().message, "expired");
  EXPECT_EQ((*v)->Verify(signer.Sign(claims(now + 60, "\"bank\"")), now).error().message,
            "wrong audience");
  EXPECT_EQ((*v)->Verify(signer.Sign(claims(now + 60, "\"shop\"", "evil")), now).error().message,
            "wrong issuer");
  EXPECT_EQ((*v)->Verify(signer.Sign(claims(now + 60, "\"shop\"")), now - 100).error().message,
            "not yet valid");
  std::string tampered = signer.Sign(claims(now + 60, "\"shop\""));
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE((*v)->Verify(tampered, now));
  EXPECT_FALSE((*v)->Verify("a.b", now));
}

INSTANTIATE_TEST_SUITE_P(Algs, JwtAlgTest,
                         ::testing::Values(JwtSigner::Alg::kHS256, JwtSigner::Alg::kRS256,
                                           JwtSigner::Alg::kES256));

TEST(JwtTest, RefusesAlgorithmConfusion) {
  JwtSigner hs(JwtSigner::Alg::kHS256, "k");
  JwtSigner rs(JwtSigner::Alg::kRS256, "k");
  auto v = JwtVerifier::Create(testing::Jwks({rs.Jwk()}), {});
  ASSERT_TRUE(v);
  EXPECT_FALSE((*v)->Verify(hs.Sign("{}"), 0));  // HS256 token, only an RSA key known
  std::string none = Base64UrlEncode("{\"alg\":\"none\"}") + "." + Base64UrlEncode("{}") + ".";
  EXPECT_FALSE((*v)->Verify(none, 0));
}

TEST(JwtFilterTest, AnswersUnauthorizedAndForwardsSubject) {
  JwtSigner signer(JwtSigner::Alg::kES256, "k");
  auto f = Make("jwt", "{\"jwks\":" + testing::Jwks({signer.Jwk()}) +
                           ",\"forward_subject_header\":\"x-user\"}");
  ASSERT_TRUE(f);
  Req none({});
  EXPECT_EQ(f->Create()->OnRequest(none.ctx), FilterStatus::kStop);
  EXPECT_EQ(none.ctx.reply_status, 401);
  std::string auth = "Bearer " + signer.Sign("{\"sub\":\"bob\"}");
  Req good({{"Authorization", auth}});
  EXPECT_EQ(f->Create()->OnRequest(good.ctx), FilterStatus::kContinue);
  EXPECT_EQ(good.ctx.jwt_subject, "bob");
  ASSERT_EQ(good.ctx.add_request_headers.size(), 1u);
  EXPECT_EQ(good.ctx.add_request_headers[0].second, "bob");
}

TEST(ApiKeyTest, AcceptsOnlyConfiguredKeys) {
  auto f = Make("api_key", R"({"keys": ["s3cret"]})");
  Req good({{"X-Api-Key", "s3cret"}}), bad({{"X-Api-Key", "s3cre"}}), none({});
  EXPECT_EQ(f->Create()->OnRequest(good.ctx), FilterStatus::kContinue);
  EXPECT_EQ(f->Create()->OnRequest(bad.ctx), FilterStatus::kStop);
  EXPECT_EQ(f->Create()->OnRequest(none.ctx), FilterStatus::kStop);
  EXPECT_EQ(none.ctx.reply_status, 401);
}

TEST(CorsTest, AnswersPreflightAndDecoratesResponses) {
  auto f =
      Make("cors", R"({"allow_origins": ["https://a.example"], "allow_methods": ["GET", "PUT"]})");
  Req pre({{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "PUT"}}, "OPTIONS");
  EXPECT_EQ(f->Create()->OnRequest(pre.ctx), FilterStatus::kStop);
  EXPECT_EQ(pre.ctx.reply_status, 204);
  bool methods = false;
  for (auto& [n, v] : pre.ctx.reply_headers)
    methods |= n == "Access-Control-Allow-Methods" && v == "GET, PUT";
  EXPECT_TRUE(methods);
  Req evil({{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "PUT"}},
           "OPTIONS");
  EXPECT_EQ(f->Create()->OnRequest(evil.ctx), FilterStatus::kStop);
  EXPECT_EQ(evil.ctx.reply_status, 403);
  Req simple({{"Origin", "https://a.example"}});
  EXPECT_EQ(f->Create()->OnRequest(simple.ctx), FilterStatus::kContinue);
  ASSERT_FALSE(simple.ctx.add_response_headers.empty());
  EXPECT_EQ(simple.ctx.add_response_headers[0].second, "https://a.example");
}

TEST(RateLimitTest, RefusesOverBurstAndRefillsWithTime) {
  auto f = Make("rate_limit", R"({"requests_per_second": 2, "burst": 3, "key": "client_ip"})");
  Req r({});
  for (int i = 0; i < 3; ++i) {
    RequestContext ctx = r.ctx;
    EXPECT_EQ(f->Create()->OnRequest(ctx), FilterStatus::kContinue) << i;
  }
  RequestContext refused = r.ctx;
  EXPECT_EQ(f->Create()->OnRequest(refused), FilterStatus::kStop);
  EXPECT_EQ(refused.reply_status, 429);
  ASSERT_EQ(refused.reply_headers.size(), 1u);
  EXPECT_EQ(refused.reply_headers[0].first, "Retry-After");
  EXPECT_EQ(refused.reply_headers[0].second, "1");
  // Another client has its own bucket.
  RequestContext other = r.ctx;
  other.client_ip = "10.9.9.9";
  EXPECT_EQ(f->Create()->OnRequest(other), FilterStatus::kContinue);
  r.clock.Advance(std::chrono::milliseconds(500));  // one token back
  RequestContext again = r.ctx;
  EXPECT_EQ(f->Create()->OnRequest(again), FilterStatus::kContinue);
  RequestContext again2 = r.ctx;
  EXPECT_EQ(f->Create()->OnRequest(again2), FilterStatus::kStop);
}

}  // namespace
}  // namespace berth::gateway::filters
