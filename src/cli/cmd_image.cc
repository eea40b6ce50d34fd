// berth image import|pull|build|ls|rm|inspect — images on the node agent
// (api/container_endpoints.h).
#include <fmt/core.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "cli/commands.h"
#include "cli/pull_progress.h"

namespace berth::cli {
namespace {

std::string Absolute(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

std::string ImagePath(const std::string& ref) { return "/v1/images/" + PathEscape(ref); }

View ImageView() {
  return View{
      .kind = "image",
      .name =
          [](const Json& im) {
            const Json names = im.value("names", Json::array());
            return names.empty() ? ShortId(im.value("id", "")) : Text(names[0]);
          },
      .columns = {
          {"ID", [](const Json& im) { return ShortId(im.value("id", "")); }},
          {"NAMES", [](const Json& im) { return JoinList(im.value("names", Json::array())); }},
          {"SIZE",
           [](const Json& im) { return fmt::format("{:.1f} MB", im.value("size", 0.0) / 1e6); }},
          {"LAYERS",
           [](const Json& im) { return std::to_string(im.value("layers", Json::array()).size()); }},
          Field("DIGEST", "id", true)}};
}

// The table form of an import, pull or build: "<short id> <names>" per image.
void PrintImage(const Json& im) {
  std::cout << ShortId(im.value("id", "")) << " " << JoinList(im.value("names", Json::array()))
            << "\n";
}

void AddImport(CLI::App* image, Context& ctx) {
  auto* cmd = image->add_subcommand("import", "Import a docker-save or OCI archive (admin)");
  auto file = std::make_shared<std::string>();
  cmd->add_option("file", *file, "Archive on this node")->required()->type_name("FILE");
  cmd->callback([&ctx, file] {
    ctx.run = [&ctx, file] {
      Json body{{"path", Absolute(*file)}};
      auto r = ctx.Call("POST", "/v1/images/import", &body);
      if (!r) return PrintError(r.error());
      const Json images = r->value("images", Json::array());
      PrintList(ctx, ImageView(), *r, images);
      return 0;
    };
  });
}

// Pulls with progress on stderr (a bar on a terminal, plain lines otherwise); the image.
Result<Json> PullWithProgress(Context& ctx, Json body) {
  body["progress"] = true;
  PullProgressView view(std::cerr, ::isatty(2) == 1);
  Json image;
  std::optional<Error> failed;
  auto r = ctx.Stream("POST", "/v1/images/pull", &body, [&](const Json& line) {
    if (line.contains("progress")) {
      const Json& p = line["progress"];
      view.Update(p.value("digest", ""), p.value("done", uint64_t{0}),
                  p.value("total", uint64_t{0}));
    } else if (line.contains("image")) {
      image = line["image"];
    } else if (line.contains("error")) {
      failed = Error(ErrorCode::kUnavailable, line["error"].value("message", "pull failed"));
    }
    return true;
  });
  view.Finish();
  if (!r) return std::unexpected(r.error());
  if (failed) return std::unexpected(*failed);
  if (!image.is_object()) return Fail(ErrorCode::kUnavailable, "pull ended without an image");
  return image;
}

void AddPull(CLI::App* image, Context& ctx) {
  auto* cmd = image->add_subcommand("pull", "Pull from an OCI registry");
  struct Args {
    std::string ref, user, pass;
    bool plain = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("ref", a->ref, "registry/repository:tag")->required();
  cmd->add_flag("--plain-http", a->plain, "Talk HTTP, not HTTPS");
  cmd->add_option("--username", a->user, "Registry user (for the token service)");
  cmd->add_option("--password", a->pass, "Registry password");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      Json body{{"ref", a->ref}, {"plain_http", a->plain}};
      if (!a->user.empty()) body["username"] = a->user, body["password"] = a->pass;
      // Progress only where a person reads the output.
      auto r = ctx.format() == Format::kTable || ctx.format() == Format::kWide
                   ? PullWithProgress(ctx, std::move(body))
                   : ctx.Call("POST", "/v1/images/pull", &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "image", ImageView().name(*r), [&] { PrintImage(*r); });
      return 0;
    };
  });
}

void AddBuild(CLI::App* image, Context& ctx) {
  auto* cmd = image->add_subcommand("build", "Build a one-layer image from a directory (admin)");
  struct Opts {
    std::string dir, tag, user;
    std::vector<std::string> entrypoint, env;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("dir", o->dir, "Directory on this node")->required()->type_name("DIR");
  cmd->add_option("-t,--tag", o->tag, "NAME:TAG")->required();
  cmd->add_option("--entrypoint", o->entrypoint, "Entrypoint (repeat for each argument)")
      ->allow_extra_args(false);
  cmd->add_option("--env", o->env, "K=V (repeatable)")->allow_extra_args(false);
  cmd->add_option("--user", o->user, "uid[:gid]");
  cmd->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      Json body{{"dir", Absolute(o->dir)},
                {"name", o->tag},
                {"entrypoint", o->entrypoint},
                {"env", o->env}};
      if (!o->user.empty()) body["user"] = o->user;
      auto r = ctx.Call("POST", "/v1/images/build", &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "image", o->tag, [&] { PrintImage(*r); });
      return 0;
    };
  });
}

// image rm|inspect REF.
void AddRefCommand(CLI::App* image, Context& ctx, const char* verb, const char* help,
                   const char* method) {
  auto* cmd = image->add_subcommand(verb, help);
  auto ref = std::make_shared<std::string>();
  cmd->add_option("ref", *ref, "Image name or id")->required()->type_name("IMAGE");
  const bool inspect = std::string_view(verb) == "inspect";
  cmd->callback([&ctx, ref, method, inspect] {
    ctx.run = [&ctx, ref, method, inspect] {
      auto r = ctx.Call(method, ImagePath(*ref));
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "image", *ref,
                  [&] { std::cout << (inspect ? r->dump(2) : *ref) << "\n"; });
      return 0;
    };
  });
}

}  // namespace

void AddImageCommands(CLI::App& app, Context& ctx) {
  auto* image = app.add_subcommand("image", "Images on the node");
  image->require_subcommand(1);
  AddImport(image, ctx);
  AddPull(image, ctx);
  AddBuild(image, ctx);
  AddListCommand(image, ctx, "ls", "List images",
                 {.view = ImageView(),
                  .fetch = [](Context& c) { return c.Call("GET", "/v1/images"); },
                  .complete_as = "IMAGE"});
  AddRefCommand(image, ctx, "rm", "Remove an image", "DELETE");
  AddRefCommand(image, ctx, "inspect", "Show an image", "GET");
}

}  // namespace berth::cli
