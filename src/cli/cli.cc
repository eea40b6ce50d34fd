#include "cli/cli.h"

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "core/http/client.h"

namespace berth::cli {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Json ReadConfig() {
  std::ifstream in(ConfigPath());
  if (!in) return Json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str());
  return j && j->is_object() ? *j : Json::object();
}

std::string DefaultAdminTokenPath() {
  if (geteuid() == 0) return "/var/lib/berth/admin.token";
  std::string state = Env("XDG_STATE_HOME");
  if (state.empty()) state = Env("HOME") + "/.local/state";
  return state + "/berth/admin.token";
}

void EmitYaml(YAML::Emitter& out, const Json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      EmitYaml(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) EmitYaml(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << j.get<std::string>();
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

}  // namespace

std::string ConfigPath() {
  std::string base = Env("XDG_CONFIG_HOME");
  if (base.empty()) base = Env("HOME") + "/.config";
  return base + "/berth/config.json";
}

Format Context::format() const {
  if (output == "json") return Format::kJson;
  if (output == "yaml") return Format::kYaml;
  return Format::kTable;
}

void Context::Resolve() {
  Json config = ReadConfig();
  if (addr.empty()) addr = Env("BERTH_ADDR");
  if (addr.empty()) addr = config.value("addr", std::string());
  if (addr.empty()) addr = "http://127.0.0.1:7700";
  // Several servers, comma-separated ("https://a:7700,https://b:7700"): the API client fails
  // over between them (core/http/client.h). Each gets a scheme and loses a trailing slash.
  std::string normalized;
  for (size_t start = 0; start <= addr.size();) {
    size_t comma = std::min(addr.find(',', start), addr.size());
    std::string one = addr.substr(start, comma - start);
    if (one.find("://") == std::string::npos) one = "http://" + one;
    while (!one.empty() && one.back() == '/') one.pop_back();
    normalized += (normalized.empty() ? "" : ",") + one;
    start = comma + 1;
  }
  addr = std::move(normalized);
  if (ca_file.empty()) ca_file = Env("BERTH_CA_FILE");
  if (token.empty()) token = Env("BERTH_TOKEN");
  if (token.empty()) token = config.value("token", std::string());
  if (token.empty()) {
    std::ifstream in(DefaultAdminTokenPath());
    std::getline(in, token);
  }
}

Result<Json> Context::Call(std::string_view method, std::string_view path, const Json* body) {
  if (body) return CallText(method, path, body->dump(), "application/json");
  return CallText(method, path, "", "");
}

Result<Json> Context::CallText(std::string_view method, std::string_view path, std::string payload,
                               std::string_view content_type) {
  http::Headers headers;
  if (!token.empty()) headers.Set("Authorization", "Bearer " + token);
  if (!content_type.empty()) headers.Set("Content-Type", std::string(content_type));
  auto resp = http::FetchFrom(addr, method, path, std::move(payload), std::move(headers),
                              {.tls_ca_file = ca_file});
  if (!resp) {
    return Fail(resp.error().code,
                fmt::format("cannot reach berthd at {}: {}", addr, resp.error().message));
  }
  auto j = ParseJson(resp->body);
  if (resp->status >= 400) {
    std::string message = resp->body;
    if (j && j->contains("error")) message = (*j)["error"].value("message", message);
    ErrorCode code = ErrorCode::kInternal;
    switch (resp->status) {
      case 400:
        code = ErrorCode::kInvalidArgument;
        break;
      case 401:
        code = ErrorCode::kUnauthenticated;
        break;
      case 403:
        code = ErrorCode::kPermissionDenied;
        break;
      case 404:
        code = ErrorCode::kNotFound;
        break;
      case 409:
        code = ErrorCode::kFailedPrecondition;
        break;
      case 410:
        code = ErrorCode::kCompacted;
        break;
      case 413:
        code = ErrorCode::kPayloadTooLarge;
        break;
      case 503:
        code = ErrorCode::kUnavailable;
        break;
      default:
        break;
    }
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Fail(code, fmt::format("HTTP {}: {}", resp->status, message));
  }
  if (!j)
    return Fail(ErrorCode::kInternal, "server sent a body that is not JSON: " + j.error().message);
  return *j;
}

Result<void> Context::Stream(std::string_view path,
                             const std::function<bool(const Json&)>& on_line) {
  return Stream("GET", path, nullptr, on_line);
}

Result<void> Context::Stream(std::string_view method, std::string_view path, const Json* body,
                             const std::function<bool(const Json&)>& on_line) {
  auto client = http::Client::Create(
      addr, {.timeout = std::chrono::hours(24 * 365), .tls_ca_file = ca_file});
  if (!client) return std::unexpected(client.error());
  http::Request req;
  req.method = std::string(method);
  req.target = std::string(path);
  if (!token.empty()) req.headers.Set("Authorization", "Bearer " + token);
  if (body) {
    req.headers.Set("Content-Type", "application/json");
    req.body = body->dump();
  }
  int status = 0;
  std::string error_body;
  std::string pending;
  bool stop = false;
  auto r = (*client)->Stream(
      req, [&](const http::Response& head) { status = head.status; },
      [&](std::string_view data) {
        if (status >= 400) {
          error_body.append(data);
          return true;
        }
        pending.append(data);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          auto line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (line.empty()) continue;
          auto j = ParseJson(line);
          if (!j) continue;
          if (!on_line(*j)) {
            stop = true;
            return false;
          }
        }
        return true;
      });
  if (status >= 400) {
    auto j = ParseJson(error_body);
    std::string message =
        j && j->contains("error") ? (*j)["error"].value("message", error_body) : error_body;
    return Fail(ErrorCode::kInvalidArgument, fmt::format("HTTP {}: {}", status, message));
  }
  if (!r && !stop) return r;
  return {};
}

int PrintError(const Error& error) {
  std::string m = error.message;
  for (auto& c : m) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "error: %s\n", m.c_str());
  return 1;
}

bool PrintStructured(const Context& ctx, const Json& j) {
  switch (ctx.format()) {
    case Format::kJson:
      std::cout << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
      return true;
    case Format::kYaml: {
      YAML::Emitter out;
      EmitYaml(out, j);
      std::cout << out.c_str() << "\n";
      return true;
    }
    case Format::kTable:
      return false;
  }
  return false;
}

void PrintTable(const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 3, ' ');
    }
    std::cout << out << "\n";
  };
  line(headers);
  for (const auto& row : rows) line(row);
}

std::string PathEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string FormatTime(int64_t ms) {
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace berth::cli
