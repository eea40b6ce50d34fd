// A `berth` with only the `service` command group, for the CLI integration test until
// cmd/berth.cc registers AddServiceCommands beside the others (same flags as berth).
#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace berth::cli {
void AddServiceCommands(CLI::App& app, Context& ctx);
}

int main(int argc, char** argv) {
  berth::cli::Context ctx;
  CLI::App app{"berth (service commands)"};
  app.require_subcommand(1);
  app.add_option("--addr", ctx.addr, "API address");
  app.add_option("--token", ctx.token, "API token");
  app.add_option("-o,--output", ctx.output, "table | json | yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  berth::cli::AddServiceCommands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!ctx.run) return 1;
  ctx.Resolve();
  return ctx.run();
}
