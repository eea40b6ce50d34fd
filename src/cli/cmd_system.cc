// berth status — the control plane's status.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/output.h"

namespace berth::cli {

void AddSystemCommands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("status", "Show the control plane's status");
  cmd->callback([&ctx] {
    ctx.run = [&ctx] {
      auto r = ctx.Call("GET", "/v1/status");
      if (!r) return PrintError(r.error());
      const Json& s = *r;
      PrintObject(ctx, s, "server", ContextNameFor(ctx.addr), [&] {
        std::cout << fmt::format(
            "address:   {}\ncontext:   {}\nversion:   {}\nrole:      {}\nstore:     {} at "
            "revision {}\nuptime:    {}s\ncaller:    {} ({})\n",
            ctx.addr, ctx.context_in_use.empty() ? "-" : ctx.context_in_use, s.value("version", ""),
            s.value("role", ""), s["store"].value("backend", ""),
            s["store"].value("revision", int64_t{0}), s.value("uptime_ms", int64_t{0}) / 1000,
            s["caller"].value("name", ""), s["caller"].value("role", ""));
      });
      return 0;
    };
  });
}

}  // namespace berth::cli
