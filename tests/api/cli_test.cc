// The `berth` CLI against a real berthd: the commands of the spine issue, their table and
// JSON output, and a one-line error with a non-zero exit code on failure.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>

#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"));
    ASSERT_TRUE(berthd_->Start());
  }

  using Out = ToolResult;

  // BERTH_ADDR/BERTH_TOKEN for the test's berthd, a private config directory.
  std::vector<std::pair<std::string, std::string>> Env(const std::string& token) {
    return {{"BERTH_ADDR", berthd_->base()},
            {"BERTH_TOKEN", token},
            {"XDG_CONFIG_HOME", dir_.Sub("config")},
            {"HOME", dir_.path()}};
  }

  // Runs berth to completion; stdout and stderr together.
  Out Berth(std::vector<std::string> args, std::string token = "\x01") {
    if (token == "\x01") token = berthd_->admin_token();
    return RunBerth(std::move(args), Env(token),
                    dir_.Sub("cli-" + std::to_string(counter_++) + ".log"));
  }

  // Starts berth (a watch: it does not end by itself) with the same environment.
  std::unique_ptr<Process> Start(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions opts;
    opts.env = Env(berthd_->admin_token());
    opts.log_path = dir_.Sub("watch-" + std::to_string(counter_++) + ".log");
    return Process::Start("berth-watch", std::move(args), std::move(opts));
  }

  // Registers an instance through the API.
  void Register(const std::string& ns, const std::string& service, const std::string& id,
                int port) {
    auto r =
        berthd_->Request("PUT", "/v1/registry/" + ns + "/" + service + "/" + id,
                         Json{{"address", "127.0.0.1"}, {"port", port}, {"tags", {"v1"}}}.dump());
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : r.error().message);
  }

  TempDir dir_{"berth-cli"};
  std::unique_ptr<Berthd> berthd_;
  int counter_ = 0;
};

// The lines of `text` that contain every one of `parts`.
size_t LinesWith(const std::string& text, const std::vector<std::string>& parts) {
  size_t n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (std::ranges::all_of(parts,
                            [&](const auto& p) { return line.find(p) != std::string::npos; }))
      ++n;
    start = end + 1;
  }
  return n;
}

