#include "gateway/gateway.h"

#include <fmt/core.h>
#include <openssl/ssl.h>

#include <asio/ssl/context.hpp>
#include <map>

#include <thread>

#include "core/log.h"
#include "gateway/server/cluster_manager.h"
#include "gateway/server/worker.h"

namespace berth::gateway {

namespace {

// The listener's TLS contexts: the default certificate plus one context per SNI entry,
// chosen in the ClientHello callback. TLS 1.2 and later only.
struct TlsContexts {
  std::shared_ptr<asio::ssl::context> primary;
  std::vector<std::unique_ptr<asio::ssl::context>> sni_contexts;
  std::map<std::string, SSL_CTX*> by_name;  // lower-case server name -> context
};

Result<std::unique_ptr<asio::ssl::context>> MakeContext(const std::string& cert,
                                                        const std::string& key) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  asio::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec)
    return Fail(ErrorCode::kInvalidArgument, "tls: certificate " + cert + ": " + ec.message());
  ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "tls: key " + key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "tls: key " + key + " does not match " + cert);
  }
  return ctx;
}

int SelectSni(SSL* ssl, int*, void* arg) {
  auto* contexts = static_cast<TlsContexts*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  std::string n(name);
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = contexts->by_name.find(n);
  if (it == contexts->by_name.end()) {
    // "*.example.com" entries.
    auto dot = n.find('.');
    if (dot != std::string::npos) {
      std::string wildcard(1, '*');
      wildcard += std::string_view(n).substr(dot);
      it = contexts->by_name.find(wildcard);
    }
  }
  if (it != contexts->by_name.end()) SSL_set_SSL_CTX(ssl, it->second);
  return SSL_TLSEXT_ERR_OK;
}

// ALPN: "h2" when the client offers it and HTTP/2 is on, else "http/1.1" (a client that
// offers neither gets no ALPN answer and speaks HTTP/1.1).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) {
  const bool http2 = arg != nullptr;
  static constexpr unsigned char kH2[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  const unsigned char* server = http2 ? kH2 : kH2 + 3;
  const unsigned int server_len = http2 ? sizeof(kH2) : sizeof(kH2) - 3;
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, server, server_len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Result<std::shared_ptr<TlsContexts>> BuildTls(const router::ListenerTls& tls, bool http2) {
  auto out = std::make_shared<TlsContexts>();
  auto primary = MakeContext(tls.cert_file, tls.key_file);
  if (!primary) return std::unexpected(primary.error());
  out->primary = std::move(*primary);
  for (const auto& sni : tls.sni) {
    auto ctx = MakeContext(sni.cert_file, sni.key_file);
    if (!ctx) return std::unexpected(ctx.error());
    for (auto name : sni.names) {
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out->by_name[name] = (*ctx)->native_handle();
    }
    out->sni_contexts.push_back(std::move(*ctx));
  }
  SSL_CTX_set_tlsext_servername_callback(out->primary->native_handle(), SelectSni);
  SSL_CTX_set_tlsext_servername_arg(out->primary->native_handle(), out.get());
  // A non-null argument means HTTP/2 is offered.
  void* alpn_arg = http2 ? out.get() : nullptr;
  SSL_CTX_set_alpn_select_cb(out->primary->native_handle(), SelectAlpn, alpn_arg);
  for (auto& c : out->sni_contexts)
    SSL_CTX_set_alpn_select_cb(c->native_handle(), SelectAlpn, alpn_arg);
  return out;
}

}  // namespace

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)) {}

Gateway::~Gateway() { Stop(); }

Result<std::unique_ptr<Gateway>> Gateway::Create(GatewayOptions options) {
  if (!server::ParseEndpoint(options.listen, true)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("gateway: listen address \"{}\" must be ip:port", options.listen));
  }
  for (const auto& extra : options.extra_listen) {
    if (!server::ParseEndpoint(extra, true)) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("gateway: listen address \"{}\" must be ip:port", extra));
    }
  }
  if (!options.admin_listen.empty() && !server::ParseEndpoint(options.admin_listen, true)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("gateway: admin address \"{}\" must be ip:port", options.admin_listen));
  }
  if (options.workers < 0 || options.workers > 256) {
    return Fail(ErrorCode::kInvalidArgument, "gateway: workers must be in [0, 256]");
  }
  if (options.workers == 0) options.workers = std::max(1u, std::thread::hardware_concurrency());
  if (!options.source) {
    if (options.config_path.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "gateway: needs a config file or an endpoint source");
    }
    options.source = std::make_shared<StaticFileSource>(options.config_path);
  }
  return std::unique_ptr<Gateway>(new Gateway(std::move(options)));
}

