// berth: the command line for a Berth control plane (kubectl/nomad-style verbs).
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/cmd_container.h"
#include "cli/cmd_node.h"
#include "cli/cmd_route.h"

int main(int argc, char** argv) {
  berth::cli::Context ctx;
  CLI::App app{"berth — command line for Berth"};
  app.require_subcommand(1);
  app.add_option("--addr", ctx.addr, "API address (default $BERTH_ADDR or http://127.0.0.1:7700)");
  app.add_option("--token", ctx.token, "API token (default $BERTH_TOKEN or the saved login)");
  app.add_option("-o,--output", ctx.output, "table | json | yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  berth::cli::AddSystemCommands(app, ctx);
  berth::cli::AddKvCommands(app, ctx);
  berth::cli::AddSecurityCommands(app, ctx);
  berth::cli::AddServiceCommands(app, ctx);
  berth::cli::AddAppCommands(app, ctx);
  berth::cli::AddContainerCommands(app, ctx);
  berth::cli::AddImageCommands(app, ctx);
  berth::cli::AddNodeCommands(app, ctx);
  berth::cli::AddRouteCommands(app, ctx);
  berth::cli::AddUiCommands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!ctx.run) return 1;
  ctx.Resolve();
  return ctx.run();
}
