#include "core/input.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/json.h"

namespace berth::input {
namespace {

enum class Protocol { kTcp, kUdp };

struct Port {
  std::string name;
  int container_port = 0;
  int host_port = 0;
  Protocol protocol = Protocol::kTcp;
};

struct Service {
  std::string image;
  int64_t replicas = 1;
  bool enabled = true;
  Millis period{10'000};
  int64_t memory = 0;
  int64_t cpu = 0;
  std::vector<Port> ports;
  std::map<std::string, std::string> env;
  std::vector<std::string> tags;
};

Result<Port> ReadPort(const Node& n) {
  Port p;
  Object o(n);
  o.Optional("name", p.name, NonEmptyString);
  o.Required("containerPort", p.container_port, Int(1, 65535));
  o.Optional("hostPort", p.host_port, Int(0, 65535));
  o.Optional("protocol", p.protocol,
             Enum<Protocol>({{"tcp", Protocol::kTcp}, {"udp", Protocol::kUdp}}));
  BERTH_TRY(o.Done());
  return p;
}

Result<Service> ReadService(const Node& n) {
  Service s;
  Object o(n);
  o.Required("image", s.image, NonEmptyString)
      .Optional("replicas", s.replicas, Int(0, 1000))
      .Optional("enabled", s.enabled)
      .Optional("period", s.period, Duration{.min = Millis(100)})
      .Optional("memory", s.memory, Bytes{})
      .Optional("cpu", s.cpu, Cpu{})
      .Optional("ports", s.ports, ListOf(ReadPort))
      .Optional("env", s.env, MapOf(String))
      .Optional("tags", s.tags, ListOf(String, 3));
  BERTH_TRY(o.Done());
  return s;
}

Result<std::map<std::string, Service>> ReadApp(const Node& root) {
  std::map<std::string, Service> services;
  Object o(root);
  o.Required("services", services, MapOf(ReadService));
  o.Ignore({"version"});
  BERTH_TRY(o.Done());
  return services;
}

std::string YamlError(const std::string& text) {
  auto doc = ParseYaml(text, "app.yaml");
  if (!doc) return doc.error().message;
  auto app = ReadApp(doc->root());
  if (app) return "no error";
  EXPECT_EQ(app.error().code, ErrorCode::kInvalidArgument);
  return app.error().message;
}

std::string JsonError(const std::string& text) {
  auto doc = ParseJson(text, "body");
  if (!doc) return doc.error().message;
  auto app = ReadApp(doc->root());
  return app ? "no error" : app.error().message;
}

TEST(Input, ReadsAStructFromYaml) {
  auto doc = ParseYaml(R"(version: 3
services:
  api:
    image: shop/api:1
    replicas: "3"
    enabled: false
    period: 1.5s
    memory: 512Mi
    cpu: 500m
    ports:
      - {containerPort: 80, hostPort: 8080, name: http}
      - containerPort: 53
        protocol: udp
    env: {MODE: prod, EMPTY: ""}
    tags: [a, b]
)",
                       "app.yaml");
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  auto app = ReadApp(doc->root());
  ASSERT_TRUE(app.has_value()) << app.error().message;
  const Service& s = app->at("api");
  EXPECT_EQ(s.image, "shop/api:1");
  EXPECT_EQ(s.replicas, 3);
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.period, Millis(1500));
  EXPECT_EQ(s.memory, int64_t{512} << 20);
  EXPECT_EQ(s.cpu, 500);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].host_port, 8080);
  EXPECT_EQ(s.ports[0].name, "http");
  EXPECT_EQ(s.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(s.env.at("MODE"), "prod");
  EXPECT_EQ(s.env.at("EMPTY"), "");
  EXPECT_EQ(s.tags, (std::vector<std::string>{"a", "b"}));
}

TEST(Input, ReadsTheSameStructFromJson) {
  auto doc = ParseJson(R"({"services": {"api": {"image": "x", "replicas": 2, "enabled": true,
      "period": "1s", "memory": 1024, "cpu": 0.5, "ports": [{"containerPort": 80}]}}})",
                       "body");
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  auto app = ReadApp(doc->root());
  ASSERT_TRUE(app.has_value()) << app.error().message;
  EXPECT_EQ(app->at("api").replicas, 2);
  EXPECT_EQ(app->at("api").memory, 1024);
  EXPECT_EQ(app->at("api").cpu, 500);
  EXPECT_EQ(app->at("api").ports[0].container_port, 80);
}

struct ErrorCase {
  std::string text;
  std::string message;
};

