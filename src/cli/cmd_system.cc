// berth status, berth login.
#include <fmt/core.h>
#include <sys/stat.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/cli.h"

namespace berth::cli {

void AddSystemCommands(CLI::App& app, Context& ctx) {
  {
    auto* cmd = app.add_subcommand("status", "Show the control plane's status");
    cmd->callback([&ctx] {
      ctx.run = [&ctx] {
        auto r = ctx.Call("GET", "/v1/status");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        const Json& s = *r;
        std::cout << fmt::format(
            "address:   {}\nversion:   {}\nrole:      {}\nstore:     {} at revision {}\nuptime:    "
            "{}s\ncaller:    {} ({})\n",
            ctx.addr, s.value("version", ""), s.value("role", ""), s["store"].value("backend", ""),
            s["store"].value("revision", int64_t{0}), s.value("uptime_ms", int64_t{0}) / 1000,
            s["caller"].value("name", ""), s["caller"].value("role", ""));
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("login", "Check a token against a server and save both");
    auto token = std::make_shared<std::string>();
    cmd->add_option("--with-token", *token, "The token (default: read from standard input)");
    cmd->callback([&ctx, token] {
      ctx.run = [&ctx, token] {
        if (!token->empty()) {
          ctx.token = *token;
        } else if (ctx.token.empty() || !std::getenv("BERTH_TOKEN")) {
          std::getline(std::cin, ctx.token);
        }
        auto r = ctx.Call("GET", "/v1/status");
        if (!r) return PrintError(r.error());
        std::string path = ConfigPath();
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
        {
          std::ofstream out(path, std::ios::trunc);
          out << Json{{"addr", ctx.addr}, {"token", ctx.token}}.dump(2) << "\n";
          if (!out) return PrintError(Error(ErrorCode::kInternal, "cannot write " + path));
        }
        chmod(path.c_str(), 0600);
        std::cout << fmt::format("logged in to {} as {} ({}); saved to {}\n", ctx.addr,
                                 (*r)["caller"].value("name", ""), (*r)["caller"].value("role", ""),
                                 path);
        return 0;
      };
    });
  }
}

}  // namespace berth::cli
