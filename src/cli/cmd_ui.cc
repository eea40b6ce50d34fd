// berth ui: opens the web console signed in. The server makes a one-time login link
// (POST /v1/auth/login-links, valid a minute); the browser exchanges it for a session token
// of the caller's role. The token itself never goes into the URL.
#include <fmt/core.h>
#include <spawn.h>
#include <sys/wait.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

extern char** environ;

namespace berth::cli {
namespace {

// Starts the desktop's browser on `url` ($BROWSER, else xdg-open); false when none started.
bool OpenBrowser(const std::string& url) {
  std::vector<std::string> argv;
  if (const char* b = std::getenv("BROWSER"); b && *b) {
    argv = {b, url};
  } else {
    argv = {"xdg-open", url};
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return false;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

void AddUiCommands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("ui", "Open the web console in a browser, signed in");
  auto print_only = std::make_shared<bool>(false);
  cmd->add_flag("--print", *print_only, "Print the one-time link instead of opening a browser");
  cmd->callback([&ctx, print_only] {
    ctx.run = [&ctx, print_only] {
      Json body = Json::object();
      auto r = ctx.Call("POST", "/v1/auth/login-links", &body);
      if (!r) return PrintError(r.error());
      std::string base = ctx.addr;
      while (!base.empty() && base.back() == '/') base.pop_back();
      std::string url = base + (*r)["path"].get<std::string>();
      if (*print_only) {
        std::cout << url << "\n";
        return 0;
      }
      if (!OpenBrowser(url)) {
        std::cout << fmt::format(
            "no browser could be opened here; open this link within a minute (it works once):\n"
            "  {}\n",
            url);
        return 0;
      }
      std::cout << fmt::format("opened the console at {}/ui/ (the link works once, for a minute)\n",
                               base);
      return 0;
    };
  });
}

}  // namespace berth::cli