TEST(Input, YamlErrorsNameFileLineColumnAndField) {
  const ErrorCase cases[] = {
      {"services:\n  api:\n    image: x\n    replicas: three\n",
       R"(app.yaml:4:15: services.api.replicas: must be an integer from 0 to 1000, got "three")"},
      {"services:\n  api:\n    imagee: x\n",
       R"(app.yaml:3:5: services.api.imagee: unknown field (did you mean "image"?))"},
      {"services:\n  api:\n    image: x\n    colour: red\n",
       "app.yaml:4:5: services.api.colour: unknown field (known fields: cpu, enabled, env, "
       "image, memory, period, ports, replicas or tags)"},
      {"services:\n  api:\n    replicas: 1\n",
       R"(app.yaml:3:5: services.api: "image" is required)"},
      {"services:\n  api:\n    image: x\n    ports:\n      - containerPort: 80\n      - "
       "containerPort: 0\n",
       "app.yaml:6:24: services.api.ports[1].containerPort: must be an integer from 1 to 65535, "
       "got \"0\""},
      {"services:\n  api:\n    image: x\n    ports: [{containerPort: 1, protocol: tpc}]\n",
       R"(app.yaml:4:42: services.api.ports[0].protocol: must be one of tcp or udp, got "tpc" (did you mean "tcp"?))"},
      {"services:\n  api:\n    image: x\n    period: 30\n",
       R"(app.yaml:4:13: services.api.period: "30" has no unit: write 30s (or 30ms, 30m, 30h))"},
      {"services:\n  api:\n    image: x\n    period: 10ms\n",
       R"(app.yaml:4:13: services.api.period: must be at least 100ms, got "10ms")"},
      {"services:\n  api:\n    image: x\n    memory: 5X\n",
       R"(app.yaml:4:13: services.api.memory: "5X" has an unknown unit "X": use Ki, Mi, Gi, Ti, Pi (or k, m, g, t, p), all powers of 1024)"},
      {"services:\n  api:\n    image: x\n    enabled: yes\n",
       R"(app.yaml:4:14: services.api.enabled: must be true or false, got "yes")"},
      {"services:\n  api:\n    image: x\n    tags: [a, b, c, d]\n",
       "app.yaml:4:11: services.api.tags: has 4 items; at most 3"},
      {"services:\n  api:\n    image: x\n    env: {A: [1]}\n",
       "app.yaml:4:14: services.api.env.A: must be a string, got a list"},
      {"services:\n  api:\n    image: x\n    image: y\n",
       "app.yaml:4:5: services.api.image: given twice"},
      {"services:\n  api: nginx\n", R"(app.yaml:2:8: services.api: must be a map, got "nginx")"},
      {"services:\n  api:\n", "app.yaml:2:3: services.api: must be a map, got nothing"},
      {"- a\n", "app.yaml:1:1: must be a map, got a list"},
      {"services: {a: 1\n", "app.yaml:2:1: invalid YAML: end of map flow not found"},
      {"services: {}\n---\nservices: {}\n",
       "app.yaml:3:1: holds 2 YAML documents (separated by ---): give one"},
      {"services:\n  \"a.b\":\n    image: \"\"\n",
       R"(app.yaml:3:12: services["a.b"].image: must not be empty)"},
  };
  for (const auto& c : cases) EXPECT_EQ(YamlError(c.text), c.message) << c.text;
}

TEST(Input, JsonErrorsNameTheFieldLineAndColumn) {
  const ErrorCase cases[] = {
      {R"({"services": {"api": {"image": "x", "replicas": "2"}}})",
       R"(body:1:49: services.api.replicas: must be an integer from 0 to 1000, got "2")"},
      {"{\"services\": {\"api\": {\n  \"image\": 5}}}",
       "body:2:12: services.api.image: must be a string, got 5"},
      {"{\"services\": {\"api\": {\"image\": \"x\",\n  \"enabled\": \"true\"}}}",
       R"(body:2:14: services.api.enabled: must be true or false, got "true")"},
      {"{\"services\": {\"api\": {\"image\": \"x\",\n\n   \"imag\": 1}}}",
       R"(body:3:4: services.api.imag: unknown field (did you mean "image"?))"},
      {R"({"services": {"api": {"image": "x", "image": "y"}}})",
       "body:1:37: services.api.image: given twice"},
      {R"({"services": {"api": {"image": "x", "ports": [{"containerPort": 99999}]}}})",
       "body:1:65: services.api.ports[0].containerPort: must be an integer from 1 to 65535, "
       "got 99999"},
      {"{\"services\": {\"api\": {\"image\": \"x\", \"ports\": [{\"containerPort\": 70000\n}]}}}",
       "body:1:65: services.api.ports[0].containerPort: must be an integer from 1 to 65535, "
       "got 70000"},
      {R"({"services": {"api": {"image": "x", "enabled": nul}}})",
       "body: malformed JSON: parse error at line 1, column 51: syntax error while parsing "
       "value - invalid literal; last read: '\"enabled\": nul}'"},
      {R"({"services": {"api": {"image": "x\"y", "replicas": true}}})",
       "body:1:52: services.api.replicas: must be an integer from 0 to 1000, got true"},
      {R"({"services": {}} x)",
       "body: malformed JSON: parse error at line 1, column 18: syntax error while parsing "
       "value - invalid literal; last read: '\"services\": {}} x'; expected end of input"},
  };
  for (const auto& c : cases) EXPECT_EQ(JsonError(c.text), c.message) << c.text;
}

