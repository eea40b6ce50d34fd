#include "orchestrator/spec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth::orchestrator {
namespace {

constexpr const char* kFull = R"yaml(namespace: shop
name: shop
services:
  api:
    image: shop/api:1
    command: ["/api", "--port", "8080"]
    env:
      LOG_LEVEL: debug
      EMPTY:
    ports:
      - name: http
        containerPort: 8080
      - "9090:9091/udp"
      - 7000
    resources: {cpu: 500m, memory: 256Mi, pids: 100}
    replicas: 3
    probes:
      startup: {exec: "cat /tmp/started", period: 1s, timeout: 500ms}
      readiness: {http: {path: /healthz, port: http}, period: 5s, failureThreshold: 2}
      liveness: {tcp: {port: 8080}, initialDelay: 10s}
    restart: {policy: on-failure, backoff: 2s, maxBackoff: 1m, maxRestarts: 5}
    update: {maxSurge: 1, maxUnavailable: "50%", minReadySeconds: 10, progressDeadline: 5m, autoRollback: false, canary: 1}
    placement:
      constraints:
        - "zone in (eu-1, eu-2)"
        - "disk = ssd"
        - "gpu not-exists"
        - {key: arch, op: "!=", value: arm64}
        - "pool exists"
      strategy: binpack
      antiAffinity: required
    expose:
      - {host: shop.local, path: /api, port: http, canaryWeight: 10}
    autoscale: {min: 2, max: 20, targetCpu: 70%, targetRps: 150, cooldown: 2m}
    securityContext: {readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 1000}
  worker:
    image: shop/worker:1
    command: /worker --queue jobs
    replicas: 0
)yaml";

std::string ParseError(std::string_view yaml) {
  auto r = ParseAppYaml(yaml, "app.yaml");
  EXPECT_FALSE(r.has_value()) << "expected an error for:\n" << yaml;
  return r ? "" : r.error().message;
}

// Each spec of `cases` is refused with exactly its message (file, line, column, field).
void ExpectErrors(const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [yaml, message] : cases) EXPECT_EQ(ParseError(yaml), message) << yaml;
}

std::string App1(std::string_view service_body) {
  return "name: shop\nservices:\n  api:\n    image: a:1\n" + std::string(service_body);
}

