#include "gateway/filters/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include <fstream>
#include <sstream>

#include "core/json.h"

namespace berth::gateway::filters {

enum class Alg { kHS256, kRS256, kES256 };

struct JwtVerifier::Key {
  std::string kid;
  Alg alg;
  std::string secret;        // HS256
  EVP_PKEY* pkey = nullptr;  // RS256, ES256
  ~Key() { EVP_PKEY_free(pkey); }
};

JwtVerifier::~JwtVerifier() = default;

std::string Base64UrlEncode(std::string_view in) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);  // tolerate padding in JWKS
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

namespace {

EVP_PKEY* RsaKey(const std::string& n, const std::string& e) {
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0) {
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return pkey;
}

EVP_PKEY* EcKey(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"),
                                       0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0) {
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

bool VerifyDigest(EVP_PKEY* pkey, std::string_view data, const std::string& sig) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey) > 0 &&
            EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

// JWS ES256 signatures are r||s (32 bytes each); OpenSSL wants DER.
std::optional<std::string> EcdsaRawToDer(const std::string& raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

class JwtFilter final : public Filter {
 public:
  explicit JwtFilter(const JwtFilterFactory& f) : f_(f) {}
  FilterStatus OnRequest(RequestContext& ctx) override {
    auto value = ctx.Header(f_.header());
    std::string_view token;
    if (value) {
      token = *value;
      if (f_.header() == "authorization") {
        if (token.size() > 7 &&
            (token.substr(0, 7) == "Bearer " || token.substr(0, 7) == "bearer ")) {
          token.remove_prefix(7);
        } else {
          token = {};
        }
      }
    }
    if (token.empty()) {
      ctx.reply_headers.emplace_back("WWW-Authenticate", "Bearer");
      return ctx.Reply(401, "missing bearer token\n", "jwt");
    }
    const int64_t now = ctx.clock ? ctx.clock->WallMillis() / 1000 : time(nullptr);
    auto claims = f_.verifier().Verify(token, now);
    if (!claims) {
      ctx.reply_headers.emplace_back(
          "WWW-Authenticate",
          "Bearer error=\"invalid_token\", error_description=\"" + claims.error().message + "\"");
      return ctx.Reply(401, "invalid token: " + claims.error().message + "\n", "jwt");
    }
    ctx.jwt_subject = claims->subject;
    if (!f_.forward_subject_header().empty()) {
      ctx.add_request_headers.emplace_back(f_.forward_subject_header(), claims->subject);
    }
    return FilterStatus::kContinue;
  }

 private:
  const JwtFilterFactory& f_;
};

}  // namespace

Result<std::shared_ptr<const JwtVerifier>> JwtVerifier::Create(std::string_view jwks,
                                                               JwtVerifierOptions options) {
  auto doc = ParseJson(jwks);
  if (!doc) return std::unexpected(Wrap(doc.error(), "JWKS"));
  if (!doc->is_object() || !doc->contains("keys") || !(*doc)["keys"].is_array()) {
    return Fail(ErrorCode::kInvalidArgument, "JWKS: needs a \"keys\" list");
  }
  std::shared_ptr<JwtVerifier> v(new JwtVerifier());
  v->options_ = std::move(options);
  size_t i = 0;
  for (const auto& k : (*doc)["keys"]) {
    const std::string where = "JWKS keys[" + std::to_string(i++) + "]";
    if (!k.is_object() || !k.contains("kty") || !k["kty"].is_string()) {
      return Fail(ErrorCode::kInvalidArgument, where + ": needs kty");
    }
    auto field = [&](const char* name) -> std::optional<std::string> {
      if (!k.contains(name) || !k[name].is_string()) return std::nullopt;
      return Base64UrlDecode(k[name].get<std::string>());
    };
    auto key = std::make_unique<Key>();
    if (k.contains("kid") && k["kid"].is_string()) key->kid = k["kid"].get<std::string>();
    const std::string kty = k["kty"].get<std::string>();
    if (kty == "oct") {
      auto secret = field("k");
      if (!secret || secret->empty())
        return Fail(ErrorCode::kInvalidArgument, where + ": oct key needs k");
      key->alg = Alg::kHS256;
      key->secret = *secret;
    } else if (kty == "RSA") {
      auto n = field("n");
      auto e = field("e");
      if (!n || !e) return Fail(ErrorCode::kInvalidArgument, where + ": RSA key needs n and e");
      key->alg = Alg::kRS256;
      key->pkey = RsaKey(*n, *e);
    } else if (kty == "EC") {
      auto x = field("x");
      auto y = field("y");
      if (!k.contains("crv") || k["crv"] != "P-256" || !x || !y) {
        return Fail(ErrorCode::kInvalidArgument, where + ": EC key needs crv P-256, x and y");
      }
      key->alg = Alg::kES256;
      key->pkey = EcKey(*x, *y);
    } else {
      return Fail(ErrorCode::kInvalidArgument, where + ": unsupported kty \"" + kty + "\"");
    }
    if (key->alg != Alg::kHS256 && key->pkey == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, where + ": not a valid public key");
    }
    v->keys_.push_back(std::move(key));
  }
  if (v->keys_.empty()) return Fail(ErrorCode::kInvalidArgument, "JWKS: no keys");
  return std::shared_ptr<const JwtVerifier>(std::move(v));
}