TEST(Input, RefusesDeepNestingAndExpandedAliasesAndLargeText) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto j = ParseJson(deep, "body", {.max_depth = 32});
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().message, "body:1:33: nesting deeper than 32");
  auto y = ParseYaml(deep, "f.yaml", {.max_depth = 32});
  ASSERT_FALSE(y.has_value());
  EXPECT_NE(y.error().message.find("nesting deeper than 32"), std::string::npos);

  std::string laughs = "a: &a [x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'h'; ++c) {
    const char p = static_cast<char>(c - 1);
    laughs += fmt::format("{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n", c, c, p, p, p, p, p,
                          p, p, p);
  }
  auto bomb = ParseYaml(laughs, "bomb.yaml", {.max_nodes = 100'000});
  ASSERT_FALSE(bomb.has_value());
  EXPECT_NE(bomb.error().message.find("more than 100000 values"), std::string::npos)
      << bomb.error().message;

  auto big = ParseJson(std::string(100, ' '), "body", {.max_bytes = 10});
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, ErrorCode::kPayloadTooLarge);
}

TEST(Input, AnEmptyDocumentIsNull) {
  auto doc = ParseYaml("", "empty.yaml");
  ASSERT_TRUE(doc.has_value());
  EXPECT_TRUE(doc->root().IsNull());
  auto err = ReadApp(doc->root());
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.error().message, "empty.yaml: must be a map, got nothing");
}

TEST(Input, ParsePicksJsonByTheFirstCharacter) {
  auto j = Parse("  {\"a\": \"1\"}", "x");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->root().Find("a")->style(), Node::Style::kJsonString);
  auto y = Parse("a: '1'", "x");
  ASSERT_TRUE(y.has_value());
  EXPECT_EQ(y->root().Find("a")->style(), Node::Style::kQuoted);
}

TEST(Input, ExactlyOneOfNamesWhatIsMissingOrExtra) {
  auto doc = ParseYaml("a: {http: x, tcp: y}\nb: {}\n", "c.yaml");
  ASSERT_TRUE(doc.has_value());
  Object a(*doc->root().Find("a"));
  a.ExactlyOneOf({"http", "tcp", "exec"}).Ignore({"http", "tcp"});
  EXPECT_EQ(a.Done().error().message,
            "c.yaml:1:4: a: takes only one of http, tcp or exec; got "
            "http and tcp");
  Object b(*doc->root().Find("b"));
  b.ExactlyOneOf({"http", "tcp"});
  EXPECT_EQ(b.Done().error().message, "c.yaml:2:4: b: needs one of http or tcp");
}

TEST(Input, ToJsonTypesYamlScalarsAndFromJsonKeepsPaths) {
  auto doc = ParseYaml("a: 80\nb: '80'\nc: true\nd: ~\ne: 1.5\nf: [x]\n", "t.yaml");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(ToJson(doc->root()),
            Json::parse(R"({"a": 80, "b": "80", "c": true, "d": null, "e": 1.5, "f": ["x"]})"));

  Document from = FromJson(Json::parse(R"({"services": {"api": {"image": 1}}})"), "app.json");
  auto app = ReadApp(from.root());
  ASSERT_FALSE(app.has_value());
  EXPECT_EQ(app.error().message, "app.json: services.api.image: must be a string, got 1");
  EXPECT_EQ(ToJson(FromJson(Json::parse(R"({"a":[1,"2",true,null,2.5]})"), "x").root()),
            Json::parse(R"({"a":[1,"2",true,null,2.5]})"));
}

TEST(Input, DocumentsKeepTheirNodesWhenMoved) {
  auto doc = ParseYaml("a: {b: [1, 2]}\n", "m.yaml");
  ASSERT_TRUE(doc.has_value());
  Document moved = std::move(*doc);
  const Node* two = moved.root().Find("a")->Find("b")->items()[1];
  EXPECT_EQ(two->Path(), "a.b[1]");
  EXPECT_EQ(two->Invalid("x").message, "m.yaml:1:12: a.b[1]: x");
}

TEST(NearestName, SuggestsOnlyCloseNames) {
  std::vector<std::string_view> names = {"image", "replicas", "containerPort"};
  EXPECT_EQ(NearestName("imgae", names), "image");
  EXPECT_EQ(NearestName("replica", names), "replicas");
  EXPECT_EQ(NearestName("containerport", names), "containerPort");
  EXPECT_EQ(NearestName("colour", names), "");
  EXPECT_EQ(NearestName("~", {"=", "!="}), "");  // too short to be a typo of anything
}

}  // namespace
}  // namespace berth::input
