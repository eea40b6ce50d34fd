// berth kv get|put|rm|ls|watch — raw key-value access (admin tokens).
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/cli.h"

namespace berth::cli {
namespace {

std::string KvPath(const std::string& key) {
  std::string k = key.starts_with("/") ? key : "/" + key;
  return "/v1/kv" + PathEscape(k);
}

}  // namespace

void AddKvCommands(CLI::App& app, Context& ctx) {
  auto* kv = app.add_subcommand("kv", "Raw key-value access to the store (admin)");
  kv->require_subcommand(1);

  {
    auto* cmd = kv->add_subcommand("get", "Print a key's value");
    auto key = std::make_shared<std::string>();
    auto revision = std::make_shared<int64_t>(0);
    cmd->add_option("key", *key, "Key (e.g. /apps/default/shop)")->required();
    cmd->add_option("--revision", *revision, "Read as of this revision");
    cmd->callback([&ctx, key, revision] {
      ctx.run = [&ctx, key, revision] {
        std::string path = KvPath(*key);
        if (*revision > 0) path += fmt::format("?revision={}", *revision);
        auto r = ctx.Call("GET", path);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << (*r)["kv"].value("value", std::string()) << "\n";
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
    cmd->add_option("key", *key, "Key")->required();
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
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << "revision " << (*r)["revision"] << "\n";
        return 0;
      };
    });
  }
  {
    auto* cmd = kv->add_subcommand("rm", "Delete a key (or every key under a prefix)");
    auto key = std::make_shared<std::string>();
    auto prefix = std::make_shared<bool>(false);
    cmd->add_option("key", *key, "Key")->required();
    cmd->add_flag("--prefix", *prefix, "Delete every key starting with KEY");
    cmd->callback([&ctx, key, prefix] {
      ctx.run = [&ctx, key, prefix] {
        auto r = ctx.Call("DELETE", KvPath(*key) + (*prefix ? "?prefix" : ""));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << "deleted " << (*r)["deleted"] << "\n";
        return 0;
      };
    });
  }
  {
    auto* cmd = kv->add_subcommand("ls", "List keys under a prefix");
    auto prefix = std::make_shared<std::string>("/");
    auto limit = std::make_shared<int64_t>(0);
    cmd->add_option("prefix", *prefix, "Prefix (default: every key)");
    cmd->add_option("--limit", *limit, "At most this many keys");
    cmd->callback([&ctx, prefix, limit] {
      ctx.run = [&ctx, prefix, limit] {
        std::string path =
            (*prefix == "/" || prefix->empty()) ? "/v1/kv?prefix" : KvPath(*prefix) + "?prefix";
        if (*limit > 0) path += fmt::format("&limit={}", *limit);
        auto r = ctx.Call("GET", path);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& kv : (*r)["kvs"]) {
          std::string v = kv.value("value", std::string());
          if (v.size() > 60) v = v.substr(0, 57) + "...";
          for (auto& c : v) {
            if (c == '\n' || c == '\t') c = ' ';
          }
          rows.push_back({kv.value("key", std::string()),
                          std::to_string(kv.value("mod_revision", int64_t{0})),
                          std::to_string(kv.value("version", int64_t{0})), v});
        }
        PrintTable({"KEY", "MOD_REVISION", "VERSION", "VALUE"}, rows);
        return 0;
      };
    });
  }
  {
    auto* cmd = kv->add_subcommand("watch", "Stream changes under a key or prefix");
    auto key = std::make_shared<std::string>("/");
    auto prefix = std::make_shared<bool>(false);
    auto revision = std::make_shared<int64_t>(0);
    cmd->add_option("key", *key, "Key or prefix");
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
          if (ctx.format() != Format::kTable) {
            std::cout << line.dump() << std::endl;
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
