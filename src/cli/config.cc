#include "cli/config.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "core/json.h"

namespace berth::cli {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Error Bad(const std::string& path, std::string_view what) {
  return Error(ErrorCode::kInvalidArgument,
               fmt::format("config file {}: {}; fix it, or remove it and run `berth login` again",
                           path, what));
}

Result<std::string> StringField(const Json& j, const char* field, const std::string& path,
                                const std::string& where) {
  if (!j.contains(field)) return std::string();
  if (!j[field].is_string()) {
    return std::unexpected(Bad(path, fmt::format("{}.{} must be a string", where, field)));
  }
  return j[field].get<std::string>();
}

Result<SavedContext> ReadContext(const Json& j, const std::string& path, size_t i) {
  const std::string where = fmt::format("contexts[{}]", i);
  if (!j.is_object()) return std::unexpected(Bad(path, where + " must be an object"));
  if (auto r = RejectUnknownFields(j, {"name", "addr", "token", "namespace"}, where); !r) {
    return std::unexpected(Bad(path, r.error().message));
  }
  SavedContext c;
  for (auto [field, out] : {std::pair{"name", &c.name}, std::pair{"addr", &c.addr},
                            std::pair{"token", &c.token}, std::pair{"namespace", &c.ns}}) {
    auto v = StringField(j, field, path, where);
    if (!v) return std::unexpected(v.error());
    *out = std::move(*v);
  }
  if (c.name.empty()) return std::unexpected(Bad(path, where + ".name is missing"));
  if (c.addr.empty()) return std::unexpected(Bad(path, where + ".addr is missing"));
  c.addr = NormalizeAddr(c.addr);
  return c;
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
  auto j = ParseJson(ss.str());
  if (!j) return std::unexpected(Bad(path, "not JSON: " + j.error().message));
  if (!j->is_object()) return std::unexpected(Bad(path, "not a JSON object"));
  Config config;
  if (!j->contains("contexts")) {
    // The file of older versions: one server, no name.
    if (auto r = RejectUnknownFields(*j, {"addr", "token"}, "the config"); !r) {
      return std::unexpected(Bad(path, r.error().message));
    }
    auto addr = StringField(*j, "addr", path, "the config");
    auto token = StringField(*j, "token", path, "the config");
    if (!addr) return std::unexpected(addr.error());
    if (!token) return std::unexpected(token.error());
    if (addr->empty()) return config;
    SavedContext c{ContextNameFor(*addr), NormalizeAddr(*addr), *token, ""};
    config.current = c.name;
    config.contexts.push_back(std::move(c));
    return config;
  }
  if (auto r = RejectUnknownFields(*j, {"current", "contexts"}, "the config"); !r) {
    return std::unexpected(Bad(path, r.error().message));
  }
  auto current = StringField(*j, "current", path, "the config");
  if (!current) return std::unexpected(current.error());
  config.current = *current;
  const Json& list = (*j)["contexts"];
  if (!list.is_array()) return std::unexpected(Bad(path, "contexts must be a list"));
  for (size_t i = 0; i < list.size(); ++i) {
    auto c = ReadContext(list[i], path, i);
    if (!c) return std::unexpected(c.error());
    if (config.Find(c->name)) {
      return std::unexpected(
          Bad(path, fmt::format("contexts[{}]: a second context named \"{}\"", i, c->name)));
    }
    config.contexts.push_back(std::move(*c));
  }
  if (!config.current.empty() && !config.Find(config.current)) {
    return std::unexpected(
        Bad(path, fmt::format("current context \"{}\" is not in contexts", config.current)));
  }
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
  if (addr.find("://") == std::string::npos) addr = "http://" + addr;
  while (!addr.empty() && addr.back() == '/') addr.pop_back();
  return addr;
}

std::string ContextNameFor(std::string_view addr) {
  std::string_view s = addr;
  if (auto p = s.find("://"); p != std::string_view::npos) s.remove_prefix(p + 3);
  if (auto p = s.find('/'); p != std::string_view::npos) s = s.substr(0, p);
  return std::string(s);
}

}  // namespace berth::cli
