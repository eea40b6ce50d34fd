#include "cli/cli.h"

#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "cli/config.h"
#include "core/http/client.h"

namespace berth::cli {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string DefaultAdminTokenPath() {
  if (geteuid() == 0) return "/var/lib/berth/admin.token";
  std::string state = Env("XDG_STATE_HOME");
  if (state.empty()) state = Env("HOME") + "/.local/state";
  return state + "/berth/admin.token";
}

ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kFailedPrecondition;
    case 410:
      return ErrorCode::kCompacted;
    case 413:
      return ErrorCode::kPayloadTooLarge;
    case 429:
      return ErrorCode::kResourceExhausted;
    case 503:
      return ErrorCode::kUnavailable;
    case 504:
      return ErrorCode::kDeadlineExceeded;
    default:
      return ErrorCode::kInternal;
  }
}

// The role a 403 names ("... needs role operator (token ...)", "... need the admin role"), or
// empty.
std::string NeededRole(const std::string& message) {
  auto word_at = [&](size_t p) {
    auto end = p;
    while (end < message.size() && std::islower(static_cast<unsigned char>(message[end]))) ++end;
    return message.substr(p, end - p);
  };
  constexpr std::string_view kNeedsRole = "needs role ";
  if (auto p = message.find(kNeedsRole); p != std::string::npos) {
    return word_at(p + kNeedsRole.size());
  }
  constexpr std::string_view kNeedThe = "need the ";
  if (auto p = message.find(kNeedThe); p != std::string::npos) {
    std::string role = word_at(p + kNeedThe.size());
    if (message.compare(p + kNeedThe.size() + role.size(), 5, " role") == 0) return role;
  }
  return "";
}

}  // namespace

Format Context::format() const {
  if (output == "wide") return Format::kWide;
  if (output == "json") return Format::kJson;
  if (output == "yaml") return Format::kYaml;
  if (output == "name") return Format::kName;
  return Format::kTable;
}

Result<void> Context::Resolve() {
  const std::string path = ConfigPath();
  auto config = LoadConfig(path);
  if (!config) return std::unexpected(config.error());
  const SavedContext* named = nullptr;
  if (!context.empty()) {
    named = config->Find(context);
    if (!named) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("--context {}: no such context in {} (contexts: {}); `berth "
                              "context ls` lists them, `berth login --addr URL --name {}` adds one",
                              context, path, config->Names(), context));
    }
  }
  const SavedContext* current = config->Find(config->current);
  if (!addr.empty()) {
    addr_source = "from --addr";
  } else if (named) {
    addr = named->addr;
    addr_source = fmt::format("from --context {}", named->name);
  } else if (!Env("BERTH_ADDR").empty()) {
    addr = Env("BERTH_ADDR");
    addr_source = "from BERTH_ADDR";
  } else if (current) {
    addr = current->addr;
    addr_source = fmt::format("from the current context {}", current->name);
  } else {
    addr = "http://127.0.0.1:7700";
    addr_source = "the default";
  }
  addr = NormalizeAddr(addr);
  if (ca_file.empty()) ca_file = Env("BERTH_CA_FILE");
  // The saved context of this server gives the token and namespace that env and flags leave
  // open; a context's token is never sent to another server.
  const SavedContext* saved = named && named->addr == addr ? named : config->ForAddr(addr);
  if (saved) context_in_use = saved->name;
  if (!token.empty()) {
    token_source = "--token";
  } else if (named && saved == named) {
    token = named->token;
    token_source = "--context " + named->name;
  }
  if (token.empty() && !Env("BERTH_TOKEN").empty()) {
    token = Env("BERTH_TOKEN");
    token_source = "BERTH_TOKEN";
  }
  if (token.empty() && saved) {
    token = saved->token;
    token_source = "context " + saved->name;
  }
  if (token.empty()) {
    std::ifstream in(DefaultAdminTokenPath());
    std::getline(in, token);
    if (!token.empty()) token_source = DefaultAdminTokenPath();
  }
  if (!ns.empty()) {
    ns_source = "-n";
  } else if (named && !named->ns.empty()) {
    ns = named->ns;
    ns_source = "--context " + named->name;
  } else if (!Env("BERTH_NAMESPACE").empty()) {
    ns = Env("BERTH_NAMESPACE");
    ns_source = "BERTH_NAMESPACE";
  } else if (saved && !saved->ns.empty()) {
    ns = saved->ns;
    ns_source = "context " + saved->name;
  } else {
    ns = "default";
  }
  return {};
}

