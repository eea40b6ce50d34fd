#include "api/container_endpoints.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

TEST(RunSpecFromJsonTest, ParsesTheRunFlags) {
  auto s = RunSpecFromJson(
      Json::parse(
          R"({"image":"web:1","name":"w","env":["A=1"],"ports":["8080:80","127.0.0.1:9090:90/udp"],
    "memory":"64m","cpus":0.5,"pids":128,"read_only":true,"user":"1000","restart":"on-failure","network":"bridge",
    "cmd":["/bin/sh","-c","true"],"backoff":{"initial_ms":100,"factor":3,"cap_ms":1000,"reset_after_ms":5000}})"),
      false);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->image, "web:1");
  EXPECT_EQ(s->resources.memory_bytes, 64 << 20);
  EXPECT_DOUBLE_EQ(s->resources.cpus, 0.5);
  EXPECT_EQ(s->resources.pids, 128);
  EXPECT_TRUE(s->security.read_only_rootfs);
  ASSERT_EQ(s->ports.size(), 2u);
  EXPECT_EQ(s->ports[0].host_port, 8080);
  EXPECT_EQ(s->ports[0].container_port, 80);
  EXPECT_EQ(s->ports[0].host_ip, "127.0.0.1");
  EXPECT_EQ(s->ports[1].protocol, "udp");
  EXPECT_EQ(s->restart, agent::RestartPolicy::kOnFailure);
  EXPECT_EQ(s->backoff.factor, 3.0);
  EXPECT_EQ(s->cmd.size(), 3u);
}

TEST(RunSpecFromJsonTest, MemoryIsReadWithTheOneByteSizeGrammar) {
  const std::pair<const char*, int64_t> cases[] = {{R"("64m")", 64 << 20},
                                                   {R"("512Mi")", 512 << 20},
                                                   {R"("1g")", 1 << 30},
                                                   {R"("64MB")", 64 << 20},
                                                   {"8388608", 8 << 20}};
  for (const auto& [memory, bytes] : cases) {
    auto s = RunSpecFromJson(Json::parse(std::string(R"({"image":"x","memory":)") + memory + "}"),
                             false);
    ASSERT_TRUE(s) << memory << ": " << s.error().message;
    EXPECT_EQ(s->resources.memory_bytes, bytes) << memory;
  }
  auto bad = RunSpecFromJson(Json::parse(R"({"image":"x","memory":"64 lots"})"), false);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("memory: ")) << bad.error().message;
  EXPECT_FALSE(RunSpecFromJson(Json::parse(R"({"image":"x","memory":-1})"), false));
}

TEST(RunSpecFromJsonTest, PrivilegeNeedsAdmin) {
  auto priv = Json::parse(R"({"image":"x","privileged":true})");
  auto refused = RunSpecFromJson(priv, false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(RunSpecFromJson(priv, true));
  auto caps = Json::parse(R"({"image":"x","cap_add":["NET_ADMIN"]})");
  EXPECT_EQ(RunSpecFromJson(caps, false).error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(RunSpecFromJson(Json::parse(R"({"image":"x","cap_drop":["ALL"]})"), false));
}

TEST(RunSpecFromJsonTest, RejectsBadInput) {
  for (const char* body :
       {R"({})", R"({"image":"x","bogus":1})", R"({"image":"x","memory":"lots"})",
        R"({"image":"x","ports":["99999:80"]})", R"({"image":"x","ports":["80"]})",
        R"({"image":"x","restart":"sometimes"})", R"({"image":"x","network":"overlay"})",
        R"({"image":"x","env":["NOEQUALS"]})", R"({"image":"x","cpus":-1})",
        R"({"image":"x","backoff":{"initial_ms":0}})"}) {
    auto s = RunSpecFromJson(Json::parse(body), true);
    EXPECT_FALSE(s) << body;
    if (!s) {
      EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << body;
    }
  }
}

}  // namespace
}  // namespace berth::api
