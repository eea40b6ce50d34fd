#include "registry/model.h"

#include <gtest/gtest.h>

#include <fmt/core.h>

#include <map>
#include <string>
#include <vector>

#include "core/json.h"

namespace berth::registry {
namespace {

std::string ErrorOf(std::string_view body, std::string_view ns = "default",
                    std::string_view service = "web", std::string_view id = "web-1") {
  auto r = ParseRegistration(body, ns, service, id);
  EXPECT_FALSE(r.has_value()) << body;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

// Each registration body of `cases` is refused with a message that contains its part.
void ExpectErrorsContain(const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [body, part] : cases) {
    const std::string message = ErrorOf(body);
    EXPECT_NE(message.find(part), std::string::npos) << body << " -> " << message;
  }
}

TEST(ModelTest, ParsesAFullRegistration) {
  auto r = ParseRegistration(
      R"({"address":"10.0.0.1","port":8080,"tags":["v1","blue"],"metadata":{"zone":"a"},
          "weight":5,"ttl":"10s","deregister_after":"1m",
          "check":{"http":"http://10.0.0.1:8080/health","interval":"5s","timeout":"1s",
                   "rise":2,"fall":3}})",
      "prod", "web", "web-1");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->ns, "prod");
  EXPECT_EQ(r->port, 8080u);
  EXPECT_EQ(r->tags.size(), 2u);
  EXPECT_EQ(r->metadata.at("zone"), "a");
  EXPECT_EQ(r->weight, 5u);
  EXPECT_EQ(r->ttl_seconds, 10);
  EXPECT_EQ(r->deregister_after, Millis(60'000));
  ASSERT_TRUE(r->check.has_value());
  EXPECT_EQ(r->check->kind, CheckSpec::Kind::kHttp);
  EXPECT_EQ(r->check->interval, Millis(5000));
  EXPECT_EQ(r->check->rise, 2);
}

TEST(ModelTest, RejectsBadNamesWithTheRuleBroken) {
  EXPECT_NE(ErrorOf(R"({"address":"a","port":1})", "Prod").find("namespace \"Prod\""),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"address":"a","port":1})", "pr_od").find("'_'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"address":"a","port":1})", "-x").find("must not start"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"address":"a","port":1})", "default", "we b").find("service name"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"address":"a","port":1})", "default", "web", "a/b").find("instance id"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"address":"a","port":1})", std::string(64, 'a')).find("limit is 63"),
            std::string::npos);
}

TEST(ModelTest, RejectsPortsOutOfRange) {
  ExpectErrorsContain({
      {R"({"address":"a","port":0})",
       "registration:1:23: port: must be an integer from 1 to 65535, got 0"},
      {R"({"address":"a","port":70000})", "port: must be an integer from 1 to 65535"},
      {R"({"address":"a","port":"80"})", "port: must be an integer from 1 to 65535, got \"80\""},
  });
}

TEST(ModelTest, RejectsZeroTtlAndBadDurations) {
  ExpectErrorsContain({
      {R"({"address":"a","port":1,"ttl":"0s"})", "ttl: must be at least 1s, got \"0s\""},
      {R"({"address":"a","port":1,"ttl":"10"})", "ttl: \"10\" has no unit: write 10s"},
      {R"({"address":"a","port":1,"ttl":"1500ms"})", "whole seconds"},
  });
}

TEST(ModelTest, RejectsChecksThatAreNotHttp) {
  ExpectErrorsContain({
      {R"({"address":"a","port":1,"check":{"http":"ftp://x/"}})",
       "must be an http:// or https:// URL"},
      {R"({"address":"a","port":1,"check":{"http":"http://x/","tcp":"x:1"}})",
       "check: takes only one of http, tcp or exec; got http and tcp"},
      {R"({"address":"a","port":1,"check":{"tcp":"x"}})", "host:port"},
      {R"({"address":"a","port":1,"check":{"tcp":"x:1","interval":"10ms"}})",
       "between 100ms and 1h"},
      {R"({"address":"a","port":1,"check":{"tcp":"x:1","fall":0}})", "fall"},
  });
}