Result<JwtClaims> JwtVerifier::Verify(std::string_view token, int64_t now) const {
  auto bad = [](std::string m) { return Fail(ErrorCode::kUnauthenticated, std::move(m)); };
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return bad("malformed token");
  }
  auto header_raw = Base64UrlDecode(token.substr(0, dot1));
  auto payload_raw = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_raw || !payload_raw || !sig) return bad("malformed token");
  auto header = ParseJson(*header_raw);
  auto payload = ParseJson(*payload_raw);
  if (!header || !payload || !header->is_object() || !payload->is_object())
    return bad("malformed token");
  if (!header->contains("alg") || !(*header)["alg"].is_string()) return bad("no alg");
  const std::string alg_name = (*header)["alg"].get<std::string>();
  Alg alg;
  if (alg_name == "HS256")
    alg = Alg::kHS256;
  else if (alg_name == "RS256")
    alg = Alg::kRS256;
  else if (alg_name == "ES256")
    alg = Alg::kES256;
  else
    return bad("unsupported alg " + alg_name);
  std::string kid;
  if (header->contains("kid") && (*header)["kid"].is_string())
    kid = (*header)["kid"].get<std::string>();

  const std::string_view signing_input = token.substr(0, dot2);
  bool verified = false;
  for (const auto& key : keys_) {
    if (key->alg != alg || (!kid.empty() && !key->kid.empty() && key->kid != kid)) continue;
    if (alg == Alg::kHS256) {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      HMAC(EVP_sha256(), key->secret.data(), key->secret.size(),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
           &len);
      verified = sig->size() == len && CRYPTO_memcmp(mac, sig->data(), len) == 0;
    } else if (alg == Alg::kRS256) {
      verified = VerifyDigest(key->pkey, signing_input, *sig);
    } else {
      auto der = EcdsaRawToDer(*sig);
      verified = der && VerifyDigest(key->pkey, signing_input, *der);
    }
    if (verified) break;
  }
  if (!verified) return bad("bad signature");

  const Json& c = *payload;
  const int64_t skew = options_.clock_skew_seconds;
  if (c.contains("exp")) {
    if (!c["exp"].is_number()) return bad("exp is not a number");
    if (now >= c["exp"].get<int64_t>() + skew) return bad("expired");
  }
  if (c.contains("nbf")) {
    if (!c["nbf"].is_number()) return bad("nbf is not a number");
    if (now + skew < c["nbf"].get<int64_t>()) return bad("not yet valid");
  }
  if (!options_.issuer.empty()) {
    if (!c.contains("iss") || !c["iss"].is_string() ||
        c["iss"].get<std::string>() != options_.issuer) {
      return bad("wrong issuer");
    }
  }
  if (!options_.audiences.empty()) {
    bool ok = false;
    auto check = [&](const Json& a) {
      if (!a.is_string()) return;
      for (const auto& want : options_.audiences) ok = ok || a.get<std::string>() == want;
    };
    if (c.contains("aud")) {
      if (c["aud"].is_array()) {
        for (const auto& a : c["aud"]) check(a);
      } else {
        check(c["aud"]);
      }
    }
    if (!ok) return bad("wrong audience");
  }
  JwtClaims claims;
  if (c.contains("sub") && c["sub"].is_string()) claims.subject = c["sub"].get<std::string>();
  return claims;
}

JwtFilterFactory::JwtFilterFactory(std::shared_ptr<const JwtVerifier> verifier, std::string header,
                                   std::string forward_subject_header)
    : verifier_(std::move(verifier)),
      header_(std::move(header)),
      forward_subject_header_(std::move(forward_subject_header)) {}

std::unique_ptr<Filter> JwtFilterFactory::Create() const {
  return std::make_unique<JwtFilter>(*this);
}

Result<FilterFactoryPtr> JwtFilterFactory::FromConfig(const input::Node& n,
                                                      std::string_view base_dir) {
  JwtVerifierOptions opts;
  std::string header = "authorization";
  std::string forward;
  input::Object o(n);
  o.ExactlyOneOf({"jwks_file", "jwks"})
      .Optional("issuer", opts.issuer)
      .Optional("audiences", opts.audiences, input::ListOf(input::String))
      .Optional("clock_skew_seconds", opts.clock_skew_seconds, input::Int(0, 86'400))
      .Optional("header", header)
      .Optional("forward_subject_header", forward);
  const input::Node* file = o.Take("jwks_file");
  const input::Node* inline_jwks = o.Take("jwks");
  BERTH_TRY(o.Done());
  std::string jwks;
  if (file != nullptr) {
    std::string path = BERTH_TRY(input::NonEmptyString(*file));
    if (!path.starts_with('/')) path = std::string(base_dir) + "/" + path;
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(ErrorCode::kNotFound, file->Invalid(path + ": cannot open").message);
    std::stringstream ss;
    ss << in.rdbuf();
    jwks = ss.str();
  } else {
    // The key set inline, as a JSON object or as its text.
    jwks = inline_jwks->IsScalar() ? inline_jwks->text() : input::ToJson(*inline_jwks).dump();
  }
  std::transform(header.begin(), header.end(), header.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  auto verifier = JwtVerifier::Create(jwks, std::move(opts));
  if (!verifier) return n.Fail(verifier.error().message);
  return std::make_shared<const JwtFilterFactory>(std::move(*verifier), header, forward);
}

}  // namespace berth::gateway::filters
