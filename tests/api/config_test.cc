// The configuration center through a real `berthd dev` and the `berth config` CLI: publish,
// history, diff, rollback, drafts under review, import/export all or nothing, gray reads, and
// the bad inputs the issue names (over the size limit, a YAML syntax error, an unknown
// namespace), each a clear error with nothing stored.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"));
    ASSERT_TRUE(berthd_->Start());
  }

  ToolResult Berth(std::vector<std::string> args, std::string token = "\x01") {
    if (token == "\x01") token = berthd_->admin_token();
    return RunBerth(std::move(args),
                    {{"BERTH_ADDR", berthd_->base()},
                     {"BERTH_TOKEN", token},
                     {"XDG_CONFIG_HOME", dir_.Sub("config")},
                     {"HOME", dir_.path()}},
                    dir_.Sub("cli-" + std::to_string(counter_++) + ".log"));
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_.Sub(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  Json Get(const std::string& path, const std::string& token = "\x01") {
    auto r = berthd_->Request("GET", path, {}, token);
    EXPECT_TRUE(r) << path;
    if (!r) return Json();
    auto j = ParseJson(r->body);
    EXPECT_TRUE(j) << r->body;
    return j ? *j : Json();
  }

  int Status(std::string_view method, const std::string& path, std::string body = {},
             const std::string& token = "\x01") {
    auto r = berthd_->Request(method, path, std::move(body), token);
    last_body_ = r ? r->body : r.error().message;
    return r ? r->status : -1;
  }

  std::string NewToken(const Json& body) {
    auto r = berthd_->Request("POST", "/v1/tokens", body.dump());
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
    return r ? ParseJson(r->body).value().value("token", "") : "";
  }

  TempDir dir_{"berth-config"};
  std::unique_ptr<Berthd> berthd_;
  std::string last_body_;
  int counter_ = 0;
};

TEST_F(ConfigTest, SetGetHistoryDiffRollbackThroughTheCli) {
  auto v1 = WriteFile("app.yaml", "server:\n  port: 8080\n  workers: 4\n");
  auto set = Berth({"config", "set", "app.yaml", "-f", v1, "-m", "first"});
  ASSERT_EQ(set.code, 0) << set.text;
  EXPECT_NE(set.text.find("config app.yaml published: version 1"), std::string::npos) << set.text;
  auto v2 = WriteFile("app2.yaml", "server:\n  port: 9090\n  workers: 4\n");
  ASSERT_EQ(Berth({"config", "set", "app.yaml", "-f", v2, "-m", "new port"}).code, 0);
  // The same bytes again: nothing stored.
  auto same = Berth({"config", "set", "app.yaml", "-f", v2});
  EXPECT_NE(same.text.find("unchanged"), std::string::npos) << same.text;

  auto raw = Berth({"config", "get", "app.yaml", "--raw"});
  EXPECT_EQ(raw.text, "server:\n  port: 9090\n  workers: 4\n");
  auto old = Berth({"config", "get", "app.yaml", "--version", "1", "--raw"});
  EXPECT_EQ(old.text, "server:\n  port: 8080\n  workers: 4\n");

  auto history = Berth({"config", "history", "app.yaml", "-o", "json"});
  ASSERT_EQ(history.code, 0) << history.text;
  auto h = ParseJson(history.text);
  ASSERT_TRUE(h) << history.text;
  ASSERT_EQ((*h)["versions"].size(), 2u);
  EXPECT_EQ((*h)["versions"][0]["version"], 2);
  EXPECT_EQ((*h)["versions"][0]["message"], "new port");
  EXPECT_EQ((*h)["versions"][1]["message"], "first");

  auto diff = Berth({"config", "diff", "app.yaml", "1", "2"});
  EXPECT_NE(diff.text.find("-  port: 8080\n+  port: 9090\n"), std::string::npos) << diff.text;
  EXPECT_NE(diff.text.find("--- app.yaml@1"), std::string::npos) << diff.text;

  auto rb = Berth({"config", "rollback", "app.yaml", "--to", "1"});
  ASSERT_EQ(rb.code, 0) << rb.text;
  EXPECT_NE(rb.text.find("version 3"), std::string::npos) << rb.text;
  EXPECT_EQ(Berth({"config", "get", "app.yaml", "--raw"}).text,
            "server:\n  port: 8080\n  workers: 4\n");
  auto ls = Berth({"config", "ls"});
  EXPECT_NE(ls.text.find("app.yaml"), std::string::npos) << ls.text;
  EXPECT_NE(ls.text.find("yaml"), std::string::npos) << ls.text;
  auto name = Berth({"config", "ls", "-o", "name"});
  EXPECT_EQ(name.text, "config/app.yaml\n");
}

TEST_F(ConfigTest, BadInputsAreClearErrorsWithNothingStored) {
  // A YAML syntax error names the item and the line.
  auto bad = WriteFile("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n");
  auto r = Berth({"config", "set", "bad.yaml", "-f", bad});
  EXPECT_NE(r.code, 0);
  // "default/bad.yaml:<line>:<column>: ..." (the reader names where it noticed).
  EXPECT_NE(r.text.find("default/bad.yaml:"), std::string::npos) << r.text;
  EXPECT_EQ(Status("GET", "/v1/configs/default/bad.yaml"), 404) << last_body_;

  // Over the 1 MiB limit: 413 naming the size and the limit.
  std::string big(size_t{1} << 20, 'x');
  big += "y";
  EXPECT_EQ(Status("PUT", "/v1/configs/default/big.txt", Json{{"content", big}}.dump()), 413);
  EXPECT_NE(last_body_.find("1048577 bytes"), std::string::npos) << last_body_;
  EXPECT_NE(last_body_.find("1048576"), std::string::npos) << last_body_;
  EXPECT_EQ(Status("GET", "/v1/configs/default/big.txt"), 404);

  // An unknown namespace: 404 saying how to create it.
  EXPECT_EQ(Status("PUT", "/v1/configs/nowhere/a.txt", R"({"content":"x"})"), 404);
  EXPECT_NE(last_body_.find("config namespace \\\"nowhere\\\" does not exist"), std::string::npos)
      << last_body_;
  EXPECT_EQ(Status("GET", "/v1/config-namespaces/nowhere"), 404);

  // An unknown field in the body names it.
  EXPECT_EQ(Status("PUT", "/v1/configs/default/a.txt", R"({"content":"x","fromat":"yaml"})"), 400);
  EXPECT_NE(last_body_.find("fromat"), std::string::npos) << last_body_;
  EXPECT_EQ(Status("GET", "/v1/configs/default/a.txt"), 404);

  // Nothing was counted against the namespace either.
  auto ns = Get("/v1/config-namespaces/default");
  EXPECT_EQ(ns.value("items", -1), 0) << ns.dump();
  EXPECT_EQ(ns.value("stored_bytes", -1), 0) << ns.dump();
}

TEST_F(ConfigTest, ReviewNeedsAnotherPersonToPublishADraft) {
  ASSERT_EQ(Berth({"config", "namespace", "create", "shop", "--review", "true"}).code, 0);
  std::string alice =
      NewToken(Json{{"name", "alice"}, {"role", "operator"}, {"namespaces", {"shop"}}});
  std::string bob = NewToken(Json{{"name", "bob"}, {"role", "operator"}, {"namespaces", {"shop"}}});
  // Publishing straight away is refused under review.
  auto direct =
      Berth({"config", "set", "flags.json", "--from-literal", R"({"a":1})", "-n", "shop"}, alice);
  EXPECT_NE(direct.code, 0);
  EXPECT_NE(direct.text.find("requires review"), std::string::npos) << direct.text;
  auto draft = Berth(
      {"config", "set", "flags.json", "--from-literal", R"({"a":1})", "--draft", "-n", "shop"},
      alice);
  ASSERT_EQ(draft.code, 0) << draft.text;
  auto own = Berth({"config", "publish", "flags.json", "-n", "shop"}, alice);
  EXPECT_NE(own.code, 0);
  EXPECT_NE(own.text.find("written by alice"), std::string::npos) << own.text;
  EXPECT_EQ(Status("GET", "/v1/configs/shop/flags.json"), 404);
  auto other = Berth({"config", "publish", "flags.json", "-n", "shop"}, bob);
  ASSERT_EQ(other.code, 0) << other.text;
  auto h = Get("/v1/configs/shop/flags.json/history");
  ASSERT_EQ(h["versions"].size(), 1u) << h.dump();
  EXPECT_EQ(h["versions"][0]["author"], "bob");
  EXPECT_EQ(h["versions"][0]["draft_author"], "alice");
  // A viewer reads but does not publish.
  std::string viewer =
      NewToken(Json{{"name", "vera"}, {"role", "viewer"}, {"namespaces", {"shop"}}});
  EXPECT_EQ(Berth({"config", "get", "flags.json", "--raw", "-n", "shop"}, viewer).text,
            R"({"a":1})");
  auto refused =
      Berth({"config", "set", "x.txt", "--from-literal", "x", "--draft", "-n", "shop"}, viewer);
  EXPECT_NE(refused.code, 0);
  EXPECT_EQ(Status("GET", "/v1/configs/shop/x.txt/draft"), 404);
}

TEST_F(ConfigTest, ImportIsAllOrNothingAndExportRoundTrips) {
  ASSERT_EQ(Berth({"config", "set", "a.yaml", "--from-literal", "a: 1\n"}).code, 0);
  ASSERT_EQ(Berth({"config", "set", "b.properties", "--from-literal", "k=v\n"}).code, 0);
  auto exported = Berth({"config", "export", "-f", dir_.Sub("export.json")});
  ASSERT_EQ(exported.code, 0) << exported.text;
  ASSERT_EQ(Berth({"config", "namespace", "create", "copy"}).code, 0);
  auto imported = Berth({"config", "import", "-f", dir_.Sub("export.json"), "-n", "copy"});
  ASSERT_EQ(imported.code, 0) << imported.text;
  EXPECT_NE(imported.text.find("config/a.yaml created"), std::string::npos) << imported.text;
  EXPECT_EQ(Berth({"config", "get", "b.properties", "--raw", "-n", "copy"}).text, "k=v\n");

  // One bad entry (a YAML error in the second) and nothing of the file is stored.
  auto bad = WriteFile("bad.yaml",
                       "configs:\n"
                       "  - name: c.yaml\n    content: \"c: 1\\n\"\n"
                       "  - name: d.yaml\n    content: \"d: [\\n\"\n");
  auto r = Berth({"config", "import", "-f", bad, "-n", "copy"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.text.find("d.yaml"), std::string::npos) << r.text;
  EXPECT_EQ(Status("GET", "/v1/configs/copy/c.yaml"), 404);
  auto list = Get("/v1/configs/copy");
  EXPECT_EQ(list["configs"].size(), 2u) << list.dump();
}

TEST_F(ConfigTest, OutsideTheGraySetTheGrayVersionCannotBeRead) {
  ASSERT_EQ(Berth({"config", "namespace", "create", "shop"}).code, 0);
  ASSERT_EQ(Berth({"config", "set", "app.yaml", "--from-literal", "v: 1\n", "-n", "shop"}).code, 0);
  auto gray = Berth({"config", "publish", "app.yaml", "--from-literal", "v: 2\n",
                     "--gray-instances", "i1", "-n", "shop"});
  ASSERT_EQ(gray.code, 0) << gray.text;
  EXPECT_NE(gray.text.find("gray"), std::string::npos) << gray.text;
  // Everyone reading the item gets the released version; the gray one by number needs an
  // operator of the namespace.
  std::string viewer =
      NewToken(Json{{"name", "vera"}, {"role", "viewer"}, {"namespaces", {"shop"}}});
  EXPECT_EQ(Get("/v1/configs/shop/app.yaml", viewer)["content"], "v: 1\n");
  EXPECT_EQ(Status("GET", "/v1/configs/shop/app.yaml?version=2", {}, viewer), 403);
  EXPECT_EQ(Status("GET", "/v1/configs/shop/app.yaml/diff?from=1&to=2", {}, viewer), 403);
  EXPECT_EQ(Get("/v1/configs/shop/app.yaml?version=2")["content"], "v: 2\n");
  // A second publish waits for the gray release to end.
  auto busy = Berth({"config", "set", "app.yaml", "--from-literal", "v: 3\n", "-n", "shop"});
  EXPECT_NE(busy.code, 0);
  EXPECT_NE(busy.text.find("promote or abort"), std::string::npos) << busy.text;
  ASSERT_EQ(Berth({"config", "abort", "app.yaml", "-n", "shop"}).code, 0);
  EXPECT_EQ(Get("/v1/configs/shop/app.yaml", viewer)["content"], "v: 1\n");
  EXPECT_EQ(Status("GET", "/v1/configs/shop/app.yaml?version=2", {}, viewer), 403);
  ASSERT_EQ(Berth({"config", "publish", "app.yaml", "--from-literal", "v: 4\n", "--gray",
                   "tags=zone=eu", "-n", "shop"})
                .code,
            0);
  ASSERT_EQ(Berth({"config", "promote", "app.yaml", "-n", "shop"}).code, 0);
  EXPECT_EQ(Get("/v1/configs/shop/app.yaml", viewer)["content"], "v: 4\n");
}

TEST_F(ConfigTest, ASecretValueIsShownOnlyToAnAdminWhoAsks) {
  const std::string value = "s3cr3t-value-4711";
  ASSERT_EQ(Berth({"config", "namespace", "create", "shop"}).code, 0);
  std::string op = NewToken(Json{{"name", "olga"}, {"role", "operator"}, {"namespaces", {"shop"}}});
  std::string viewer =
      NewToken(Json{{"name", "vera"}, {"role", "viewer"}, {"namespaces", {"shop"}}});
  auto set = Berth({"secret", "set", "db-password", "--from-literal", value, "-n", "shop"}, op);
  ASSERT_EQ(set.code, 0) << set.text;
  EXPECT_EQ(set.text.find(value), std::string::npos) << set.text;
  // Viewers and operators see names and metadata, in every format; never the value.
  for (const std::string& token : {viewer, op}) {
    for (const char* format : {"table", "json", "yaml", "wide"}) {
      auto ls = Berth({"secret", "ls", "-n", "shop", "-o", format}, token);
      EXPECT_EQ(ls.code, 0) << ls.text;
      EXPECT_NE(ls.text.find("db-password"), std::string::npos) << ls.text;
      EXPECT_EQ(ls.text.find(value), std::string::npos) << ls.text;
      auto get = Berth({"secret", "get", "db-password", "-n", "shop", "-o", format}, token);
      EXPECT_EQ(get.text.find(value), std::string::npos) << get.text;
    }
    auto reveal = Berth({"secret", "get", "db-password", "--reveal", "-n", "shop"}, token);
    EXPECT_NE(reveal.code, 0);
    EXPECT_NE(reveal.text.find("admin"), std::string::npos) << reveal.text;
    EXPECT_EQ(reveal.text.find(value), std::string::npos) << reveal.text;
  }
  EXPECT_EQ(Berth({"secret", "get", "db-password", "--reveal", "-n", "shop"}).text, value);
  // A second version, a rotation, and both versions still open.
  ASSERT_EQ(
      Berth({"secret", "set", "db-password", "--from-literal", value + "-2", "-n", "shop"}).code,
      0);
  auto rotate = Berth({"secret", "rotate-key"});
  ASSERT_EQ(rotate.code, 0) << rotate.text;
  EXPECT_NE(rotate.text.find("3 data keys re-wrapped"), std::string::npos) << rotate.text;
  EXPECT_EQ(
      Berth({"secret", "get", "db-password", "--reveal", "--version", "1", "-n", "shop"}).text,
      value);
  // A malformed body is refused without quoting it.
  EXPECT_EQ(Status("PUT", "/v1/secrets/shop/x", "{\"value\": \"" + value + "\"", op), 400);
  EXPECT_EQ(last_body_.find(value), std::string::npos) << last_body_;
  // Neither the audit log, nor the store's raw keys, nor berthd's log hold the value.
  auto audit = berthd_->Request("GET", "/v1/audit?limit=1000");
  ASSERT_TRUE(audit && audit->status == 200);
  EXPECT_NE(audit->body.find("/v1/secrets/shop/db-password"), std::string::npos);
  EXPECT_EQ(audit->body.find(value), std::string::npos);
  auto raw = berthd_->Request("GET", "/v1/kv/config/?prefix&limit=1000");
  ASSERT_TRUE(raw && raw->status == 200) << (raw ? raw->body : "");
  EXPECT_NE(raw->body.find("/config/secrets/shop/db-password"), std::string::npos);
  EXPECT_EQ(raw->body.find(value), std::string::npos);
  const std::string log_path = berthd_->process().log_path();
  berthd_->Reset();  // stops berthd: its log is complete
  std::ifstream log(log_path);
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_EQ(text.find(value), std::string::npos);
}

// A program waits on a blocking query; a publish answers it with the new version. The time
// from publish to answer is printed, never asserted.
TEST_F(ConfigTest, ABlockingQueryAnswersAtThePublish) {
  ASSERT_EQ(Berth({"config", "set", "app.yaml", "--from-literal", "v: 1\n"}).code, 0);
  auto first = Get("/v1/configs/default/app.yaml/watch");
  ASSERT_EQ(first.value("version", 0), 1) << first.dump();
  const int64_t index = first.value("index", int64_t{0});
  ASSERT_GT(index, 0);
  Result<http::Response> answer = Fail(ErrorCode::kInternal, "not answered");
  std::chrono::steady_clock::time_point answered;
  std::thread waiter([&] {
    answer = berthd_->Request(
        "GET", "/v1/configs/default/app.yaml/watch?index=" + std::to_string(index) + "&wait=60s");
    answered = std::chrono::steady_clock::now();
  });
  // Let the query reach the server (the answer cannot come before the publish either way).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto published = std::chrono::steady_clock::now();
  ASSERT_EQ(Berth({"config", "set", "app.yaml", "--from-literal", "v: 2\n"}).code, 0);
  waiter.join();
  ASSERT_TRUE(answer && answer->status == 200) << (answer ? answer->body : answer.error().message);
  auto j = ParseJson(answer->body).value();
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["content"], "v: 2\n");
  EXPECT_TRUE(j["changed"].get<bool>());
  EXPECT_GT(j["index"].get<int64_t>(), index);
  std::printf("blocking query answered %.1f ms after the publish started\n",
              std::chrono::duration<double, std::milli>(answered - published).count());
  // An index that is current and a short wait: the same version, changed false.
  auto idle =
      Get("/v1/configs/default/app.yaml/watch?index=" + std::to_string(j["index"].get<int64_t>()) +
          "&wait=1s");
  EXPECT_EQ(idle.value("version", 0), 2);
  EXPECT_FALSE(idle.value("changed", true));
}

// `berth config watch` on one multiplexed stream: every change of both items, in order,
// A->B->A as separate changes; a consumer acknowledges and status shows it.
TEST_F(ConfigTest, AWatchStreamCarriesEveryChangeOfEveryItem) {
  ASSERT_EQ(Berth({"config", "set", "a.yaml", "--from-literal", "a: 1\n"}).code, 0);
  ASSERT_EQ(Berth({"config", "set", "b.yaml", "--from-literal", "b: 1\n"}).code, 0);
  std::vector<std::string> args = {BinaryPath("src/cmd/berth"), "config", "watch", "a.yaml",
                                   "b.yaml"};
  ProcessOptions opts;
  opts.env = {{"BERTH_ADDR", berthd_->base()},
              {"BERTH_TOKEN", berthd_->admin_token()},
              {"XDG_CONFIG_HOME", dir_.Sub("config")},
              {"HOME", dir_.path()}};
  opts.log_path = dir_.Sub("watch.log");
  auto watch = Process::Start("berth-watch", std::move(args), std::move(opts));
  ASSERT_TRUE(watch);
  auto log = [&] {
    std::ifstream in(dir_.Sub("watch.log"));
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  ASSERT_TRUE(WaitFor([&] { return log().find("b.yaml version 1") != std::string::npos; }))
      << log();
  ASSERT_EQ(Berth({"config", "set", "a.yaml", "--from-literal", "a: 2\n"}).code, 0);
  ASSERT_EQ(Berth({"config", "rollback", "a.yaml", "--to", "1"}).code, 0);
  ASSERT_EQ(Berth({"config", "set", "b.yaml", "--from-literal", "b: 2\n"}).code, 0);
  ASSERT_TRUE(WaitFor([&] { return log().find("b.yaml version 2") != std::string::npos; }))
      << log();
  const std::string text = log();
  const auto a2 = text.find("a.yaml version 2"), a3 = text.find("a.yaml version 3");
  ASSERT_NE(a2, std::string::npos) << text;
  ASSERT_NE(a3, std::string::npos) << text;
  EXPECT_LT(a2, a3);
  EXPECT_LT(a3, text.find("b.yaml version 2"));

  EXPECT_EQ(Status("POST", "/v1/configs/default/a.yaml/ack", R"({"consumer":"web-1","version":3})"),
            200)
      << last_body_;
  EXPECT_EQ(Status("POST", "/v1/configs/default/a.yaml/ack", R"({"consumer":"web-2","version":9})"),
            400);
  auto status = Berth({"config", "status", "a.yaml"});
  EXPECT_NE(status.text.find("web-1"), std::string::npos) << status.text;
  EXPECT_EQ(status.text.find("web-2"), std::string::npos) << status.text;
}

// berthd SIGKILLed while publishes stream in: after a restart every version the history names
// is whole (its record and bytes agree), and the namespace's usage is what is stored.
TEST_F(ConfigTest, AControlPlaneKilledMidPublishKeepsWholeVersionsOnly) {
  std::atomic<bool> stop{false};
  std::atomic<int> published{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      auto r = berthd_->Request("PUT", "/v1/configs/default/c" + std::to_string(i % 3) + ".txt",
                                Json{{"content", "n: " + std::to_string(i) + "\n"}}.dump());
      if (!r) break;  // berthd is gone
      if (r->status < 300) ++published;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return published >= 20; }));
  berthd_->process().Kill(SIGKILL);
  stop = true;
  writer.join();
  berthd_->Reset();
  ASSERT_TRUE(berthd_->Start());
  int64_t stored = 0;
  auto list = Get("/v1/configs/default");
  ASSERT_EQ(list["configs"].size(), 3u) << list.dump();
  for (const auto& item : list["configs"]) {
    const std::string name = item["name"];
    auto history = Get("/v1/configs/default/" + name + "/history");
    ASSERT_FALSE(history["versions"].empty());
    EXPECT_EQ(history["versions"][0]["version"], item["latest"]) << name;
    for (const auto& v : history["versions"]) {
      auto got = Get("/v1/configs/default/" + name + "?version=" + v["version"].dump());
      ASSERT_TRUE(got.contains("content")) << name << " version " << v["version"] << got.dump();
      EXPECT_EQ(static_cast<int64_t>(got["content"].get<std::string>().size()),
                v["size"].get<int64_t>());
      EXPECT_EQ(got["content"].get<std::string>().rfind("n: ", 0), 0u);
      stored += v["size"].get<int64_t>();
    }
  }
  auto ns = Get("/v1/config-namespaces/default");
  EXPECT_EQ(ns.value("items", -1), 3);
  EXPECT_EQ(ns.value("stored_bytes", int64_t{-1}), stored);
}

}  // namespace
}  // namespace berth::testing
