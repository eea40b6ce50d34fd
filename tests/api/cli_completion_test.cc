// Shell completion for real: the bash script sourced in bash and driven through COMP_WORDS /
// COMP_CWORD as bash's completion would, the zsh script loaded under `zsh -f`, and names that
// `berth __complete` takes from a real berthd (nothing, and exit 0, when it is unreachable).
#include <gtest/gtest.h>

#include <fstream>

#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

class CliCompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<Berthd>(dir_.MakeSubdir("data"));
    ASSERT_TRUE(berthd_->Start());
    auto r = berthd_->Request("PUT", "/v1/registry/shop/web/web-1",
                              R"({"address":"127.0.0.1","port":8081})");
    ASSERT_TRUE(r && r->status == 200);
    r = berthd_->Request("PUT", "/v1/registry/shop/worker/worker-1",
                         R"({"address":"127.0.0.1","port":8082})");
    ASSERT_TRUE(r && r->status == 200);
    r = berthd_->Request("PUT", "/v1/routes/web-route",
                         R"({"match":{"prefix":"/"},"service":"web","namespace":"shop"})");
    ASSERT_TRUE(r && r->status < 300) << (r ? r->body : "");
  }

  std::vector<std::pair<std::string, std::string>> Env() {
    return {{"BERTH_ADDR", berthd_->base()},
            {"BERTH_TOKEN", berthd_->admin_token()},
            {"BERTH_NAMESPACE", ""},
            {"HOME", dir_.path()},
            {"XDG_CONFIG_HOME", dir_.Sub("config")}};
  }

  ToolResult Berth(std::vector<std::string> args) {
    return RunBerth(std::move(args), Env(), dir_.Sub("cli-" + std::to_string(counter_++) + ".log"));
  }

  // Runs `script` in `shell` ("bash" or "zsh") with the completion script of that shell in
  // a file; BERTH is the berth binary.
  ToolResult Shell(const std::string& shell, const std::string& script) {
    const std::string file = dir_.Sub(shell + "-completion");
    auto printed = Berth({"completion", shell});
    EXPECT_EQ(printed.code, 0) << printed.text;
    std::ofstream(file) << printed.text;
    std::vector<std::string> argv =
        shell == "bash" ? std::vector<std::string>{"bash", "--norc", "--noprofile", "-c"}
                        : std::vector<std::string>{"zsh", "-f", "-c"};
    argv.push_back(script);
    auto env = Env();
    env.push_back({"BERTH", BinaryPath("src/cmd/berth")});
    env.push_back({"COMPLETION", file});
    ProcessOptions opts;
    opts.env = std::move(env);
    opts.log_path = dir_.Sub(shell + "-" + std::to_string(counter_++) + ".log");
    return RunTool(shell, std::move(argv), std::move(opts));
  }

  // What bash's completion of the words (the last being the one under the cursor) offers, a
  // line each.
  std::string Bash(const std::vector<std::string>& words) {
    std::string list;
    for (const auto& w : words) list += " '" + w + "'";
    auto r = Shell("bash", "source \"$COMPLETION\"; COMP_WORDS=(\"$BERTH\"" + list +
                               "); COMP_CWORD=" + std::to_string(words.size()) +
                               "; _berth_complete; printf '%s\\n' \"${COMPREPLY[@]}\"");
    EXPECT_EQ(r.code, 0) << r.text;
    return r.text;
  }

  TempDir dir_{"berth-cli-completion"};
  std::unique_ptr<Berthd> berthd_;
  int counter_ = 0;
};

TEST_F(CliCompletionTest, BashCompletesCommandsFlagsAndValues) {
  EXPECT_EQ(Bash({"servi"}), "service\n");
  EXPECT_EQ(Bash({"service", "l"}), "ls\n");
  EXPECT_EQ(Bash({"node", "ls", "--wat"}), "--watch\n");
  EXPECT_EQ(Bash({"node", "ls", "-o", "w"}), "wide\n");
  EXPECT_EQ(Bash({"node", "ls", "-o", ""}), "table\nwide\njson\nyaml\nname\n");
  // "--output=ya": bash's words are "--output", "=", "ya"; the reply replaces "ya".
  EXPECT_EQ(Bash({"node", "ls", "--output", "=", "ya"}), "yaml\n");
  // Right after "=": the reply keeps the "=".
  EXPECT_EQ(Bash({"node", "ls", "--output", "="}), "=table\n=wide\n=json\n=yaml\n=name\n");
}

TEST_F(CliCompletionTest, BashCompletesNamesFromTheServer) {
  EXPECT_EQ(Bash({"-n", "shop", "service", "get", ""}), "web\nworker\n");
  EXPECT_EQ(Bash({"service", "get", "w", "--namespace", "sh"}), "shop\n");  // the cursor: "sh"
  EXPECT_EQ(Bash({"service", "-n", "shop", "get", "wo"}), "worker\n");
  EXPECT_EQ(Bash({"route", "get", ""}), "web-route\n");
  EXPECT_EQ(Bash({"-n", "sh"}), "shop\n");
}

TEST_F(CliCompletionTest, BashCompletesFilesWhereAFileGoes) {
  std::ofstream(dir_.Sub("app.yaml")) << "name: x\n";
  EXPECT_EQ(Bash({"apply", "-f", dir_.Sub("app.y")}), dir_.Sub("app.yaml") + "\n");
}

TEST_F(CliCompletionTest, CompleteOffersServerNames) {
  auto r = Berth({"__complete", "-n", "shop", "service", "deregister", ""});
  EXPECT_EQ(r.text, "web\t\nworker\t\n");
  r = Berth({"__complete", "--namespace", ""});
  EXPECT_EQ(r.text, "default\t\nshop\t\n");
}

TEST_F(CliCompletionTest, CompleteFailsQuietlyWhenTheServerIsUnreachable) {
  berthd_->process().Stop();
  for (auto words : {std::vector<std::string>{"__complete", "-n", "shop", "service", "get", ""},
                     {"__complete", "node", "get", ""},
                     {"__complete", "-n", ""}}) {
    auto r = Berth(words);
    EXPECT_EQ(r.code, 0) << r.text;
    EXPECT_EQ(r.text, "") << r.text;
  }
  // Commands still complete without a server.
  EXPECT_EQ(Bash({"servi"}), "service\n");
}

TEST_F(CliCompletionTest, ZshScriptLoadsAndOffersCandidates) {
  // compadd only works inside a completion widget: a stand-in prints what it is given.
  const std::string prelude =
      "autoload -Uz compinit && compinit -u -D; source \"$COMPLETION\"; "
      "(( $+functions[_berth] )) || exit 3; "
      "compadd() { while [[ $1 != -- ]]; do shift; done; shift; print -rl -- \"$@\"; }; ";
  auto r = Shell("zsh", prelude + "words=(\"$BERTH\" service l); CURRENT=3; _berth");
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(r.text, "ls\n");
  r = Shell("zsh", prelude + "words=(\"$BERTH\" node ls --output=ya); CURRENT=4; _berth");
  EXPECT_EQ(r.text, "--output=yaml\n");
  r = Shell("zsh", prelude + "words=(\"$BERTH\" -n shop service get ''); CURRENT=6; _berth");
  EXPECT_EQ(r.text, "web\nworker\n");
  // compdef registered berth with the completion system.
  r = Shell("zsh",
            "autoload -Uz compinit && compinit -u -D; source \"$COMPLETION\"; "
            "print -r -- ${_comps[berth]}");
  EXPECT_EQ(r.text, "_berth\n");
}

}  // namespace
}  // namespace berth::testing
