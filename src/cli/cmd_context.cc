// berth login, berth context ls|use|current|rm — one saved context per server (config.h).
//   berth login [--addr URL] [--with-token T] [--name NAME] [-n NS]
//   berth context ls | use NAME | current | rm NAME
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include <unistd.h>

#include "cli/command.h"
#include "cli/commands.h"
#include "cli/config.h"

namespace berth::cli {
namespace {

Json ContextsJson(const Config& config) {
  Json list = Json::array();
  for (const auto& c : config.contexts) {
    // Never the token.
    list.push_back(Json{{"name", c.name},
                        {"addr", c.addr},
                        {"namespace", c.ns.empty() ? "default" : c.ns},
                        {"current", c.name == config.current}});
  }
  return Json{{"current", config.current}, {"contexts", std::move(list)}};
}

View ContextView() {
  return View{
      .kind = "context",
      .name = [](const Json& c) { return c.value("name", ""); },
      .columns = {{"CURRENT", [](const Json& c) { return c.value("current", false) ? "*" : ""; }},
                  Field("NAME", "name"),
                  Field("ADDRESS", "addr"),
                  Field("NAMESPACE", "namespace")}};
}

Result<Config> Load() { return LoadConfig(ConfigPath()); }

// The token `berth login` checks: --with-token, else --token or BERTH_TOKEN, else a line of
// standard input.
Result<std::string> LoginToken(const Context& ctx, const std::string& with_token) {
  if (!with_token.empty()) return with_token;
  if (ctx.token_source == "--token" || ctx.token_source == "BERTH_TOKEN") return ctx.token;
  if (::isatty(0)) std::cerr << fmt::format("token for {}: ", ctx.addr) << std::flush;
  std::string line;
  std::getline(std::cin, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "no token: give it with --with-token TOKEN or on standard input (an admin makes "
                "one with `berth token create --role viewer`)");
  }
  return line;
}

void AddLogin(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "login", "Check a token against a server and save both as the server's context");
  struct Args {
    std::string token, name;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--with-token", a->token, "The token (default: read from standard input)");
  cmd->add_option("--name", a->name,
                  "The context's name (default: the server's existing context, else host:port)")
      ->type_name("CONTEXT");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      auto token = LoginToken(ctx, a->token);
      if (!token) return PrintError(token.error());
      ctx.token = *token;
      ctx.token_source = "login";
      auto r = ctx.Call("GET", "/v1/status");
      if (!r) return PrintError(r.error());
      auto config = Load();
      if (!config) return PrintError(config.error());
      std::string name = a->name;
      if (name.empty()) {
        const SavedContext* same = config->ForAddr(ctx.addr);
        name = same ? same->name : ContextNameFor(ctx.addr);
      }
      SavedContext* c = config->Find(name);
      if (!c) {
        config->contexts.push_back(SavedContext{.name = name});
        c = &config->contexts.back();
      }
      c->addr = ctx.addr;
      c->token = ctx.token;
      if (ctx.ns_source == "-n") c->ns = ctx.ns;
      config->current = name;
      const std::string path = ConfigPath();
      if (auto w = SaveConfig(path, *config); !w) return PrintError(w.error());
      PrintObject(ctx, ContextsJson(*config), "context", name, [&] {
        std::cout << fmt::format("logged in to {} as {} ({}); context {} saved in {} and in use\n",
                                 ctx.addr, (*r)["caller"].value("name", ""),
                                 (*r)["caller"].value("role", ""), name, path);
      });
      return 0;
    };
  });
}

// context use|rm NAME: changes the config and prints `done`.
void AddContextChange(CLI::App* parent, Context& ctx, const char* verb, const char* help,
                      std::function<Result<std::string>(Config&, const std::string&)> change) {
  auto* cmd = parent->add_subcommand(verb, help);
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "Context name")->required()->type_name("CONTEXT");
  cmd->callback([&ctx, name, change] {
    ctx.run = [&ctx, name, change] {
      auto config = Load();
      if (!config) return PrintError(config.error());
      if (!config->Find(*name)) {
        return PrintError(
            Error(ErrorCode::kNotFound,
                  fmt::format("no context {} (contexts: {}); `berth context ls` lists them, `berth "
                              "login --addr URL --name {}` adds one",
                              *name, config->Names(), *name)));
      }
      auto done = change(*config, *name);
      if (!done) return PrintError(done.error());
      if (auto w = SaveConfig(ConfigPath(), *config); !w) return PrintError(w.error());
      PrintObject(ctx, ContextsJson(*config), "context", *name,
                  [&] { std::cout << *done << "\n"; });
      return 0;
    };
  });
}

}  // namespace

void AddContextCommands(CLI::App& app, Context& ctx) {
  AddLogin(app, ctx);
  auto* group =
      app.add_subcommand("context", "Saved contexts (one per server): list, use, show, remove");
  group->require_subcommand(1);
  AddListCommand(group, ctx, "ls", "List the saved contexts (never their tokens)",
                 {.view = ContextView(),
                  .fetch = [](Context&) -> Result<Json> {
                    auto config = Load();
                    if (!config) return std::unexpected(config.error());
                    return ContextsJson(*config);
                  },
                  .complete_as = "CONTEXT"});
  AddContextChange(group, ctx, "use", "Use a context from now on",
                   [](Config& config, const std::string& name) -> Result<std::string> {
                     config.current = name;
                     return fmt::format("using context {} ({})", name, config.Find(name)->addr);
                   });
  AddContextChange(group, ctx, "rm", "Remove a saved context (and its token)",
                   [](Config& config, const std::string& name) -> Result<std::string> {
                     std::erase_if(config.contexts,
                                   [&](const SavedContext& c) { return c.name == name; });
                     if (config.current == name) config.current.clear();
                     return fmt::format("context {} removed", name);
                   });
  auto* current = group->add_subcommand("current", "Print the context in use");
  current->callback([&ctx] {
    ctx.run = [&ctx] {
      auto config = Load();
      if (!config) return PrintError(config.error());
      if (config->current.empty()) {
        return PrintError(Error(ErrorCode::kNotFound,
                                "no current context; `berth login --addr URL` makes one, `berth "
                                "context use NAME` picks a saved one"));
      }
      PrintObject(ctx, ContextsJson(*config), "context", config->current,
                  [&] { std::cout << config->current << "\n"; });
      return 0;
    };
  });
}

}  // namespace berth::cli