TEST(ParseAppYaml, ReadsEveryField) {
  auto r = ParseAppYaml(kFull);
  ASSERT_TRUE(r) << r.error().message;
  const App& app = *r;
  EXPECT_EQ(app.ns, "shop");
  EXPECT_EQ(app.name, "shop");
  ASSERT_EQ(app.services.size(), 2u);
  const auto& api = app.services[0];
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.command, (std::vector<std::string>{"/api", "--port", "8080"}));
  EXPECT_EQ(api.env.at("LOG_LEVEL"), "debug");
  EXPECT_EQ(api.env.at("EMPTY"), "");
  ASSERT_EQ(api.ports.size(), 3u);
  EXPECT_EQ(api.ports[0].name, "http");
  EXPECT_EQ(api.ports[1].host_port, 9090);
  EXPECT_EQ(api.ports[1].container_port, 9091);
  EXPECT_EQ(api.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(api.ports[2].container_port, 7000);
  EXPECT_EQ(api.resources, (Resources{500, 256 << 20, 100}));
  EXPECT_EQ(api.replicas, 3);
  ASSERT_TRUE(api.probes.startup);
  EXPECT_EQ(api.probes.startup->kind, ProbeKind::kExec);
  EXPECT_EQ(api.probes.startup->command, (std::vector<std::string>{"cat", "/tmp/started"}));
  EXPECT_EQ(api.probes.startup->timeout, Millis(500));
  ASSERT_TRUE(api.probes.readiness);
  EXPECT_EQ(api.probes.readiness->port, 8080);  // named port resolved
  EXPECT_EQ(api.probes.readiness->path, "/healthz");
  EXPECT_EQ(api.probes.readiness->failure_threshold, 2);
  ASSERT_TRUE(api.probes.liveness);
  EXPECT_EQ(api.probes.liveness->kind, ProbeKind::kTcp);
  EXPECT_EQ(api.probes.liveness->initial_delay, Millis(10'000));
  EXPECT_EQ(api.restart.mode, RestartMode::kOnFailure);
  EXPECT_EQ(api.restart.backoff_max, Millis(60'000));
  EXPECT_EQ(api.restart.max_restarts, 5);
  EXPECT_EQ(api.update.max_surge, (IntOrPercent{1, false}));
  EXPECT_EQ(api.update.max_unavailable, (IntOrPercent{50, true}));
  EXPECT_EQ(api.update.min_ready, Millis(10'000));
  EXPECT_EQ(api.update.progress_deadline, Millis(300'000));
  EXPECT_FALSE(api.update.auto_rollback);
  ASSERT_EQ(api.placement.constraints.size(), 5u);
  EXPECT_EQ(api.placement.constraints[0].op, Constraint::Op::kIn);
  EXPECT_EQ(api.placement.constraints[0].values, (std::vector<std::string>{"eu-1", "eu-2"}));
  EXPECT_EQ(api.placement.constraints[1].ToString(), "disk = ssd");
  EXPECT_EQ(api.placement.constraints[2].op, Constraint::Op::kNotExists);
  EXPECT_EQ(api.placement.constraints[3].ToString(), "arch != arm64");
  EXPECT_EQ(api.placement.constraints[4].op, Constraint::Op::kExists);
  EXPECT_EQ(api.placement.strategy, PlacementStrategy::kBinpack);
  EXPECT_EQ(api.placement.anti_affinity, AntiAffinity::kRequired);
  ASSERT_EQ(api.expose.size(), 1u);
  EXPECT_EQ(api.expose[0].host, "shop.local");
  EXPECT_EQ(api.expose[0].canary_weight, 10);
  ASSERT_TRUE(api.autoscale);
  EXPECT_EQ(*api.autoscale, (Autoscale{2, 20, 70, 150, Millis(120'000)}));
  const auto& worker = app.services[1];
  EXPECT_EQ(worker.command, (std::vector<std::string>{"/worker", "--queue", "jobs"}));
  EXPECT_EQ(worker.replicas, 0);
  EXPECT_EQ(worker.update, UpdateStrategy{});  // defaults
  EXPECT_TRUE(worker.update.auto_rollback);
}

TEST(ParseAppYaml, DefaultsNamespaceAndStrategy) {
  auto r = ParseAppYaml("name: shop\nservices:\n  web:\n    image: web:1\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ns, "default");
  EXPECT_EQ(r->services[0].replicas, 1);
  EXPECT_EQ(r->services[0].placement.strategy, PlacementStrategy::kSpread);
  EXPECT_EQ(r->services[0].placement.anti_affinity, AntiAffinity::kPreferred);
}

TEST(ParseAppYaml, ErrorNamesFileLineAndFieldForBadReplicas) {
  ExpectErrors({
      {App1("    replicas: three\n"),
       "app.yaml:5:15: services.api.replicas: must be a non-negative integer, got \"three\""},
      {App1("    replicas: -1\n"),
       "app.yaml:5:15: services.api.replicas: must be a non-negative integer, got \"-1\""},
      {App1("    replicas: [1]\n"),
       "app.yaml:5:15: services.api.replicas: must be a non-negative integer, got a list"},
  });
}

TEST(ParseAppYaml, RejectsUnknownKeysAtTheirLine) {
  ExpectErrors({
      {App1("    replicas: 2\n    imagee: x\n"),
       "app.yaml:6:5: services.api.imagee: unknown field (did you mean \"image\"?)"},
      {"name: x\nservices: {}\nextra: 1\n",
       "app.yaml:3:1: extra: unknown field (known fields: name, namespace or services)"},
      {App1("    resources: {cpu: 1, disk: 1Gi}\n"),
       "app.yaml:5:25: services.api.resources.disk: unknown field (known fields: cpu, memory or "
       "pids)"},
  });
}

TEST(ParseAppYaml, RejectsStructuralErrors) {
  ExpectErrors({
      {"- a\n- b\n", "app.yaml:1:1: must be a map, got a list"},
      {"services: {}\n", "app.yaml:1:1: \"name\" is required"},
      {"name: x\n", "app.yaml:1:1: \"services\" is required"},
      {"name: x\nservices: [a]\n",
       "app.yaml:2:11: services: must be a map of service name to spec, got a list"},
      {"name: x\nservices:\n  api:\n    replicas: 1\n",
       "app.yaml:4:5: services.api: \"image\" is required"},
  });
  ExpectErrors({
      {"name: x\nservices:\n  API:\n    image: a\n",
       "app.yaml:4:5: services.API: service names use lower case letters, digits and '-', start "
       "with a letter, at most 63 characters"},
      {"name: x\nname: y\nservices: {}\n", "app.yaml:2:1: name: given twice"},
      {"name: x\nservices:\n  a:\n    image: a\n  a:\n    image: b\n",
       "app.yaml:5:3: services.a: given twice"},
      {"name: x\nservices:\n  api:\n    image: [a]\n",
       "app.yaml:4:12: services.api.image: must be a string, got a list"},
      {"name: x\nservices:\n  api:\n    image: \"\"\n",
       "app.yaml:4:12: services.api.image: must not be empty"},
      {"name: x\nservices:\n  api: 3\n", "app.yaml:3:8: services.api: must be a map, got \"3\""},
  });
}

TEST(ParseAppYaml, RejectsMalformedYamlWithLine) {
  auto e = ParseError("name: x\nservices:\n  api: {image: a\n");
  EXPECT_EQ(e.rfind("app.yaml:", 0), 0u);
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  auto big = ParseAppYaml(std::string(kMaxSpecBytes + 1, ' '), "app.yaml");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(big.error().message, "app.yaml: 1048577 bytes exceeds the limit of 1048576");
}

TEST(ParseAppYaml, RejectsInvalidUtf8WithLine) {
  ExpectErrors({
      {"name: x\nservices:\n  api:\n    image: \xff\n", "app.yaml:4:12: not valid UTF-8"},
      {"name: \xc0\xaf\n", "app.yaml:1:7: not valid UTF-8"},
  });  // overlong
  EXPECT_TRUE(ParseAppYaml("name: x\nservices:\n  api:\n    image: caf\xc3\xa9\n"));
}

TEST(ParseAppYaml, RejectsBadQuantities) {
  ExpectErrors({
      {App1("    resources: {memory: lots}\n"),
       "app.yaml:5:25: services.api.resources.memory: \"lots\" is not a size: write bytes "
       "(1048576) or a number with a unit, like 512Mi, 1Gi or 64m"},
      {App1("    resources: {cpu: fast}\n"),
       "app.yaml:5:22: services.api.resources.cpu: \"fast\" is not a CPU amount: write cores "
       "(0.5, 2) or millicores (500m)"},
      {App1("    resources: {pids: -3}\n"),
       "app.yaml:5:23: services.api.resources.pids: must be a non-negative integer, got \"-3\""},
      {App1("    probes: {liveness: {tcp: {port: 80}, period: soon}}\n"),
       "app.yaml:5:50: services.api.probes.liveness.period: \"soon\" is not a duration: write "
       "numbers with units (ns, us, ms, s, m, h, d), like 250ms, 1.5s or 1h30m"},
      // A bare number has no unit (decision 0011); minReadySeconds, whose name gives it, takes one.
      {App1("    probes: {liveness: {tcp: {port: 80}, period: 10}}\n"),
       "app.yaml:5:50: services.api.probes.liveness.period: \"10\" has no unit: write 10s (or "
       "10ms, 10m, 10h)"},
  });
}

TEST(ParseAppYaml, RejectsBadPorts) {
  ExpectErrors({
      {App1("    ports: 80\n"), "app.yaml:5:12: services.api.ports: must be a list, got \"80\""},
      {App1("    ports: [\"99999\"]\n"),
       "app.yaml:5:13: services.api.ports[0]: container port must be between 1 and 65535, got "
       "\"99999\""},
      {App1("    ports: [\"x:80\"]\n"),
       "app.yaml:5:13: services.api.ports[0]: host port must be between 1 and 65535, got \"x\""},
      {App1("    ports: [\"80/sctp\"]\n"),
       "app.yaml:5:13: services.api.ports[0]: protocol must be tcp or udp, got \"sctp\""},
      {App1("    ports: [\"1.2.3.4:80:80\"]\n"),
       "app.yaml:5:13: services.api.ports[0]: must be PORT or HOST_PORT:CONTAINER_PORT, got "
       "\"1.2.3.4:80:80\""},
      {App1("    ports: [{name: http}]\n"),
       "app.yaml:5:13: services.api.ports[0]: \"containerPort\" is required"},
      {App1("    ports: [{containerPort: 80, protocol: icmp}]\n"),
       "app.yaml:5:43: services.api.ports[0].protocol: must be one of tcp or udp, got \"icmp\""},
  });
  // Semantic check (types.cc) still points at the line of the port.
  EXPECT_EQ(ParseError(App1("    ports:\n      - \"80:80\"\n      - \"80:81\"\n")),
            "app.yaml:7:9: services.api.ports[1]: host port 80 is used twice");
}

TEST(ParseAppYaml, RejectsBadEnv) {
  ExpectErrors({
      {App1("    env: [\"NOVALUE\"]\n"),
       "app.yaml:5:11: services.api.env[0]: must be KEY=value, got \"NOVALUE\""},
      {App1("    env: [\"A=1\", \"A=2\"]\n"),
       "app.yaml:5:18: services.api.env[1]: variable \"A\" given twice"},
      {App1("    env: 3\n"),
       "app.yaml:5:10: services.api.env: must be a map of NAME: value, got \"3\""},
      {App1("    env: {A: [1]}\n"),
       "app.yaml:5:14: services.api.env.A: must be a string, got a list"},
  });
}

TEST(ParseAppYaml, RejectsBadProbes) {
  ExpectErrors({
      {App1("    probes: {readiness: {period: 1s}}\n"),
       "app.yaml:5:25: services.api.probes.readiness: needs one of http, tcp or exec"},
      {App1("    probes: {readiness: {tcp: {port: 1}, exec: [a]}}\n"),
       "app.yaml:5:25: services.api.probes.readiness: takes only one of http, tcp or exec; got "
       "tcp and exec"},
      {App1("    probes: {readiness: {http: {path: /}}}\n"),
       "app.yaml:5:25: services.api.probes.readiness: needs a port"},
      {App1("    probes: {readiness: {http: {path: x, port: 80}}}\n"),
       "app.yaml:5:39: services.api.probes.readiness.http.path: must start with '/', got \"x\""},
      {App1("    probes: {readiness: {tcp: {port: web}}}\n"),
       "app.yaml:5:38: services.api.probes.readiness.tcp.port: no port named \"web\""},
      {App1("    probes: {readiness: {exec: []}}\n"),
       "app.yaml:5:32: services.api.probes.readiness.exec: must name a command"},
      {App1("    probes: {readiness: {tcp: {port: 1}, failureThreshold: 0}}\n"),
       "app.yaml:5:60: services.api.probes.readiness.failureThreshold: must be an integer from 1 "
       "to 1000, got \"0\""},
  });
  ExpectErrors({
      {App1("    probes: {readiness: {tcp: {port: 1}, period: 1s, timeout: 2s}}\n"),
       "app.yaml:5:63: services.api.probes.readiness.timeout: must not exceed the period"},
      {App1("    probes: {ready: {tcp: {port: 1}}}\n"),
       "app.yaml:5:14: services.api.probes.ready: unknown field (known fields: liveness, "
       "readiness or startup)"},
  });
}

TEST(ParseAppYaml, RejectsBadRestartAndUpdate) {
  ExpectErrors({
      {App1("    restart: {policy: sometimes}\n"),
       "app.yaml:5:23: services.api.restart.policy: must be one of always, on-failure or never, "
       "got \"sometimes\""},
      {App1("    restart: {backoff: 10s, maxBackoff: 1s}\n"),
       "app.yaml:5:41: services.api.restart.maxBackoff: must be at least the initial backoff"},
      {App1("    update: {maxSurge: 150%}\n"),
       "app.yaml:5:24: services.api.update.maxSurge: must be a non-negative integer or a "
       "percentage like 25%, got \"150%\""},
      {App1("    update: {maxSurge: 0, maxUnavailable: 0%}\n"),
       "app.yaml:5:13: services.api.update: maxSurge and maxUnavailable must not both be 0"},
      {App1("    update: {autoRollback: maybe}\n"),
       "app.yaml:5:28: services.api.update.autoRollback: must be true or false, got \"maybe\""},
      {App1("    update: {minReadySeconds: 60, progressDeadline: 30s}\n"),
       "app.yaml:5:53: services.api.update.progressDeadline: must be longer than minReadySeconds"},
  });
}

TEST(ParseAppYaml, ReadsTheCanaryStrategy) {
  auto two = ParseAppYaml(App1("    update: {canary: {replicas: 2}}\n"));
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(two->services[0].update.canary, 2);
  auto back = AppFromJson(AppToJson(*two));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->services[0].update.canary, 2);
  auto bare = ParseAppYaml(App1("    update: {canary: 3}\n"));
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->services[0].update.canary, 3);
  auto dflt = ParseAppYaml(App1("    update: {canary: {}}\n"));
  ASSERT_TRUE(dflt) << dflt.error().message;
  EXPECT_EQ(dflt->services[0].update.canary, 1);
  auto none = ParseAppYaml(App1(""));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->services[0].update.canary, 0);
  ExpectErrors({
      {App1("    update: {canary: {replicas: 0}}\n"),
       "app.yaml:5:33: services.api.update.canary.replicas: must be an integer from 1 to 10000, "
       "got \"0\""},
      {App1("    update: {canary: {weight: 10}}\n"),
       "app.yaml:5:23: services.api.update.canary.weight: unknown field (known fields: replicas)"},
  });
}

TEST(ParseAppYaml, RejectsBadPlacement) {
  ExpectErrors({
      {App1("    placement: {strategy: random}\n"),
       "app.yaml:5:27: services.api.placement.strategy: must be one of spread or binpack, got "
       "\"random\""},
      {App1("    placement: {antiAffinity: [x]}\n"),
       "app.yaml:5:31: services.api.placement.antiAffinity: must be one of none, preferred or "
       "required, got a list"},
      {App1("    placement: {constraints: zone}\n"),
       "app.yaml:5:30: services.api.placement.constraints: must be a list, got \"zone\""},
  });
  ExpectErrors({
      {App1("    placement:\n      constraints:\n        - \"zone\"\n"),
       "app.yaml:7:11: services.api.placement.constraints[0]: must be \"key = value\", \"key != "
       "value\", \"key in (a, b)\", \"key exists\" or \"key not-exists\", got \"zone\""},
      {App1("    placement: {constraints: [\"zone in ()\"]}\n"),
       "app.yaml:5:31: services.api.placement.constraints[0]: must be \"key = value\", \"key != "
       "value\", \"key in (a, b)\", \"key exists\" or \"key not-exists\", got \"zone in ()\""},
      {App1("    placement: {constraints: [{key: zone, op: \"~\", value: a}]}\n"),
       "app.yaml:5:47: services.api.placement.constraints[0].op: must be one of =, ==, !=, in, "
       "exists or not-exists, got \"~\""},
      {App1("    placement: {constraints: [{key: zone}]}\n"),
       "app.yaml:5:31: services.api.placement.constraints[0]: needs a value"},
      {App1("    placement: {constraints: [{key: zone, op: exists, value: a}]}\n"),
       "app.yaml:5:31: services.api.placement.constraints[0]: takes no value with exists"},
      {App1("    placement: {constraints: [{op: exists}]}\n"),
       "app.yaml:5:31: services.api.placement.constraints[0]: \"key\" is required"},
      {App1("    placement: {constraints: [{key: a, values: [x, y]}]}\n"),
       "app.yaml:5:31: services.api.placement.constraints[0]: = takes exactly one value"},
  });
}

TEST(ParseAppYaml, RejectsBadExpose) {
  ExpectErrors({
      {App1("    expose: {path: api}\n"),
       "app.yaml:5:20: services.api.expose.path: must start with '/', got \"api\""},
      {App1("    expose: [{canaryWeight: 101}]\n"),
       "app.yaml:5:29: services.api.expose[0].canaryWeight: must be an integer from 0 to 100, got "
       "\"101\""},
      {App1("    ports: [80]\n    expose: {port: http}\n"),
       "app.yaml:6:13: services.api.expose: no port \"http\" in ports"},
  });
}

TEST(ParseAppYaml, RejectsACanaryWeightWithoutACanary) {
  // The weight was silently ignored: no canary, nothing to split.
  ExpectErrors({
      {App1("    expose: [{path: /, canaryWeight: 20}]\n"),
       "app.yaml:5:38: services.api.expose[0].canaryWeight: is 20 but the service has no "
       "update.canary, so no canary would get that traffic: add update: {canary: 1} or remove "
       "canaryWeight"},
      {App1("    expose:\n      path: /\n      canaryWeight: 5\n"),
       "app.yaml:7:21: services.api.expose.canaryWeight: is 5 but the service has no "
       "update.canary, so no canary would get that traffic: add update: {canary: 1} or remove "
       "canaryWeight"},
  });
  // Wherever update comes in the service, and with a canary it is what it says.
  auto ok =
      ParseAppYaml(App1("    expose: [{path: /, canaryWeight: 20}]\n    update: {canary: 1}\n"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->services[0].expose[0].canary_weight, 20);
  // Weight 0 (the default, and what the stored JSON always carries) says nothing.
  EXPECT_TRUE(ParseAppYaml(App1("    expose: [{path: /, canaryWeight: 0}]\n")));
  // An app stored before this check still reads back: nothing stored is lost.
  App stored = *ParseAppYaml(App1("    expose: [{path: /}]\n"));
  stored.services[0].expose[0].canary_weight = 20;
  auto back = AppFromJson(AppToJson(stored));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->services[0].expose[0].canary_weight, 20);
}

TEST(ParseAppYaml, RejectsBadAutoscale) {
  ExpectErrors({
      {App1("    autoscale: {min: 1, max: 3}\n"),
       "app.yaml:5:16: services.api.autoscale: needs targetCpu or targetRps (or metric: cpu|rps "
       "with target:)"},
      {App1("    autoscale:\n      min: 4\n      max: 2\n      targetRps: 10\n"),
       "app.yaml:7:12: services.api.autoscale.max: must be at least min"},
      {App1("    autoscale: {max: 3, targetCpu: lots}\n"),
       "app.yaml:5:36: services.api.autoscale.targetCpu: must be a percentage of the requested "
       "cpu like 70%, got \"lots\""},
      {App1("    autoscale:\n      max: 3\n      targetCpu: 80%\n"),
       "app.yaml:7:18: services.api.autoscale.targetCpu: needs resources.cpu to be set"},
      {App1("    autoscale: {max: 3, targetRps: 0}\n"),
       "app.yaml:5:36: services.api.autoscale.targetRps: must be a positive integer, got \"0\""},
      {App1("    autoscale:\n      min: 0\n      max: 3\n      targetRps: 5\n"),
       "app.yaml:6:12: services.api.autoscale.min: must be a positive integer (no scaling to "
       "zero), got \"0\""},
  });
  ExpectErrors({
      {App1("    autoscale:\n      max: 3\n      metric: memory\n      target: 5\n"),
       "app.yaml:7:15: services.api.autoscale.metric: must be cpu or rps, got \"memory\""},
      {App1("    autoscale:\n      max: 3\n      metric: rps\n"),
       "app.yaml:7:15: services.api.autoscale.metric: needs target: requests per second per "
       "instance like 100"},
      {App1("    autoscale:\n      max: 3\n      target: 5\n"),
       "app.yaml:7:15: services.api.autoscale.target: goes with metric: cpu|rps"},
      {App1("    autoscale:\n      max: 3\n      metric: rps\n      target: -4\n"),
       "app.yaml:8:15: services.api.autoscale.target: must be a positive integer (requests per "
       "second per instance), got \"-4\""},
  });
  ExpectErrors({
      {App1("    autoscale:\n      max: 3\n      metric: rps\n      target: 5\n"
            "      targetRps: 6\n"),
       "app.yaml:7:15: services.api.autoscale.metric: and targetRps both set the request-rate "
       "target: keep one"},
  });
}

TEST(ParseAppYaml, AutoscaleMetricShorthandIsTheSameAsItsTarget) {
  auto rps =
      ParseAppYaml(App1("    autoscale: {min: 2, max: 8, metric: rps, target: 40}\n"), "app.yaml");
  ASSERT_TRUE(rps) << rps.error().message;
  EXPECT_EQ(*rps->services[0].autoscale, (Autoscale{2, 8, 0, 40, Millis(300'000)}));
  auto cpu = ParseAppYaml(App1("    resources: {cpu: 200m}\n"
                               "    autoscale: {max: 4, metric: cpu, target: 60%, cooldown: 1m}\n"),
                          "app.yaml");
  ASSERT_TRUE(cpu) << cpu.error().message;
  EXPECT_EQ(*cpu->services[0].autoscale, (Autoscale{1, 4, 60, 0, Millis(60'000)}));
  // Stored in the long form, read back the same.
  auto back = AppFromJson(AppToJson(*cpu));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back->services[0].autoscale, *cpu->services[0].autoscale);
}

TEST(ParseAppYaml, ReadsTheSecurityContext) {
  auto app = ParseAppYaml(kFull);
  ASSERT_TRUE(app) << app.error().message;
  const SecurityContext& sc = app->services[0].security;
  EXPECT_TRUE(sc.read_only_root_filesystem);
  EXPECT_TRUE(sc.run_as_non_root);
  EXPECT_EQ(sc.run_as_user, 1000);
  EXPECT_TRUE(app->services[1].security.IsDefault());
}

TEST(ParseAppYaml, RejectsABadSecurityContext) {
  const std::pair<const char*, const char*> cases[] = {
      {"    securityContext: {runAsUser: -1}\n", "securityContext.runAsUser"},
      {"    securityContext: {runAsUser: nobody}\n", "securityContext.runAsUser"},
      {"    securityContext: {readOnlyRootFilesystem: yes please}\n",
       "securityContext.readOnlyRootFilesystem"},
      {"    securityContext: {runAsNonRoot: true, runAsUser: 0}\n",
       "is 0 (root), and runAsNonRoot is set"},
      {"    securityContext: {privileged: true}\n", "privileged"},
      {"    securityContext: true\n", "securityContext"},
  };
  for (const auto& [body, want] : cases) {
    std::string message = ParseError(App1(body));
    EXPECT_NE(message.find(want), std::string::npos) << body << " -> " << message;
    EXPECT_TRUE(message.starts_with("app.yaml:")) << message;
  }
}

TEST(ServiceSpec, ASecurityContextChangesTheDeployHashOnlyWhenSet) {
  auto plain = ParseAppYaml(App1(""));
  auto defaults = ParseAppYaml(
      App1("    securityContext: {readOnlyRootFilesystem: false, runAsNonRoot: false}\n"));
  auto read_only = ParseAppYaml(App1("    securityContext: {readOnlyRootFilesystem: true}\n"));
  ASSERT_TRUE(plain && defaults && read_only);
  // Specs stored before securityContext existed keep their hash: no rollout on upgrade.
  EXPECT_EQ(plain->services[0].DeployHash(), defaults->services[0].DeployHash());
  EXPECT_NE(plain->services[0].DeployHash(), read_only->services[0].DeployHash());
  EXPECT_EQ(AppToJson(*plain).find("securityContext"), std::string::npos);
}

TEST(ParseAppYaml, RejectsBadNamespaceAndName) {
  ExpectErrors({
      {"namespace: Prod\nname: x\nservices: {}\n",
       "app.yaml:1:12: namespace: \"Prod\" is not a valid name"},
      {"name: my_app\nservices: {}\n", "app.yaml:1:7: name: \"my_app\" is not a valid name"},
  });
}

TEST(ParseCompose, MapsTheCommonSubset) {
  constexpr const char* kCompose = R"yaml(version: "3.8"
services:
  web:
    image: nginx:1.25
    ports: ["8080:80", "127.0.0.1:8443:443", {target: 9000, published: 9001, protocol: udp}]
    environment:
      - MODE=prod
    restart: unless-stopped
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.5", memory: 64m, pids: 50}
        reservations: {cpus: "0.25"}
  job:
    image: busybox
    entrypoint: /bin/sh
    command: ["-c", "sleep 1000"]
    environment: {A: "1"}
networks: {}
)yaml";
  auto r = ParseComposeYaml(kCompose, "docker-compose.yml", "demo");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "demo");
  ASSERT_EQ(r->services.size(), 2u);
  const auto& web = r->services[0];
  EXPECT_EQ(web.image, "nginx:1.25");
  EXPECT_EQ(web.replicas, 2);
  EXPECT_EQ(web.resources, (Resources{500, 64 << 20, 50}));
  ASSERT_EQ(web.ports.size(), 3u);
  EXPECT_EQ(web.ports[0].host_port, 8080);
  EXPECT_EQ(web.ports[1].host_port, 8443);
  EXPECT_EQ(web.ports[1].container_port, 443);
  EXPECT_EQ(web.ports[2].protocol, Protocol::kUdp);
  EXPECT_EQ(web.env.at("MODE"), "prod");
  EXPECT_EQ(web.restart.mode, RestartMode::kAlways);
  EXPECT_EQ(r->services[1].command, (std::vector<std::string>{"/bin/sh", "-c", "sleep 1000"}));
}

TEST(ParseCompose, RejectsUnsupportedKeysWithLine) {
  const std::pair<std::string, std::string> cases[] = {
      {"services:\n  web:\n    image: a\n    build: .\n",
       "compose.yaml:4:5: services.web.build: unknown field (known fields: command, "
       "container_name, deploy, entrypoint, environment, image, ports or restart)"},
      {"services:\n  web:\n    image: a\n    deploy: {replicas: x}\n",
       "compose.yaml:4:24: services.web.deploy.replicas: must be a non-negative integer, got "
       "\"x\""},
      {"services:\n  web:\n    command: x\n",
       "compose.yaml:3:5: services.web: \"image\" is required"},
      {"services:\n  web:\n    image: a\n    restart: sometimes\n",
       "compose.yaml:4:14: services.web.restart: must be one of no, always, on-failure or "
       "unless-stopped, got \"sometimes\""},
      {"services:\n  web:\n    image: a\n    ports: [{published: 80}]\n",
       "compose.yaml:4:13: services.web.ports[0]: \"target\" is required"},
      {"version: 3\n", "compose.yaml:1:1: \"services\" is required"},
  };
  for (const auto& [yaml, message] : cases) {
    auto r = ParseComposeYaml(yaml, "compose.yaml", "d");
    ASSERT_FALSE(r) << yaml;
    EXPECT_EQ(r.error().message, message) << yaml;
  }
}

TEST(ParseAppFile, PicksComposeByFileName) {
  auto r = ParseAppFile("services:\n  web:\n    image: a\n", "dir/docker-compose.yml", "site");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "site");
  EXPECT_FALSE(ParseAppFile("services:\n  web:\n    image: a\n", "app.yaml"));  // no name
}

TEST(AppJson, RoundTripsEveryField) {
  auto app = ParseAppYaml(kFull);
  ASSERT_TRUE(app) << app.error().message;
  std::string json = AppToJson(*app);
  auto back = AppFromJson(json);
  ASSERT_TRUE(back) << back.error().message << "\n" << json;
  EXPECT_EQ(*back, *app);
  EXPECT_EQ(AppToJson(*back), json);
}

TEST(AppJson, ConstraintValuesWithSeparatorsRoundTrip) {
  auto app = ParseAppYaml(App1(
      "    placement:\n      constraints:\n        - {key: k, op: in, values: [\"a,b\", \"c)\"]}\n"
      "        - {key: \"x y\", value: \" padded \"}\n"));
  ASSERT_TRUE(app) << app.error().message;
  auto back = AppFromJson(AppToJson(*app));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, *app);
}

TEST(AppJson, ServiceRoundTripAndErrors) {
  auto app = ParseAppYaml(kFull);
  ASSERT_TRUE(app);
  auto s = ServiceSpecFromJson(ServiceSpecToJson(app->services[0]));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, app->services[0]);
  EXPECT_FALSE(ServiceSpecFromJson(nlohmann::json::array()));
  EXPECT_FALSE(AppFromJson("[1]"));
  EXPECT_FALSE(AppFromJson("{\"name\": \"a\", \"name\": \"b\"}"));
  auto bad = AppFromJson(R"({"name": "x", "services": {"api": {"image": "a", "replicas": "3x"}}})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("services.api.replicas: must be a non-negative integer"),
            std::string::npos);
}

}  // namespace
}  // namespace berth::orchestrator
