// The config file of contexts, and how Context::Resolve picks address, token and namespace:
// flags > --context > BERTH_ADDR/BERTH_TOKEN/BERTH_NAMESPACE > the current context > defaults.
#include "cli/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/cli.h"

namespace berth::cli {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cli-config-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
    ::setenv("HOME", dir_.c_str(), 1);
    ::setenv("XDG_STATE_HOME", dir_.c_str(), 1);  // no admin token there
    for (const char* v : {"BERTH_ADDR", "BERTH_TOKEN", "BERTH_NAMESPACE"}) ::unsetenv(v);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& text) {
    std::filesystem::create_directories(dir_ + "/berth");
    std::ofstream(ConfigPath()) << text;
  }

  // Two servers saved, "b" current.
  void SaveTwo() {
    Config c;
    c.contexts = {{"a", "http://10.0.0.1:7700", "token-a", "shop"},
                  {"b", "http://10.0.0.2:7700", "token-b", ""}};
    c.current = "b";
    ASSERT_TRUE(SaveConfig(ConfigPath(), c));
  }

  std::string dir_;
};

TEST_F(ConfigTest, SavesAndLoadsContextsPrivately) {
  SaveTwo();
  struct stat st {};
  ASSERT_EQ(::stat(ConfigPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto c = LoadConfig(ConfigPath());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->current, "b");
  ASSERT_EQ(c->contexts.size(), 2u);
  EXPECT_EQ(c->Find("a")->token, "token-a");
  EXPECT_EQ(c->Find("a")->ns, "shop");
  EXPECT_EQ(c->ForAddr("http://10.0.0.2:7700")->name, "b");
  EXPECT_EQ(c->Names(), "a, b");
}

TEST_F(ConfigTest, AMissingFileIsAnEmptyConfig) {
  auto c = LoadConfig(ConfigPath());
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contexts.empty());
}

TEST_F(ConfigTest, ReadsTheFileOfOlderVersionsAsOneContext) {
  Write(R"({"addr": "127.0.0.1:7700", "token": "t"})");
  auto c = LoadConfig(ConfigPath());
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->contexts.size(), 1u);
  EXPECT_EQ(c->contexts[0].name, "127.0.0.1:7700");
  EXPECT_EQ(c->contexts[0].addr, "http://127.0.0.1:7700");
  EXPECT_EQ(c->current, "127.0.0.1:7700");
}

TEST_F(ConfigTest, ABadFileIsRefusedNamingWhatAndWhatToDo) {
  // Each names the file, the line and column, and the field.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", "config.json: malformed JSON: parse error at line 1, column 3"},
      {"[]", "config.json:1:1: must be an object, got an array"},
      {R"({"current":"x","contexts":[]})",
       "config.json:1:12: current: \"x\" is not the name of a context"},
      {R"({"contexts":[{"name":"a"}]})", "config.json:1:14: contexts[0]: \"addr\" is required"},
      {R"({"contexts":[{"name":"a","addr":"h:1","colour":1}]})",
       "config.json:1:39: contexts[0].colour: unknown field"},
      {R"({"contexts":[{"name":"a","addr":7}]})",
       "config.json:1:33: contexts[0].addr: must be a string, got 7"},
      {R"({"contexts":[{"name":"a","addr":"h:1"},{"name":"a","addr":"h:2"}]})",
       "config.json:1:40: contexts[1]: a second context named \"a\""},
  };
  for (const auto& [text, want] : cases) {
    Write(text);
    auto c = LoadConfig(ConfigPath());
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().message.find(want), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(ConfigPath()), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find("remove it and run `berth login` again"), std::string::npos);
  }
}

TEST_F(ConfigTest, NamesAndAddressesAreNormalized) {
  EXPECT_EQ(NormalizeAddr("10.0.0.1:7700/"), "http://10.0.0.1:7700");
  EXPECT_EQ(NormalizeAddr("https://a.example:7700"), "https://a.example:7700");
  EXPECT_EQ(ContextNameFor("https://a.example:7700/"), "a.example:7700");
}

