// What `berth __complete` offers, from the command tree alone (no server): subcommands, flags,
// option values in both bash's and zsh's word splitting, file directives. Names from a real
// server and the bash/zsh scripts themselves are tested in tests/api/cli_test.cc.
#include "cli/completion.h"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

std::vector<std::string> Values(const Completion& c) {
  std::vector<std::string> out;
  for (const auto& i : c.items) out.push_back(i.value);
  return out;
}

bool Has(const Completion& c, const std::string& v) {
  auto values = Values(c);
  return std::find(values.begin(), values.end(), v) != values.end();
}

TEST(CompleteTest, OffersTheCommandsButNotTheHiddenOne) {
  auto c = Complete({""});
  for (const char* cmd : {"service", "get", "apply", "node", "route", "context", "completion"}) {
    EXPECT_TRUE(Has(c, cmd)) << cmd;
  }
  EXPECT_FALSE(Has(c, "__complete"));
  EXPECT_EQ(Values(Complete({"ser"})), std::vector<std::string>{"service"});
}

TEST(CompleteTest, OffersSubcommandsWithTheirDescriptions) {
  auto c = Complete({"service", ""});
  EXPECT_EQ(Values(c), (std::vector<std::string>{"register", "ls", "get", "deregister", "heartbeat",
                                                 "watch"}));
  EXPECT_EQ(c.items[1].description, "List services");
  // A global flag between the words changes nothing.
  EXPECT_EQ(Values(Complete({"-o", "json", "service", "-n", "shop", "l"})),
            std::vector<std::string>{"ls"});
}

TEST(CompleteTest, OffersTheCommandsFlagsAndTheGlobalOnes) {
  auto c = Complete({"service", "get", "web", "--"});
  for (const char* flag : {"--passing", "--tag", "--watch", "--output", "--namespace",
                           "--all-namespaces", "--addr", "--token", "--context", "--help"}) {
    EXPECT_TRUE(Has(c, flag)) << flag;
  }
  EXPECT_FALSE(Has(c, "--check-http"));  // register's, not get's
  EXPECT_TRUE(Has(Complete({"service", "get", "web", "-"}), "-o"));
}

TEST(CompleteTest, OffersTheOutputFormats) {
  const std::vector<std::string> all = {"table", "wide", "json", "yaml", "name"};
  EXPECT_EQ(Values(Complete({"node", "ls", "-o", ""})), all);
  EXPECT_EQ(Values(Complete({"-o", ""})), all);
  EXPECT_EQ(Values(Complete({"node", "ls", "-o", "y"})), std::vector<std::string>{"yaml"});
  // bash splits --output=ya into "--output", "=", "ya" and replaces only "ya".
  EXPECT_EQ(Values(Complete({"node", "ls", "--output", "=", "ya"})),
            std::vector<std::string>{"yaml"});
  EXPECT_EQ(Values(Complete({"node", "ls", "--output", "="})), all);
  // zsh keeps the word whole and replaces it whole.
  EXPECT_EQ(Values(Complete({"node", "ls", "--output=ya"})),
            std::vector<std::string>{"--output=yaml"});
}

TEST(CompleteTest, OffersTheChoicesOfOtherOptionsAndPositionals) {
  EXPECT_EQ(Values(Complete({"token", "create", "--role", ""})),
            (std::vector<std::string>{"admin", "operator", "viewer"}));
  EXPECT_EQ(Values(Complete({"completion", ""})), (std::vector<std::string>{"bash", "zsh"}));
  EXPECT_EQ(Values(Complete({"run", "--restart", "on"})), std::vector<std::string>{"on-failure"});
}

TEST(CompleteTest, AsksTheShellForFilesWhereAFileGoes) {
  EXPECT_EQ(Complete({"apply", "-f", ""}).directive, "files");
  EXPECT_EQ(Complete({"route", "apply", "--file", "ro"}).directive, "files");
  EXPECT_EQ(Complete({"image", "build", ""}).directive, "dirs");
  EXPECT_EQ(FormatCompletion(Complete({"apply", "-f", ""})), ":files\n");
}

TEST(CompleteTest, NamesFromAnUnreachableServerAreNothing) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  for (auto words : {std::vector<std::string>{"--addr", "http://127.0.0.1:1", "service", "get", ""},
                     {"--addr", "http://127.0.0.1:1", "describe", "app", ""},
                     {"--addr", "http://127.0.0.1:1", "node", "get", "n"},
                     {"--addr", "http://127.0.0.1:1", "-n", ""}}) {
    auto c = Complete(words);
    EXPECT_TRUE(c.items.empty()) << FormatCompletion(c);
    EXPECT_EQ(c.directive, "");
  }
}

TEST(CompleteTest, PrintsAValueAndItsDescriptionALine) {
  EXPECT_EQ(FormatCompletion(Complete({"completion", "z"})), "zsh\t\n");
  std::string s = FormatCompletion(Complete({"statu"}));
  EXPECT_EQ(s, "status\tShow the control plane's status\n");
}

TEST(CompletionScriptTest, ScriptsCallTheHiddenCommand) {
  EXPECT_NE(BashScript().find("__complete"), std::string::npos);
  EXPECT_NE(BashScript().find("complete -F _berth_complete berth"), std::string::npos);
  EXPECT_NE(ZshScript().find("#compdef berth"), std::string::npos);
  EXPECT_NE(ZshScript().find("__complete"), std::string::npos);
}

}  // namespace
}  // namespace berth::cli
