// `berth route apply|ls|get|rm`: the gateway's routes (api/route_endpoints.h).
#pragma once

#include "cli/cli.h"

namespace berth::cli {

void AddRouteCommands(CLI::App& app, Context& ctx);

}  // namespace berth::cli
