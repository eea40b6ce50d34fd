// berth config — versioned configuration items (the configuration center, /v1/configs):
//   berth config set NAME -f FILE | --from-literal TEXT [--format F] [--label k=v]... [-m MSG]
//                      [--draft] [--expect-version V]
//   berth config publish NAME [-f FILE | --from-literal TEXT] [--gray tags=k=v[,k=v] |
//                      --gray-instances a,b | --gray-percent N] [-m MSG]
//                      (without content: publishes the item's draft)
//   berth config get NAME [--version V] [--raw] [--draft]
//   berth config ls [--prefix P] [--label k=v] [--limit N] [-w]
//   berth config history NAME [--limit N]
//   berth config diff NAME FROM [TO]
//   berth config rollback NAME --to V [-m MSG]
//   berth config promote|abort NAME
//   berth config status NAME
//   berth config watch NAME... [--instance ID] [--labels k=v] [--revision R]
//   berth config rm NAME [--draft]
//   berth config export [-f FILE]
//   berth config import -f FILE [--dry-run]
//   berth config namespace ls | create|set NS [--review] [--max-items N] [--max-bytes B]
//                          [--max-item-bytes B] | rm NS
// Every command works in the namespace of -n (default "default") and prints -o json|yaml.

#include <fmt/core.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"
#include "core/try.h"

