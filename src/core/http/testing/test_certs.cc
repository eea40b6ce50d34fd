#include "core/http/testing/test_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>

namespace berth::http::testing {
namespace {

std::string Pem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string Pem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

X509* ReadCert(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return x;
}

EVP_PKEY* ReadKey(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return k;
}

void AddExtension(X509* x, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, issued by `issuer_name`/`issuer_key` (itself when null).
TestCert Make(EVP_PKEY* key, const std::string& cn, const std::string& san, bool ca, X509* issuer,
              EVP_PKEY* issuer_key, long serial) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : x;
  AddExtension(x, signer, NID_subject_alt_name, san);
  AddExtension(x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  TestCert out{.cert_pem = Pem(x), .key_pem = Pem(key)};
  X509_free(x);
  return out;
}

}  // namespace

TestCert MakeSelfSigned(const std::string& san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  TestCert out = Make(key, "berth-test-ca", san, /*ca=*/true, nullptr, nullptr, 1);
  EVP_PKEY_free(key);
  return out;
}

TestCert MakeSigned(const TestCert& ca, const std::string& common_name, const std::string& san) {
  static long serial = 100;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* issuer = ReadCert(ca.cert_pem);
  EVP_PKEY* issuer_key = ReadKey(ca.key_pem);
  TestCert out = Make(key, common_name, san, /*ca=*/false, issuer, issuer_key, ++serial);
  X509_free(issuer);
  EVP_PKEY_free(issuer_key);
  EVP_PKEY_free(key);
  return out;
}

std::string WritePem(const std::string& path, const std::string& pem) {
  std::ofstream(path, std::ios::trunc) << pem;
  return path;
}

}  // namespace berth::http::testing
