// berth service register|ls|get|deregister|heartbeat|watch — the service registry.
//   berth service register NAME --address HOST:PORT [--id ID] [--tag T]... [--meta K=V]...
//         [--ttl 10s] [--check-http URL | --check-tcp HOST:PORT | --check-exec 'CMD ARGS'
//         [--check-exec-arg ARG]...] [--interval 5s] [--node NODE]
//   berth service ls [-A] [-w]
//   berth service get NAME [--passing] [--tag T]... [-w]
//   berth service deregister NAME ID
//   berth service heartbeat NAME ID
//   berth service watch [NAME...] [--revision N] (resumes after a dropped stream; several
//                                                 names share one multiplexed stream)
// The namespace is the global -n (command.h).
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

#include "cli/command.h"
#include "cli/commands.h"
#include "registry/model.h"

namespace berth::cli {
namespace {

std::string Path(const std::string& ns, const std::string& service = "",
                 const std::string& id = "") {
  std::string p = "/v1/registry/" + PathEscape(ns);
  if (!service.empty()) p += "/" + PathEscape(service);
  if (!id.empty()) p += "/" + PathEscape(id);
  return p;
}

View ServiceView() {
  return View{
      .kind = "service",
      .name = [](const Json& s) { return s.value("service", ""); },
      .columns = {Field("NAMESPACE", "namespace"),
                  Field("SERVICE", "service"),
                  {"PASSING",
                   [](const Json& s) {
                     return fmt::format("{}/{}", s.value("passing", 0), s.value("instances", 0));
                   }},
                  {"TAGS", [](const Json& s) { return JoinList(s.value("tags", Json::array())); }}},
      .namespaced = true};
}

View InstanceView() {
  auto meta = [](std::string key) {
    return [key](const Json& in) {
      const Json m = in.value("metadata", Json::object());
      return m.contains(key) ? Text(m[key]) : std::string();
    };
  };
  auto check = [](const Json& in) -> std::string {
    if (!in.contains("check")) return "";
    for (const char* kind : {"http", "tcp", "exec"}) {
      if (in["check"].contains(kind)) return kind;
    }
    return "";
  };
  return View{
      .kind = "instance",
      .name = [](const Json& in) { return in.value("id", ""); },
      .columns = {Field("ID", "id"),
                  {"ADDRESS",
                   [](const Json& in) {
                     return fmt::format("{}:{}", in.value("address", ""), in.value("port", 0));
                   }},
                  Field("HEALTH", "health"),
                  {"TAGS",
                   [](const Json& in) { return JoinList(in.value("tags", Json::array())); }},
                  Field("OUTPUT", "health_output"),
                  {"NODE", meta(std::string(registry::kNodeMetadataKey)), true},
                  {"CONTAINER", meta("berth.container"), true},
                  {"CHECK", check, true},
                  Field("WEIGHT", "weight", true),
                  Field("TTL", "ttl", true)},
      .namespaced = true};
}

// The argv of an exec check: --check-exec split at spaces and tabs, then every
// --check-exec-arg as it is. No shell: quotes and backslashes would not be interpreted, so
// they are refused rather than passed on literally.
Result<std::vector<std::string>> ExecCommand(const std::string& words,
                                             const std::vector<std::string>& args) {
  if (words.find_first_of("'\"\\") != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--check-exec \"{}\": quotes and backslashes are not interpreted (no "
                            "shell; the command is split at spaces); pass an argument that has "
                            "spaces or quotes with --check-exec-arg",
                            words));
  }
  std::vector<std::string> argv;
  size_t i = 0;
  while (i < words.size()) {
    size_t start = words.find_first_not_of(" \t", i);
    if (start == std::string::npos) break;
    size_t end = words.find_first_of(" \t", start);
    if (end == std::string::npos) end = words.size();
    argv.push_back(words.substr(start, end - start));
    i = end;
  }
  if (argv.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--check-exec needs a command (CMD [ARGS...])");
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

struct RegisterArgs {
  std::string name, address, id, ttl, check_http, check_tcp, check_exec, interval, deregister_after,
      node;
  std::vector<std::string> tags, meta, check_exec_args;
  int weight = -1;
};

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// The "check" of a registration, or null when none is asked for.
Result<Json> CheckBody(const RegisterArgs& a) {
  std::vector<std::string> kinds;
  if (!a.check_http.empty()) kinds.push_back("--check-http");
  if (!a.check_tcp.empty()) kinds.push_back("--check-tcp");
  if (!a.check_exec.empty()) kinds.push_back("--check-exec");
  if (kinds.size() > 1) {
    return std::unexpected(Invalid(fmt::format(
        "{} and {} are exclusive: an instance has one health check", kinds[0], kinds[1])));
  }
  if (!a.check_exec_args.empty() && a.check_exec.empty()) {
    return std::unexpected(
        Invalid("--check-exec-arg needs --check-exec (the command it belongs to)"));
  }
  if (kinds.empty()) {
    if (!a.interval.empty()) {
      return std::unexpected(Invalid("--interval needs --check-http, --check-tcp or --check-exec"));
    }
    return Json();
  }
  Json check = Json::object();
  if (!a.check_http.empty()) check["http"] = a.check_http;
  if (!a.check_tcp.empty()) check["tcp"] = a.check_tcp;
  if (!a.check_exec.empty()) {
    auto argv = ExecCommand(a.check_exec, a.check_exec_args);
    if (!argv) return std::unexpected(argv.error());
    check["exec"] = *argv;
  }
  if (!a.interval.empty()) check["interval"] = a.interval;
  return check;
}

// The metadata of a registration (--meta K=V and --node).
Result<Json> MetadataBody(const RegisterArgs& a) {
  Json m = Json::object();
  for (const auto& kv : a.meta) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return std::unexpected(Invalid(fmt::format("--meta \"{}\" must be K=V", kv)));
    }
    m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!a.node.empty()) {
    const std::string key(registry::kNodeMetadataKey);
    if (m.contains(key) && m[key] != a.node) {
      return std::unexpected(Invalid(fmt::format("--node {} and --meta {}={} name different nodes",
                                                 a.node, key, m[key].get<std::string>())));
    }
    m[key] = a.node;
  }
  return m;
}