namespace berth::cli {
namespace {

std::string ItemPath(const Context& ctx, std::string_view name) {
  return fmt::format("/v1/configs/{}/{}", PathEscape(ctx.ns), PathEscape(name));
}

std::string LabelsText(const Json& labels) {
  if (!labels.is_object() || labels.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels.items()) parts.push_back(k + "=" + Text(v));
  return fmt::format("{}", fmt::join(parts, ","));
}

std::string GrayText(const Json& item) {
  if (!item.contains("gray")) return "";
  const Json& g = item["gray"];
  const Json sel = g.value("selector", Json::object());
  std::string who;
  if (sel.contains("labels")) who = "tags " + LabelsText(sel["labels"]);
  if (sel.contains("instances")) who = "instances " + JoinList(sel["instances"]);
  if (sel.contains("percent")) who = fmt::format("{}%", sel["percent"].get<int>());
  return fmt::format("v{} to {}", g.value("version", 0), who);
}

View ConfigView() {
  return View{
      .kind = "config",
      .columns = {Field("NAME", "name"),
                  Field("FORMAT", "format"),
                  Field("RELEASED", "released"),
                  {"GRAY", GrayText},
                  Field("SIZE", "size"),
                  {"LABELS",
                   [](const Json& i) { return LabelsText(i.value("labels", Json::object())); }},
                  {"UPDATED",
                   [](const Json& i) { return FormatTime(i.value("updated_ms", int64_t{0})); }},
                  Field("BY", "updated_by", true),
                  Field("LATEST", "latest", true),
                  Field("REVISION", "mod_revision", true)},
      .namespaced = true};
}

View VersionView() {
  return View{
      .kind = "version",
      .name = [](const Json& v) { return Text(v.value("version", Json())); },
      .columns = {
          Field("VERSION", "version"),
          Field("KIND", "kind"),
          {"TIME", [](const Json& v) { return FormatTime(v.value("time_ms", int64_t{0})); }},
          Field("AUTHOR", "author"),
          Field("SIZE", "size"),
          {"RELEASE",
           [](const Json& v) -> std::string {
             if (!v.value("gray", false)) return "all";
             if (v.contains("promoted_ms")) return "gray, promoted";
             if (v.contains("aborted_ms")) return "gray, aborted";
             return "gray";
           }},
          Field("MESSAGE", "message"),
          Field("SHA256", "sha256", true)}};
}

View NamespaceView() {
  return View{
      .kind = "namespace",
      .name = [](const Json& n) { return Text(n.value("namespace", Json())); },
      .columns = {Field("NAMESPACE", "namespace"),
                  {"REVIEW", [](const Json& n) { return n.value("review", false) ? "yes" : "no"; }},
                  {"ITEMS",
                   [](const Json& n) {
                     return fmt::format("{}/{}", n.value("items", 0), n.value("max_items", 0));
                   }},
                  {"STORED",
                   [](const Json& n) {
                     return fmt::format("{}/{}", n.value("stored_bytes", int64_t{0}),
                                        n.value("max_bytes", int64_t{0}));
                   }},
                  Field("MAX-ITEM-BYTES", "max_item_bytes")}};
}

// Parses "k=v,k2=v2" into `out`; the error names the flag.
Result<void> ParsePairs(const std::string& text, std::string_view flag, Json& out) {
  std::string_view rest = text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view pair = rest.substr(0, comma);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{} {}: want key=value[,key=value...]", flag, text));
    }
    out[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  }
  return {};
}

struct WriteArgs {
  std::string name;
  std::string file;
  std::string literal;
  CLI::Option* literal_option = nullptr;  // given: --from-literal (even empty)
  std::string format;
  std::vector<std::string> labels;
  std::string message;
  bool draft = false;
  int64_t expect = -1;
  std::string gray;  // tags=k=v[,k=v]
  std::string gray_instances;
  int gray_percent = 0;
};

void AddContentOptions(CLI::App* cmd, WriteArgs& a) {
  cmd->add_option("name", a.name, "Config name (app.yaml, feature-flags, ...)")
      ->required()
      ->type_name("CONFIG");
  cmd->add_option("-f,--file", a.file, "The content (- reads stdin)")->type_name("FILE");
  a.literal_option = cmd->add_option("--from-literal", a.literal, "The content, given here");
  cmd->add_option("-m,--message", a.message, "Why this version (shown in history)");
}

void AddGrayOptions(CLI::App* cmd, WriteArgs& a) {
  cmd->add_option("--gray", a.gray,
                  "Release to the instances with these tags only: tags=k=v[,k=v]");
  cmd->add_option("--gray-instances", a.gray_instances,
                  "Release to these instances only (ids, comma-separated)");
  cmd->add_option("--gray-percent", a.gray_percent,
                  "Release to this percentage of instances (stable by instance id)")
      ->check(CLI::Range(1, 100));
}

Result<std::optional<Json>> GrayBody(const WriteArgs& a) {
  Json g = Json::object();
  int given = 0;
  if (!a.gray.empty()) {
    ++given;
    std::string sel = a.gray;
    for (std::string_view p : {"tags=", "labels="}) {
      if (sel.starts_with(p)) sel = sel.substr(p.size());
    }
    Json labels = Json::object();
    BERTH_TRY(ParsePairs(sel, "--gray", labels));
    g["labels"] = labels;
  }
  if (!a.gray_instances.empty()) {
    ++given;
    Json ids = Json::array();
    std::string_view rest = a.gray_instances;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (comma != 0) ids.push_back(std::string(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    }
    g["instances"] = ids;
  }
  if (a.gray_percent > 0) {
    ++given;
    g["percent"] = a.gray_percent;
  }
  if (given > 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "give one of --gray, --gray-instances and --gray-percent");
  }
  if (given == 0) return std::optional<Json>();
  return std::optional<Json>(g);
}

// The PUT body from the command's flags; nullopt content when neither -f nor --from-literal.
Result<Json> PublishBody(const WriteArgs& a, bool content_required) {
  Json body = Json::object();
  const bool literal = a.literal_option != nullptr && a.literal_option->count() > 0;
  if (!a.file.empty() && literal) {
    return Fail(ErrorCode::kInvalidArgument, "give -f FILE or --from-literal TEXT, not both");
  }
  if (!a.file.empty()) {
    body["content"] = BERTH_TRY(ReadInput(a.file));
  } else if (literal) {
    body["content"] = a.literal;
  } else if (content_required) {
    return Fail(ErrorCode::kInvalidArgument,
                "the content is missing: give -f FILE (- for stdin) or --from-literal TEXT");
  }
  if (!a.format.empty()) body["format"] = a.format;
  if (!a.labels.empty()) {
    Json labels = Json::object();
    for (const auto& l : a.labels) BERTH_TRY(ParsePairs(l, "--label", labels));
    body["labels"] = labels;
  }
  if (!a.message.empty()) body["message"] = a.message;
  if (a.draft) body["draft"] = true;
  if (a.expect >= 0) body["expect_latest"] = a.expect;
  auto gray = BERTH_TRY(GrayBody(a));
  if (gray) body["gray"] = *gray;
  return body;
}

int PrintWrite(Context& ctx, const Json& r, const std::string& name) {
  PrintObject(ctx, r, "config", name, [&] {
    const Json v = r.value("version", Json::object());
    const std::string action = r.value("action", "");
    if (action == "unchanged") {
      std::cout << fmt::format("config {} unchanged (version {} is released with these bytes)\n",
                               name, r.value("config", Json::object()).value("released", 0));
    } else if (v.contains("version")) {
      std::cout << fmt::format("config {} {}: version {}\n", name, action,
                               v["version"].get<int64_t>());
    } else {
      std::cout << fmt::format("config {} {}\n", name, action);
    }
  });
  return 0;
}

void AddWriteCommands(CLI::App* group, Context& ctx) {
  {
    auto a = std::make_shared<WriteArgs>();
    auto* cmd = group->add_subcommand("set", "Publish a new version of a config (or save a draft)");
    AddContentOptions(cmd, *a);
    Choices(cmd->add_option("--format", a->format, "Format (default: the name's extension)"),
            {"yaml", "json", "properties", "toml", "text"});
    cmd->add_option("--label", a->labels, "Label k=v (repeat; replaces the item's labels)");
    cmd->add_flag("--draft", a->draft, "Save as the item's draft; `config publish` releases it");
    cmd->add_option("--expect-version", a->expect,
                    "Refuse unless the item's latest version is this (0: a new item)");
    AddGrayOptions(cmd, *a);
    cmd->callback([&ctx, a] {
      ctx.run = [&ctx, a] {
        auto body = PublishBody(*a, true);
        if (!body) return PrintError(body.error());
        auto r = ctx.Call("PUT", ItemPath(ctx, a->name), &*body);
        if (!r) return PrintError(r.error());
        return PrintWrite(ctx, *r, a->name);
      };
    });
  }
  {
    auto a = std::make_shared<WriteArgs>();
    auto* cmd = group->add_subcommand(
        "publish", "Publish the draft (or the given content), to everyone or to a gray set");
    AddContentOptions(cmd, *a);
    AddGrayOptions(cmd, *a);
    cmd->callback([&ctx, a] {
      ctx.run = [&ctx, a] {
        auto body = PublishBody(*a, false);
        if (!body) return PrintError(body.error());
        Result<Json> r;
        if (body->contains("content")) {
          r = ctx.Call("PUT", ItemPath(ctx, a->name), &*body);
        } else {
          Json b = Json::object();
          if (body->contains("gray")) b["gray"] = (*body)["gray"];
          if (body->contains("message")) b["message"] = (*body)["message"];
          r = ctx.Call("POST", ItemPath(ctx, a->name) + "/publish", &b);
        }
        if (!r) return PrintError(r.error());
        return PrintWrite(ctx, *r, a->name);
      };
    });
  }
  for (const std::string verb : {"promote", "abort"}) {
    auto name = std::make_shared<std::string>();
    auto* cmd = group->add_subcommand(
        verb, verb == "promote"
                  ? "Release the gray version to everyone"
                  : "End the gray release: the gray set goes back to the released version");
    cmd->add_option("name", *name, "Config name")->required()->type_name("CONFIG");
    cmd->callback([&ctx, name, verb] {
      ctx.run = [&ctx, name, verb] {
        auto r = ctx.Call("POST", ItemPath(ctx, *name) + "/" + verb);
        if (!r) return PrintError(r.error());
        return PrintWrite(ctx, *r, *name);
      };
    });
  }
  {
    struct Args {
      std::string name;
      int64_t to = 0;
      std::string message;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = group->add_subcommand("rollback", "Publish a new version equal to an old one");
    cmd->add_option("name", a->name, "Config name")->required()->type_name("CONFIG");
    cmd->add_option("--to", a->to, "The version to go back to")->required();
    cmd->add_option("-m,--message", a->message, "Why");
    cmd->callback([&ctx, a] {
      ctx.run = [&ctx, a] {
        Json body{{"to", a->to}};
        if (!a->message.empty()) body["message"] = a->message;
        auto r = ctx.Call("POST", ItemPath(ctx, a->name) + "/rollback", &body);
        if (!r) return PrintError(r.error());
        return PrintWrite(ctx, *r, a->name);
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto draft = std::make_shared<bool>(false);
    auto* cmd = group->add_subcommand("rm", "Delete a config with its history (or its draft)");
    cmd->add_option("name", *name, "Config name")->required()->type_name("CONFIG");
    cmd->add_flag("--draft", *draft, "Delete only the draft");
    cmd->callback([&ctx, name, draft] {
      ctx.run = [&ctx, name, draft] {
        auto r = ctx.Call("DELETE", ItemPath(ctx, *name) + (*draft ? "/draft" : ""));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "config", *name, [&] {
          std::cout << fmt::format("config {}{} deleted\n", *name, *draft ? " (draft)" : "");
        });
        return 0;
      };
    });
  }
}

void PrintConfigDetail(const Json& doc) {
  const Json v = doc.value("version", Json::object());
  std::cout << fmt::format("Name:      {}/{}\n", doc.value("namespace", ""), doc.value("name", ""));
  std::cout << fmt::format("Format:    {}\n", v.value("format", doc.value("format", "")));
  std::cout << fmt::format("Version:   {} (released {}, latest {})\n", v.value("version", 0),
                           doc.value("released", 0), doc.value("latest", 0));
  if (doc.contains("gray")) std::cout << fmt::format("Gray:      {}\n", GrayText(doc));
  std::cout << fmt::format("Labels:    {}\n", LabelsText(doc.value("labels", Json::object())));
  std::cout << fmt::format("Published: {} by {}{}\n", FormatTime(v.value("time_ms", int64_t{0})),
                           v.value("author", ""),
                           v.value("message", "").empty() ? "" : " — " + v.value("message", ""));
  std::cout << fmt::format("Size:      {} bytes, sha256 {}\n", v.value("size", 0),
                           v.value("sha256", ""));
  std::cout << "---\n" << doc.value("content", "");
  const std::string content = doc.value("content", "");
  if (!content.empty() && content.back() != '\n') std::cout << "\n";
}

void AddReadCommands(CLI::App* group, Context& ctx) {
  {
    struct Args {
      std::string prefix;
      std::string label;
      int64_t limit = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd =
        AddListCommand(group, ctx, "ls", "List the configs of the namespace",
                       {.view = ConfigView(),
                        .fetch =
                            [a](Context& c) {
                              std::string q;
                              if (!a->prefix.empty()) q += "&prefix=" + PathEscape(a->prefix);
                              if (!a->label.empty()) q += "&label=" + PathEscape(a->label);
                              if (a->limit > 0) q += fmt::format("&limit={}", a->limit);
                              return c.Call("GET", fmt::format("/v1/configs/{}{}", PathEscape(c.ns),
                                                               q.empty() ? "" : "?" + q.substr(1)));
                            },
                        .complete_as = "CONFIG"});
    cmd->add_option("--prefix", a->prefix, "Names starting with this");
    cmd->add_option("--label", a->label, "Only configs with these labels: k=v[,k=v]");
    cmd->add_option("--limit", a->limit, "At most this many");
  }
  {
    struct Args {
      std::string name;
      int64_t version = 0;
      bool raw = false;
      bool draft = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = AddListCommand(group, ctx, "get",
                               "Show a config and its content (the released version by default)",
                               {.view = ConfigView(),
                                .fetch =
                                    [a](Context& c) {
                                      std::string path = ItemPath(c, a->name);
                                      if (a->draft) return c.Call("GET", path + "/draft");
                                      if (a->version > 0)
                                        path += fmt::format("?version={}", a->version);
                                      return c.Call("GET", path);
                                    },
                                .items = [](const Json& doc) { return Json::array({doc}); },
                                .detail =
                                    [a](const Context&, const Json& doc) {
                                      if (a->raw || a->draft) {
                                        std::cout << doc.value("content", "");
                                        return;
                                      }
                                      PrintConfigDetail(doc);
                                    }});
    cmd->add_option("name", a->name, "Config name")->required()->type_name("CONFIG");
    cmd->add_option("--version", a->version, "This version instead of the released one");
    cmd->add_flag("--raw", a->raw, "Print only the content's bytes");
    cmd->add_flag("--draft", a->draft, "The draft's content instead");
  }
  {
    struct Args {
      std::string name;
      int64_t limit = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = AddListCommand(
        group, ctx, "history", "The versions of a config, newest first",
        {.view = VersionView(), .fetch = [a](Context& c) {
           return c.Call("GET", ItemPath(c, a->name) + "/history" +
                                    (a->limit > 0 ? fmt::format("?limit={}", a->limit) : ""));
         }});
    cmd->add_option("name", a->name, "Config name")->required()->type_name("CONFIG");
    cmd->add_option("--limit", a->limit, "At most this many");
  }
  {
    struct Args {
      std::string name;
      int64_t from = 0;
      int64_t to = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = group->add_subcommand("diff", "Unified diff between two versions");
    cmd->add_option("name", a->name, "Config name")->required()->type_name("CONFIG");
    cmd->add_option("from", a->from, "The older version")->required();
    cmd->add_option("to", a->to, "The newer version (default: the released one)");
    cmd->callback([&ctx, a] {
      ctx.run = [&ctx, a] {
        auto r = ctx.Call(
            "GET", ItemPath(ctx, a->name) + fmt::format("/diff?from={}&to={}", a->from, a->to));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "config", a->name, [&] {
          const std::string d = r->value("diff", "");
          if (d.empty()) {
            std::cout << fmt::format("versions {} and {} have the same content\n",
                                     r->value("from", 0), r->value("to", 0));
          }
          std::cout << d;
        });
        return 0;
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = AddListCommand(
        group, ctx, "status", "Which consumers run which version of a config",
        {.view = View{.kind = "consumer",
                      .name = [](const Json& a) { return Text(a.value("consumer", Json())); },
                      .columns = {Field("CONSUMER", "consumer"),
                                  Field("VERSION", "version"),
                                  {"CURRENT",
                                   [](const Json& a) {
                                     return a.value("current", false) ? "yes" : "no";
                                   }},
                                  Field("NODE", "node"),
                                  {"APPLIED",
                                   [](const Json& a) {
                                     return FormatTime(a.value("time_ms", int64_t{0}));
                                   }},
                                  Field("ERROR", "error")}},
         .fetch = [name](Context& c) { return c.Call("GET", ItemPath(c, *name) + "/status"); },
         .items = [](const Json& doc) { return doc.value("consumers", Json::array()); }});
    cmd->add_option("name", *name, "Config name")->required()->type_name("CONFIG");
  }
}

// berth config watch NAME...: one multiplexed stream; a line per change (-o json: the
// stream's lines as they come, content included).
void AddWatchCommand(CLI::App* group, Context& ctx) {
  struct Args {
    std::vector<std::string> names;
    std::string instance;
    std::string labels;
    int64_t revision = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = group->add_subcommand("watch", "Print each change of configs as it is published");
  cmd->add_option("names", a->names, "Config names")->required()->type_name("CONFIG");
  cmd->add_option("--instance", a->instance, "Receive what this instance gets (gray sets)");
  cmd->add_option("--labels", a->labels, "This instance's labels k=v[,k=v] (gray sets)");
  cmd->add_option("--revision", a->revision, "Resume from this revision (missed changes first)");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      Json body{{"watches", Json::array()}, {"content", ctx.structured()}};
      for (const auto& n : a->names) {
        Json w{{"namespace", ctx.ns}, {"name", n}};
        if (a->revision > 0) w["revision"] = a->revision;
        body["watches"].push_back(w);
      }
      if (!a->instance.empty()) body["instance"] = a->instance;
      if (!a->labels.empty()) {
        Json labels = Json::object();
        if (auto ok = ParsePairs(a->labels, "--labels", labels); !ok) return PrintError(ok.error());
        body["labels"] = labels;
      }
      auto r = ctx.Stream("POST", "/v1/configs:watch", &body, [&](const Json& line) {
        if (line.value("type", "") == "progress") return true;
        if (ctx.structured()) {
          PrintStructured(ctx, line);
        } else if (line.contains("error")) {
          std::cout << "error: " << line["error"].value("message", "") << "\n";
        } else if (line.value("type", "") == "deleted") {
          std::cout << fmt::format("{} deleted (revision {})\n", line.value("name", ""),
                                   line.value("revision", 0));
        } else {
          std::cout << fmt::format("{} version {}{} (revision {}, {} bytes)\n",
                                   line.value("name", ""), line.value("version", 0),
                                   line.value("gray", false) ? " gray" : "",
                                   line.value("revision", 0), line.value("size", 0));
        }
        std::cout.flush();
        return true;
      });
      if (!r) return PrintError(r.error());
      return 0;
    };
  });
}

void AddFileCommands(CLI::App* group, Context& ctx) {
  {
    auto file = std::make_shared<std::string>();
    auto* cmd = group->add_subcommand("export", "Every released config of the namespace, one file");
    cmd->add_option("-f,--file", *file, "Write here (default: stdout)")->type_name("FILE");
    cmd->callback([&ctx, file] {
      ctx.run = [&ctx, file] {
        auto r =
            ctx.Call("GET", fmt::format("/v1/config-namespaces/{}/export", PathEscape(ctx.ns)));
        if (!r) return PrintError(r.error());
        std::string text = ctx.format() == Format::kYaml ? ToYaml(*r) : r->dump(2) + "\n";
        if (file->empty() || *file == "-") {
          std::cout << text;
          return 0;
        }
        std::ofstream out(*file, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) {
          return PrintError(Error(ErrorCode::kInternal, fmt::format("cannot write {}", *file)));
        }
        std::cerr << fmt::format("{} configs written to {}\n",
                                 r->value("configs", Json::array()).size(), *file);
        return 0;
      };
    });
  }
  {
    auto file = std::make_shared<std::string>();
    auto dry_run = std::make_shared<bool>(false);
    auto* cmd =
        group->add_subcommand("import", "Publish every config of an export file, all or nothing");
    cmd->add_option("-f,--file", *file, "The file (JSON or YAML; - reads stdin)")
        ->required()
        ->type_name("FILE");
    cmd->add_flag("--dry-run", *dry_run, "Check and show what would change; store nothing");
    cmd->callback([&ctx, file, dry_run] {
      ctx.run = [&ctx, file, dry_run] {
        auto text = ReadInput(*file);
        if (!text) return PrintError(text.error());
        auto r = ctx.CallText("POST",
                              fmt::format("/v1/config-namespaces/{}/import{}", PathEscape(ctx.ns),
                                          *dry_run ? "?dry_run" : ""),
                              std::move(*text), "application/yaml");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        for (const auto& i : r->value("items", Json::array())) {
          if (ctx.format() == Format::kName) {
            std::cout << "config/" << i.value("name", "") << "\n";
            continue;
          }
          std::cout << fmt::format("config/{} {} (version {}){}\n", i.value("name", ""),
                                   i.value("action", ""), i.value("version", 0),
                                   *dry_run ? " (dry run)" : "");
        }
        return 0;
      };
    });
  }
}

void AddNamespaceCommands(CLI::App* group, Context& ctx) {
  auto* nsg = group->add_subcommand("namespace", "Config namespaces: review rule and quotas");
  nsg->require_subcommand(1);
  AddListCommand(nsg, ctx, "ls", "List config namespaces",
                 {.view = NamespaceView(),
                  .fetch = [](Context& c) { return c.Call("GET", "/v1/config-namespaces"); },
                  .complete_as = "CONFIG-NAMESPACE"});
  for (const std::string verb : {"create", "set"}) {
    struct Args {
      std::string ns;
      std::string review;     // "true" | "false" | "" (not given)
      int64_t max_items = 0;  // 0: not given
      std::string max_bytes;
      std::string max_item_bytes;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = nsg->add_subcommand(verb, verb == "create"
                                              ? "Create a config namespace (admin)"
                                              : "Change a config namespace's settings (admin)");
    cmd->add_option("ns", a->ns, "Namespace")->required()->type_name("NAMESPACE");
    Choices(cmd->add_option("--review", a->review,
                            "true: the publisher of a draft must not be its author"),
            {"true", "false"});
    cmd->add_option("--max-items", a->max_items, "At most this many configs");
    cmd->add_option("--max-bytes", a->max_bytes, "At most this much stored (256MiB)");
    cmd->add_option("--max-item-bytes", a->max_item_bytes, "The largest config (1MiB)");
    cmd->callback([&ctx, a, verb] {
      ctx.run = [&ctx, a, verb] {
        Json body = Json::object();
        std::string path = "/v1/config-namespaces/" + PathEscape(a->ns);
        if (verb == "set") {
          // Keep what is not given.
          auto now = ctx.Call("GET", path);
          if (!now) return PrintError(now.error());
          for (const char* k : {"review", "max_items", "max_bytes", "max_item_bytes"}) {
            if (now->contains(k)) body[k] = (*now)[k];
          }
        }
        if (!a->review.empty()) body["review"] = a->review == "true";
        if (a->max_items > 0) body["max_items"] = a->max_items;
        if (!a->max_bytes.empty()) body["max_bytes"] = a->max_bytes;
        if (!a->max_item_bytes.empty()) body["max_item_bytes"] = a->max_item_bytes;
        auto r = ctx.Call("PUT", path, &body);
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "namespace", a->ns, [&] {
          std::cout << fmt::format("config namespace {} {}\n", a->ns, r->value("action", ""));
        });
        return 0;
      };
    });
  }
  {
    auto ns = std::make_shared<std::string>();
    auto* cmd = nsg->add_subcommand("rm", "Delete an empty config namespace (admin)");
    cmd->add_option("ns", *ns, "Namespace")->required()->type_name("NAMESPACE");
    cmd->callback([&ctx, ns] {
      ctx.run = [&ctx, ns] {
        auto r = ctx.Call("DELETE", "/v1/config-namespaces/" + PathEscape(*ns));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "namespace", *ns,
                    [&] { std::cout << fmt::format("config namespace {} deleted\n", *ns); });
        return 0;
      };
    });
  }
}

}  // namespace

void AddConfigCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand(
      "config", "Versioned configuration: set, get, history, diff, rollback, gray release");
  group->require_subcommand(1);
  AddWriteCommands(group, ctx);
  AddReadCommands(group, ctx);
  AddFileCommands(group, ctx);
  AddWatchCommand(group, ctx);
  AddNamespaceCommands(group, ctx);
}

}  // namespace berth::cli
