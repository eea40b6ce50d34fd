// berth service register|ls|get|deregister|heartbeat|watch — the service registry.
//   berth service register NAME --addr HOST:PORT [--id ID] [--tag T]... [--meta K=V]...
//         [--ttl 10s] [--check-http URL | --check-tcp HOST:PORT | --check-exec 'CMD ARGS'
//         [--check-exec-arg ARG]...] [--interval 5s] [--node NODE] [-n NS]
//   berth service ls [-n NS | -A]
//   berth service get NAME [--passing] [--tag T]...
//   berth service deregister NAME ID
//   berth service heartbeat NAME ID
//   berth service watch [NAME...] [--revision N] (resumes after a dropped stream; several
//                                                 names share one multiplexed stream)
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

#include "cli/cli.h"
#include "registry/model.h"

namespace berth::cli {

void AddServiceCommands(CLI::App& app, Context& ctx);

namespace {

std::string Path(const std::string& ns, const std::string& service = "",
                 const std::string& id = "") {
  std::string p = "/v1/registry/" + PathEscape(ns);
  if (!service.empty()) p += "/" + PathEscape(service);
  if (!id.empty()) p += "/" + PathEscape(id);
  return p;
}

std::string Join(const Json& array) {
  std::string out;
  for (const auto& v : array) {
    if (!out.empty()) out += ",";
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
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

}  // namespace

void AddServiceCommands(CLI::App& app, Context& ctx) {
  auto* svc = app.add_subcommand("service", "Service registry: register, list, query, watch");
  svc->require_subcommand(1);
  auto ns = std::make_shared<std::string>("default");
  svc->add_option("-n,--namespace", *ns, "Namespace")->capture_default_str();

  {
    auto* cmd = svc->add_subcommand("register", "Register (or update) a service instance");
    struct Args {
      std::string name, addr, id, ttl, check_http, check_tcp, check_exec, interval,
          deregister_after, node;
      std::vector<std::string> tags, meta, check_exec_args;
      int weight = -1;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("name", a->name, "Service name")->required();
    cmd->add_option("--addr", a->addr, "Instance address HOST:PORT")->required();
    cmd->add_option("--id", a->id, "Instance id (default NAME-HOST-PORT)");
    cmd->add_option("--tag", a->tags, "Tag (repeatable)");
    cmd->add_option("--meta", a->meta, "Metadata K=V (repeatable)");
    cmd->add_option("--weight", a->weight, "Weight for balancing and SRV (0..10000)");
    cmd->add_option("--ttl", a->ttl, "Lease TTL (e.g. 10s): heartbeat or be removed");
    cmd->add_option("--deregister-after", a->deregister_after,
                    "Remove the instance once critical this long (e.g. 5m)");
    // One check per instance: the run callback refuses two kinds, naming both flags.
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
                    "its exec check");
    cmd->callback([&ctx, ns, a] {
      ctx.run = [&ctx, ns, a] {
        auto colon = a->addr.rfind(':');
        if (colon == std::string::npos || colon == 0) {
          return PrintError(Error(ErrorCode::kInvalidArgument,
                                  fmt::format("--addr \"{}\" must be HOST:PORT", a->addr)));
        }
        std::string host = a->addr.substr(0, colon);
        std::string port_text = a->addr.substr(colon + 1);
        char* end = nullptr;
        long port = std::strtol(port_text.c_str(), &end, 10);
        if (port_text.empty() || *end != '\0') {
          return PrintError(Error(ErrorCode::kInvalidArgument,
                                  fmt::format("--addr \"{}\": port is not a number", a->addr)));
        }
        Json body{{"address", host}, {"port", port}};
        if (!a->tags.empty()) body["tags"] = a->tags;
        if (!a->meta.empty()) {
          Json m = Json::object();
          for (const auto& kv : a->meta) {
            auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) {
              return PrintError(
                  Error(ErrorCode::kInvalidArgument, fmt::format("--meta \"{}\" must be K=V", kv)));
            }
            m[kv.substr(0, eq)] = kv.substr(eq + 1);
          }
          body["metadata"] = m;
        }
        if (!a->node.empty()) {
          const std::string key(registry::kNodeMetadataKey);
          if (body.contains("metadata") && body["metadata"].contains(key) &&
              body["metadata"][key] != a->node) {
            return PrintError(
                Error(ErrorCode::kInvalidArgument,
                      fmt::format("--node {} and --meta {}={} name different nodes", a->node, key,
                                  body["metadata"][key].get<std::string>())));
          }
          body["metadata"][key] = a->node;
        }
        if (a->weight >= 0) body["weight"] = a->weight;
        if (!a->ttl.empty()) body["ttl"] = a->ttl;
        if (!a->deregister_after.empty()) body["deregister_after"] = a->deregister_after;
        std::vector<std::string> kinds;
        if (!a->check_http.empty()) kinds.push_back("--check-http");
        if (!a->check_tcp.empty()) kinds.push_back("--check-tcp");
        if (!a->check_exec.empty()) kinds.push_back("--check-exec");
        if (kinds.size() > 1) {
          return PrintError(Error(ErrorCode::kInvalidArgument,
                                  fmt::format("{} and {} are exclusive: an instance has one "
                                              "health check",
                                              kinds[0], kinds[1])));
        }
        if (!a->check_exec_args.empty() && a->check_exec.empty()) {
          return PrintError(
              Error(ErrorCode::kInvalidArgument,
                    "--check-exec-arg needs --check-exec (the command it belongs to)"));
        }
        if (!kinds.empty()) {
          Json check = Json::object();
          if (!a->check_http.empty()) check["http"] = a->check_http;
          if (!a->check_tcp.empty()) check["tcp"] = a->check_tcp;
          if (!a->check_exec.empty()) {
            auto argv = ExecCommand(a->check_exec, a->check_exec_args);
            if (!argv) return PrintError(argv.error());
            check["exec"] = *argv;
          }
          if (!a->interval.empty()) check["interval"] = a->interval;
          body["check"] = check;
        } else if (!a->interval.empty()) {
          return PrintError(Error(ErrorCode::kInvalidArgument,
                                  "--interval needs --check-http, --check-tcp or --check-exec"));
        }
        std::string id = a->id.empty() ? fmt::format("{}-{}-{}", a->name, host, port) : a->id;
        auto r = ctx.Call("PUT", Path(*ns, a->name, id), &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << fmt::format("registered {}/{}/{} ({}) at revision {}\n", *ns, a->name, id,
                                 (*r).value("health", ""), (*r).value("revision", int64_t{0}));
        return 0;
      };
    });
  }
  {
    auto* cmd = svc->add_subcommand("ls", "List services");
    auto all = std::make_shared<bool>(false);
    cmd->add_flag("-A,--all-namespaces", *all, "Every namespace");
    cmd->callback([&ctx, ns, all] {
      ctx.run = [&ctx, ns, all] {
        auto r = ctx.Call("GET", *all ? "/v1/registry" : Path(*ns));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& s : (*r)["services"]) {
          rows.push_back({s.value("namespace", ""), s.value("service", ""),
                          fmt::format("{}/{}", s.value("passing", 0), s.value("instances", 0)),
                          Join(s["tags"])});
        }
        PrintTable({"NAMESPACE", "SERVICE", "PASSING", "TAGS"}, rows);
        return 0;
      };
    });
  }
  {
    auto* cmd = svc->add_subcommand("get", "Show a service's instances");
    auto name = std::make_shared<std::string>();
    auto passing = std::make_shared<bool>(false);
    auto tags = std::make_shared<std::vector<std::string>>();
    cmd->add_option("name", *name, "Service name")->required();
    cmd->add_flag("--passing", *passing, "Only passing instances");
    cmd->add_option("--tag", *tags, "Only instances with this tag (repeatable)");
    cmd->callback([&ctx, ns, name, passing, tags] {
      ctx.run = [&ctx, ns, name, passing, tags] {
        std::string q;
        if (*passing) q += "&passing";
        for (const auto& t : *tags) q += "&tag=" + PathEscape(t);
        if (!q.empty()) q[0] = '?';
        auto r = ctx.Call("GET", Path(*ns, *name) + q);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& in : (*r)["instances"]) {
          rows.push_back({in.value("id", ""),
                          fmt::format("{}:{}", in.value("address", ""), in.value("port", 0)),
                          in.value("health", ""), Join(in["tags"]), in.value("health_output", "")});
        }
        PrintTable({"ID", "ADDRESS", "HEALTH", "TAGS", "OUTPUT"}, rows);
        return 0;
      };
    });
  }
  for (auto [verb, method, help] :
       {std::tuple{"deregister", "DELETE", "Remove an instance"},
        std::tuple{"heartbeat", "PUT", "Renew an instance's TTL lease"}}) {
    auto* cmd = svc->add_subcommand(verb, help);
    auto name = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>();
    cmd->add_option("name", *name, "Service name")->required();
    cmd->add_option("id", *id, "Instance id")->required();
    std::string v = verb, m = method;
    cmd->callback([&ctx, ns, name, id, v, m] {
      ctx.run = [&ctx, ns, name, id, v, m] {
        std::string path = Path(*ns, *name, *id) + (v == "heartbeat" ? "/heartbeat" : "");
        auto r = ctx.Call(m, path);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << fmt::format("{} {}/{}/{}\n", v == "heartbeat" ? "renewed" : "deregistered",
                                 *ns, *name, *id);
        return 0;
      };
    });
  }
  {
    auto* cmd = svc->add_subcommand(
        "watch",
        "Stream registry changes (a namespace, a service, or several services on one stream)");
    auto names = std::make_shared<std::vector<std::string>>();
    auto revision = std::make_shared<int64_t>(0);
    cmd->add_option("name", *names,
                    "Service names (default: the whole namespace); several share one "
                    "multiplexed stream");
    cmd->add_option("--revision", *revision, "Replay from this revision");
    cmd->callback([&ctx, ns, names, revision] {
      ctx.run = [&ctx, ns, names, revision] {
        const bool many = names->size() > 1;
        // Per watch (one per name, or the one), the revision to resume from.
        std::vector<int64_t> next(std::max<size_t>(1, names->size()), *revision);
        auto print = [&ctx](const Json& line) {
          if (ctx.format() != Format::kTable) {
            std::cout << line.dump() << std::endl;
            return;
          }
          const Json& in = line.contains("instance") ? line["instance"] : Json::object();
          std::cout << fmt::format("{} {} {}/{}/{} {}\n", line.value("revision", int64_t{0}),
                                   line.value("type", ""), line.value("namespace", ""),
                                   line.value("service", ""), line.value("id", ""),
                                   in.value("health", ""))
                    << std::flush;
        };
        for (int failures = 0;;) {
          bool fatal = false;
          auto on_line = [&](const Json& line) {
            if (line.contains("error")) {
              std::string code = line["error"].value("code", "");
              if (code != "unavailable") {
                PrintError(
                    Error(ErrorCode::kFailedPrecondition, line["error"].value("message", "")));
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
            print(line);
            return true;
          };
          Result<void> r;
          if (many) {
            Json watches = Json::array();
            for (size_t i = 0; i < names->size(); ++i) {
              watches.push_back(Json{
                  {"id", i}, {"namespace", *ns}, {"service", (*names)[i]}, {"revision", next[i]}});
            }
            Json body{{"watches", std::move(watches)}};
            r = ctx.Stream("POST", "/v1/registry:watch", &body, on_line);
          } else {
            std::string path = Path(*ns, names->empty() ? "" : names->front()) + "?watch";
            if (next[0] > 0) path += fmt::format("&revision={}", next[0]);
            r = ctx.Stream(path, on_line);
          }
          if (fatal) return 1;
          if (!r && r.error().code != ErrorCode::kUnavailable &&
              r.error().code != ErrorCode::kInternal) {
            return PrintError(r.error());
          }
          // The stream ended (server restart, network): reconnect from the next revisions.
          if (++failures > 30)
            return PrintError(r ? Error(ErrorCode::kUnavailable, "stream ended") : r.error());
          std::this_thread::sleep_for(std::chrono::milliseconds(200 * std::min(failures, 10)));
        }
      };
    });
  }
}

}  // namespace berth::cli
