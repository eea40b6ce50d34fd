// Starts a real `berthd dev` on a free port with a fresh data directory, and talks to it with
// the core HTTP client. Shared by the API, CLI and durability integration tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {

class Berthd {
 public:
  // Starts berthd dev with `extra` flags; dir holds its data directory.
  explicit Berthd(std::string data_dir, std::vector<std::string> extra = {})
      : data_dir_(std::move(data_dir)), extra_(std::move(extra)) {}

  bool Start() {
    if (port_ == 0) port_ = FreePort();
    // Only the control plane: no DNS, gateway or agent on fixed ports, so tests can run side
    // by side.
    std::vector<std::string> argv = {
        BerthdPath(), "dev",       "--data-dir",
        data_dir_,    "--api",     "127.0.0.1:" + std::to_string(port_),
        "--dns",      "none",      "--gateway",
        "none",       "--no-agent"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    process_ = Process::Start("berthd", argv);
    if (!process_) return false;
    return WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); }) && LoadToken();
  }

  bool LoadToken() {
    std::ifstream in(data_dir_ + "/admin.token");
    std::getline(in, admin_token_);
    return !admin_token_.empty();
  }

  Process& process() { return *process_; }
  void Reset() { process_.reset(); }
  int port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& data_dir() const { return data_dir_; }

  // One request with `token` (empty: none). Body sent as is.
  Result<http::Response> Request(std::string_view method, std::string_view path,
                                 std::string body = {}, std::string token = "\x01") {
    http::Headers h;
    if (token == "\x01") token = admin_token_;
    if (!token.empty()) h.Set("Authorization", "Bearer " + token);
    if (!body.empty()) h.Set("Content-Type", "application/json");
    return http::Fetch(method, base() + std::string(path), std::move(body), std::move(h));
  }

  // Current store revision via /v1/status.
  int64_t Revision() {
    auto r = Request("GET", "/v1/status");
    if (!r || r->status != 200) return -1;
    auto j = ParseJson(r->body);
    return j ? (*j)["store"].value("revision", int64_t{-1}) : -1;
  }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_;
  int port_ = 0;
  std::string admin_token_;
  std::unique_ptr<Process> process_;
};

// Runs the berth CLI to completion with `env` on top of the test's environment (set a
// variable to "" to hide it); stdout and stderr together, the log kept at `log_path`.
inline ToolResult RunBerth(std::vector<std::string> args,
                           std::vector<std::pair<std::string, std::string>> env,
                           std::string log_path) {
  args.insert(args.begin(), BinaryPath("src/cmd/berth"));
  ProcessOptions opts;
  opts.env = std::move(env);
  opts.log_path = std::move(log_path);
  return RunTool("berth", std::move(args), std::move(opts));
}

}  // namespace berth::testing
