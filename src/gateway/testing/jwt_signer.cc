#include "gateway/testing/jwt_signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <vector>

#include "gateway/filters/jwt.h"

namespace berth::gateway::testing {

using filters::Base64UrlEncode;

JwtSigner::JwtSigner(Alg alg, std::string kid) : alg_(alg), kid_(std::move(kid)) {
  if (alg_ == Alg::kHS256) {
    secret_.resize(32);
    RAND_bytes(reinterpret_cast<unsigned char*>(secret_.data()), 32);
  } else if (alg_ == Alg::kRS256) {
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  } else {
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  }
}

JwtSigner::~JwtSigner() { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_)); }

std::string JwtSigner::Sign(const std::string& claims_json) const {
  const char* alg = alg_ == Alg::kHS256 ? "HS256" : alg_ == Alg::kRS256 ? "RS256" : "ES256";
  std::string header =
      std::string("{\"alg\":\"") + alg + "\",\"typ\":\"JWT\",\"kid\":\"" + kid_ + "\"}";
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims_json);
  std::string sig;
  if (alg_ == Alg::kHS256) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret_.data(), secret_.size(),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    sig.assign(reinterpret_cast<char*>(mac), len);
  } else {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(pkey_));
    EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::vector<unsigned char> buf(len);
    EVP_DigestSign(md, buf.data(), &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    EVP_MD_CTX_free(md);
    if (alg_ == Alg::kRS256) {
      sig.assign(reinterpret_cast<char*>(buf.data()), len);
    } else {
      const unsigned char* p = buf.data();
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, len);
      unsigned char raw[64];
      BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
      ECDSA_SIG_free(es);
      sig.assign(reinterpret_cast<char*>(raw), 64);
    }
  }
  return input + "." + Base64UrlEncode(sig);
}

std::string JwtSigner::Jwk() const {
  auto bn = [&](const char* name) {
    BIGNUM* b = nullptr;
    EVP_PKEY_get_bn_param(static_cast<EVP_PKEY*>(pkey_), name, &b);
    std::string out(BN_num_bytes(b), '\0');
    BN_bn2bin(b, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(b);
    return Base64UrlEncode(out);
  };
  if (alg_ == Alg::kHS256) {
    return "{\"kty\":\"oct\",\"kid\":\"" + kid_ + "\",\"k\":\"" + Base64UrlEncode(secret_) + "\"}";
  }
  if (alg_ == Alg::kRS256) {
    return "{\"kty\":\"RSA\",\"kid\":\"" + kid_ + "\",\"n\":\"" + bn(OSSL_PKEY_PARAM_RSA_N) +
           "\",\"e\":\"" + bn(OSSL_PKEY_PARAM_RSA_E) + "\"}";
  }
  unsigned char point[65];
  size_t len = 0;
  EVP_PKEY_get_octet_string_param(static_cast<EVP_PKEY*>(pkey_), OSSL_PKEY_PARAM_PUB_KEY, point,
                                  sizeof(point), &len);
  std::string x(reinterpret_cast<char*>(point + 1), 32), y(reinterpret_cast<char*>(point + 33), 32);
  return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"" + kid_ + "\",\"x\":\"" +
         Base64UrlEncode(x) + "\",\"y\":\"" + Base64UrlEncode(y) + "\"}";
}

std::string Jwks(std::initializer_list<std::string> jwks) {
  std::string out = "{\"keys\":[";
  bool first = true;
  for (const auto& j : jwks) {
    if (!first) out += ",";
    out += j;
    first = false;
  }
  return out + "]}";
}

}  // namespace berth::gateway::testing
