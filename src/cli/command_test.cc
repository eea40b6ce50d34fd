// The command tree's global flags, over every command berth has: each global flag in each
// position (before the command, between its words, after the command, after its arguments)
// parses to the same Context. A new command group is covered without editing this file.
#include "cli/command.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/commands.h"

namespace berth::cli {
namespace {

struct Leaf {
  std::vector<std::string> path;  // {"service", "get"}
  std::vector<std::string> args;  // required positionals and options, with placeholder values
};

// A value the option's type accepts.
std::string Placeholder(const CLI::Option* opt) {
  const std::string type = opt->get_type_name();
  if (type.find('|') != std::string::npos) return type.substr(0, type.find('|'));
  if (type == "INT" || type == "UINT" || type == "FLOAT" || type == "NUMBER") return "1";
  return "x";
}

void CollectLeaves(const CLI::App* app, std::vector<std::string> path, std::vector<Leaf>& out) {
  auto subs = app->get_subcommands([](const CLI::App*) { return true; });
  if (subs.empty()) {
    Leaf leaf{path, {}};
    for (const auto* opt : app->get_options()) {
      if (!opt->get_required()) continue;
      if (opt->get_positional()) {
        leaf.args.push_back(Placeholder(opt));
      } else {
        leaf.args.push_back(
            opt->get_name(false, true).substr(0, opt->get_name(false, true).find(',')));
        leaf.args.push_back(Placeholder(opt));
      }
    }
    out.push_back(std::move(leaf));
    return;
  }
  for (const auto* sub : subs) {
    auto p = path;
    p.push_back(sub->get_name());
    CollectLeaves(sub, std::move(p), out);
  }
}

std::vector<Leaf> AllLeaves() {
  Context ctx;
  auto app = NewBerthApp(ctx);
  std::vector<Leaf> leaves;
  CollectLeaves(app.get(), {}, leaves);
  return leaves;
}

std::string Joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

struct GlobalFlag {
  std::vector<std::string> words;
  std::function<bool(const Context&)> took;
};

const std::vector<GlobalFlag>& GlobalFlags() {
  static const std::vector<GlobalFlag> kFlags = {
      {{"-o", "json"}, [](const Context& c) { return c.output == "json"; }},
      {{"--output=wide"}, [](const Context& c) { return c.output == "wide"; }},
      {{"-o", "name"}, [](const Context& c) { return c.output == "name"; }},
      {{"-n", "shop"}, [](const Context& c) { return c.ns == "shop"; }},
      {{"--namespace", "shop"}, [](const Context& c) { return c.ns == "shop"; }},
      {{"-A"}, [](const Context& c) { return c.all_namespaces; }},
      {{"--all-namespaces"}, [](const Context& c) { return c.all_namespaces; }},
      {{"--addr", "http://10.0.0.1:7700"},
       [](const Context& c) { return c.addr == "http://10.0.0.1:7700"; }},
      {{"--token", "berth_x_y"}, [](const Context& c) { return c.token == "berth_x_y"; }},
      {{"--context", "prod"}, [](const Context& c) { return c.context == "prod"; }},
  };
  return kFlags;
}

// Parses `words` into a fresh tree; the error message, or "" and the Context.
std::string Parse(const std::vector<std::string>& words, Context& ctx) {
  auto app = NewBerthApp(ctx);
  std::vector<std::string> reversed(words.rbegin(), words.rend());
  try {
    app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    return ParseErrorMessage(*app, e, words);
  }
  if (auto r = CheckOutput(*app, ctx); !r) return r.error().message;
  return ctx.run ? "" : "no command chosen";
}

TEST(GlobalFlagsTest, TheTreeHasTheCommandsOfEveryGroup) {
  std::vector<std::string> paths;
  for (const auto& leaf : AllLeaves()) paths.push_back(Joined(leaf.path));
  for (const char* want : {"service get", "service ls", "get apps", "node ls", "route get",
                           "kv put", "token ls", "context use", "completion", "rollout status",
                           "image ls", "ps", "status", "login", "security scan", "token grant"}) {
    EXPECT_NE(std::find(paths.begin(), paths.end(), want), paths.end()) << want;
  }
}

TEST(GlobalFlagsTest, EveryGlobalFlagInEveryPositionOfEveryCommand) {
  size_t cases = 0;
  for (const auto& leaf : AllLeaves()) {
    // Every place a global flag may go: before the command, after each of its words, after
    // its arguments.
    for (size_t at = 0; at <= leaf.path.size() + 1; ++at) {
      for (const auto& flag : GlobalFlags()) {
        std::vector<std::string> words;
        for (size_t i = 0; i <= leaf.path.size(); ++i) {
          if (i == at) words.insert(words.end(), flag.words.begin(), flag.words.end());
          if (i < leaf.path.size()) words.push_back(leaf.path[i]);
        }
        words.insert(words.end(), leaf.args.begin(), leaf.args.end());
        if (at == leaf.path.size() + 1) {
          words.insert(words.end(), flag.words.begin(), flag.words.end());
        }
        Context ctx;
        std::string error = Parse(words, ctx);
        EXPECT_EQ(error, "") << "berth " << Joined(words);
        EXPECT_TRUE(flag.took(ctx)) << "berth " << Joined(words);
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 1000u);
}

TEST(GlobalFlagsTest, FlagsFromTheIssueParse) {
  for (auto words : {std::vector<std::string>{"service", "get", "web", "-o", "json"},
                     {"service", "ls", "-n", "shop"},
                     {"service", "-n", "shop", "get", "api", "--passing"},
                     {"get", "instances", "-n", "shop", "-o", "wide"},
                     {"route", "get", "api", "-o", "yaml"}}) {
    Context ctx;
    EXPECT_EQ(Parse(words, ctx), "") << Joined(words);
  }
}

TEST(GlobalFlagsTest, GivenTwiceTheLastCounts) {
  Context ctx;
  ASSERT_EQ(Parse({"-o", "json", "node", "ls", "-o", "yaml", "-n", "a", "--namespace=b"}, ctx), "");
  EXPECT_EQ(ctx.output, "yaml");
  EXPECT_EQ(ctx.ns, "b");
}

TEST(GlobalFlagsTest, ServiceRegisterTakesTheInstanceAddressAsAddress) {
  Context ctx;
  ASSERT_EQ(Parse({"service", "register", "web", "--address", "10.0.0.1:80", "--addr",
                   "http://127.0.0.1:7700"},
                  ctx),
            "");
  EXPECT_EQ(ctx.addr, "http://127.0.0.1:7700");
}

TEST(GlobalFlagsTest, ASubcommandThatRedefinesAGlobalFlagIsRefused) {
  for (const char* name : {"-o,--output", "-n", "--addr", "-A", "--context"}) {
    Context ctx;
    auto app = NewBerthApp(ctx);
    std::string value;
    app->add_subcommand("extra", "a group written without reading the README")
        ->add_subcommand("ls", "")
        ->add_option(name, value, "");
    auto r = FinishCommandTree(*app);
    ASSERT_FALSE(r) << name;
    EXPECT_NE(r.error().message.find("`berth extra ls` defines"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("a global flag"), std::string::npos) << r.error().message;
  }
}

TEST(ParseErrorTest, UnknownCommandNamesTheNearest) {
  Context ctx;
  EXPECT_EQ(Parse({"servce", "ls"}, ctx),
            "unknown command \"servce\" for `berth` (did you mean `berth service`?); `berth "
            "--help` lists the commands");
  Context ctx2;
  EXPECT_EQ(Parse({"service", "lss"}, ctx2),
            "unknown command \"lss\" for `berth service` (did you mean `berth service ls`?); "
            "`berth service --help` lists the commands");
  Context ctx3;
  EXPECT_EQ(Parse({"frobnicate"}, ctx3),
            "unknown command \"frobnicate\" for `berth`; `berth --help` lists the commands");
}

TEST(ParseErrorTest, UnknownFlagNamesTheNearest) {
  Context ctx;
  EXPECT_EQ(Parse({"service", "ls", "--outptu", "json"}, ctx),
            "unknown flag --outptu for `berth service ls` (did you mean --output?); `berth "
            "service ls --help` lists its flags");
}

TEST(ParseErrorTest, MissingCommandListsTheCommands) {
  Context ctx;
  std::string e = Parse({"node"}, ctx);
  EXPECT_TRUE(e.starts_with("`berth node` needs a command: ls, get, cordon, uncordon, drain")) << e;
}

TEST(ParseErrorTest, BadOutputFormatListsTheFormats) {
  for (auto words :
       {std::vector<std::string>{"-o", "jsno", "node", "ls"}, {"node", "ls", "--output=jsno"}}) {
    Context ctx;
    EXPECT_EQ(Parse(words, ctx),
              "-o jsno: not an output format of `berth node ls`; use one of table, wide, json, "
              "yaml, name")
        << Joined(words);
  }
  Context ctx;
  EXPECT_EQ(Parse({"node", "ls", "-o"}, ctx),
            "-o needs a format: one of table, wide, json, yaml, name");
}

TEST(ParseErrorTest, ACommandsOwnFormatsAreItsOnly) {
  Context scan;
  EXPECT_EQ(Parse({"security", "scan", "img", "-o", "sarif"}, scan), "");
  EXPECT_EQ(scan.output, "sarif");
  Context sbom;
  EXPECT_EQ(Parse({"-o", "spdx", "security", "sbom", "img"}, sbom), "");
  Context node;
  EXPECT_EQ(Parse({"node", "ls", "-o", "sarif"}, node),
            "-o sarif: not an output format of `berth node ls`; use one of table, wide, json, "
            "yaml, name (sarif is for `berth security scan`)");
}

TEST(GlobalFlagsTest, EveryNamespaceGivenIsKept) {
  Context ctx;
  ASSERT_EQ(
      Parse({"token", "create", "--role", "viewer", "-n", "shop", "--namespace", "billing"}, ctx),
      "");
  EXPECT_EQ(ctx.namespaces, (std::vector<std::string>{"shop", "billing"}));
  EXPECT_EQ(ctx.ns, "billing");
  EXPECT_EQ(ctx.ExplicitNamespace(), "billing");
  Context none;
  ASSERT_EQ(Parse({"security", "findings"}, none), "");
  EXPECT_EQ(none.ExplicitNamespace(), "");
}

TEST(ParseErrorTest, MissingNamespaceSaysHowToListThem) {
  Context ctx;
  EXPECT_EQ(Parse({"service", "ls", "-n"}, ctx),
            "-n/--namespace needs a namespace name; `berth get apps -A` and `berth service ls "
            "-A` show the namespaces in use");
}

TEST(ParseErrorTest, MissingArgumentSaysWhereHelpIs) {
  Context ctx;
  std::string e = Parse({"service", "get"}, ctx);
  EXPECT_NE(e.find("name is required"), std::string::npos) << e;
  EXPECT_NE(e.find("`berth service get --help`"), std::string::npos) << e;
}

TEST(NearestTest, PicksTheClosestWithinReach) {
  EXPECT_EQ(Nearest("servce", {"service", "status", "scale"}), "service");
  EXPECT_EQ(Nearest("stauts", {"service", "status", "scale"}), "status");
  EXPECT_EQ(Nearest("xyzzy", {"service", "status", "scale"}), "");
  EXPECT_EQ(Nearest("rollou", {"rollout", "route"}), "rollout");
}

}  // namespace
}  // namespace berth::cli
