// Certificates for TLS tests, made in memory with OpenSSL (P-256 keys, valid for an hour
// either side of now): a self-signed CA, and leaves it signs for a subject alternative name
// such as "IP:127.0.0.1" or "DNS:localhost".
// Thread-safety: plain functions.
#pragma once

#include <string>

namespace berth::http::testing {

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed certificate that is also a CA (basicConstraints CA:TRUE), for `san`.
TestCert MakeSelfSigned(const std::string& san = "IP:127.0.0.1");
// A leaf certificate named `common_name`, for `san`, signed by `ca`.
TestCert MakeSigned(const TestCert& ca, const std::string& common_name,
                    const std::string& san = "IP:127.0.0.1");
// Writes `pem` to `path` (overwriting); returns `path`.
std::string WritePem(const std::string& path, const std::string& pem);

}  // namespace berth::http::testing
