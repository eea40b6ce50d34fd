// shop-web: the demo's web front. GET / renders the product list fetched from the API at
// $API_URL, by default through the gateway: $BERTH_GATEWAY_URL/api (the node agent gives
// every container the gateway's address on the container network). GET /healthz. Listens
// on $PORT (default 8080).
#include "mini_http.h"

int main() {
  int port = std::atoi(shop::Env("PORT", "8080").c_str());
  std::string api = shop::Env("API_URL", "");
  if (api.empty()) api = shop::Env("BERTH_GATEWAY_URL", "http://127.0.0.1:8080") + "/api";
  return shop::Serve(port, [&](const shop::Request& req) {
    if (req.path == "/healthz") return shop::Response{200, "text/plain", "ok\n"};
    if (req.path != "/" && req.path != "/index.html") {
      return shop::Response{404, "text/plain", "not found\n"};
    }
    std::string products;
    int status = shop::Get(api + "/products", &products);
    if (status != 200) {
      return shop::Response{502, "text/html",
                            "<h1>Berth shop</h1><p>the product API at " + api +
                                " did not answer (status " + std::to_string(status) + ")</p>\n"};
    }
    return shop::Response{200, "text/html",
                          "<!doctype html><title>Berth shop</title><h1>Berth shop</h1>"
                          "<pre id=products>" +
                              products + "</pre>\n"};
  });
}
