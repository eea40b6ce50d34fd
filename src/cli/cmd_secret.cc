// berth secret — encrypted values in a namespace (the configuration center's secrets):
//   berth secret set NAME --from-literal VALUE | -f FILE
//   berth secret get NAME [--reveal [--version V]]   metadata; the value only with --reveal
//                                                    (admin of the namespace)
//   berth secret ls [-w]                              names and metadata, never values
//   berth secret history NAME
//   berth secret rm NAME
//   berth secret rotate-key                           new master key, all data keys re-wrapped

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"

namespace berth::cli {
namespace {

std::string SecretPath(const Context& ctx, std::string_view name) {
  return fmt::format("/v1/secrets/{}/{}", PathEscape(ctx.ns), PathEscape(name));
}

View SecretView() {
  return View{
      .kind = "secret",
      .columns = {Field("NAME", "name"),
                  Field("VERSION", "version"),
                  Field("SIZE", "size"),
                  {"UPDATED",
                   [](const Json& s) { return FormatTime(s.value("updated_ms", int64_t{0})); }},
                  Field("BY", "updated_by"),
                  Field("KEY", "key_id", true)},
      .namespaced = true};
}

void AddSetCommand(CLI::App* group, Context& ctx) {
  struct Args {
    std::string name;
    std::string file;
    std::string literal;
    CLI::Option* literal_option = nullptr;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group->add_subcommand("set", "Store a new version of a secret");
  cmd->add_option("name", a->name, "Secret name")->required()->type_name("SECRET");
  a->literal_option =
      cmd->add_option("--from-literal", a->literal, "The value (visible in your shell history)");
  cmd->add_option("-f,--file", a->file, "Read the value from a file (- reads stdin)")
      ->type_name("FILE");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      Json body = Json::object();
      const bool literal = a->literal_option->count() > 0;
      if (literal && !a->file.empty()) {
        return PrintError(
            Error(ErrorCode::kInvalidArgument, "give --from-literal or -f, not both"));
      }
      if (literal) {
        body["value"] = a->literal;
      } else if (!a->file.empty()) {
        auto text = ReadInput(a->file);
        if (!text) return PrintError(text.error());
        body["value"] = std::move(*text);
      } else {
        return PrintError(Error(ErrorCode::kInvalidArgument,
                                "the value is missing: give --from-literal VALUE or -f FILE"));
      }
      auto r = ctx.Call("PUT", SecretPath(ctx, a->name), &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "secret", a->name, [&] {
        std::cout << fmt::format("secret {} stored: version {}\n", a->name, r->value("version", 0));
      });
      return 0;
    };
  });
}

}  // namespace

void AddSecretCommands(CLI::App& app, Context& ctx) {
  auto* group =
      app.add_subcommand("secret", "Encrypted secrets: set, get, ls, history, rm, rotate-key");
  group->require_subcommand(1);
  AddSetCommand(group, ctx);
  AddListCommand(
      group, ctx, "ls", "List the secrets of the namespace (names, never values)",
      {.view = SecretView(),
       .fetch = [](Context& c) { return c.Call("GET", "/v1/secrets/" + PathEscape(c.ns)); },
       .complete_as = "SECRET"});
  {
    struct Args {
      std::string name;
      bool reveal = false;
      int64_t version = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = AddListCommand(
        group, ctx, "get", "Show a secret's metadata (its value with --reveal, admins only)",
        {.view = SecretView(),
         .fetch =
             [a](Context& c) {
               std::string path = SecretPath(c, a->name);
               if (a->reveal) path += fmt::format("?reveal&version={}", a->version);
               return c.Call("GET", path);
             },
         .items = [](const Json& doc) { return Json::array({doc}); },
         .detail =
             [a](const Context&, const Json& doc) {
               if (a->reveal) {
                 std::cout << doc.value("value", "");
                 return;
               }
               std::cout << fmt::format(
                   "Name:     {}/{}\nVersion:  {}\nSize:     {} bytes\n"
                   "Updated:  {} by {}\nKey:      {}\n",
                   doc.value("namespace", ""), doc.value("name", ""), doc.value("version", 0),
                   doc.value("size", 0), FormatTime(doc.value("updated_ms", int64_t{0})),
                   doc.value("updated_by", ""), doc.value("key_id", ""));
             }});
    cmd->add_option("name", a->name, "Secret name")->required()->type_name("SECRET");
    cmd->add_flag("--reveal", a->reveal, "Print the value (admin of the namespace)");
    cmd->add_option("--version", a->version, "With --reveal: this version's value");
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = AddListCommand(
        group, ctx, "history", "The versions of a secret (metadata only)",
        {.view = View{.kind = "version",
                      .name = [](const Json& v) { return Text(v.value("version", Json())); },
                      .columns = {Field("VERSION", "version"),
                                  {"TIME",
                                   [](const Json& v) {
                                     return FormatTime(v.value("updated_ms", int64_t{0}));
                                   }},
                                  Field("BY", "updated_by"),
                                  Field("SIZE", "size")}},
         .fetch = [name](Context& c) { return c.Call("GET", SecretPath(c, *name) + "/history"); }});
    cmd->add_option("name", *name, "Secret name")->required()->type_name("SECRET");
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = group->add_subcommand("rm", "Delete a secret and every version of it");
    cmd->add_option("name", *name, "Secret name")->required()->type_name("SECRET");
    cmd->callback([&ctx, name] {
      ctx.run = [&ctx, name] {
        auto r = ctx.Call("DELETE", SecretPath(ctx, *name));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "secret", *name,
                    [&] { std::cout << fmt::format("secret {} deleted\n", *name); });
        return 0;
      };
    });
  }
  {
    auto* cmd = group->add_subcommand(
        "rotate-key", "Make a new master key and re-wrap every secret's data key (admin)");
    cmd->callback([&ctx] {
      ctx.run = [&ctx] {
        auto r = ctx.Call("POST", "/v1/secrets:rotate-key");
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "key", r->value("new_key", ""), [&] {
          std::cout << fmt::format("master key {} replaced by {}; {} data keys re-wrapped\n",
                                   r->value("old_key", ""), r->value("new_key", ""),
                                   r->value("rewrapped", 0));
        });
        return 0;
      };
    });
  }
}

}  // namespace berth::cli