TEST_F(CliTest, KvCommandsRoundTrip) {
  EXPECT_EQ(Berth({"kv", "put", "/apps/demo", "hello"}).code, 0);
  auto get = Berth({"kv", "get", "/apps/demo"});
  EXPECT_EQ(get.code, 0);
  EXPECT_EQ(get.text, "hello\n");
  auto ls = Berth({"kv", "ls", "/apps/"});
  EXPECT_EQ(ls.code, 0);
  EXPECT_NE(ls.text.find("KEY"), std::string::npos);
  EXPECT_NE(ls.text.find("/apps/demo"), std::string::npos);
  auto json = Berth({"-o", "json", "kv", "get", "/apps/demo"});
  auto j = ParseJson(json.text);
  ASSERT_TRUE(j.has_value()) << json.text;
  EXPECT_EQ((*j)["kv"]["value"], "hello");
  EXPECT_EQ(Berth({"kv", "rm", "/apps/demo"}).code, 0);
  auto gone = Berth({"kv", "get", "/apps/demo"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_EQ(gone.text, "error: HTTP 404: no key \"/apps/demo\"\n");
}

TEST_F(CliTest, TokensAndAudit) {
  auto created = Berth({"token", "create", "--role", "viewer", "--name", "dash"});
  ASSERT_EQ(created.code, 0) << created.text;
  std::string viewer = created.text.substr(0, created.text.find('\n'));
  EXPECT_TRUE(viewer.starts_with("berth_"));
  auto node = Berth({"token", "create", "--node", "n1"});
  ASSERT_EQ(node.code, 0) << node.text;
  EXPECT_TRUE(node.text.starts_with("berth_")) << node.text;
  auto ls = Berth({"token", "ls"});
  EXPECT_NE(ls.text.find("dash"), std::string::npos);
  EXPECT_EQ(ls.text.find(viewer), std::string::npos);
  EXPECT_NE(ls.text.find("node-n1"), std::string::npos) << ls.text;  // its name and node
  // A node token acts only as its node: not even a viewer's status call.
  std::string node_token = node.text.substr(0, node.text.find('\n'));
  auto as_node = Berth({"status"}, node_token);
  EXPECT_EQ(as_node.code, 1);
  EXPECT_NE(as_node.text.find("bound to node n1"), std::string::npos) << as_node.text;

  auto denied = Berth({"kv", "put", "/x", "1"}, viewer);
  EXPECT_EQ(denied.code, 1);
  EXPECT_NE(denied.text.find("HTTP 403"), std::string::npos);
  auto status = Berth({"status"}, viewer);
  EXPECT_EQ(status.code, 0);
  EXPECT_NE(status.text.find("dash (viewer)"), std::string::npos) << status.text;

  auto audit = Berth({"audit", "ls"});
  EXPECT_EQ(audit.code, 0);
  EXPECT_NE(audit.text.find("PUT /v1/kv/x"), std::string::npos) << audit.text;
  EXPECT_NE(audit.text.find("POST /v1/tokens"), std::string::npos);
}

TEST_F(CliTest, FailsWithOneLineErrorWhenServerIsUnreachableOrTokenBad) {
  auto bad = Berth({"status"}, "berth_00_nope");
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(std::count(bad.text.begin(), bad.text.end(), '\n'), 1) << bad.text;
  EXPECT_TRUE(bad.text.starts_with("error: HTTP 401")) << bad.text;
  berthd_->process().Stop();
  auto down = Berth({"status"});
  EXPECT_EQ(down.code, 1);
  EXPECT_TRUE(down.text.starts_with("error: cannot reach berthd")) << down.text;
}

TEST_F(CliTest, LoginSavesAddressAndToken) {
  auto login = Berth({"login", "--with-token", berthd_->admin_token()}, "");
  ASSERT_EQ(login.code, 0) << login.text;
  // Now without BERTH_TOKEN the saved login is used.
  ProcessOptions opts;
  opts.env = {{"XDG_CONFIG_HOME", dir_.Sub("config")},
              {"HOME", dir_.path()},
              {"BERTH_TOKEN", ""},
              {"BERTH_ADDR", ""}};
  opts.log_path = dir_.Sub("after-login.log");
  auto p = Process::Start("berth", {BinaryPath("src/cmd/berth"), "status"}, opts);
  ASSERT_TRUE(p);
  auto st = p->Wait();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(WEXITSTATUS(*st), 0) << p->Logs();
  EXPECT_NE(p->Logs().find(berthd_->base()), std::string::npos);
}

TEST_F(CliTest, GlobalFlagsWorkAfterTheCommandAndItsArguments) {
  Register("shop", "web", "web-1", 8081);
  // The two commands of issue 15 that used to fail with "arguments were not expected".
  auto get = Berth({"service", "get", "web", "-o", "json", "-n", "shop"});
  ASSERT_EQ(get.code, 0) << get.text;
  auto j = ParseJson(get.text);
  ASSERT_TRUE(j) << get.text;
  EXPECT_EQ((*j)["instances"][0]["id"], "web-1");
  auto ls = Berth({"service", "ls", "-n", "shop"});
  ASSERT_EQ(ls.code, 0) << ls.text;
  EXPECT_EQ(LinesWith(ls.text, {"shop", "web", "1/1"}), 1u) << ls.text;
  // -n in every position gives the same answer.
  for (auto args : {std::vector<std::string>{"-n", "shop", "service", "get", "web"},
                    {"service", "-n", "shop", "get", "web"},
                    {"service", "get", "-n", "shop", "web"},
                    {"service", "get", "web", "--namespace=shop"}}) {
    auto r = Berth(args);
    EXPECT_EQ(r.code, 0) << r.text;
    EXPECT_EQ(LinesWith(r.text, {"web-1", "127.0.0.1:8081"}), 1u) << r.text;
  }
  // Without -n the default namespace is empty, and the table says how to see the others.
  auto empty = Berth({"service", "ls"});
  EXPECT_EQ(empty.code, 0) << empty.text;
  EXPECT_EQ(empty.text, "no services in namespace default (-A lists every namespace)\n");
  auto all = Berth({"service", "ls", "-A"});
  EXPECT_EQ(LinesWith(all.text, {"shop", "web"}), 1u) << all.text;
}

// Every list command against a real server, in every -o format.
TEST_F(CliTest, EveryListPrintsEveryFormat) {
  Register("shop", "web", "web-1", 8081);
  ASSERT_EQ(Berth({"kv", "put", "/demo/a", "1"}).code, 0);
  ASSERT_EQ(Berth({"token", "create", "--role", "viewer", "--name", "dash"}).code, 0);
  struct List {
    std::vector<std::string> args;
    std::string kind;  // what -o name prints before the slash
    bool wide;         // -o wide adds columns
  };
  const std::vector<List> lists = {
      {{"service", "ls", "-A"}, "service", false},
      {{"service", "get", "web", "-n", "shop"}, "instance", true},
      {{"kv", "ls", "/demo/"}, "key", true},
      {{"token", "ls"}, "token", false},
      {{"audit", "ls"}, "record", true},
      {{"route", "ls"}, "route", true},
      {{"node", "ls"}, "node", true},
      {{"get", "apps", "-A"}, "app", true},
      {{"get", "services", "-A"}, "service", true},
      {{"get", "instances", "-A"}, "instance", true},
      {{"context", "ls"}, "context", false},
  };
  for (const auto& l : lists) {
    auto json = Berth([&] {
      auto a = l.args;
      a.insert(a.end(), {"-o", "json"});
      return a;
    }());
    EXPECT_EQ(json.code, 0) << json.text;
    EXPECT_TRUE(ParseJson(json.text)) << json.text;
    auto yaml = Berth([&] {
      auto a = l.args;
      a.insert(a.begin(), {"-o", "yaml"});
      return a;
    }());
    EXPECT_EQ(yaml.code, 0) << yaml.text;
    auto name = Berth([&] {
      auto a = l.args;
      a.push_back("--output=name");
      return a;
    }());
    EXPECT_EQ(name.code, 0) << name.text;
    for (size_t i = 0; i < name.text.size();) {
      size_t end = name.text.find('\n', i);
      EXPECT_TRUE(name.text.substr(i).starts_with(l.kind + "/")) << name.text;
      i = end == std::string::npos ? name.text.size() : end + 1;
    }
    auto table = Berth(l.args);
    auto wide = Berth([&] {
      auto a = l.args;
      a.insert(a.end(), {"-o", "wide"});
      return a;
    }());
    EXPECT_EQ(table.code, 0) << table.text;
    EXPECT_EQ(wide.code, 0) << wide.text;
    // wide has columns the table has not (when there is a row to show them).
    if (l.wide && table.text.find('\n') + 1 < table.text.size()) {
      EXPECT_GT(wide.text.find('\n'), table.text.find('\n')) << table.text << wide.text;
    }
  }
  auto names = Berth({"service", "get", "web", "-n", "shop", "-o", "name"});
  EXPECT_EQ(names.text, "instance/web-1\n");
  auto kv = Berth({"kv", "ls", "/demo/", "-o", "name"});
  EXPECT_EQ(kv.text, "key/demo/a\n");
}

TEST_F(CliTest, WatchPrintsWhatTheRegistryStreamSaysChanged) {
  Register("shop", "web", "web-1", 8081);
  auto watch = Start({"service", "ls", "-n", "shop", "-w"});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"ADDED", "web", "1/1"}) == 1;
  })) << watch->Logs();
  EXPECT_EQ(LinesWith(watch->Logs(), {"EVENT", "NAMESPACE", "SERVICE"}), 1u) << watch->Logs();
  Register("shop", "api", "api-1", 8082);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"ADDED", "api", "1/1"}) == 1;
  })) << watch->Logs();
  Register("shop", "web", "web-2", 8083);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"MODIFIED", "web", "2/2"}) == 1;
  })) << watch->Logs();
  ASSERT_TRUE(berthd_->Request("DELETE", "/v1/registry/shop/api/api-1").has_value());
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"DELETED", "api"}) == 1;
  })) << watch->Logs();
  // Other namespaces do not show.
  Register("other", "db", "db-1", 8084);
  ASSERT_TRUE(berthd_->Request("DELETE", "/v1/registry/shop/web/web-2").has_value());
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"MODIFIED", "web", "1/1"}) == 1;
  })) << watch->Logs();
  EXPECT_EQ(LinesWith(watch->Logs(), {"db"}), 0u) << watch->Logs();
}

