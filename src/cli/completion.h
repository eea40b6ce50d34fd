// Shell completion for bash and zsh. `berth completion bash|zsh` prints a script; the script
// calls the hidden `berth __complete WORD...` (the words after `berth` up to the one under the
// cursor, which may be empty), which prints one candidate a line ("value\tdescription"), or a
// first line ":files" / ":dirs" asking the shell to complete paths.
//
// Candidates come from the command tree itself, so a new command group gets completion with
// no work: subcommands, flags (global ones included), values of options made with Choices
// (command.h: -o's formats...), and names from the server for positionals and options whose
// type_name a list command claims with ListSpec::complete_as ("SERVICE", "APP", "NODE", ...;
// "NAMESPACE" here). Name look-ups use short timeouts and print nothing when the server cannot
// be reached or refuses. Thread-safety: single-threaded.
#pragma once

#include <string>
#include <vector>

#include "cli/cli.h"

namespace berth::cli {

struct Completion {
  struct Item {
    std::string value;
    std::string description;
  };
  std::vector<Item> items;
  std::string directive;  // "", "files" or "dirs"
};

// The candidates for the last of `words` (the words after `berth`, the last being the one
// under the cursor, "" for a new word). bash splits "--output=js" into "--output", "=", "js";
// zsh does not: both are understood.
Completion Complete(const std::vector<std::string>& words);
// What `berth __complete` prints for `c`.
std::string FormatCompletion(const Completion& c);
// The scripts `berth completion bash|zsh` prints.
std::string BashScript();
std::string ZshScript();

}  // namespace berth::cli