Error Context::Unreachable(const Error& cause) const {
  return Error(cause.code,
               fmt::format("cannot reach berthd at {} ({}): {}; is it running? Point berth at "
                           "another server with --addr URL, BERTH_ADDR=URL or `berth context use "
                           "NAME`",
                           addr, addr_source, cause.message));
}

Error Context::HttpError(int status, std::string_view body) const {
  std::string message(body);
  if (auto j = ParseJson(body);
      j && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
    message = (*j)["error"].value("message", message);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.pop_back();
  }
  if (message.empty()) message = "(no message)";
  std::string next;
  if (status == 401) {
    next = fmt::format(
        "; log in with `berth login --addr {}` (it reads the token from standard input), or "
        "give one with --token or BERTH_TOKEN",
        addr);
  } else if (status == 403) {
    const std::string role = NeededRole(message);
    if (message.find("is bound to node") != std::string::npos) {
      next = "; a node token only makes its node agent's calls: use a person's token";
    } else if (!role.empty()) {
      next = fmt::format(
          "; use a token with role {} (an admin makes one with `berth token create --role {}`) "
          "and `berth login` with it",
          role, role);
    } else {
      next = "; ask an admin for a token with the role this needs";
    }
  } else if (status == 503) {
    next = "; the server is up but its store is not: retry, and check `berth status`";
  }
  return Error(CodeForStatus(status), fmt::format("HTTP {}: {}{}", status, message, next));
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
  http::ClientOptions options{.tls_ca_file = ca_file};
  if (quick) {
    options.connect_timeout = std::chrono::milliseconds(300);
    options.timeout = std::chrono::milliseconds(1500);
  }
  auto resp = http::FetchFrom(addr, method, path, std::move(payload), std::move(headers), options);
  if (!resp) return std::unexpected(Unreachable(resp.error()));
  if (resp->status >= 400) return std::unexpected(HttpError(resp->status, resp->body));
  auto j = ParseJson(resp->body);
  if (!j) {
    return Fail(ErrorCode::kInternal,
                fmt::format("{} {} answered with a body that is not JSON ({}); is {} a berthd API "
                            "address?",
                            method, path, j.error().message, addr));
  }
  return *j;
}

Result<void> Context::Stream(std::string_view path,
                             const std::function<bool(const Json&)>& on_line) {
  return Stream("GET", path, nullptr, on_line);
}

Result<void> Context::Stream(std::string_view method, std::string_view path, const Json* body,
                             const std::function<bool(const Json&)>& on_line) {
  auto client =
      http::Client::Create(addr, {.timeout = std::chrono::hours(24 * 365), .tls_ca_file = ca_file});
  if (!client) return std::unexpected(Unreachable(client.error()));
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
  if (status >= 400) return std::unexpected(HttpError(status, error_body));
  if (!r && !stop) {
    return std::unexpected(status == 0 ? Unreachable(r.error()) : r.error());
  }
  return {};
}

Result<std::string> ReadInput(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  ss << in.rdbuf();
  return ss.str();
}

int PrintError(const Error& error) {
  std::string m = error.message;
  for (auto& c : m) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "error: %s\n", m.c_str());
  return 1;
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

std::string JoinList(const Json& array) {
  std::string out;
  if (!array.is_array()) return out;
  for (const auto& v : array) {
    if (!out.empty()) out += ",";
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

std::string Text(const Json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

}  // namespace berth::cli
