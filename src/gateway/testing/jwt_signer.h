// Test double: mints JWTs and the matching JWKS with fresh OpenSSL keys (HS256, RS256,
// ES256), for unit and integration tests of the jwt filter. Not for production use.
// Thread-safety: none.
#pragma once

#include <memory>
#include <string>

namespace berth::gateway::testing {

class JwtSigner {
 public:
  enum class Alg { kHS256, kRS256, kES256 };
  JwtSigner(Alg alg, std::string kid);
  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  // A compact JWS over `claims_json` (a JSON object's text).
  std::string Sign(const std::string& claims_json) const;
  // This key's public JWK (secret for HS256) as a JSON object text.
  std::string Jwk() const;

 private:
  Alg alg_;
  std::string kid_;
  std::string secret_;
  void* pkey_ = nullptr;  // EVP_PKEY*
};

// {"keys":[...]} from JWK texts.
std::string Jwks(std::initializer_list<std::string> jwks);

}  // namespace berth::gateway::testing
