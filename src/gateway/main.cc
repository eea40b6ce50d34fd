// berth-gateway: the gateway on its own (tests, benchmarks, and deployments that run the data
// plane apart). `berthd gateway` wires the same Gateway class.
//   berth-gateway --config routes.yaml [--listen 127.0.0.1:8080] [--workers N]
//                 [--admin 127.0.0.1:9901] [--access-log path]
// SIGHUP reloads the configuration; SIGTERM/SIGINT drain (10 s) and exit.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/log.h"
#include "gateway/gateway.h"

int main(int argc, char** argv) {
  berth::gateway::GatewayOptions options;
  int drain_ms = 10'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "berth-gateway: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config")
      options.config_path = value();
    else if (a == "--listen")
      options.listen = value();
    else if (a == "--workers")
      options.workers = std::atoi(value().c_str());
    else if (a == "--admin")
      options.admin_listen = value();
    else if (a == "--access-log")
      options.access_log_path = value();
    else if (a == "--drain-ms")
      drain_ms = std::atoi(value().c_str());
    else if (a == "--idle-timeout-ms")
      options.idle_timeout = std::chrono::milliseconds(std::atoi(value().c_str()));
    else if (a == "--no-http2")
      options.http2 = false;
    else if (a == "--max-body-bytes")
      options.max_body_bytes = std::strtoull(value().c_str(), nullptr, 10);
    else {
      std::fprintf(stderr,
                   "usage: berth-gateway --config routes.yaml [--listen ip:port] [--workers N] "
                   "[--admin ip:port] [--access-log path] [--drain-ms N]\n");
      return 2;
    }
  }
  // Signals are taken synchronously by this thread; the workers never see them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto gw = berth::gateway::Gateway::Create(options);
  if (!gw) {
    std::fprintf(stderr, "berth-gateway: %s\n", gw.error().message.c_str());
    return 2;
  }
  if (auto r = (*gw)->Start(); !r) {
    std::fprintf(stderr, "berth-gateway: %s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("listening %s\n", (*gw)->address().c_str());
  if ((*gw)->admin_port()) std::printf("admin %u\n", (*gw)->admin_port());
  std::fflush(stdout);
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGHUP) {
      (void)(*gw)->Reload();
      continue;
    }
    berth::log::Info("gateway", "signal {}: draining", sig);
    (*gw)->Drain(std::chrono::milliseconds(drain_ms));
    return 0;
  }
}