Result<void> Gateway::Start() {
  source_ = options_.source;
  server::WorkerOptions wo;
  wo.limits.max_request_line_bytes = options_.max_request_line_bytes;
  wo.limits.max_header_bytes = options_.max_header_bytes;
  wo.limits.max_headers = options_.max_headers;
  if (options_.max_body_bytes > 0) wo.limits.max_body_bytes = options_.max_body_bytes;
  wo.idle_timeout = options_.idle_timeout;
  wo.header_timeout = options_.header_timeout;
  wo.access_log_path = options_.access_log_path;
  wo.http2_enabled = options_.http2;
  auto endpoint = *server::ParseEndpoint(options_.listen, true);
  for (int i = 0; i < options_.workers; ++i) {
    auto w = std::make_unique<server::Worker>(i, wo, clock_);
    auto port = w->Listen(endpoint);
    if (!port) return std::unexpected(port.error());
    if (i == 0) {
      port_ = *port;
      endpoint.port(port_);  // the others join the same port (SO_REUSEPORT)
    }
    for (const auto& extra : options_.extra_listen) {
      auto ep = *server::ParseEndpoint(extra, true);
      if (ep.port() == 0) ep.port(port_);
      if (auto p = w->Listen(ep, /*freebind=*/true); !p) return std::unexpected(p.error());
    }
    workers_.push_back(std::move(w));
  }
  if (!options_.admin_listen.empty()) {
    auto port = workers_[0]->ListenAdmin(*server::ParseEndpoint(options_.admin_listen, true),
                                         [this] { return RenderMetrics(); });
    if (!port) return std::unexpected(port.error());
    admin_port_ = *port;
  }
  // The first snapshot goes to the workers before they start serving.
  auto started = source_->Start([this](router::SnapshotPtr s) { Apply(std::move(s)); });
  if (!started) return std::unexpected(Wrap(started.error(), "gateway: configuration"));
  // TLS termination from the first configuration (certificates are not reloaded).
  if (auto table = current_.load(); table && table->snapshot().tls) {
    auto tls = BuildTls(*table->snapshot().tls, options_.http2);
    if (!tls) return std::unexpected(Wrap(tls.error(), "gateway"));
    for (auto& w : workers_) w->SetTls((*tls)->primary);
    tls_ = *tls;
  }
  for (auto& w : workers_) w->Start();
  started_ = true;
  log::Info("gateway", "listening on {} with {} workers", address(), workers_.size());
  return {};
}

void Gateway::Apply(router::SnapshotPtr snapshot) {
  if (!snapshot) return;
  auto table = std::make_shared<const router::RouteTable>(std::move(snapshot));
  std::lock_guard lock(apply_mu_);
  current_.store(table);
  for (auto& w : workers_) w->SetRoutes(table);
}

Result<void> Gateway::Reload() {
  if (!source_) return Fail(ErrorCode::kFailedPrecondition, "gateway: not started");
  auto r = source_->Reload();
  if (!r) {
    log::Warn("gateway", "reload failed, keeping the previous configuration: {}",
              r.error().message);
    return r;
  }
  log::Info("gateway", "configuration reloaded (version {})", snapshot_version());
  return {};
}

void Gateway::Drain(std::chrono::milliseconds deadline) {
  if (!started_ || stopped_) return;
  for (auto& w : workers_) w->Drain();
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    int64_t active = 0;
    for (auto& w : workers_) active += w->active_connections();
    if (active == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
}

void Gateway::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (source_) source_->Stop();
  for (auto& w : workers_) w->Stop();
}

std::string Gateway::address() const {
  auto ep = server::ParseEndpoint(options_.listen, true);
  return fmt::format("{}:{}", ep ? ep->address().to_string() : "?", port_);
}

std::string Gateway::RenderMetrics() const {
  std::vector<server::WorkerStats*> stats;
  for (const auto& w : workers_) stats.push_back(&w->stats());
  std::string out = server::RenderPrometheus(stats);
  out += fmt::format(
      "# HELP berth_gateway_config_version Version of the route snapshot in force.\n"
      "# TYPE berth_gateway_config_version gauge\nberth_gateway_config_version {}\n",
      snapshot_version());
  if (source_) out += source_->RenderMetrics();
  return out;
}

std::map<std::string, uint64_t> Gateway::ServiceRequestTotals() const {
  std::map<std::string, uint64_t> out;
  auto table = current_.load();
  if (!table) return out;
  for (const auto& [name, cluster] : table->snapshot().clusters) {
    if (!cluster || cluster->service_name.empty()) continue;
    const std::string& ns =
        cluster->service_namespace.empty() ? std::string("default") : cluster->service_namespace;
    uint64_t& total = out[ns + "/" + cluster->service_name];
    for (const auto& w : workers_) {
      server::WorkerStats& stats = w->stats();
      std::lock_guard lock(stats.mu);
      auto it = stats.clusters.find(name);
      if (it == stats.clusters.end()) continue;
      total += it->second->requests.value() + it->second->circuit_open.value();
    }
  }
  return out;
}

uint64_t Gateway::snapshot_version() const {
  auto t = current_.load();
  return t ? t->snapshot().version : 0;
}

}  // namespace berth::gateway
