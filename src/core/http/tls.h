// Server-side TLS for core/http's Server (the control plane's API): a context loaded once from
// PEM files (certificate chain, private key, and optionally the CAs whose client certificates
// are required), and one session per connection that works on bytes in memory (OpenSSL
// memory BIOs), so the server's socket code stays as it is: ciphertext read from the socket
// goes to Feed, plaintext answers go through Encrypt, and whatever either produces is written
// to the socket like any other bytes.
// Thread-safety: a context is immutable and shared by every worker; a session belongs to its
// connection's worker thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace berth::http {

struct TlsServerFiles {
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // PEM CAs; when set, clients must present a certificate they signed
};

class TlsServerContext {
 public:
  // Loads and checks the files (the key must match the certificate); errors name the file.
  static Result<std::shared_ptr<const TlsServerContext>> Load(const TlsServerFiles& files);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool requires_client_certificate() const { return client_certs_; }

 private:
  TlsServerContext(SSL_CTX* ctx, bool client_certs) : ctx_(ctx), client_certs_(client_certs) {}
  SSL_CTX* ctx_;
  bool client_certs_;
};

class TlsSession {
 public:
  explicit TlsSession(std::shared_ptr<const TlsServerContext> context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Takes bytes read from the socket: appends the application bytes they carried to *plain
  // and the bytes TLS wants sent back (handshake, alerts) to *out. An error (a handshake
  // that failed, a record that does not decrypt) means the connection must close after
  // sending *out.
  Result<void> Feed(std::string_view cipher, std::string* plain, std::string* out);
  // Appends to *out the TLS records that carry `plain` (the handshake must have finished:
  // a server answers only after reading a request).
  Result<void> Encrypt(std::string_view plain, std::string* out);
  // Appends a close_notify alert to *out.
  void Shutdown(std::string* out);
  bool handshake_done() const { return handshake_done_; }

 private:
  void Drain(std::string* out);

  std::shared_ptr<const TlsServerContext> context_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // ciphertext from the peer (owned by ssl_)
  BIO* out_ = nullptr;  // ciphertext to the peer (owned by ssl_)
  bool handshake_done_ = false;
};

}  // namespace berth::http
