// The machinery every command group gets for free: berth's global flags (accepted before,
// between and after any subcommand and its arguments), list commands with -o and -w/--watch,
// the names completion offers, and parse errors that say what to do next.
//
// A group adds its commands to the CLI11 tree (one Add*Commands function per file, listed in
// commands.cc); NewBerthApp then calls FinishCommandTree, which makes every subcommand pass
// the options it does not know to its parent, so `berth service get web -o json -n shop`
// works without the group doing anything. Thread-safety: single-threaded, like the CLI.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/output.h"

namespace CLI {
class App;
class Option;
class ParseError;
}  // namespace CLI

namespace berth::cli {

// The global flags: --addr, --token, -n/--namespace, -A/--all-namespaces, -o/--output,
// --context. Bound to `ctx`'s fields of the same names.
void AddGlobalFlags(CLI::App& app, Context& ctx);
// Formats `cmd` prints beyond table, wide, json, yaml and name (`security scan`: sarif,
// cyclonedx); the command reads ctx.output itself for them.
void ExtraFormats(CLI::App* cmd, Context& ctx, std::vector<std::string> formats);
// The -o formats `cmd` accepts.
std::vector<std::string> FormatsOf(const CLI::App* cmd, const Context& ctx);
// After parsing: -o names a format the chosen command prints; else the error lists them.
Result<void> CheckOutput(const CLI::App& root, const Context& ctx);
// The names of the global flags ("--addr", "-n", "--namespace", ...).
const std::vector<std::string>& GlobalFlagNames();
// An option whose value is one of `choices`: shown in --help as "a|b|c" and offered by shell
// completion; checked at parse time with `check`, else left to the server (which owns the
// vocabulary: restart policies, roles, ...).
CLI::Option* Choices(CLI::Option* option, const std::vector<std::string>& choices,
                     bool check = true);
// Called once every group is added: every subcommand falls through to its parent (so global
// flags work anywhere). A subcommand that defines an option named like a global flag is a
// programming error: it fails naming the option, and the CLI's tests run this over the tree.
Result<void> FinishCommandTree(CLI::App& app);

// A list (or get) command: what it fetches, the objects in the answer and how they print.
struct ListSpec {
  View view;
  // Fetches the API's answer (the command's own options are captured by the closure).
  std::function<Result<Json>(Context&)> fetch;
  // The objects in the answer; default: doc[view.Plural()].
  std::function<Json(const Json& doc)> items;
  // A JSON-lines stream whose lines say that something changed, given the answer just
  // fetched (to start after its revision); empty: --watch polls every kPollInterval.
  std::function<std::string(const Context&, const Json& doc)> watch_path;
  // For a get of one object: what table/wide print instead of its row (a describe-style
  // text); -w still prints rows.
  std::function<void(const Context&, const Json& doc)> detail;
  // Shell completion offers these objects' names (view.name) for options and positionals of
  // this type_name ("SERVICE"); empty: none. The first list to claim a type_name keeps it.
  std::string complete_as;
};

inline constexpr std::chrono::milliseconds kPollInterval{2000};

// Adds `name` under `parent`: prints the fetched objects in the -o format; with -w/--watch
// goes on printing what changes (see RunWatch). Returns the subcommand for its own options.
CLI::App* AddListCommand(CLI::App* parent, Context& ctx, const std::string& name,
                         const std::string& help, ListSpec spec);

// The watch loop of a list command: prints the objects once, then, each time the stream
// says something changed (or every kPollInterval without one), fetches again and prints
// what was added, modified or deleted: table/wide rows under an EVENT column (as kubectl's
// --output-watch-events), json one {"type","object"} per line, yaml one document per change,
// name `kind/name`. Returns 1 (after printing the error) when a fetch fails; runs until then.
int RunWatch(Context& ctx, const ListSpec& spec);

// The message for a CLI11 parse error, with what to do next: the nearest command for an
// unknown one, the commands for a missing one, the formats for a bad -o, how to list
// namespaces for a missing -n value.
std::string ParseErrorMessage(const CLI::App& root, const CLI::ParseError& e,
                              const std::vector<std::string>& args);
// The candidate nearest to `word` by edit distance, or empty when none is close.
std::string Nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace berth::cli
