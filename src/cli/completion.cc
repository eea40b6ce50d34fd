#include "cli/completion.h"

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <set>

#include "cli/command.h"
#include "cli/commands.h"

namespace berth::cli {
namespace {

// The option named `name` as typed ("-o", "--output") on `app` or a parent it falls through to.
const CLI::Option* FindOption(const CLI::App* app, const std::string& name) {
  for (; app != nullptr; app = app->get_parent()) {
    for (const auto* opt : app->get_options()) {
      if (opt->get_positional()) continue;
      if (name.starts_with("--") ? opt->check_lname(name.substr(2))
                                 : (name.size() == 2 && opt->check_sname(name.substr(1)))) {
        return opt;
      }
    }
  }
  return nullptr;
}

bool TakesValue(const CLI::Option* opt) { return opt->get_type_size_max() > 0; }

const CLI::App* Deepest(const CLI::App& root) {
  const CLI::App* app = &root;
  while (!app->get_subcommands().empty()) app = app->get_subcommands().back();
  return app;
}

// The namespaces in use: those of apps and of registry services, and "default".
Result<std::vector<std::string>> Namespaces(Context& ctx) {
  std::set<std::string> out = {"default"};
  auto apps = ctx.Call("GET", "/v1/apps");
  if (!apps) return std::unexpected(apps.error());
  for (const auto& a : apps->value("apps", Json::array())) out.insert(a.value("namespace", ""));
  if (auto services = ctx.Call("GET", "/v1/registry")) {
    for (const auto& s : services->value("services", Json::array())) {
      out.insert(s.value("namespace", ""));
    }
  }
  out.erase("");
  return std::vector<std::string>(out.begin(), out.end());
}

// Candidates for a value of type `type` (an option's or positional's type_name).
void AddValues(Context& ctx, std::string type, Completion& out) {
  type = type.substr(0, type.find(':'));  // CLI11 appends a check's description: "a|b:{a,b}"
  if (type.find('|') != std::string::npos) {
    size_t i = 0;
    while (i <= type.size()) {
      auto end = type.find('|', i);
      if (end == std::string::npos) end = type.size();
      out.items.push_back({type.substr(i, end - i), ""});
      i = end + 1;
    }
    return;
  }
  if (type == "FILE") {
    out.directive = "files";
    return;
  }
  if (type == "DIR") {
    out.directive = "dirs";
    return;
  }
  auto source = ctx.names.find(type);
  if (type != "NAMESPACE" && source == ctx.names.end()) return;
  // Names from the server: fail quietly and fast.
  if (!ctx.Resolve()) return;
  ctx.quick = true;
  auto names = type == "NAMESPACE" ? Namespaces(ctx) : source->second(ctx);
  if (!names) return;
  for (auto& n : *names) out.items.push_back({std::move(n), ""});
}

// The positional of `app` the next word fills, or null.
const CLI::Option* NextPositional(const CLI::App* app) {
  for (const auto* opt : app->get_options()) {
    if (!opt->get_positional()) continue;
    const int need = std::max(1, opt->get_items_expected_min());
    if (static_cast<int>(opt->count()) < need || opt->get_items_expected_max() > 1) return opt;
  }
  return nullptr;
}

void AddFlags(const CLI::App* app, Completion& out) {
  for (; app != nullptr; app = app->get_parent()) {
    for (const auto* opt : app->get_options()) {
      if (opt->get_positional()) continue;
      for (const auto& l : opt->get_lnames())
        out.items.push_back({"--" + l, opt->get_description()});
      for (const auto& s : opt->get_snames())
        out.items.push_back({"-" + s, opt->get_description()});
    }
  }
}

void AddSubcommands(const CLI::App* app, Completion& out) {
  for (const auto* sub : app->get_subcommands([](const CLI::App* s) {
         return !s->get_name().empty() && !s->get_name().starts_with("__");
       })) {
    out.items.push_back({sub->get_name(), sub->get_description()});
  }
}

// Parses the complete words (errors ignored: the words are usually incomplete) so that the
// tree knows the chosen subcommands, the filled positionals and the global flags.
void ParseQuietly(CLI::App& app, std::vector<std::string> words) {
  std::reverse(words.begin(), words.end());
  try {
    app.parse(words);
  } catch (const std::exception&) {
  }
}

}  // namespace

Completion Complete(const std::vector<std::string>& input) {
  // Join bash's "--flag", "=", "value" back into "--flag=value".
  std::vector<std::string> words;
  bool after_equals = false;  // the word under the cursor follows "--flag=" (bash)
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == "=" && !words.empty() && words.back().starts_with("-")) {
      if (i + 1 == input.size()) {
        words.push_back("");  // cursor right after '='
        after_equals = true;
      } else if (i + 2 == input.size()) {
        words.push_back(input[i + 1]);
        after_equals = true;
        ++i;
      } else {
        words.back() += "=" + input[++i];
      }
      continue;
    }
    words.push_back(input[i]);
  }
  if (words.empty()) words.push_back("");
  std::string cur = words.back();
  words.pop_back();

  Context ctx;
  auto app = NewBerthApp(ctx);
  Completion out;
  // The value of an option: "--flag=va" (zsh), "--flag" "=" "va" (bash), "--flag" "va".
  std::string flag, emit_prefix;
  if (after_equals) {
    flag = words.back();
    words.pop_back();
  } else if (cur.starts_with("--") && cur.find('=') != std::string::npos) {
    flag = cur.substr(0, cur.find('='));
    emit_prefix = cur.substr(0, cur.find('=') + 1);
    cur = cur.substr(cur.find('=') + 1);
  } else if (!words.empty() && words.back().starts_with("-") &&
             words.back().find('=') == std::string::npos) {
    flag = words.back();
    words.pop_back();
  }
  ParseQuietly(*app, words);
  const CLI::App* at = Deepest(*app);
  const CLI::Option* opt = flag.empty() ? nullptr : FindOption(at, flag);
  if (opt && TakesValue(opt)) {
    AddValues(ctx, opt->get_type_name(), out);
  } else if (cur.starts_with("-")) {
    AddFlags(at, out);
  } else if (!at->get_subcommands([](const CLI::App* s) {
                  return !s->get_name().empty();
                }).empty()) {
    AddSubcommands(at, out);
  } else if (const auto* pos = NextPositional(at)) {
    AddValues(ctx, pos->get_type_name(), out);
  }
  std::erase_if(out.items, [&](const Completion::Item& i) { return !i.value.starts_with(cur); });
  for (auto& i : out.items) i.value = emit_prefix + i.value;
  return out;
}

