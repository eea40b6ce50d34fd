// berth kv get|put|rm|ls|watch — raw key-value access (admin tokens).
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"

namespace berth::cli {
namespace {

std::string KvPath(const std::string& key) {
  std::string k = key.starts_with("/") ? key : "/" + key;
  return "/v1/kv" + PathEscape(k);
}

View KeyView() {
  auto value = [](const Json& kv) {
    std::string v = kv.value("value", std::string());
    if (v.size() > 60) v = v.substr(0, 57) + "...";
    return v;
  };
  return View{.kind = "key",
              .name = [](const Json& kv) { return kv.value("key", ""); },
              .columns = {Field("KEY", "key"),
                          Field("MOD_REVISION", "mod_revision"),
                          Field("VERSION", "version"),
                          {"VALUE", value},
                          Field("CREATE_REVISION", "create_revision", true),
                          Field("LEASE", "lease", true)}};
}

}  // namespace

void AddKvCommands(CLI::App& app, Context& ctx) {
  auto* kv = app.add_subcommand("kv", "Raw key-value access to the store (admin)");
  kv->require_subcommand(1);

  {
    auto* cmd = kv->add_subcommand("get", "Print a key's value");
    auto key = std::make_shared<std::string>();
    auto revision = std::make_shared<int64_t>(0);
    cmd->add_option("key", *key, "Key (e.g. /apps/default/shop)")->required()->type_name("KEY");
    cmd->add_option("--revision", *revision, "Read as of this revision");
    cmd->callback([&ctx, key, revision] {
      ctx.run = [&ctx, key, revision] {
        std::string path = KvPath(*key);
        if (*revision > 0) path += fmt::format("?revision={}", *revision);
        auto r = ctx.Call("GET", path);
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "key", *key,
                    [&] { std::cout << (*r)["kv"].value("value", std::string()) << "\n"; });
        return 0;
      };
    });
  }
  {
    auto* cmd = kv->add_subcommand("put", "Set a key's value");
    auto key = std::make_shared<std::string>();
    auto value = std::make_shared<std::string>();
    auto lease = std::make_shared<int64_t>(0);
    auto prev = std::make_shared<int64_t>(-1);
    cmd->add_option("key", *key, "Key")->required()->type_name("KEY");
    cmd->add_option("value", *value, "Value (use - to read standard input)")->required();
    cmd->add_option("--lease", *lease, "Attach to lease id");
    cmd->add_option("--prev-revision", *prev,
                    "Only if the key's mod_revision is this (0: only if absent)");
    cmd->callback([&ctx, key, value, lease, prev] {
      ctx.run = [&ctx, key, value, lease, prev] {
        std::string v = *value;
        if (v == "-") v.assign(std::istreambuf_iterator<char>(std::cin), {});
        Json body{{"value", v}};
        if (*lease != 0) body["lease"] = *lease;
        if (*prev >= 0) body["prev_revision"] = *prev;
        auto r = ctx.Call("PUT", KvPath(*key), &body);
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "key", *key,
                    [&] { std::cout << "revision " << (*r)["revision"] << "\n"; });
        return 0;
      };
    });
  }
  {
    auto* cmd = kv->add_subcommand("rm", "Delete a key (or every key under a prefix)");
    auto key = std::make_shared<std::string>();
    auto prefix = std::make_shared<bool>(false);
    cmd->add_option("key", *key, "Key")->required()->type_name("KEY");
    cmd->add_flag("--prefix", *prefix, "Delete every key starting with KEY");
    cmd->callback([&ctx, key, prefix] {
      ctx.run = [&ctx, key, prefix] {
        auto r = ctx.Call("DELETE", KvPath(*key) + (*prefix ? "?prefix" : ""));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "key", *key,
                    [&] { std::cout << "deleted " << (*r)["deleted"] << "\n"; });
        return 0;
      };
    });
  }
  {
    auto prefix = std::make_shared<std::string>("/");
    auto limit = std::make_shared<int64_t>(0);
    auto* cmd = AddListCommand(
        kv, ctx, "ls", "List keys under a prefix",
        {.view = KeyView(),
         .fetch =
             [prefix, limit](Context& c) {
               std::string path = (*prefix == "/" || prefix->empty()) ? "/v1/kv?prefix"
                                                                      : KvPath(*prefix) + "?prefix";
               if (*limit > 0) path += fmt::format("&limit={}", *limit);
               return c.Call("GET", path);
             },
         .items = [](const Json& doc) { return doc.value("kvs", Json::array()); },
         .watch_path =
             [prefix](const Context&, const Json& doc) {
               std::string path = (*prefix == "/" || prefix->empty())
                                      ? "/v1/watch?prefix"
                                      : "/v1/watch" + KvPath(*prefix).substr(6) + "?prefix";
               return path + fmt::format("&revision={}", doc.value("revision", int64_t{0}) + 1);
             },
         .complete_as = "KEY"});
    cmd->add_option("prefix", *prefix, "Prefix (default: every key)")->type_name("KEY");
    cmd->add_option("--limit", *limit, "At most this many keys");
  }
  {
    auto* cmd = kv->add_subcommand("watch", "Stream changes under a key or prefix");
    auto key = std::make_shared<std::string>("/");
    auto prefix = std::make_shared<bool>(false);
    auto revision = std::make_shared<int64_t>(0);
    cmd->add_option("key", *key, "Key or prefix")->type_name("KEY");
    cmd->add_flag("--prefix", *prefix, "Watch every key starting with KEY");
    cmd->add_option("--revision", *revision, "Replay from this revision");
    cmd->callback([&ctx, key, prefix, revision] {
      ctx.run = [&ctx, key, prefix, revision] {
        std::string path = (*key == "/" && *prefix)
                               ? "/v1/watch?prefix"
                               : "/v1/watch" +
                                     PathEscape(key->starts_with("/") ? *key : "/" + *key) +
                                     (*prefix ? "?prefix" : "?");
        if (*revision > 0) path += fmt::format("&revision={}", *revision);
        bool failed = false;
        auto r = ctx.Stream(path, [&](const Json& line) {
          if (line.contains("error")) {
            PrintError(Error(ErrorCode::kUnavailable, line["error"].value("message", "")));
            failed = true;
            return false;
          }
          if (ctx.structured()) {
            std::cout << line.dump() << std::endl;
          } else if (ctx.format() == Format::kName) {
            std::string k = line["kv"].value("key", "");
            std::cout << "key/" << (k.starts_with("/") ? k.substr(1) : k) << std::endl;
          } else {
            std::cout << line.value("revision", int64_t{0}) << " " << line.value("type", "") << " "
                      << line["kv"].value("key", "") << " " << line["kv"].value("value", "")
                      << std::endl;
          }
          return true;
        });
        if (!r) return PrintError(r.error());
        return failed ? 1 : 0;
      };
    });
  }
}

}  // namespace berth::cli