// The registration body and the instance id.
Result<std::pair<Json, std::string>> Registration(const Context& ctx, const RegisterArgs& a) {
  if (a.address.empty()) {
    // --addr after `service register` is the global flag (the API server); say so when it
    // looks like it was meant for the instance.
    std::string hint = ctx.addr_source == "from --addr"
                           ? fmt::format("; --addr ({}) names the berth API server", ctx.addr)
                           : "";
    return std::unexpected(
        Invalid(fmt::format("--address HOST:PORT is required: the instance's address{}", hint)));
  }
  auto colon = a.address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return std::unexpected(Invalid(fmt::format("--address \"{}\" must be HOST:PORT", a.address)));
  }
  std::string host = a.address.substr(0, colon);
  std::string port_text = a.address.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0') {
    return std::unexpected(
        Invalid(fmt::format("--address \"{}\": port is not a number", a.address)));
  }
  Json body{{"address", host}, {"port", port}};
  if (!a.tags.empty()) body["tags"] = a.tags;
  auto meta = MetadataBody(a);
  if (!meta) return std::unexpected(meta.error());
  if (!meta->empty()) body["metadata"] = *meta;
  if (a.weight >= 0) body["weight"] = a.weight;
  if (!a.ttl.empty()) body["ttl"] = a.ttl;
  if (!a.deregister_after.empty()) body["deregister_after"] = a.deregister_after;
  auto check = CheckBody(a);
  if (!check) return std::unexpected(check.error());
  if (!check->is_null()) body["check"] = *check;
  std::string id = a.id.empty() ? fmt::format("{}-{}-{}", a.name, host, port) : a.id;
  return std::pair{std::move(body), std::move(id)};
}

