// `berth security db|scan|sbom|findings|ignore`: the image scanner (cmd_scan.cc).
#pragma once

#include "cli/cli.h"

namespace berth::cli {

void AddScanCommands(CLI::App& app, Context& ctx);

}  // namespace berth::cli
