#include "core/http/tls.h"

#include <fmt/core.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>

namespace berth::http {
namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Result<void> Readable(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in)
    return Fail(ErrorCode::kInvalidArgument, fmt::format("TLS {} {}: cannot read it", what, path));
  return {};
}

}  // namespace

Result<std::shared_ptr<const TlsServerContext>> TlsServerContext::Load(const TlsServerFiles& f) {
  if (f.cert_file.empty() || f.key_file.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "TLS needs both a certificate and a key file");
  }
  if (auto ok = Readable(f.cert_file, "certificate"); !ok) return std::unexpected(ok.error());
  if (auto ok = Readable(f.key_file, "key"); !ok) return std::unexpected(ok.error());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Fail(ErrorCode::kInternal, "TLS: " + OpenSslError());
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> guard(ctx, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, f.cert_file.c_str()) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("TLS certificate {}: {}", f.cert_file, OpenSslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, f.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("TLS key {} does not load with certificate {}: {}", f.key_file,
                            f.cert_file, OpenSslError()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("TLS key {} does not match certificate {}", f.key_file, f.cert_file));
  }
  bool client_certs = !f.client_ca_file.empty();
  if (client_certs) {
    if (auto ok = Readable(f.client_ca_file, "client CA"); !ok) return std::unexpected(ok.error());
    if (SSL_CTX_load_verify_locations(ctx, f.client_ca_file.c_str(), nullptr) != 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("TLS client CA {}: {}", f.client_ca_file, OpenSslError()));
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return std::shared_ptr<const TlsServerContext>(
      new TlsServerContext(guard.release(), client_certs));
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

TlsSession::TlsSession(std::shared_ptr<const TlsServerContext> context)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->ctx());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // an empty input BIO means "wait for more", not EOF
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::Drain(std::string* out) {
  char buf[16 * 1024];
  int n;
  while ((n = BIO_read(out_, buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
}

Result<void> TlsSession::Feed(std::string_view cipher, std::string* plain, std::string* out) {
  while (!cipher.empty()) {
    int n = BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
    if (n <= 0) return Fail(ErrorCode::kInternal, "TLS: cannot buffer input");
    cipher.remove_prefix(static_cast<size_t>(n));
  }
  if (!handshake_done_) {
    int r = SSL_do_handshake(ssl_);
    Drain(out);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return {};
      return Fail(ErrorCode::kUnauthenticated, "TLS handshake: " + OpenSslError());
    }
    handshake_done_ = true;
  }
  char buf[16 * 1024];
  for (;;) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain->append(buf, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    Drain(out);
    if (e == SSL_ERROR_WANT_READ) return {};
    if (e == SSL_ERROR_ZERO_RETURN) return Fail(ErrorCode::kUnavailable, "TLS: peer closed");
    return Fail(ErrorCode::kInvalidArgument, "TLS record: " + OpenSslError());
  }
}

Result<void> TlsSession::Encrypt(std::string_view plain, std::string* out) {
  while (!plain.empty()) {
    int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (n <= 0) return Fail(ErrorCode::kInternal, "TLS write: " + OpenSslError());
    plain.remove_prefix(static_cast<size_t>(n));
  }
  Drain(out);
  return {};
}

void TlsSession::Shutdown(std::string* out) {
  if (handshake_done_) SSL_shutdown(ssl_);
  Drain(out);
}

}  // namespace berth::http
