// `berth run|ps|logs|exec|stop|start|rm|inspect` and `berth image
// import|pull|build|ls|rm|inspect`, over the agent endpoints (api/container_endpoints.h).
#pragma once

#include "cli/cli.h"

namespace berth::cli {

void AddContainerCommands(CLI::App& app, Context& ctx);
void AddImageCommands(CLI::App& app, Context& ctx);

}  // namespace berth::cli
