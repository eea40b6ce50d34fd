// The `berth` command line: the shared context of one run (global flags, the server it talks
// to, the output format), the API client every command uses, and small helpers. Commands live
// one group per file (cmd_kv.cc, ...), each registered by an Add*Commands function listed in
// commands.cc; output.h prints their answers, command.h builds list commands with --watch.
// Thread-safety: single-threaded, like the CLI (a --watch stream reader is its own thread with
// its own client).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace CLI {
class App;
}

namespace berth::cli {

// -o table|wide|json|yaml|name.
enum class Format { kTable, kWide, kJson, kYaml, kName };
inline constexpr const char* kFormats[] = {"table", "wide", "json", "yaml", "name"};

// Names of one kind of object on the server ("service" -> the services of the namespace), for
// shell completion. Fails quietly: completion prints nothing on an error.
using NameSource = std::function<Result<std::vector<std::string>>(class Context&)>;

class Context {
 public:
  // Global flags, bound by AddGlobalFlags (empty: not given). Resolve() fills addr, token and
  // ns from the flags, the named or current context, the environment and the defaults.
  std::string addr;     // --addr; several servers comma-separated (the client fails over)
  std::string token;    // --token
  std::string ca_file;  // CA bundle for https servers: BERTH_CA_FILE (else the system's)
  std::string ns;       // -n/--namespace (the last one given)
  std::vector<std::string> namespaces;  // every -n given, in order (token create -n a -n b)
  std::string context;                  // --context
  std::string output = "table";
  bool all_namespaces = false;  // -A/--all-namespaces

  // Where addr came from, for errors ("--addr", "BERTH_ADDR", "context \"prod\"", "the
  // default"); the context whose address and token are in use, if any.
  std::string addr_source;
  std::string context_in_use;
  // Where token and ns came from: "--token", "BERTH_TOKEN", "context NAME", ... ("" for none).
  std::string token_source;
  std::string ns_source;

  // Set by the chosen subcommand; returns the process exit code.
  std::function<int()> run;
  // -o formats a command prints beyond kFormats (`security scan`: sarif, cyclonedx), by
  // command; see ExtraFormats in command.h.
  std::map<const CLI::App*, std::vector<std::string>> extra_formats;
  // Filled by list commands as they are added: a kind's names, keyed by the upper-case kind
  // ("SERVICE") that positionals name in their type_name. See completion.h.
  std::map<std::string, NameSource> names;

  Format format() const;
  bool structured() const { return format() == Format::kJson || format() == Format::kYaml; }
  // The namespace given with -n on the command line, or "" (not the context's default): for
  // commands where no -n means every namespace or none.
  std::string ExplicitNamespace() const { return namespaces.empty() ? "" : namespaces.back(); }
  // Resolves addr, token and ns (flags > --context > BERTH_ADDR/BERTH_TOKEN/BERTH_NAMESPACE >
  // the current context > defaults). Fails on an unreadable config file or an unknown
  // --context, naming what to do.
  Result<void> Resolve();
  // Calls the API; on an HTTP error returns the server's message ("HTTP 404: no key ...") and
  // what to do next (401: log in; 403: the role to ask for; unreachable: the address tried).
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
  // The error for an HTTP answer >= 400 with `body`, with the next step named.
  Error HttpError(int status, std::string_view body) const;
  // The error for a server that could not be reached.
  Error Unreachable(const Error& cause) const;
  // Short timeouts for shell completion (which must fail fast).
  bool quick = false;
};

// The contents of a file, or of standard input for "-"; the error names the file and why.
Result<std::string> ReadInput(const std::string& path);
// Prints `error: <message>` to stderr and returns 1.
int PrintError(const Error& error);
// Percent-encodes each segment of a key or name for use in a URL path, keeping '/'.
std::string PathEscape(std::string_view s);
std::string FormatTime(int64_t ms);
// "a,b,c" from a JSON array of strings (other values dumped).
std::string JoinList(const Json& array);
// The text of a scalar: a string as is, null empty, others dumped.
std::string Text(const Json& j);

}  // namespace berth::cli