TEST(ModelTest, RejectsHugeMetadataAndTooManyTags) {
  std::string meta = R"({"address":"a","port":1,"metadata":{)";
  for (int i = 0; i < 65; ++i) meta += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"v\"");
  meta += "}}";
  EXPECT_NE(ErrorOf(meta).find("metadata: has 65 entries; at most 64"), std::string::npos);
  std::string big = R"({"address":"a","port":1,"metadata":{"k":")" + std::string(600, 'x') + "\"}}";
  EXPECT_NE(ErrorOf(big).find("value is 600 bytes"), std::string::npos);
  std::string bigkey =
      R"({"address":"a","port":1,"metadata":{")" + std::string(200, 'k') + "\":\"v\"}}";
  EXPECT_NE(ErrorOf(bigkey).find("metadata key"), std::string::npos);
  std::string tags = R"({"address":"a","port":1,"tags":[)";
  for (int i = 0; i < 65; ++i) tags += (i ? "," : "") + ("\"t" + std::to_string(i) + "\"");
  tags += "]}";
  EXPECT_NE(ErrorOf(tags).find("tags: has 65 items; at most 64"), std::string::npos);
}

TEST(ModelTest, RejectsUnknownFieldsAndMalformedJson) {
  ExpectErrorsContain({
      {R"({"address":"a","port":1,"prot":2})", "prot: unknown field (did you mean \"port\"?)"},
      {R"({"address":"a","port":1,"check":{"tcp":"x:1","intervl":"1s"}})",
       "check.intervl: unknown field (did you mean \"interval\"?)"},
      {R"({"address":"a",)", "malformed JSON"},
      {R"({"port":1})", "\"address\" is required"},
  });
  // An exec check runs inside a container, so the instance must name one.
  ExpectErrorsContain({
      {R"({"address":"a","port":1,"check":{"exec":["true"]}})",
       "check.exec runs inside the instance's container: name it in metadata "
       "\"berth.container\""},
      {R"({"address":"a","port":1,"metadata":{"berth.container":""},
                        "check":{"exec":["true"]}})",
       "berth.container"},
  });
}

TEST(ModelTest, StoredFormRoundTrips) {
  auto r = ParseRegistration(
      R"({"address":"10.0.0.1","port":80,"tags":["a"],"ttl":"5s",
          "metadata":{"berth.container":"api-1"},
          "check":{"exec":["/bin/true"],"interval":"1s"}})",
      "default", "api", "api-1");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  Instance in = *r;
  in.health = Health::kWarning;
  in.health_output = "slow";
  in.health_since_ms = 1234;
  in.preserved = true;
  auto back = DecodeStored(InstanceKey("default", "api", "api-1"), EncodeStored(in), 42, 7);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(back->SameRegistration(in));
  EXPECT_EQ(back->health, Health::kWarning);
  EXPECT_EQ(back->health_output, "slow");
  EXPECT_EQ(back->health_since_ms, 1234);
  EXPECT_TRUE(back->preserved);
  EXPECT_EQ(back->revision, 42);
  EXPECT_EQ(back->lease, 7);
}

TEST(ModelTest, KeysSplitBackIntoParts) {
  EXPECT_EQ(InstanceKey("default", "web", "w1"), "/registry/default/web/w1");
  auto p = ParseInstanceKey("/registry/ns/svc/i.d");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ns, "ns");
  EXPECT_EQ(p->service, "svc");
  EXPECT_EQ(p->id, "i.d");
  EXPECT_FALSE(ParseInstanceKey("/registry/ns/svc").has_value());
  EXPECT_FALSE(ParseInstanceKey("/registry/ns/svc/a/b").has_value());
  EXPECT_FALSE(ParseInstanceKey("/config/ns/svc/a").has_value());
}

// --- node-local exec checks: the routing decision and the report's validation.

Instance ExecInstance(std::map<std::string, std::string> metadata) {
  auto r = ParseRegistration(
      R"({"address":"10.0.0.1","port":80,"check":{"exec":["test","-f","/tmp/ok"]},"metadata":)" +
          Json(metadata).dump() + "}",
      "default", "web", "web-1");
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : Instance{};
}

