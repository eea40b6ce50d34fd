// `berth login` and `berth context ...` against two real berthd processes: one context per
// server, switching between them, --context for one command, and the precedence of flags,
// --context, BERTH_ADDR/BERTH_TOKEN and the current context.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

class CliContextsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = std::make_unique<Berthd>(dir_.MakeSubdir("a"));
    b_ = std::make_unique<Berthd>(dir_.MakeSubdir("b"));
    ASSERT_TRUE(a_->Start());
    ASSERT_TRUE(b_->Start());
  }

  // berth with no address or token in the environment (unless `env` sets them) and a private
  // config directory; nothing of the machine's own login leaks in.
  ToolResult Berth(std::vector<std::string> args,
                   std::vector<std::pair<std::string, std::string>> env = {}) {
    std::vector<std::pair<std::string, std::string>> all = {{"BERTH_ADDR", ""},
                                                            {"BERTH_TOKEN", ""},
                                                            {"BERTH_NAMESPACE", ""},
                                                            {"HOME", dir_.path()},
                                                            {"XDG_CONFIG_HOME", dir_.Sub("config")},
                                                            {"XDG_STATE_HOME", dir_.Sub("state")}};
    for (const auto& [k, v] : env) {
      std::erase_if(all, [&](const auto& kv) { return kv.first == k; });
      all.push_back({k, v});
    }
    return RunBerth(std::move(args), std::move(all),
                    dir_.Sub("cli-" + std::to_string(counter_++) + ".log"));
  }

  std::string Config() {
    std::ifstream in(dir_.Sub("config") + "/berth/config.json");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // "127.0.0.1:PORT", the context name login gives a server by default.
  static std::string HostPort(const Berthd& d) { return "127.0.0.1:" + std::to_string(d.port()); }

  TempDir dir_{"berth-cli-contexts"};
  std::unique_ptr<Berthd> a_, b_;
  int counter_ = 0;
};