TEST_F(CliTest, WatchPrintsJsonEventsALine) {
  auto watch = Start({"kv", "ls", "/w/", "--watch", "-o", "json"});
  ASSERT_TRUE(watch);
  ASSERT_EQ(Berth({"kv", "put", "/w/a", "1"}).code, 0);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {R"("type":"ADDED")", "/w/a"}) == 1;
  })) << watch->Logs();
  ASSERT_EQ(Berth({"kv", "rm", "/w/a"}).code, 0);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {R"("type":"DELETED")", "/w/a"}) == 1;
  })) << watch->Logs();
  for (const auto& line : {std::string("ADDED"), std::string("DELETED")}) {
    auto at = watch->Logs().find(line);
    auto start = watch->Logs().rfind('\n', at);
    auto end = watch->Logs().find('\n', at);
    auto j = ParseJson(watch->Logs().substr(start + 1, end - start - 1));
    ASSERT_TRUE(j) << watch->Logs();
    EXPECT_EQ((*j)["object"]["key"], "/w/a");
  }
}

// Tokens have no watch stream: the watch polls, and still prints what changed.
TEST_F(CliTest, WatchPollsWhereTheApiHasNoStream) {
  auto watch = Start({"token", "ls", "-w"});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"EVENT", "ID", "ROLE"}) == 1;
  })) << watch->Logs();
  ASSERT_EQ(Berth({"token", "create", "--role", "viewer", "--name", "polled"}).code, 0);
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(watch->Logs(), {"ADDED", "polled", "viewer"}) == 1;
  })) << watch->Logs();
}

