#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "cli/completion.h"

namespace berth::cli {

std::unique_ptr<CLI::App> NewBerthApp(Context& ctx) {
  auto app = std::make_unique<CLI::App>("berth — command line for Berth", "berth");
  app->require_subcommand(1);
  AddGlobalFlags(*app, ctx);
  AddSystemCommands(*app, ctx);
  AddContextCommands(*app, ctx);
  AddKvCommands(*app, ctx);
  AddSecurityCommands(*app, ctx);
  AddScanCommands(*app, ctx);
  AddServiceCommands(*app, ctx);
  AddAppCommands(*app, ctx);
  AddRolloutCommands(*app, ctx);
  AddContainerCommands(*app, ctx);
  AddImageCommands(*app, ctx);
  AddNodeCommands(*app, ctx);
  AddRouteCommands(*app, ctx);
  AddUiCommands(*app, ctx);
  AddConfigCommands(*app, ctx);
  AddSecretCommands(*app, ctx);
  AddCompletionCommands(*app, ctx);
  if (auto r = FinishCommandTree(*app); !r) {
    // A group redefined a global flag: a bug the CLI's tests catch before it ships.
    std::cerr << "berth: internal error: " << r.error().message << "\n";
    std::abort();
  }
  return app;
}

int Main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "__complete") {
    // The completion scripts' helper: candidates on stdout, never an error.
    std::cout << FormatCompletion(Complete(std::vector<std::string>(argv + 2, argv + argc)));
    return 0;
  }
  Context ctx;
  auto app = NewBerthApp(ctx);
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app->exit(e);  // --help
    return PrintError(Error(ErrorCode::kInvalidArgument, ParseErrorMessage(*app, e, args)));
  }
  if (!ctx.run) return 1;
  if (auto r = CheckOutput(*app, ctx); !r) return PrintError(r.error());
  if (auto r = ctx.Resolve(); !r) return PrintError(r.error());
  return ctx.run();
}

}  // namespace berth::cli
