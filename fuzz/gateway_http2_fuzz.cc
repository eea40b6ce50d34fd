// Fuzzes the gateway's HTTP/2 server side: the input is what a client sends after the
// connection preface (frames of any kind, valid or not), fed in pieces to a ConnectionManager
// on the fake loop (gateway/testing/worker_loop.h), whose answers are read and dropped. The
// routes answer locally (404, a route without endpoints: 503), so no upstream is involved:
// what is fuzzed is nghttp2 under our limits and callbacks, stream bookkeeping, 431s and
// GOAWAY. Crashes and sanitizer reports are the findings.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/server/connection_manager.h"
#include "gateway/testing/worker_loop.h"

namespace {

using berth::gateway::server::ConnectionManager;
using berth::gateway::server::WorkerOptions;
using berth::gateway::testing::WorkerLoop;

WorkerLoop& Loop() {
  static WorkerLoop* loop = [] {
    WorkerOptions o;
    o.http2.max_concurrent_streams = 8;
    o.http2.max_header_list_bytes = 8 << 10;
    o.http2.reset_burst = 20;
    o.http2.reset_rate = 1;
    auto* l = new WorkerLoop(o);
    // A registry service nobody registered: no endpoints, answered 503 by the gateway.
    l->SetRoutes("routes: [{name: none, match: {prefix: /empty}, service: empty}]");
    return l;
  }();
  return *loop;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  WorkerLoop& loop = Loop();
  auto [socket, client] = loop.SocketPair();
  std::make_shared<ConnectionManager>(loop.worker(), std::move(socket), false)->Start();
  std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  bytes.append(reinterpret_cast<const char*>(data), size);
  std::string_view rest = bytes;
  for (int stalls = 0; !rest.empty() && stalls < 3;) {
    const size_t n = client.SendSome(rest.substr(0, 4096));
    rest.remove_prefix(n);
    stalls = n == 0 ? stalls + 1 : 0;
    loop.RunUntilIdle();
    client.Receive();
  }
  client.Close();
  loop.RunUntilIdle();
  return 0;
}
