// GET /v1/containers/{name}/terminal (operator; audited): a shell (or `cmd`) in the running
// container on a terminal, over a WebSocket. The web console's terminal (xterm.js) speaks it.
//
//   ?cmd=/bin/sh[&cmd=-l...]  the command and its arguments (default /bin/sh)
//   &rows=24&cols=80          the first window size
//   Sec-WebSocket-Protocol: berth.terminal.v1 (and "bearer.<token>": a browser cannot set
//   Authorization on a WebSocket)
//
// Binary messages carry terminal bytes both ways. Text messages from the client are JSON
// controls: {"resize":{"rows":R,"cols":C}}. The server's last text message is
// {"exit_code":N} (or {"error":{"code","message"}} when the command could not start), then it
// closes (1000). Closing from the client hangs the terminal up (SIGHUP, SIGKILL 3 s later).
#include <fmt/core.h>

#include <charconv>
#include <thread>

#include "api/container_endpoints.h"
#include "core/log.h"

namespace berth::api {
namespace {

using security::Role;

constexpr std::string_view kProtocol = "berth.terminal.v1";

// Every `cmd=` of the raw query, decoded, in order.
std::vector<std::string> Commands(const http::Request& request) {
  std::vector<std::string> out;
  std::string_view rest = request.query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (!item.starts_with("cmd=")) continue;
    if (auto v = http::PercentDecode(item.substr(4), /*plus_as_space=*/true)) out.push_back(*v);
  }
  return out;
}

uint16_t Dimension(const Call& call, std::string_view name, uint16_t fallback) {
  auto v = call.Query(name);
  int n = 0;
  if (!v || std::from_chars(v->data(), v->data() + v->size(), n).ec != std::errc() || n < 1 ||
      n > 1000) {
    return fallback;
  }
  return static_cast<uint16_t>(n);
}

// The terminal a session drives, set once the command has started.
struct Slot {
  std::mutex mu;
  std::shared_ptr<agent::TtySession> tty;  // guarded by mu
  bool closed = false;                     // guarded by mu: the WebSocket has ended

  std::shared_ptr<agent::TtySession> Get() {
    std::lock_guard lock(mu);
    return tty;
  }
};

void OnControl(const std::shared_ptr<Slot>& slot, const std::string& text) {
  auto j = ParseJson(text);
  if (!j || !j->is_object() || !j->contains("resize")) return;
  const Json& r = (*j)["resize"];
  if (!r.is_object() || !r.contains("rows") || !r.contains("cols") ||
      !r["rows"].is_number_integer() || !r["cols"].is_number_integer()) {
    return;
  }
  int rows = r["rows"].get<int>(), cols = r["cols"].get<int>();
  if (rows < 1 || cols < 1 || rows > 1000 || cols > 1000) return;
  if (auto tty = slot->Get()) tty->Resize(static_cast<uint16_t>(rows), static_cast<uint16_t>(cols));
}

void Terminal(const std::shared_ptr<Call>& call, agent::Agent& agent) {
  std::vector<std::string> cmd = Commands(call->request());
  if (cmd.empty()) cmd = {"/bin/sh"};
  const uint16_t rows = Dimension(*call, "rows", 24), cols = Dimension(*call, "cols", 80);
  auto slot = std::make_shared<Slot>();
  auto session =
      call->AcceptWebSocket(kProtocol, {.on_message =
                                            [slot](http::ws::Opcode op, std::string&& payload) {
                                              if (op == http::ws::Opcode::kText)
                                                return OnControl(slot, payload);
                                              if (auto tty = slot->Get()) tty->Write(payload);
                                            },
                                        .on_close =
                                            [slot](uint16_t) {
                                              std::shared_ptr<agent::TtySession> tty;
                                              {
                                                std::lock_guard lock(slot->mu);
                                                slot->closed = true;
                                                tty = std::move(slot->tty);
                                              }
                                              if (tty) tty->Hangup();
                                            }});
  if (!session) return;  // answered
  std::weak_ptr<http::ws::Session> ws = *session;
  auto tty = agent.ExecTty(call->Param("name"), cmd, rows, cols,
                           {.on_output =
                                [ws](std::string_view bytes) {
                                  if (auto s = ws.lock()) s->SendBinary(bytes);
                                },
                            .on_exit =
                                [ws](int code) {
                                  if (auto s = ws.lock()) {
                                    s->SendText(DumpJson(Json{{"exit_code", code}}));
                                    s->Close(http::ws::kCloseNormal, "exited");
                                  }
                                }});
  if (!tty) {
    (*session)->SendText(DumpJson(ErrorJson(tty.error())));
    (*session)->Close(http::ws::kCloseInternal, "exec failed");
    return;
  }
  bool hang_up = false;
  {
    std::lock_guard lock(slot->mu);
    if (slot->closed) {
      hang_up = true;
    } else {
      slot->tty = *tty;
    }
  }
  if (hang_up) (*tty)->Hangup();  // the browser went away while the command started
}

}  // namespace

void RegisterContainerTerminal(Router& router, agent::Agent& agent) {
  router.Add(
      {.method = "GET",
       .pattern = "/v1/containers/{name}/terminal",
       .access = Access::kNamespace,
       .min_role = Role::kOperator,
       .mutating = true,
       .namespace_of = [&agent](const Call& call) { return ContainerNamespace(agent, call); },
       .handler = [&agent](std::shared_ptr<Call> call) { Terminal(call, agent); }});
}

}  // namespace berth::api