TEST(ModelTest, ExecChecksThatNameANodeRunOnThatNode) {
  // exec + berth.node: the node's agent runs it.
  auto remote = ExecInstance({{"berth.container", "box"}, {"berth.node", "n2"}});
  EXPECT_EQ(ExecCheckNode(remote), std::optional<std::string>("n2"));
  // exec without a node: the control plane's leader (its in-process agent) runs it.
  auto local = ExecInstance({{"berth.container", "box"}});
  EXPECT_EQ(ExecCheckNode(local), std::nullopt);
  // http and tcp checks always stay with the leader, whatever the metadata says.
  auto http = ParseRegistration(
      R"({"address":"10.0.0.1","port":80,"metadata":{"berth.node":"n2"},
          "check":{"http":"http://10.0.0.1/"}})",
      "default", "web", "web-1");
  ASSERT_TRUE(http.has_value()) << http.error().message;
  EXPECT_EQ(ExecCheckNode(*http), std::nullopt);
  Instance none;
  EXPECT_EQ(ExecCheckNode(none), std::nullopt);
}

TEST(ModelTest, RejectsANodeNameThatIsNotOne) {
  auto msg = ErrorOf(
      R"({"address":"10.0.0.1","port":80,"check":{"exec":["true"]},
          "metadata":{"berth.container":"box","berth.node":"N_2"}})");
  EXPECT_NE(msg.find("berth.node"), std::string::npos) << msg;
}

TEST(ModelTest, HealthReportsParseStrictly) {
  auto ok = ParseHealthReport(R"({"status":"warning","output":"exit 1: slow"})");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->status, Health::kWarning);
  EXPECT_EQ(ok->output, "exit 1: slow");
  for (const char* bad :
       {R"({})", R"({"status":"up"})", R"({"status":1})", R"([])",
        R"({"status":"passing","extra":1})", R"({"status":"passing","output":2})", "not json"}) {
    auto r = ParseHealthReport(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  auto huge = ParseHealthReport(
      Json{{"status", "critical"}, {"output", std::string(kMaxHealthOutputBytes + 1, 'x')}}.dump());
  ASSERT_FALSE(huge.has_value());
  EXPECT_NE(huge.error().message.find("output"), std::string::npos);
}

TEST(ModelTest, ANodeTokenWritesOnlyInstancesThatNameItsNode) {
  Instance mine;
  mine.id = "a";
  mine.ns = "shop";
  mine.service = "api";
  mine.metadata[std::string(kNodeMetadataKey)] = "n1";
  Instance theirs = mine;
  theirs.metadata[std::string(kNodeMetadataKey)] = "n2";
  Instance nobodys = mine;
  nobodys.metadata.clear();

  // Not a node token: nothing to check here (roles are checked before).
  EXPECT_TRUE(AuthorizeNodeWrite("", &theirs, &nobodys));
  // Its own, new or stored.
  EXPECT_TRUE(AuthorizeNodeWrite("n1", nullptr, &mine));
  EXPECT_TRUE(AuthorizeNodeWrite("n1", &mine, &mine));
  EXPECT_TRUE(AuthorizeNodeWrite("n1", &mine, nullptr));
  // A registration that names another node, or none.
  auto r = AuthorizeNodeWrite("n1", nullptr, &theirs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message.find("\"n2\""), std::string::npos) << r.error().message;
  EXPECT_FALSE(AuthorizeNodeWrite("n1", nullptr, &nobodys));
  // Taking over, renewing or removing another node's instance, or one of no node.
  r = AuthorizeNodeWrite("n1", &theirs, &mine);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("belongs to node n2"), std::string::npos) << r.error().message;
  r = AuthorizeNodeWrite("n1", &nobodys, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("belongs to no node"), std::string::npos) << r.error().message;
}