TEST_F(CliTest, ErrorsSayWhatToDoNext) {
  auto unknown = Berth({"servce", "ls"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.text,
            "error: unknown command \"servce\" for `berth` (did you mean `berth service`?); "
            "`berth --help` lists the commands\n");
  auto bad_format = Berth({"service", "ls", "-o", "jsn"});
  EXPECT_EQ(bad_format.code, 1);
  EXPECT_EQ(bad_format.text,
            "error: -o jsn: not an output format of `berth service ls`; use one of table, wide, "
            "json, yaml, name\n");
  auto no_ns = Berth({"service", "ls", "-n"});
  EXPECT_EQ(no_ns.code, 1);
  EXPECT_NE(no_ns.text.find("`berth get apps -A`"), std::string::npos) << no_ns.text;

  auto unauthenticated = Berth({"status"}, "berth_00_nope");
  EXPECT_EQ(unauthenticated.code, 1);
  EXPECT_NE(unauthenticated.text.find("log in with `berth login --addr " + berthd_->base() + "`"),
            std::string::npos)
      << unauthenticated.text;
  auto viewer = Berth({"token", "create", "--role", "viewer"});
  ASSERT_EQ(viewer.code, 0);
  auto denied = Berth({"kv", "put", "/x", "1"}, viewer.text.substr(0, viewer.text.find('\n')));
  EXPECT_EQ(denied.code, 1);
  EXPECT_NE(denied.text.find("needs role admin"), std::string::npos) << denied.text;
  EXPECT_NE(denied.text.find("use a token with role admin"), std::string::npos) << denied.text;

  berthd_->process().Stop();
  auto down = Berth({"status"});
  EXPECT_EQ(down.code, 1);
  EXPECT_NE(down.text.find("cannot reach berthd at " + berthd_->base() + " (from BERTH_ADDR)"),
            std::string::npos)
      << down.text;
  EXPECT_NE(down.text.find("--addr URL, BERTH_ADDR=URL or `berth context use NAME`"),
            std::string::npos)
      << down.text;
}

}  // namespace
}  // namespace berth::testing
