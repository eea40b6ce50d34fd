// berth run|ps|logs|exec|stop|start|rm|inspect and berth image ... — containers on the
// node agent (verbs after docker/nomad).
#include "cli/cmd_container.h"

#include <fmt/core.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

namespace berth::cli {
namespace {

std::string Short(const std::string& id, size_t n = 12) {
  std::string s = id.starts_with("sha256:") ? id.substr(7) : id;
  return s.substr(0, n);
}

std::string Status(const Json& c) {
  std::string s = c.value("status", "");
  if (s == "exited") {
    s += fmt::format(" ({})", c.value("exit_code", 0));
    if (c.value("oom_killed", false)) s += " oom-killed";
  }
  if (s == "restarting") s += fmt::format(" (in {} ms)", c.value("next_restart_in_ms", 0));
  return s;
}

std::string Absolute(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// Adds a NAME positional and runs `call(name)` printing the container it returns.
void NameCommand(CLI::App* parent, Context& ctx, const char* verb, const char* help,
                 std::function<Result<Json>(Context&, const std::string&)> call) {
  auto* cmd = parent->add_subcommand(verb, help);
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "Container name or id")->required();
  cmd->callback([&ctx, name, call] {
    ctx.run = [&ctx, name, call] {
      auto r = call(ctx, *name);
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << r->value("name", *name) << "\n";
      return 0;
    };
  });
}

}  // namespace

PullProgressView::PullProgressView(std::ostream& out, bool terminal)
    : out_(out), terminal_(terminal) {}

namespace {
std::string Mb(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}
}  // namespace

void PullProgressView::Update(const std::string& digest, uint64_t done, uint64_t total) {
  auto [it, fresh] = blobs_.try_emplace(digest);
  Blob& b = it->second;
  b.done = done;
  b.total = total;
  const bool complete = total > 0 && done >= total;
  if (fresh) order_.push_back(digest);
  if (!terminal_) {
    if (fresh) out_ << "pulling " << Short(digest) << " (" << Mb(total) << ")\n";
    if (complete && !b.reported) out_ << "pulled  " << Short(digest) << "\n";
    if (complete) b.reported = true;
    out_.flush();
    return;
  }
  if (complete && !b.reported) {
    out_ << "\r\033[K"
         << "pulled  " << Short(digest) << " (" << Mb(total) << ")\n";
    b.reported = true;
  }
  Draw();
}

std::string PullProgressView::Bar() const {
  uint64_t done = 0, total = 0;
  size_t complete = 0;
  for (const auto& [digest, b] : blobs_) {
    done += b.done;
    total += b.total;
    complete += b.reported ? 1 : 0;
  }
  const int width = 30;
  int filled = total > 0 ? static_cast<int>(static_cast<double>(done) / total * width) : 0;
  filled = std::clamp(filled, 0, width);
  return fmt::format("[{}{}] {:3d}% {} / {}  {}/{} blobs", std::string(filled, '#'),
                     std::string(width - filled, '.'),
                     total > 0 ? static_cast<int>(done * 100 / total) : 0, Mb(done), Mb(total),
                     complete, blobs_.size());
}

void PullProgressView::Draw() {
  out_ << "\r\033[K" << Bar();
  out_.flush();
  drawn_ = true;
}

void PullProgressView::Finish() {
  if (terminal_ && drawn_) {
    out_ << "\r\033[K";
    out_.flush();
  }
}

void AddContainerCommands(CLI::App& app, Context& ctx) {
  {
    auto* cmd = app.add_subcommand("run", "Run a container from an image");
    struct Opts {
      std::string name, ns, image, memory, user, restart = "never", network = "bridge";
      std::vector<std::string> env, ports, args, cap_add;
      double cpus = 0;
      int64_t pids = 0;
      bool read_only = false, privileged = false, userns = false;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("--name", o->name, "Container name");
    cmd->add_option("-n,--namespace", o->ns,
                    "Namespace it belongs to (default: default); who may see and touch it");
    cmd->add_option("-e,--env", o->env, "Environment variable K=V (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("-p,--publish", o->ports,
                    "Publish HOSTPORT:PORT[/tcp|udp] on 127.0.0.1 (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--memory", o->memory, "Memory limit (64m, 1g)");
    cmd->add_option("--cpus", o->cpus, "CPU limit in cores (0.5)");
    cmd->add_option("--pids", o->pids, "Process limit");
    cmd->add_flag("--read-only", o->read_only, "Read-only root filesystem");
    cmd->add_option("--user", o->user, "User uid[:gid] or name from the image");
    cmd->add_option("--restart", o->restart, "Restart policy: always|on-failure|never");
    cmd->add_option("--network", o->network, "bridge|none|host");
    cmd->add_flag("--privileged", o->privileged, "Lift the security profile (admin only)");
    cmd->add_option("--cap-add", o->cap_add, "Add a capability (admin only)")
        ->allow_extra_args(false);
    cmd->add_flag("--userns", o->userns, "Remap container root to an unprivileged host uid");
    cmd->add_option("image", o->image, "Image")->required();
    cmd->add_option("command", o->args, "Command and arguments (after --)");
    cmd->callback([&ctx, o] {
      ctx.run = [&ctx, o] {
        Json body{{"image", o->image}, {"restart", o->restart}, {"network", o->network}};
        if (!o->name.empty()) body["name"] = o->name;
        if (!o->ns.empty()) body["namespace"] = o->ns;
        if (!o->env.empty()) body["env"] = o->env;
        if (!o->ports.empty()) body["ports"] = o->ports;
        if (!o->memory.empty()) body["memory"] = o->memory;
        if (o->cpus > 0) body["cpus"] = o->cpus;
        if (o->pids > 0) body["pids"] = o->pids;
        if (o->read_only) body["read_only"] = true;
        if (!o->user.empty()) body["user"] = o->user;
        if (o->privileged) body["privileged"] = true;
        if (!o->cap_add.empty()) body["cap_add"] = o->cap_add;
        if (o->userns) body["userns"] = true;
        if (!o->args.empty()) body["cmd"] = o->args;
        auto r = ctx.Call("POST", "/v1/containers", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << r->value("name", "") << " " << r->value("id", "") << "\n";
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("ps", "List containers");
    auto all = std::make_shared<bool>(false);
    cmd->add_flag("-a,--all", *all, "Include exited containers");
    cmd->callback([&ctx, all] {
      ctx.run = [&ctx, all] {
        auto r = ctx.Call("GET", *all ? "/v1/containers?all" : "/v1/containers");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& c : (*r)["containers"]) {
          std::string ports;
          for (const auto& p : c["ports"])
            ports += (ports.empty() ? "" : ",") + p.get<std::string>();
          rows.push_back({Short(c.value("id", "")), c.value("namespace", "default"),
                          c.value("name", ""), c.value("image", ""), Status(c), c.value("ip", ""),
                          ports, std::to_string(c.value("restart_count", 0))});
        }
        PrintTable({"ID", "NAMESPACE", "NAME", "IMAGE", "STATUS", "IP", "PORTS", "RESTARTS"}, rows);
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("logs", "Print a container's output");
    auto name = std::make_shared<std::string>();
    auto follow = std::make_shared<bool>(false);
    auto tail = std::make_shared<int64_t>(0);
    cmd->add_option("name", *name, "Container")->required();
    cmd->add_flag("-f,--follow", *follow, "Keep printing new output");
    cmd->add_option("--tail", *tail, "Only the last N lines");
    cmd->callback([&ctx, name, follow, tail] {
      ctx.run = [&ctx, name, follow, tail] {
        std::string path =
            "/v1/containers/" + PathEscape(*name) + "/logs?tail=" + std::to_string(*tail);
        if (*follow) path += "&follow";
        auto r = ctx.Stream(path, [&](const Json& line) {
          if (line.contains("error")) return false;
          (line.value("stream", "") == "stderr" ? std::cerr : std::cout)
              << line.value("text", "") << "\n";
          return true;
        });
        if (!r) return PrintError(r.error());
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("exec", "Run a command in a running container");
    auto name = std::make_shared<std::string>();
    auto args = std::make_shared<std::vector<std::string>>();
    cmd->add_option("name", *name, "Container")->required();
    cmd->add_option("command", *args, "Command (after --)")->required();
    cmd->callback([&ctx, name, args] {
      ctx.run = [&ctx, name, args] {
        Json body{{"cmd", *args}};
        auto r = ctx.Call("POST", "/v1/containers/" + PathEscape(*name) + "/exec", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << r->value("stdout", "");
        std::cerr << r->value("stderr", "");
        return r->value("exit_code", 1);
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("stop", "Stop a container (SIGTERM, grace, SIGKILL)");
    auto name = std::make_shared<std::string>();
    auto grace = std::make_shared<int64_t>(10);
    cmd->add_option("name", *name, "Container")->required();
    cmd->add_option("-t,--time", *grace, "Seconds to wait before SIGKILL");
    cmd->callback([&ctx, name, grace] {
      ctx.run = [&ctx, name, grace] {
        Json body{{"grace_ms", *grace * 1000}};
        auto r = ctx.Call("POST", "/v1/containers/" + PathEscape(*name) + "/stop", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << r->value("name", "") << " " << Status(*r) << "\n";
        return 0;
      };
    });
  }
  NameCommand(&app, ctx, "start", "Start an exited container",
              [](Context& c, const std::string& n) {
                return c.Call("POST", "/v1/containers/" + PathEscape(n) + "/start");
              });
  NameCommand(&app, ctx, "inspect", "Show a container", [](Context& c, const std::string& n) {
    auto r = c.Call("GET", "/v1/containers/" + PathEscape(n));
    if (r && c.format() == Format::kTable) std::cout << r->dump(2) << "\n";
    return r;
  });
  {
    auto* cmd = app.add_subcommand("rm", "Remove a container");
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    cmd->add_option("name", *name, "Container")->required();
    cmd->add_flag("-f,--force", *force, "Kill it first if running");
    cmd->callback([&ctx, name, force] {
      ctx.run = [&ctx, name, force] {
        auto r =
            ctx.Call("DELETE", "/v1/containers/" + PathEscape(*name) + (*force ? "?force" : ""));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << *name << "\n";
        return 0;
      };
    });
  }
}

void AddImageCommands(CLI::App& app, Context& ctx) {
  auto* image = app.add_subcommand("image", "Images on the node");
  image->require_subcommand(1);
  auto print_image = [](const Json& im) {
    std::string names;
    for (const auto& n : im["names"]) names += (names.empty() ? "" : ",") + n.get<std::string>();
    std::cout << Short(im.value("id", "")) << " " << names << "\n";
  };
  {
    auto* cmd = image->add_subcommand("import", "Import a docker-save or OCI archive (admin)");
    auto file = std::make_shared<std::string>();
    cmd->add_option("file", *file, "Archive on this node")->required();
    cmd->callback([&ctx, file, print_image] {
      ctx.run = [&ctx, file, print_image] {
        Json body{{"path", Absolute(*file)}};
        auto r = ctx.Call("POST", "/v1/images/import", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        for (const auto& im : (*r)["images"]) print_image(im);
        return 0;
      };
    });
  }
  {
    auto* cmd = image->add_subcommand("pull", "Pull from an OCI registry");
    auto ref = std::make_shared<std::string>();
    auto plain = std::make_shared<bool>(false);
    auto user = std::make_shared<std::string>();
    auto pass = std::make_shared<std::string>();
    cmd->add_option("ref", *ref, "registry/repository:tag")->required();
    cmd->add_flag("--plain-http", *plain, "Talk HTTP, not HTTPS");
    cmd->add_option("--username", *user, "Registry user (for the token service)");
    cmd->add_option("--password", *pass, "Registry password");
    cmd->callback([&ctx, ref, plain, user, pass, print_image] {
      ctx.run = [&ctx, ref, plain, user, pass, print_image] {
        Json body{{"ref", *ref}, {"plain_http", *plain}};
        if (!user->empty()) body["username"] = *user, body["password"] = *pass;
        if (ctx.format() != Format::kTable) {
          auto r = ctx.Call("POST", "/v1/images/pull", &body);
          if (!r) return PrintError(r.error());
          PrintStructured(ctx, *r);
          return 0;
        }
        // Progress on stderr: a bar on a terminal, plain lines otherwise.
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
        if (!r) return PrintError(r.error());
        if (failed) return PrintError(*failed);
        if (!image.is_object())
          return PrintError(Error(ErrorCode::kUnavailable, "pull ended without an image"));
        print_image(image);
        return 0;
      };
    });
  }
  {
    auto* cmd = image->add_subcommand("build", "Build a one-layer image from a directory (admin)");
    struct Opts {
      std::string dir, tag, user;
      std::vector<std::string> entrypoint, env;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("dir", o->dir, "Directory on this node")->required();
    cmd->add_option("-t,--tag", o->tag, "NAME:TAG")->required();
    cmd->add_option("--entrypoint", o->entrypoint, "Entrypoint (repeat for each argument)")
        ->allow_extra_args(false);
    cmd->add_option("--env", o->env, "K=V (repeatable)")->allow_extra_args(false);
    cmd->add_option("--user", o->user, "uid[:gid]");
    cmd->callback([&ctx, o, print_image] {
      ctx.run = [&ctx, o, print_image] {
        Json body{{"dir", Absolute(o->dir)},
                  {"name", o->tag},
                  {"entrypoint", o->entrypoint},
                  {"env", o->env}};
        if (!o->user.empty()) body["user"] = o->user;
        auto r = ctx.Call("POST", "/v1/images/build", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        print_image(*r);
        return 0;
      };
    });
  }
  {
    auto* cmd = image->add_subcommand("ls", "List images");
    cmd->callback([&ctx] {
      ctx.run = [&ctx] {
        auto r = ctx.Call("GET", "/v1/images");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& im : (*r)["images"]) {
          std::string names;
          for (const auto& n : im["names"])
            names += (names.empty() ? "" : ",") + n.get<std::string>();
          rows.push_back({Short(im.value("id", "")), names,
                          fmt::format("{:.1f} MB", im.value("size", 0.0) / 1e6),
                          std::to_string(im["layers"].size())});
        }
        PrintTable({"ID", "NAMES", "SIZE", "LAYERS"}, rows);
        return 0;
      };
    });
  }
  NameCommand(image, ctx, "rm", "Remove an image", [](Context& c, const std::string& n) {
    return c.Call("DELETE", "/v1/images/" + PathEscape(n));
  });
  NameCommand(image, ctx, "inspect", "Show an image", [](Context& c, const std::string& n) {
    auto r = c.Call("GET", "/v1/images/" + PathEscape(n));
    if (r && c.format() == Format::kTable) std::cout << r->dump(2) << "\n";
    return r;
  });
}

}  // namespace berth::cli