TEST(ModelTest, OnlyTheOwningNodeOrAnAdminMayReportHealth) {
  auto in = ExecInstance({{"berth.container", "box"}, {"berth.node", "n2"}});
  EXPECT_TRUE(AuthorizeHealthReport(in, "n2", false).has_value());
  EXPECT_TRUE(AuthorizeHealthReport(in, "", true).has_value());
  auto other = AuthorizeHealthReport(in, "n1", false);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(other.error().message.find("node n1"), std::string::npos) << other.error().message;
  auto unbound = AuthorizeHealthReport(in, "", false);
  ASSERT_FALSE(unbound.has_value());
  EXPECT_EQ(unbound.error().code, ErrorCode::kPermissionDenied);
  // Health the control plane checks itself is never set by reports, not even an admin's.
  auto local = ExecInstance({{"berth.container", "box"}});
  auto r = AuthorizeHealthReport(local, "", true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
}

TEST(ModelTest, ReportedInstancesDecodeBack) {
  auto in = ExecInstance({{"berth.container", "box"}, {"berth.node", "n2"}});
  in.revision = 42;
  in.health = Health::kWarning;
  in.health_output = "exit 1";
  auto back = DecodeReported(InstanceToJsonText(in));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->id, "web-1");
  EXPECT_EQ(back->revision, 42);
  EXPECT_EQ(back->health, Health::kWarning);
  EXPECT_EQ(back->check, in.check);
  EXPECT_FALSE(DecodeReported(R"({"service":"web"})").has_value());
}

// ---- the hand-written JSON paths equal the Json ones -------------------------------------

// Every field, compared (Instance has no operator==).
void ExpectSameInstance(const Instance& a, const Instance& b, const std::string& what) {
  EXPECT_TRUE(a.SameRegistration(b)) << what;
  EXPECT_EQ(a.health, b.health) << what;
  EXPECT_EQ(a.health_output, b.health_output) << what;
  EXPECT_EQ(a.health_since_ms, b.health_since_ms) << what;
  EXPECT_EQ(a.preserved, b.preserved) << what;
  EXPECT_EQ(a.revision, b.revision) << what;
  EXPECT_EQ(a.lease, b.lease) << what;
}

