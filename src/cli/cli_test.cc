// The API client's errors: each says what to do next.
#include "cli/cli.h"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

Context At(const std::string& addr) {
  Context ctx;
  ctx.addr = addr;
  ctx.addr_source = "from BERTH_ADDR";
  return ctx;
}

TEST(HttpErrorTest, UnauthenticatedSaysHowToLogIn) {
  auto e =
      At("http://10.0.0.1:7700")
          .HttpError(
              401, R"({"error":{"code":"unauthenticated","message":"unknown or revoked token"}})");
  EXPECT_EQ(e.code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(e.message,
            "HTTP 401: unknown or revoked token; log in with `berth login --addr "
            "http://10.0.0.1:7700` (it reads the token from standard input), or give one with "
            "--token or BERTH_TOKEN");
}

TEST(HttpErrorTest, PermissionDeniedNamesTheRoleToAskFor) {
  auto e =
      At("http://h:1")
          .HttpError(
              403,
              R"j({"error":{"code":"permission_denied","message":"PUT /v1/kv/x needs role admin (token \"dash\" has viewer)"}})j");
  EXPECT_EQ(e.code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(e.message,
            "HTTP 403: PUT /v1/kv/x needs role admin (token \"dash\" has viewer); use a token "
            "with role admin (an admin makes one with `berth token create --role admin`) and "
            "`berth login` with it");
  auto phrased =
      At("http://h:1")
          .HttpError(403, R"({"error":{"message":"privileged containers need the admin role"}})");
  EXPECT_NE(phrased.message.find("use a token with role admin"), std::string::npos)
      << phrased.message;
  auto node =
      At("http://h:1")
          .HttpError(
              403,
              R"({"error":{"message":"token \"n\" is bound to node n1: it may only make ..."}})");
  EXPECT_NE(node.message.find("use a person's token"), std::string::npos) << node.message;
}

TEST(HttpErrorTest, OtherErrorsKeepTheServersMessage) {
  auto e = At("http://h:1").HttpError(404, R"({"error":{"message":"no key \"/x\""}})");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.message, "HTTP 404: no key \"/x\"");
  EXPECT_EQ(At("http://h:1").HttpError(502, "bad gateway\n").message, "HTTP 502: bad gateway");
}

TEST(HttpErrorTest, UnreachableNamesTheAddressAndWhereItCameFrom) {
  auto e =
      At("http://10.0.0.1:7700").Unreachable(Error(ErrorCode::kUnavailable, "connection refused"));
  EXPECT_EQ(e.message,
            "cannot reach berthd at http://10.0.0.1:7700 (from BERTH_ADDR): connection refused; "
            "is it running? Point berth at another server with --addr URL, BERTH_ADDR=URL or "
            "`berth context use NAME`");
}

}  // namespace
}  // namespace berth::cli
