// The whole `berth` command tree: one Add*Commands function per command group (one file
// each, cmd_<group>.cc), and NewBerthApp, which adds the global flags, every group and shell
// completion, then finishes the tree (command.h). To add a group: write cmd_<group>.cc with
// its Add<Group>Commands, declare it here, call it in NewBerthApp (commands.cc), and list the
// file in src/cli/CMakeLists.txt. See src/cli/README.md.
#pragma once

#include <memory>

#include "cli/cli.h"

namespace berth::cli {

void AddSystemCommands(CLI::App& app, Context& ctx);    // status (cmd_system.cc)
void AddContextCommands(CLI::App& app, Context& ctx);   // login, context ... (cmd_context.cc)
void AddKvCommands(CLI::App& app, Context& ctx);        // kv get|put|rm|ls|watch (cmd_kv.cc)
void AddSecurityCommands(CLI::App& app, Context& ctx);  // token ..., audit ls (cmd_security.cc)
// security db|scan|sbom|findings|ignore: the image scanner (cmd_scan.cc)
void AddScanCommands(CLI::App& app, Context& ctx);
void AddServiceCommands(CLI::App& app, Context& ctx);    // service ... (cmd_service.cc)
void AddAppCommands(CLI::App& app, Context& ctx);        // apply, get, ... (cmd_app.cc)
void AddRolloutCommands(CLI::App& app, Context& ctx);    // rollout ... (cmd_rollout.cc)
void AddContainerCommands(CLI::App& app, Context& ctx);  // run, ps, logs, ... (cmd_container.cc)
void AddImageCommands(CLI::App& app, Context& ctx);      // image ... (cmd_image.cc)
void AddNodeCommands(CLI::App& app, Context& ctx);       // node ... (cmd_node.cc)
void AddRouteCommands(CLI::App& app, Context& ctx);      // route ... (cmd_route.cc)
void AddConfigCommands(CLI::App& app, Context& ctx);     // config ... (cmd_config.cc)
void AddSecretCommands(CLI::App& app, Context& ctx);     // secret ... (cmd_secret.cc)
// ui: opens the web console with a one-time login link (cmd_ui.cc)
void AddUiCommands(CLI::App& app, Context& ctx);
// logs query|tail|patterns|exceptions|slow-routes under `logs` (cmd_logs.cc): the log center.
void AddLogQueryCommands(CLI::App& logs, Context& ctx);
// completion bash|zsh and the hidden __complete (completion.cc).
void AddCompletionCommands(CLI::App& app, Context& ctx);

// berth's command tree bound to `ctx`, finished (global flags work everywhere).
std::unique_ptr<CLI::App> NewBerthApp(Context& ctx);
// berth's main: parses, resolves the context, runs the chosen command; the exit code.
int Main(int argc, char** argv);

}  // namespace berth::cli
