// JWT authentication per route (RFC 7519): the token comes from "Authorization: Bearer ..."
// (or a configured header); its signature is checked with a key from a JWKS file (RFC 7517:
// "oct" for HS256, "RSA" for RS256, "EC" P-256 for ES256) through OpenSSL 3; then exp and nbf
// (with a small skew), iss and aud are checked. Any failure answers 401 with a
// WWW-Authenticate naming the reason; success leaves the subject for later filters (rate
// limiting by JWT subject) and may forward it upstream in a header.
// Thread-safety: the factory (and its keys) is immutable after FromConfig.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "core/error.h"
#include "core/input.h"
#include "gateway/filters/filter.h"

namespace berth::gateway::filters {

struct JwtClaims {
  std::string subject;
};

class JwtVerifier;

class JwtFilterFactory final : public FilterFactory {
 public:
  static Result<FilterFactoryPtr> FromConfig(const input::Node& config, std::string_view base_dir);
  explicit JwtFilterFactory(std::shared_ptr<const JwtVerifier> verifier, std::string header,
                            std::string forward_subject_header);
  std::string_view name() const override { return "jwt"; }
  std::unique_ptr<Filter> Create() const override;

  const JwtVerifier& verifier() const { return *verifier_; }
  const std::string& header() const { return header_; }
  const std::string& forward_subject_header() const { return forward_subject_header_; }

 private:
  std::shared_ptr<const JwtVerifier> verifier_;
  std::string header_;
  std::string forward_subject_header_;
};

struct JwtVerifierOptions {
  std::string issuer;                  // required when set
  std::vector<std::string> audiences;  // token's aud must contain one when set
  int64_t clock_skew_seconds = 30;
};

// Verifies compact JWS tokens against a set of keys. Thread-safe (immutable).
class JwtVerifier {
 public:
  // `jwks` is the JWKS document's text.
  static Result<std::shared_ptr<const JwtVerifier>> Create(std::string_view jwks,
                                                           JwtVerifierOptions options);
  ~JwtVerifier();
  // Checks `token` at wall time `now_seconds`; the error message says why it is refused.
  Result<JwtClaims> Verify(std::string_view token, int64_t now_seconds) const;

  struct Key;

 private:
  JwtVerifier() = default;
  std::vector<std::unique_ptr<Key>> keys_;
  JwtVerifierOptions options_;
};

// base64url without padding (RFC 7515 §2). Decode fails on any other character.
std::string Base64UrlEncode(std::string_view in);
std::optional<std::string> Base64UrlDecode(std::string_view in);

}  // namespace berth::gateway::filters
