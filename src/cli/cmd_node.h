// `berth node ls|get|cordon|uncordon|drain` over the node endpoints (api/node_endpoints.h).
#pragma once

#include "cli/cli.h"

namespace berth::cli {

void AddNodeCommands(CLI::App& app, Context& ctx);

}  // namespace berth::cli