void AddRegister(CLI::App* svc, Context& ctx) {
  auto* cmd = svc->add_subcommand("register", "Register (or update) a service instance");
  auto a = std::make_shared<RegisterArgs>();
  cmd->add_option("name", a->name, "Service name")->required()->type_name("SERVICE");
  cmd->add_option("--address", a->address, "Instance address HOST:PORT (required)");
  cmd->add_option("--id", a->id, "Instance id (default NAME-HOST-PORT)");
  cmd->add_option("--tag", a->tags, "Tag (repeatable)");
  cmd->add_option("--meta", a->meta, "Metadata K=V (repeatable)");
  cmd->add_option("--weight", a->weight, "Weight for balancing and SRV (0..10000)");
  cmd->add_option("--ttl", a->ttl, "Lease TTL (e.g. 10s): heartbeat or be removed");
  cmd->add_option("--deregister-after", a->deregister_after,
                  "Remove the instance once critical this long (e.g. 5m)");
  // One check per instance: Registration refuses two kinds, naming both flags.
  cmd->add_option("--check-http", a->check_http, "HTTP health check URL");
  cmd->add_option("--check-tcp", a->check_tcp, "TCP health check HOST:PORT");
  cmd->add_option("--check-exec", a->check_exec,
                  "Exec health check run in the instance's container: 'CMD ARGS...', split at "
                  "spaces, no shell (needs --meta berth.container=NAME and an admin token)");
  cmd->add_option("--check-exec-arg", a->check_exec_args,
                  "One more argument for --check-exec, taken as it is (repeatable)");
  cmd->add_option("--interval", a->interval, "Health check interval (e.g. 5s)");
  cmd->add_option("--node", a->node,
                  "Node the instance runs on (metadata berth.node); that node's agent runs "
                  "its exec check")
      ->type_name("NODE");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      auto reg = Registration(ctx, *a);
      if (!reg) return PrintError(reg.error());
      const auto& [body, id] = *reg;
      auto r = ctx.Call("PUT", Path(ctx.ns, a->name, id), &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "instance", id, [&] {
        std::cout << fmt::format("registered {}/{}/{} ({}) at revision {}\n", ctx.ns, a->name, id,
                                 r->value("health", ""), r->value("revision", int64_t{0}));
      });
      return 0;
    };
  });
}

void AddServiceLists(CLI::App* svc, Context& ctx) {
  AddListCommand(
      svc, ctx, "ls", "List services",
      {.view = ServiceView(),
       .fetch =
           [](Context& c) { return c.Call("GET", c.all_namespaces ? "/v1/registry" : Path(c.ns)); },
       .watch_path =
           [](const Context& c, const Json& doc) {
             return fmt::format("{}?watch&revision={}",
                                c.all_namespaces ? "/v1/registry" : Path(c.ns),
                                doc.value("index", int64_t{0}) + 1);
           },
       .complete_as = "SERVICE"});
  struct GetArgs {
    std::string name;
    bool passing = false;
    std::vector<std::string> tags;
  };
  auto g = std::make_shared<GetArgs>();
  auto* get = AddListCommand(
      svc, ctx, "get", "Show a service's instances",
      {.view = InstanceView(),
       .fetch =
           [g](Context& c) {
             std::string q;
             if (g->passing) q += "&passing";
             for (const auto& t : g->tags) q += "&tag=" + PathEscape(t);
             if (!q.empty()) q[0] = '?';
             return c.Call("GET", Path(c.ns, g->name) + q);
           },
       .items = [](const Json& doc) { return doc.value("instances", Json::array()); },
       .watch_path =
           [g](const Context& c, const Json& doc) {
             return fmt::format("{}?watch&revision={}", Path(c.ns, g->name),
                                doc.value("index", int64_t{0}) + 1);
           }});
  get->add_option("name", g->name, "Service name")->required()->type_name("SERVICE");
  get->add_flag("--passing", g->passing, "Only passing instances");
  get->add_option("--tag", g->tags, "Only instances with this tag (repeatable)");
}

void AddInstanceVerbs(CLI::App* svc, Context& ctx) {
  for (auto [verb, method, help] :
       {std::tuple{"deregister", "DELETE", "Remove an instance"},
        std::tuple{"heartbeat", "PUT", "Renew an instance's TTL lease"}}) {
    auto* cmd = svc->add_subcommand(verb, help);
    auto name = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>();
    cmd->add_option("name", *name, "Service name")->required()->type_name("SERVICE");
    cmd->add_option("id", *id, "Instance id")->required();
    std::string v = verb, m = method;
    cmd->callback([&ctx, name, id, v, m] {
      ctx.run = [&ctx, name, id, v, m] {
        std::string path = Path(ctx.ns, *name, *id) + (v == "heartbeat" ? "/heartbeat" : "");
        auto r = ctx.Call(m, path);
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "instance", *id, [&] {
          std::cout << fmt::format("{} {}/{}/{}\n", v == "heartbeat" ? "renewed" : "deregistered",
                                   ctx.ns, *name, *id);
        });
        return 0;
      };
    });
  }
}

