// Helpers shared by the app commands (cmd_app.cc: apply, delete, get, describe, scale) and
// the rollout commands (cmd_rollout.cc), over the /v1/apps API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/cli.h"

namespace berth::cli {

// "[NS/]A/B" with a default namespace -> {ns, a, b}; "[NS/]A" -> {ns, a}.
Result<std::vector<std::string>> SplitName(const std::string& text, const std::string& ns,
                                           size_t parts, std::string_view what);
// /v1/apps/NS/APP.
std::string AppPath(const std::string& ns, const std::string& app);
// Prints a spec diff: "+ path: v", "- path: v", "~ path: a -> b".
void PrintDiff(const Json& diff);
// A service's rollout phase in a word or two ("-" without one).
std::string RolloutText(const Json& service);

}  // namespace berth::cli