TEST_F(ConfigTest, DefaultsWithNothingSaved) {
  Context ctx;
  ASSERT_TRUE(ctx.Resolve());
  EXPECT_EQ(ctx.addr, "http://127.0.0.1:7700");
  EXPECT_EQ(ctx.addr_source, "the default");
  EXPECT_EQ(ctx.token, "");
  EXPECT_EQ(ctx.ns, "default");
}

TEST_F(ConfigTest, TheCurrentContextGivesAddressTokenAndNamespace) {
  SaveTwo();
  Context ctx;
  ASSERT_TRUE(ctx.Resolve());
  EXPECT_EQ(ctx.addr, "http://10.0.0.2:7700");
  EXPECT_EQ(ctx.token, "token-b");
  EXPECT_EQ(ctx.ns, "default");
  EXPECT_EQ(ctx.context_in_use, "b");
}

TEST_F(ConfigTest, ContextFlagPicksAnotherContext) {
  SaveTwo();
  Context ctx;
  ctx.context = "a";
  ASSERT_TRUE(ctx.Resolve());
  EXPECT_EQ(ctx.addr, "http://10.0.0.1:7700");
  EXPECT_EQ(ctx.token, "token-a");
  EXPECT_EQ(ctx.ns, "shop");
}

TEST_F(ConfigTest, AnUnknownContextIsRefusedListingTheKnownOnes) {
  SaveTwo();
  Context ctx;
  ctx.context = "prod";
  auto r = ctx.Resolve();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--context prod: no such context"), std::string::npos);
  EXPECT_NE(r.error().message.find("(contexts: a, b)"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("berth context ls"), std::string::npos);
}

TEST_F(ConfigTest, EnvironmentBeatsTheCurrentContext) {
  SaveTwo();
  ::setenv("BERTH_ADDR", "http://10.0.0.1:7700", 1);
  ::setenv("BERTH_NAMESPACE", "ops", 1);
  Context ctx;
  ASSERT_TRUE(ctx.Resolve());
  EXPECT_EQ(ctx.addr, "http://10.0.0.1:7700");
  EXPECT_EQ(ctx.addr_source, "from BERTH_ADDR");
  // The token is the saved one of that server, never the current context's (another server).
  EXPECT_EQ(ctx.token, "token-a");
  EXPECT_EQ(ctx.ns, "ops");
  ::setenv("BERTH_TOKEN", "env-token", 1);
  Context with_token;
  ASSERT_TRUE(with_token.Resolve());
  EXPECT_EQ(with_token.token, "env-token");
  EXPECT_EQ(with_token.token_source, "BERTH_TOKEN");
}

TEST_F(ConfigTest, AnUnknownServerGetsNoSavedToken) {
  SaveTwo();
  ::setenv("BERTH_ADDR", "http://10.9.9.9:7700", 1);
  Context ctx;
  ASSERT_TRUE(ctx.Resolve());
  EXPECT_EQ(ctx.token, "");
  EXPECT_EQ(ctx.context_in_use, "");
}

TEST_F(ConfigTest, ContextFlagBeatsTheEnvironmentAndFlagsBeatEverything) {
  SaveTwo();
  ::setenv("BERTH_ADDR", "http://10.9.9.9:7700", 1);
  ::setenv("BERTH_TOKEN", "env-token", 1);
  Context ctx;
  ctx.context = "a";
  ASSERT_TRUE(ctx.Resolve());
  EXPECT_EQ(ctx.addr, "http://10.0.0.1:7700");
  EXPECT_EQ(ctx.token, "token-a");
  Context flags;
  flags.context = "a";
  flags.addr = "10.0.0.3:7700";
  flags.token = "flag-token";
  flags.ns = "web";
  ASSERT_TRUE(flags.Resolve());
  EXPECT_EQ(flags.addr, "http://10.0.0.3:7700");
  EXPECT_EQ(flags.addr_source, "from --addr");
  EXPECT_EQ(flags.token, "flag-token");
  EXPECT_EQ(flags.ns, "web");
}

TEST_F(ConfigTest, ABrokenConfigFailsResolve) {
  Write("{");
  Context ctx;
  auto r = ctx.Resolve();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("config file"), std::string::npos);
}

}  // namespace
}  // namespace berth::cli