// Instances covering every optional member and the escaping corner cases.
std::vector<Instance> Samples() {
  std::vector<Instance> out;
  Instance plain;
  plain.ns = "bench";
  plain.service = "svc7";
  plain.id = "i42";
  plain.address = "10.0.1.2";
  plain.port = 8080;
  plain.tags = {"v1", "bench"};
  plain.metadata = {{"zone", "a"}};
  plain.health_since_ms = 1'764'000'000'123;
  plain.revision = 981;
  out.push_back(plain);

  Instance empty = plain;  // no tags, no metadata, nothing optional
  empty.tags.clear();
  empty.metadata.clear();
  empty.health_since_ms = 0;
  empty.revision = 0;
  empty.weight = 0;
  out.push_back(empty);

  Instance escaped = plain;  // metadata values (and keys) that JSON must escape
  escaped.metadata = {{"quote", "say \"hi\""},
                      {"back\\slash", "C:\\path\\x"},
                      {"ctl", std::string("a\x01\x1f\x7f\b\f\n\r\tb")},
                      {"slash", "a/b"},
                      {"utf8", "caf\xc3\xa9 \xf0\x9f\x9a\xa2"},
                      {"", "empty key"},
                      {"zz", ""},
                      {"Zone", "upper sorts first"}};
  escaped.tags = {"t\"q", "caf\xc3\xa9", "x\\y"};
  escaped.health = Health::kWarning;
  escaped.health_output = "HTTP 503 \"Service Unavailable\"\n(3 consecutive)";
  out.push_back(escaped);

  Instance leased = plain;  // a lease, ttl, deregister_after, preserved, a negative time
  leased.ttl_seconds = 90;
  leased.lease = 7'000'000'001;
  leased.deregister_after = Millis(90'000);
  leased.preserved = true;
  leased.health_since_ms = -5;
  leased.weight = 10000;
  out.push_back(leased);

  Instance http = plain;
  http.check = CheckSpec{.kind = CheckSpec::Kind::kHttp,
                         .http = "http://10.0.1.2:8080/health?x=\"1\"",
                         .interval = Millis(1500),
                         .timeout = Millis(500),
                         .rise = 1,
                         .fall = 100};
  http.health = Health::kCritical;
  http.health_output = std::string(kNoCheckResultYet);
  out.push_back(http);

  Instance tcp = plain;
  tcp.check = CheckSpec{.kind = CheckSpec::Kind::kTcp, .tcp = "10.0.1.2:8080"};
  out.push_back(tcp);

  Instance exec = plain;
  exec.check = CheckSpec{.kind = CheckSpec::Kind::kExec,
                         .command = {"/bin/sh", "-c", "test -f \"/tmp/ok\"\n"},
                         .interval = Millis(3'600'000)};
  exec.metadata = {{std::string(kContainerMetadataKey), "web-1"},
                   {std::string(kNodeMetadataKey), "node-a"}};
  out.push_back(exec);

  Instance no_command = exec;
  no_command.check->command.clear();
  out.push_back(no_command);
  return out;
}

TEST(ModelTest, HandWrittenJsonEqualsTheJsonPathByteForByte) {
  for (const Instance& in : Samples()) {
    EXPECT_EQ(EncodeStored(in), EncodeStoredViaJson(in));
    EXPECT_EQ(InstanceToJsonText(in), InstanceToJsonTextViaJson(in));
  }
}

TEST(ModelTest, IllFormedUtf8FallsBackToTheJsonPath) {
  Instance in = Samples()[0];
  in.health_output = "exit 1: \xff\xfe";  // output of a command is not always UTF-8
  // The Json path throws on it; the hand-written one must not hide that by writing it.
  EXPECT_THROW(EncodeStoredViaJson(in), Json::exception);
  EXPECT_THROW(EncodeStored(in), Json::exception);
  EXPECT_THROW(InstanceToJsonText(in), Json::exception);
}

TEST(ModelTest, HandWrittenDecodeEqualsTheJsonPath) {
  std::vector<std::string> values;
  for (const Instance& in : Samples()) values.push_back(EncodeStored(in));
  // Shapes the hand-written reader declines or refuses; the result must still be the same.
  for (const char* v : {
           R"({"address":"10.0.0.1","port":80})",
           R"( { "address" : "10.0.0.1" , "port" : 80 , "tags" : [ ] , "metadata" : { } } )",
           "{\"address\":\"10.0.0.1\",\n\t\"port\":80,\r\n\"weight\":0}",
           R"({"address":"10.0.0.1","port":80,"metadata":{"k":"v\u0041\n"}})",
           R"({"address":"10.0.0.1","port":80,"address":"10.0.0.2"})",
           R"({"address":"10.0.0.1","port":80,"metadata":{"k":"a","k":"b"}})",
           R"({"address":"10.0.0.1","port":80,"unknown":1})",
           R"({"address":"10.0.0.1","port":0})",
           R"({"address":"10.0.0.1","port":65536})",
           R"({"address":"10.0.0.1","port":080})",
           R"({"address":"10.0.0.1","port":80.0})",
           R"({"address":"10.0.0.1","port":8e1})",
           R"({"address":"10.0.0.1","port":-80})",
           R"({"address":"10.0.0.1","port":"80"})",
           R"({"address":"10.0.0.1","port":99999999999999999999})",
           R"({"address":"10.0.0.1"})",
           R"({"port":80})",
           R"({})",
           R"([])",
           R"({"address":"10.0.0.1","port":80} x)",
           R"({"address":"10.0.0.1","port":80)",
           R"({"address":"10.0.0.1","port":80,})",
           R"({"address":"10.0.0.1","port":80,"weight":10001})",
           R"({"address":"10.0.0.1","port":80,"weight":-1})",
           R"({"address":"10.0.0.1","port":80,"tags":["a",1]})",
           R"({"address":"10.0.0.1","port":80,"tags":"a"})",
           R"({"address":"10.0.0.1","port":80,"metadata":{"k":1}})",
           R"({"address":"10.0.0.1","port":80,"ttl":"0s"})",
           R"({"address":"10.0.0.1","port":80,"ttl":"1500ms"})",
           R"({"address":"10.0.0.1","port":80,"ttl":"1m30s"})",
           R"({"address":"10.0.0.1","port":80,"ttl":"soon"})",
           R"({"address":"10.0.0.1","port":80,"deregister_after":"0s"})",
           R"({"address":"10.0.0.1","port":80,"deregister_after":"2h"})",
           R"({"address":"10.0.0.1","port":80,"health":"unknown"})",
           R"({"address":"10.0.0.1","port":80,"health":"warning","health_output":"x"})",
           R"({"address":"10.0.0.1","port":80,"health_since":-7})",
           R"({"address":"10.0.0.1","port":80,"health_since":1.5})",
           R"({"address":"10.0.0.1","port":80,"preserved":false})",
           R"({"address":"10.0.0.1","port":80,"preserved":1})",
           R"({"address":"10.0.0.1","port":80,"preserved":truex})",
           "{\"address\":\"caf\xc3\xa9\",\"port\":80}",
           "{\"address\":\"bad\xff\",\"port\":80}",
           "{\"address\":\"ctl\x01\",\"port\":80}",
           "\xef\xbb\xbf{\"address\":\"10.0.0.1\",\"port\":80}",
       }) {
    values.push_back(v);
  }
  for (const auto& v : values) {
    auto fast = DecodeStored("/registry/ns1/web/web-1", v, 17, 3);
    auto slow = DecodeStoredViaJson("/registry/ns1/web/web-1", v, 17, 3);
    ASSERT_EQ(fast.has_value(), slow.has_value()) << v;
    if (fast) {
      ExpectSameInstance(*fast, *slow, v);
      EXPECT_EQ(fast->ns, "ns1");
      EXPECT_EQ(fast->id, "web-1");
    } else {
      EXPECT_EQ(fast.error().code, slow.error().code) << v;
      EXPECT_EQ(fast.error().message, slow.error().message) << v;
    }
    // A registration body is the same text without the server's fields.
    auto reg = ParseRegistration(v, "ns1", "web", "web-1");
    auto reg_slow = ParseRegistrationViaJson(v, "ns1", "web", "web-1");
    ASSERT_EQ(reg.has_value(), reg_slow.has_value()) << v;
    if (reg) {
      ExpectSameInstance(*reg, *reg_slow, v);
    } else {
      EXPECT_EQ(reg.error().code, reg_slow.error().code) << v;
      EXPECT_EQ(reg.error().message, reg_slow.error().message) << v;
    }
  }
}

TEST(ModelTest, HandWrittenPathsAgreeOnLimits) {
  std::string tags = R"({"address":"10.0.0.1","port":80,"tags":[)";
  std::string meta = R"({"address":"10.0.0.1","port":80,"metadata":{)";
  for (size_t i = 0; i <= kMaxTags; ++i) {
    if (i > 0) {
      tags += ',';
      meta += ',';
    }
    tags += fmt::format(R"("t{}")", i);
    meta += fmt::format(R"("k{}":"v")", i);
    for (const std::string& body : {tags + "]}", meta + "}}"}) {
      auto fast = ParseRegistration(body, "ns1", "web", "web-1");
      auto slow = ParseRegistrationViaJson(body, "ns1", "web", "web-1");
      ASSERT_EQ(fast.has_value(), slow.has_value()) << body;
      if (!fast) {
        EXPECT_EQ(fast.error().message, slow.error().message);
      }
      auto sfast = DecodeStored("/registry/ns1/web/web-1", body, 1, 0);
      auto sslow = DecodeStoredViaJson("/registry/ns1/web/web-1", body, 1, 0);
      ASSERT_EQ(sfast.has_value(), sslow.has_value()) << body;
      if (!sfast) {
        EXPECT_EQ(sfast.error().message, sslow.error().message);
      }
    }
  }
  std::string huge = R"({"address":"10.0.0.1","port":80,"metadata":{"k":")" +
                     std::string(300 * 1024, 'x') + "\"}}";
  auto fast = ParseRegistration(huge, "ns1", "web", "web-1");
  ASSERT_FALSE(fast.has_value());
  EXPECT_EQ(fast.error().code, ErrorCode::kPayloadTooLarge);
}

}  // namespace
}  // namespace berth::registry