void PrintWatchLine(const Context& ctx, const Json& line) {
  if (ctx.structured()) {
    std::cout << line.dump() << std::endl;
    return;
  }
  if (ctx.format() == Format::kName) {
    std::cout << "instance/" << line.value("id", "") << std::endl;
    return;
  }
  const Json& in = line.contains("instance") ? line["instance"] : Json::object();
  std::cout << fmt::format("{} {} {}/{}/{} {}\n", line.value("revision", int64_t{0}),
                           line.value("type", ""), line.value("namespace", ""),
                           line.value("service", ""), line.value("id", ""), in.value("health", ""))
            << std::flush;
}

// Follows the registry's stream for `names` (a namespace when empty; several share one
// multiplexed stream), resuming after a dropped stream from the next revision of each watch.
int WatchServices(Context& ctx, const std::vector<std::string>& names, int64_t revision) {
  const bool many = names.size() > 1;
  // Per watch (one per name, or the one), the revision to resume from.
  std::vector<int64_t> next(std::max<size_t>(1, names.size()), revision);
  for (int failures = 0;;) {
    bool fatal = false;
    auto on_line = [&](const Json& line) {
      if (line.contains("error")) {
        std::string code = line["error"].value("code", "");
        if (code != "unavailable") {
          PrintError(Error(ErrorCode::kFailedPrecondition, line["error"].value("message", "")));
          fatal = true;
        }
        return false;
      }
      std::string type = line.value("type", "");
      size_t w = many ? static_cast<size_t>(line.value("watch_id", int64_t{0})) : 0;
      if (w >= next.size() || type == "progress") return true;
      if (type == "created") {
        if (next[w] == 0) next[w] = line.value("start_revision", int64_t{0});
        return true;
      }
      failures = 0;
      next[w] = line.value("revision", next[w]) + 1;  // resume after the last one seen
      PrintWatchLine(ctx, line);
      return true;
    };
    Result<void> r;
    if (many) {
      Json watches = Json::array();
      for (size_t i = 0; i < names.size(); ++i) {
        watches.push_back(
            Json{{"id", i}, {"namespace", ctx.ns}, {"service", names[i]}, {"revision", next[i]}});
      }
      Json body{{"watches", std::move(watches)}};
      r = ctx.Stream("POST", "/v1/registry:watch", &body, on_line);
    } else {
      std::string path = Path(ctx.ns, names.empty() ? "" : names.front()) + "?watch";
      if (next[0] > 0) path += fmt::format("&revision={}", next[0]);
      r = ctx.Stream(path, on_line);
    }
    if (fatal) return 1;
    if (!r && r.error().code != ErrorCode::kUnavailable && r.error().code != ErrorCode::kInternal) {
      return PrintError(r.error());
    }
    // The stream ended (server restart, network): reconnect from the next revisions.
    if (++failures > 30) {
      return PrintError(r ? Error(ErrorCode::kUnavailable, "stream ended") : r.error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * std::min(failures, 10)));
  }
}

void AddServiceWatch(CLI::App* svc, Context& ctx) {
  auto* cmd = svc->add_subcommand(
      "watch",
      "Stream registry changes (a namespace, a service, or several services on one stream)");
  auto names = std::make_shared<std::vector<std::string>>();
  auto revision = std::make_shared<int64_t>(0);
  cmd->add_option("name", *names,
                  "Service names (default: the whole namespace); several share one "
                  "multiplexed stream")
      ->type_name("SERVICE");
  cmd->add_option("--revision", *revision, "Replay from this revision");
  cmd->callback([&ctx, names, revision] {
    ctx.run = [&ctx, names, revision] { return WatchServices(ctx, *names, *revision); };
  });
}

}  // namespace

void AddServiceCommands(CLI::App& app, Context& ctx) {
  auto* svc = app.add_subcommand("service", "Service registry: register, list, query, watch");
  svc->require_subcommand(1);
  AddRegister(svc, ctx);
  AddServiceLists(svc, ctx);
  AddInstanceVerbs(svc, ctx);
  AddServiceWatch(svc, ctx);
}

}  // namespace berth::cli