TEST_F(CliContextsTest, LoginSavesAContextPerServerAndUseSwitches) {
  auto la =
      Berth({"login", "--addr", a_->base(), "--with-token", a_->admin_token(), "--name", "a"});
  ASSERT_EQ(la.code, 0) << la.text;
  EXPECT_NE(la.text.find("logged in to " + a_->base()), std::string::npos) << la.text;
  EXPECT_NE(la.text.find("context a saved"), std::string::npos) << la.text;
  auto lb = Berth({"login", "--addr", b_->base(), "--with-token", b_->admin_token()});
  ASSERT_EQ(lb.code, 0) << lb.text;
  const std::string b = HostPort(*b_);

  // The last login is in use; ls marks it and never shows a token.
  auto ls = Berth({"context", "ls"});
  ASSERT_EQ(ls.code, 0) << ls.text;
  EXPECT_NE(ls.text.find("*         " + b), std::string::npos) << ls.text;
  EXPECT_NE(ls.text.find(a_->base()), std::string::npos) << ls.text;
  EXPECT_EQ(ls.text.find(a_->admin_token()), std::string::npos) << ls.text;
  EXPECT_EQ(Berth({"context", "ls", "-o", "json"}).text.find(b_->admin_token()), std::string::npos);
  EXPECT_EQ(Berth({"context", "current"}).text, b + "\n");

  // Each server keeps its own data: a key put through one context is not on the other.
  ASSERT_EQ(Berth({"kv", "put", "/where", "on-b"}).code, 0);
  auto use = Berth({"context", "use", "a"});
  ASSERT_EQ(use.code, 0) << use.text;
  EXPECT_EQ(use.text, "using context a (" + a_->base() + ")\n");
  auto status = Berth({"status"});
  ASSERT_EQ(status.code, 0) << status.text;
  EXPECT_NE(status.text.find("address:   " + a_->base()), std::string::npos) << status.text;
  EXPECT_NE(status.text.find("context:   a"), std::string::npos) << status.text;
  auto missing = Berth({"kv", "get", "/where"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.text.find("HTTP 404"), std::string::npos) << missing.text;
  // --context picks the other one for a single command, in any position.
  EXPECT_EQ(Berth({"--context", b, "kv", "get", "/where"}).text, "on-b\n");
  EXPECT_EQ(Berth({"kv", "get", "/where", "--context", b}).text, "on-b\n");
  EXPECT_EQ(Berth({"context", "current"}).text, "a\n");
}

TEST_F(CliContextsTest, FlagsBeatTheEnvironmentWhichBeatsTheCurrentContext) {
  ASSERT_EQ(Berth({"login", "--addr", a_->base(), "--with-token", a_->admin_token()}).code, 0);
  ASSERT_EQ(Berth({"login", "--addr", b_->base(), "--with-token", b_->admin_token()}).code, 0);
  ASSERT_EQ(Berth({"context", "use", HostPort(*a_)}).code, 0);
  // BERTH_ADDR names b: b is used, with b's saved token (a's is never sent to b).
  auto env = Berth({"status"}, {{"BERTH_ADDR", b_->base()}});
  ASSERT_EQ(env.code, 0) << env.text;
  EXPECT_NE(env.text.find("address:   " + b_->base()), std::string::npos) << env.text;
  // --addr beats BERTH_ADDR.
  auto flag = Berth({"status", "--addr", a_->base()}, {{"BERTH_ADDR", b_->base()}});
  ASSERT_EQ(flag.code, 0) << flag.text;
  EXPECT_NE(flag.text.find("address:   " + a_->base()), std::string::npos) << flag.text;
  // --context beats BERTH_ADDR and BERTH_TOKEN.
  auto ctx = Berth({"--context", HostPort(*a_), "status"},
                   {{"BERTH_ADDR", b_->base()}, {"BERTH_TOKEN", "berth_00_nope"}});
  ASSERT_EQ(ctx.code, 0) << ctx.text;
  EXPECT_NE(ctx.text.find("address:   " + a_->base()), std::string::npos) << ctx.text;
  // BERTH_TOKEN beats the saved token.
  auto token = Berth({"status"}, {{"BERTH_TOKEN", "berth_00_nope"}});
  EXPECT_EQ(token.code, 1);
  EXPECT_NE(token.text.find("HTTP 401"), std::string::npos) << token.text;
}

TEST_F(CliContextsTest, LoginWithANamespaceMakesItTheDefault) {
  ASSERT_EQ(
      Berth({"login", "--addr", a_->base(), "--with-token", a_->admin_token(), "-n", "shop"}).code,
      0);
  auto r =
      a_->Request("PUT", "/v1/registry/shop/web/web-1", R"({"address":"127.0.0.1","port":8081})");
  ASSERT_TRUE(r && r->status == 200);
  auto ls = Berth({"service", "ls"});
  EXPECT_NE(ls.text.find("shop"), std::string::npos) << ls.text;
  EXPECT_NE(Berth({"context", "ls"}).text.find("shop"), std::string::npos);
  // -n still overrides it.
  EXPECT_EQ(Berth({"service", "ls", "-n", "default"}).text,
            "no services in namespace default (-A lists every namespace)\n");
}

TEST_F(CliContextsTest, RemovedAndUnknownContextsAreClearErrors) {
  ASSERT_EQ(
      Berth({"login", "--addr", a_->base(), "--with-token", a_->admin_token(), "--name", "a"}).code,
      0);
  auto unknown = Berth({"--context", "prod", "status"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.text.find("--context prod: no such context"), std::string::npos)
      << unknown.text;
  EXPECT_NE(unknown.text.find("(contexts: a)"), std::string::npos) << unknown.text;
  auto use = Berth({"context", "use", "prod"});
  EXPECT_EQ(use.code, 1);
  EXPECT_NE(use.text.find("berth context ls"), std::string::npos) << use.text;
  ASSERT_EQ(Berth({"context", "rm", "a"}).code, 0);
  EXPECT_EQ(Config().find(a_->admin_token()), std::string::npos) << Config();
  auto current = Berth({"context", "current"});
  EXPECT_EQ(current.code, 1);
  EXPECT_NE(current.text.find("berth login --addr URL"), std::string::npos) << current.text;
}

TEST_F(CliContextsTest, ABadTokenSavesNothing) {
  auto bad = Berth({"login", "--addr", a_->base(), "--with-token", "berth_00_nope"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.text.find("HTTP 401"), std::string::npos) << bad.text;
  EXPECT_EQ(Config(), "");
  auto none = Berth({"login", "--addr", a_->base()});  // no token on stdin
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.text.find("--with-token"), std::string::npos) << none.text;
}

TEST_F(CliContextsTest, TheConfigOfOlderVersionsStillWorks) {
  std::filesystem::create_directories(dir_.Sub("config") + "/berth");
  std::ofstream(dir_.Sub("config") + "/berth/config.json")
      << Json{{"addr", a_->base()}, {"token", a_->admin_token()}}.dump();
  auto status = Berth({"status"});
  ASSERT_EQ(status.code, 0) << status.text;
  EXPECT_NE(status.text.find("address:   " + a_->base()), std::string::npos) << status.text;
  EXPECT_EQ(Berth({"context", "current"}).text, HostPort(*a_) + "\n");
}

}  // namespace
}  // namespace berth::testing