std::string FormatCompletion(const Completion& c) {
  std::string out;
  if (!c.directive.empty()) out += ":" + c.directive + "\n";
  for (const auto& i : c.items) {
    std::string d = i.description;
    std::replace(d.begin(), d.end(), '\n', ' ');
    std::replace(d.begin(), d.end(), '\t', ' ');
    out += i.value + "\t" + d + "\n";
  }
  return out;
}

std::string BashScript() {
  return R"SH(# bash completion for berth. Load it with: source <(berth completion bash)
# or save it: berth completion bash > /etc/bash_completion.d/berth
_berth_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}" out line directive="" prefix=""
  out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  local -a values=()
  local IFS=$'\n'
  for line in $out; do
    case "$line" in
      :files) directive=files ;;
      :dirs) directive=dirs ;;
      *) values+=("${line%%$'\t'*}") ;;
    esac
  done
  # Right after "--flag=" bash's word is "=" itself: complete an empty value, keep the "=".
  if [[ "$cur" == "=" ]]; then cur=""; prefix="="; fi
  case "$directive" in
    files) COMPREPLY=($(compgen -f -- "$cur")) ;;
    dirs) COMPREPLY=($(compgen -d -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "${values[*]}" -- "$cur")) ;;
  esac
  if [[ -n "$prefix" ]]; then COMPREPLY=("${COMPREPLY[@]/#/=}"); fi
  return 0
}
complete -F _berth_complete berth
)SH";
}

std::string ZshScript() {
  return R"SH(#compdef berth
# zsh completion for berth. Load it with: source <(berth completion zsh) (after compinit),
# or save it as _berth in a directory of $fpath.
_berth() {
  local -a lines values described
  local line directive=""
  lines=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for line in "${lines[@]}"; do
    case "$line" in
      :files) directive=files ;;
      :dirs) directive=dirs ;;
      "") ;;
      *)
        values+=("${line%%$'\t'*}")
        if [[ -n "${line#*$'\t'}" ]]; then
          described+=("${line%%$'\t'*}  -- ${line#*$'\t'}")
        else
          described+=("${line%%$'\t'*}")
        fi
        ;;
    esac
  done
  case "$directive" in
    files) _files ;;
    dirs) _files -/ ;;
    *) (( ${#values} )) && compadd -l -d described -- "${values[@]}" ;;
  esac
}
if (( $+functions[compdef] )); then
  compdef _berth berth
fi
)SH";
}

void AddCompletionCommands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("completion", "Print a shell completion script (bash or zsh)");
  auto shell = std::make_shared<std::string>();
  Choices(cmd->add_option("shell", *shell, "The shell")->required(), {"bash", "zsh"});
  cmd->callback([&ctx, shell] {
    ctx.run = [shell] {
      std::cout << (*shell == "zsh" ? ZshScript() : BashScript());
      return 0;
    };
  });
}

}  // namespace berth::cli
