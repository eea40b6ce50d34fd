// The `berth` command line: shared context (address, token, output format), the API client
// every command uses, and output helpers. Commands live one group per file (cmd_kv.cc, ...)
// and are registered on a CLI11 app by the Add*Commands functions below.
// Thread-safety: single-threaded, like the CLI.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace CLI {
class App;
}

namespace berth::cli {

enum class Format { kTable, kJson, kYaml };

struct Context {
  std::string addr;   // --addr, else BERTH_ADDR, else config file, else http://127.0.0.1:7700
  std::string token;  // --token, else BERTH_TOKEN, else config file, else admin.token
  std::string output = "table";
  // Set by the chosen subcommand; returns the process exit code.
  std::function<int()> run;

  Format format() const;
  // Resolves addr and token from flags, environment and the config file.
  void Resolve();
  // Calls the API; on an HTTP error returns the server's message ("HTTP 404: no key ...").
  Result<Json> Call(std::string_view method, std::string_view path, const Json* body = nullptr);
  // The same with a body sent as is (a YAML file, say) with `content_type`.
  Result<Json> CallText(std::string_view method, std::string_view path, std::string body,
                        std::string_view content_type);
  // Streams JSON lines from a watch-style endpoint until the server ends it or `on_line`
  // returns false.
  Result<void> Stream(std::string_view path, const std::function<bool(const Json&)>& on_line);
  // The same for a request with a method and an optional JSON body (POST with progress).
  Result<void> Stream(std::string_view method, std::string_view path, const Json* body,
                      const std::function<bool(const Json&)>& on_line);
};

// Path of the config file `berth login` writes: $XDG_CONFIG_HOME/berth/config.json.
std::string ConfigPath();

// Prints `error: <message>` to stderr and returns 1.
int PrintError(const Error& error);
// Prints `j` as JSON or YAML; false when the format is table (caller prints a table).
bool PrintStructured(const Context& ctx, const Json& j);
// Prints an aligned table with a header row.
void PrintTable(const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows);
// Percent-encodes each segment of a key or name for use in a URL path, keeping '/'.
std::string PathEscape(std::string_view s);
std::string FormatTime(int64_t ms);

void AddSystemCommands(CLI::App& app, Context& ctx);    // status, login
void AddKvCommands(CLI::App& app, Context& ctx);        // kv get|put|rm|ls|watch
void AddSecurityCommands(CLI::App& app, Context& ctx);  // token ..., audit ls
void AddServiceCommands(CLI::App& app,
                        Context& ctx);  // service register|ls|get|... (cmd_service.cc)
// apply, delete, get, describe, scale, rollout (cmd_app.cc)
void AddAppCommands(CLI::App& app, Context& ctx);
// ui: opens the web console with a one-time login link (cmd_ui.cc)
void AddUiCommands(CLI::App& app, Context& ctx);

}  // namespace berth::cli
