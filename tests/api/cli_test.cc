// The `berth` CLI against a real berthd: the commands of the spine issue, their table and
// JSON output, and a one-line error with a non-zero exit code on failure.
#include <gtest/gtest.h>
#include <sys/wait.h>

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

  // Runs berth with BERTH_ADDR/BERTH_TOKEN set; stdout and stderr together.
  Out Berth(std::vector<std::string> args, std::string token = "\x01") {
    if (token == "\x01") token = berthd_->admin_token();
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions opts;
    opts.env = {{"BERTH_ADDR", berthd_->base()},
                {"BERTH_TOKEN", token},
                {"XDG_CONFIG_HOME", dir_.Sub("config")},
                {"HOME", dir_.path()}};
    opts.log_path = dir_.Sub("cli-" + std::to_string(counter_++) + ".log");
    return RunTool("berth", std::move(args), std::move(opts));
  }

  TempDir dir_{"berth-cli"};
  std::unique_ptr<Berthd> berthd_;
  int counter_ = 0;
};

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

}  // namespace
}  // namespace berth::testing
