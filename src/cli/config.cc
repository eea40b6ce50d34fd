#include "cli/config.h"

#include <fmt/core.h>
#include <sys/stat.h>
#include "core/http/client.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "core/http/client.h"
#include "core/input.h"
#include "core/json.h"
#include "core/try.h"
#include "core/units.h"

namespace berth::cli {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A config error with what to do about it.
Error Bad(const Error& e) {
  return Error(
      ErrorCode::kInvalidArgument,
      fmt::format("config file {}; fix it, or remove it and run `berth login` again", e.message));
}

Result<SavedContext> ReadContext(const input::Node& n) {
  SavedContext c;
  input::Object o(n);
  o.Required("name", c.name, input::NonEmptyString);
  o.Required("addr", c.addr, input::NonEmptyString);
  o.Optional("token", c.token);
  o.Optional("namespace", c.ns);
  BERTH_TRY(o.Done());
  c.addr = NormalizeAddr(c.addr);
  return c;
}

Result<Config> ReadConfig(const input::Node& root) {
  Config config;
  if (root.IsMap() && !root.Find("contexts") && root.Find("addr")) {
    // The file of older versions: one server, no name.
    SavedContext c;
    input::Object o(root);
    o.Optional("addr", c.addr, input::NonEmptyString);
    o.Optional("token", c.token);
    BERTH_TRY(o.Done());
    c.addr = NormalizeAddr(c.addr);
    c.name = ContextNameFor(c.addr);
    config.current = c.name;
    config.contexts.push_back(std::move(c));
    return config;
  }
  input::Object o(root);
  o.Optional("current", config.current);
  o.Optional("contexts", config.contexts, input::ListOf(ReadContext));
  BERTH_TRY(o.Done());
  const input::Node* list = root.Find("contexts");
  for (size_t i = 0; i < config.contexts.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (config.contexts[j].name == config.contexts[i].name) {
        return std::unexpected(list->items()[i]->Invalid(
            fmt::format("a second context named {}", Quoted(config.contexts[i].name))));
      }
    }
  }
  if (!config.current.empty() && !config.Find(config.current)) {
    return std::unexpected(root.Find("current")->Invalid(
        fmt::format("{} is not the name of a context", Quoted(config.current))));
  }
  return config;
}

}  // namespace

const SavedContext* Config::Find(std::string_view name) const {
  for (const auto& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

SavedContext* Config::Find(std::string_view name) {
  for (auto& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const SavedContext* Config::ForAddr(std::string_view addr) const {
  const SavedContext* cur = Find(current);
  if (cur && cur->addr == addr) return cur;
  for (const auto& c : contexts) {
    if (c.addr == addr) return &c;
  }
  return nullptr;
}

std::string Config::Names() const {
  std::string out;
  for (const auto& c : contexts) out += (out.empty() ? "" : ", ") + c.name;
  return out.empty() ? "none" : out;
}

std::string ConfigPath() {
  std::string base = Env("XDG_CONFIG_HOME");
  if (base.empty()) base = Env("HOME") + "/.config";
  return base + "/berth/config.json";
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Config{};
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find_first_not_of(" \t\r\n") == std::string::npos) return Config{};
  auto doc = input::ParseJson(ss.str(), path);
  if (!doc) return std::unexpected(Bad(doc.error()));
  auto config = ReadConfig(doc->root());
  if (!config) return std::unexpected(Bad(config.error()));
  return config;
}

Result<void> SaveConfig(const std::string& path, const Config& config) {
  Json list = Json::array();
  for (const auto& c : config.contexts) {
    Json j{{"name", c.name}, {"addr", c.addr}, {"token", c.token}};
    if (!c.ns.empty()) j["namespace"] = c.ns;
    list.push_back(std::move(j));
  }
  Json doc{{"current", config.current}, {"contexts", std::move(list)}};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    // Created 0600 before the token is written into it.
    std::ofstream touch(tmp, std::ios::trunc);
    if (!touch) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("cannot write {} (check the directory's permissions or set "
                              "XDG_CONFIG_HOME)",
                              tmp));
    }
  }
  ::chmod(tmp.c_str(), 0600);
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump(2) << "\n";
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return Fail(ErrorCode::kInternal, fmt::format("cannot write {}", tmp));
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Fail(ErrorCode::kInternal, fmt::format("cannot replace {}: {}", path, ec.message()));
  }
  return {};
}

std::string NormalizeAddr(std::string addr) {
  if (addr.empty()) return addr;
  return http::WithSchemes(addr);
}

std::string ContextNameFor(std::string_view addr) {
  std::string_view s = addr;
  if (auto p = s.find("://"); p != std::string_view::npos) s.remove_prefix(p + 3);
  if (auto p = s.find('/'); p != std::string_view::npos) s = s.substr(0, p);
  return std::string(s);
}

}  // namespace berth::cli
