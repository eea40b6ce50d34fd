// shop-worker: the demo's background worker. Every $INTERVAL_MS (default 1000) it "processes
// an order" and logs a line; it serves /healthz on $PORT (default 8082) for probes.
#include <chrono>
#include <thread>

#include "mini_http.h"

int main() {
  int port = std::atoi(shop::Env("PORT", "8082").c_str());
  int interval = std::atoi(shop::Env("INTERVAL_MS", "1000").c_str());
  std::thread([interval] {
    for (long order = 1;; ++order) {
      std::printf("processed order %ld\n", order);
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(interval));
    }
  }).detach();
  return shop::Serve(port, [](const shop::Request& req) {
    if (req.path == "/healthz") return shop::Response{200, "text/plain", "ok\n"};
    return shop::Response{404, "text/plain", "not found\n"};
  });
}
