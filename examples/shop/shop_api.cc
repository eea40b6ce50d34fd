// shop-api: the demo's product API. GET /products, GET /products/<id>, GET /healthz, each
// also under /api (the path the gateway exposes it on, so no rewrite is needed).
// Listens on $PORT (default 8081); $VERSION shows in every answer (for rolling updates).
#include <atomic>

#include "mini_http.h"

int main() {
  int port = std::atoi(shop::Env("PORT", "8081").c_str());
  std::string version = shop::Env("VERSION", "v1");
  std::string instance = shop::Env("BERTH_INSTANCE", "local");
  static const char* kProducts[][2] = {
      {"1", "anchor"}, {"2", "rope"}, {"3", "lantern"}, {"4", "compass"}};
  std::atomic<long> served{0};
  return shop::Serve(port, [&](shop::Request req) {
    if (req.path.rfind("/api/", 0) == 0) req.path.erase(0, 4);
    long n = ++served;
    if (n % 100 == 1)
      std::printf("served %ld requests, last %s %s\n", n, req.method.c_str(), req.path.c_str());
    std::fflush(stdout);
    if (req.path == "/healthz") return shop::Response{200, "text/plain", "ok\n"};
    if (req.path == "/products") {
      std::string body =
          "{\"version\":\"" + version + "\",\"instance\":\"" + instance + "\",\"products\":[";
      for (size_t i = 0; i < 4; ++i) {
        if (i) body += ",";
        body +=
            std::string("{\"id\":") + kProducts[i][0] + ",\"name\":\"" + kProducts[i][1] + "\"}";
      }
      return shop::Response{200, "application/json", body + "]}\n"};
    }
    if (req.path.rfind("/products/", 0) == 0) {
      std::string id = req.path.substr(10);
      for (auto& p : kProducts) {
        if (id == p[0]) {
          return shop::Response{200, "application/json",
                                std::string("{\"id\":") + p[0] + ",\"name\":\"" + p[1] + "\"}\n"};
        }
      }
      return shop::Response{404, "application/json", "{\"error\":\"no such product\"}\n"};
    }
    return shop::Response{404, "application/json", "{\"error\":\"not found\"}\n"};
  });
}
