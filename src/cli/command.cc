#include "cli/command.h"

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>

#include "cli/watch.h"

namespace berth::cli {
namespace {

// "berth service get": the path of a subcommand from the root.
std::string CommandPath(const CLI::App* app) {
  std::vector<std::string> names;
  for (; app != nullptr && app->get_parent() != nullptr; app = app->get_parent()) {
    names.push_back(app->get_name());
  }
  std::string out = "berth";
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!it->empty()) out += " " + *it;
  }
  return out;
}

// The deepest subcommand the parse reached.
const CLI::App* Deepest(const CLI::App& root) {
  const CLI::App* app = &root;
  while (true) {
    auto parsed = app->get_subcommands();
    if (parsed.empty()) return app;
    app = parsed.back();
  }
}

std::vector<std::string> SubcommandNames(const CLI::App* app) {
  std::vector<std::string> out;
  for (const auto* sub : app->get_subcommands([](const CLI::App* s) {
         return !s->get_name().empty() && !s->get_name().starts_with("__");
       })) {
    out.push_back(sub->get_name());
  }
  return out;
}

// Every option name (-x, --xy) of `app` and of the parents it falls through to.
std::vector<std::string> OptionNames(const CLI::App* app) {
  std::vector<std::string> out;
  for (; app != nullptr; app = app->get_parent()) {
    for (const auto* opt : app->get_options()) {
      for (const auto& s : opt->get_snames()) out.push_back("-" + s);
      for (const auto& l : opt->get_lnames()) out.push_back("--" + l);
    }
  }
  return out;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The words of "The following arguments were not expected: a b".
std::vector<std::string> ExtraWords(const std::string& what) {
  std::vector<std::string> out;
  auto colon = what.find(": ");
  if (colon == std::string::npos) return out;
  std::string rest = what.substr(colon + 2);
  size_t i = 0;
  while (i < rest.size()) {
    auto end = rest.find(' ', i);
    if (end == std::string::npos) end = rest.size();
    if (end > i) out.push_back(rest.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string UnexpectedMessage(const CLI::App* at, const std::vector<std::string>& words,
                              const std::vector<std::string>& args) {
  const std::string path = CommandPath(at);
  // The first unexpected word in command-line order.
  std::string word = words.empty() ? "" : words.front();
  for (const auto& a : args) {
    if (std::find(words.begin(), words.end(), a) != words.end()) {
      word = a;
      break;
    }
  }
  if (word.starts_with("-")) {
    std::string flag = word.substr(0, word.find('='));
    std::string near = Nearest(flag, OptionNames(at));
    return fmt::format("unknown flag {} for `{}`{}; `{} --help` lists its flags", flag, path,
                       near.empty() ? "" : fmt::format(" (did you mean {}?)", near), path);
  }
  auto subs = SubcommandNames(at);
  if (!subs.empty() && at->get_subcommands().empty()) {
    std::string near = Nearest(word, subs);
    return fmt::format(
        "unknown command \"{}\" for `{}`{}; `{} --help` lists the commands", word, path,
        near.empty() ? "" : fmt::format(" (did you mean `{} {}`?)", path, near), path);
  }
  return fmt::format("unexpected argument \"{}\" for `{}`; `{} --help` shows what it takes", word,
                     path, path);
}

}  // namespace

void AddGlobalFlags(CLI::App& app, Context& ctx) {
  // Given twice, the last one counts (as with kubectl): `berth -o json ... -o yaml` is yaml.
  const auto last = CLI::MultiOptionPolicy::TakeLast;
  app.add_option("--addr", ctx.addr,
                 "API address (default: --context's, $BERTH_ADDR, the current context's, "
                 "http://127.0.0.1:7700)")
      ->multi_option_policy(last);
  app.add_option("--token", ctx.token,
                 "API token (default: --context's, $BERTH_TOKEN, the saved context's for the "
                 "address, the local admin token)")
      ->multi_option_policy(last);
  // Every -n is kept (`token create --role viewer -n shop -n billing`); ns is the last.
  app.add_option_function<std::vector<std::string>>(
         "-n,--namespace",
         [&ctx](const std::vector<std::string>& v) {
           ctx.namespaces = v;
           if (!v.empty()) ctx.ns = v.back();
         },
         "Namespace (default: --context's, $BERTH_NAMESPACE, the context's, default)")
      ->type_name("NAMESPACE")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("-A,--all-namespaces", ctx.all_namespaces, "Every namespace (lists)");
  // Checked once the command is known (CheckOutput): some print more formats.
  Choices(app.add_option("-o,--output", ctx.output, "Output format"),
          std::vector<std::string>(std::begin(kFormats), std::end(kFormats)), false)
      ->multi_option_policy(last);
  app.add_option("--context", ctx.context, "A saved context (berth context ls) for this command")
      ->type_name("CONTEXT")
      ->multi_option_policy(last);
}

CLI::Option* Choices(CLI::Option* option, const std::vector<std::string>& choices, bool check) {
  std::string names;
  for (const auto& c : choices) names += (names.empty() ? "" : "|") + c;
  // The type name lists the choices; the check's own description would list them twice.
  if (check) option->check(CLI::IsMember(choices).description(""));
  return option->type_name(names);
}

const std::vector<std::string>& GlobalFlagNames() {
  static const std::vector<std::string> kNames = {"--addr",      "--token",  "-n",
                                                  "--namespace", "-A",       "--all-namespaces",
                                                  "-o",          "--output", "--context"};
  return kNames;
}

Result<void> FinishCommandTree(CLI::App& app) {
  const auto& globals = GlobalFlagNames();
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();
    sub->footer(
        "Global flags, in any position: -o/--output table|wide|json|yaml|name, -n/--namespace "
        "NS, -A/--all-namespaces, --addr URL, --token TOKEN, --context NAME (berth --help)");
    for (const auto* opt : sub->get_options()) {
      std::vector<std::string> names;
      for (const auto& s : opt->get_snames()) names.push_back("-" + s);
      for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
      for (const auto& n : names) {
        if (std::find(globals.begin(), globals.end(), n) != globals.end()) {
          return Fail(ErrorCode::kInternal,
                      fmt::format("`{}` defines {}, a global flag: drop it and use the Context's "
                                  "field (see src/cli/README.md)",
                                  CommandPath(sub), n));
        }
      }
    }
    if (auto r = FinishCommandTree(*sub); !r) return r;
  }
  return {};
}

CLI::App* AddListCommand(CLI::App* parent, Context& ctx, const std::string& name,
                         const std::string& help, ListSpec spec) {
  auto* cmd = parent->add_subcommand(name, help);
  auto watch = std::make_shared<bool>(false);
  cmd->add_flag("-w,--watch", *watch, "Go on printing what changes (Ctrl-C to stop)");
  auto s = std::make_shared<ListSpec>(std::move(spec));
  if (!s->items) {
    s->items = [plural = s->view.Plural()](const Json& doc) {
      return doc.contains(plural) ? doc[plural] : Json::array();
    };
  }
  if (!s->complete_as.empty() && !ctx.names.contains(s->complete_as)) {
    ctx.names[s->complete_as] = [s](Context& c) -> Result<std::vector<std::string>> {
      auto doc = s->fetch(c);
      if (!doc) return std::unexpected(doc.error());
      std::vector<std::string> out;
      for (const auto& item : s->items(*doc)) {
        out.push_back(s->view.name ? s->view.name(item) : item.value("name", ""));
      }
      return out;
    };
  }
  cmd->callback([&ctx, s, watch] {
    ctx.run = [&ctx, s, watch] {
      if (*watch) return RunWatch(ctx, *s);
      auto doc = s->fetch(ctx);
      if (!doc) return PrintError(doc.error());
      const Format f = ctx.format();
      if (s->detail && (f == Format::kTable || f == Format::kWide)) {
        s->detail(ctx, *doc);
      } else {
        PrintList(ctx, s->view, *doc, s->items(*doc));
      }
      return 0;
    };
  });
  return cmd;
}

void ExtraFormats(CLI::App* cmd, Context& ctx, std::vector<std::string> formats) {
  ctx.extra_formats[cmd] = std::move(formats);
}

std::vector<std::string> FormatsOf(const CLI::App* cmd, const Context& ctx) {
  std::vector<std::string> out(std::begin(kFormats), std::end(kFormats));
  if (auto it = ctx.extra_formats.find(cmd); it != ctx.extra_formats.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

Result<void> CheckOutput(const CLI::App& root, const Context& ctx) {
  const CLI::App* at = Deepest(root);
  const auto formats = FormatsOf(at, ctx);
  if (std::find(formats.begin(), formats.end(), ctx.output) != formats.end()) return {};
  std::string elsewhere;
  for (const auto& [cmd, extra] : ctx.extra_formats) {
    if (std::find(extra.begin(), extra.end(), ctx.output) != extra.end()) {
      elsewhere = fmt::format(" ({} is for `{}`)", ctx.output, CommandPath(cmd));
      break;
    }
  }
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("-o {}: not an output format{}; use one of {}{}", ctx.output,
                          at == &root ? "" : fmt::format(" of `{}`", CommandPath(at)),
                          Joined(formats), elsewhere));
}

std::string Nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (c.starts_with(word) && word.size() >= 2) d = std::min<size_t>(d, 1);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string ParseErrorMessage(const CLI::App& root, const CLI::ParseError& e,
                              const std::vector<std::string>& args) {
  const CLI::App* at = Deepest(root);
  const std::string path = CommandPath(at);
  const std::string what = e.what();
  const bool extras_error = dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
  const bool required_error = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr;
  const bool mismatch = dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr;
  // Words no command took (CLI11 reports a missing subcommand before them).
  const std::vector<std::string> extras = root.remaining(true);
  if (extras_error || (required_error && what.starts_with("A subcommand") && !extras.empty())) {
    return UnexpectedMessage(at, extras.empty() ? ExtraWords(what) : extras, args);
  }
  if (required_error && what.starts_with("A subcommand")) {
    return fmt::format("`{}` needs a command: {}; `{} --help` says what each does", path,
                       Joined(SubcommandNames(at)), path);
  }
  if (what.find("--namespace") != std::string::npos &&
      (mismatch || what.find("missing") != std::string::npos)) {
    return "-n/--namespace needs a namespace name; `berth get apps -A` and `berth service ls -A` "
           "show the namespaces in use";
  }
  if (what.find("--output") != std::string::npos) {
    return fmt::format("-o needs a format: one of {}",
                       Joined(std::vector<std::string>(std::begin(kFormats), std::end(kFormats))));
  }
  if (what.find("--context") != std::string::npos) {
    return "--context needs a context name; `berth context ls` lists them";
  }
  return fmt::format("{}; `{} --help` shows what it takes", what, path);
}

}  // namespace berth::cli
