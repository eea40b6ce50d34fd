// The HTTP server terminating TLS: clients that trust its CA get answers (also large and
// streamed ones), clients that do not are refused, plain HTTP to a TLS port gets nothing,
// client certificates are required when the server names a client CA, and bad files are
// refused with an error naming the file.
#include "core/http/tls.h"

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "core/http/client.h"
#include "core/http/server.h"
#include "core/http/testing/test_certs.h"

namespace berth::http {
namespace {

using testing::MakeSelfSigned;
using testing::MakeSigned;
using testing::TestCert;
using testing::WritePem;

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / fmt::format("berth-tls-{}-{}", ::getpid(), n_++);
    std::filesystem::create_directories(dir_);
    ca_ = MakeSelfSigned();
    ca_file_ = WritePem(Path("ca.pem"), ca_.cert_pem);
    TestCert leaf = MakeSigned(ca_, "server");
    cert_file_ = WritePem(Path("server.pem"), leaf.cert_pem);
    key_file_ = WritePem(Path("server.key"), leaf.key_pem);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    std::filesystem::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void Start(TlsServerFiles files) {
    auto tls = TlsServerContext::Load(files);
    ASSERT_TRUE(tls) << tls.error().message;
    ServerOptions options{.address = "127.0.0.1:0", .threads = 2};
    options.tls = *tls;
    auto s = Server::Listen(options, [](Request&& r, std::shared_ptr<ResponseWriter> w) {
      if (r.path == "/stream") {
        w->StartStream(200, {});
        for (int i = 0; i < 3; ++i) w->Write(fmt::format("line {}\n", i));
        w->End();
        return;
      }
      w->Send(Response::Text(200, r.method + " " + r.path + " " + std::to_string(r.body.size())));
    });
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    server_->Start();
  }
  std::string Url(const std::string& path) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), path);
  }

  static inline int n_ = 0;
  std::filesystem::path dir_;
  TestCert ca_;
  std::string ca_file_, cert_file_, key_file_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsServerTest, AnswersClientsThatTrustItsCa) {
  ASSERT_NO_FATAL_FAILURE(Start({.cert_file = cert_file_, .key_file = key_file_}));
  ClientOptions trusting{.tls_ca_file = ca_file_};
  auto client = Client::Create(Url(""), trusting);
  ASSERT_TRUE(client) << client.error().message;
  Request small{.method = "GET", .target = "/a"};
  for (int i = 0; i < 3; ++i) {  // one kept-alive TLS connection
    auto r = (*client)->Send(small);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "GET /a 0");
  }
  Request big{.method = "PUT", .target = "/big", .body = std::string(3 << 20, 'x')};
  auto r = (*client)->Send(big);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, fmt::format("PUT /big {}", 3 << 20)) << "a body of many TLS records";
  std::string streamed;
  auto s = (*client)->Stream(Request{.method = "GET", .target = "/stream"}, nullptr,
                             [&](std::string_view d) {
                               streamed.append(d);
                               return true;
                             });
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(streamed, "line 0\nline 1\nline 2\n");
}

TEST_F(TlsServerTest, RefusesClientsThatDoNotTrustItAndPlainHttp) {
  ASSERT_NO_FATAL_FAILURE(Start({.cert_file = cert_file_, .key_file = key_file_}));
  auto untrusting = Fetch("GET", Url("/a"));
  ASSERT_FALSE(untrusting);
  EXPECT_EQ(untrusting.error().code, ErrorCode::kUnavailable);
  auto plain = Fetch("GET", fmt::format("http://127.0.0.1:{}/a", server_->port()), {}, {},
                     {.timeout = std::chrono::seconds(10)});
  EXPECT_FALSE(plain) << "plain HTTP to a TLS port must not get an answer";
  // The server still serves after both.
  auto ok = Fetch("GET", Url("/a"), {}, {}, {.tls_ca_file = ca_file_});
  ASSERT_TRUE(ok) << ok.error().message;
}

TEST_F(TlsServerTest, RequiresAClientCertificateSignedByTheClientCa) {
  ASSERT_NO_FATAL_FAILURE(
      Start({.cert_file = cert_file_, .key_file = key_file_, .client_ca_file = ca_file_}));
  auto anonymous = Fetch("GET", Url("/a"), {}, {}, {.tls_ca_file = ca_file_});
  EXPECT_FALSE(anonymous) << "no client certificate";
  TestCert agent = MakeSigned(ca_, "agent-1");
  ClientOptions with_cert{.tls_ca_file = ca_file_,
                          .tls_cert_file = WritePem(Path("agent.pem"), agent.cert_pem),
                          .tls_key_file = WritePem(Path("agent.key"), agent.key_pem)};
  auto r = Fetch("GET", Url("/a"), {}, {}, with_cert);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "GET /a 0");
  TestCert stranger_ca = MakeSelfSigned();
  TestCert stranger = MakeSigned(stranger_ca, "stranger");
  ClientOptions foreign{.tls_ca_file = ca_file_,
                        .tls_cert_file = WritePem(Path("stranger.pem"), stranger.cert_pem),
                        .tls_key_file = WritePem(Path("stranger.key"), stranger.key_pem)};
  EXPECT_FALSE(Fetch("GET", Url("/a"), {}, {}, foreign)) << "signed by another CA";
}

TEST_F(TlsServerTest, BadFilesAreRefusedWithTheFileNamed) {
  auto missing = TlsServerContext::Load({.cert_file = Path("nope.pem"), .key_file = key_file_});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope.pem"), std::string::npos) << missing.error().message;
  TestCert other = MakeSigned(ca_, "other");
  auto mismatch = TlsServerContext::Load(
      {.cert_file = cert_file_, .key_file = WritePem(Path("other.key"), other.key_pem)});
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("other.key"), std::string::npos)
      << mismatch.error().message;
  EXPECT_NE(mismatch.error().message.find(cert_file_), std::string::npos)
      << mismatch.error().message;
  auto garbage = TlsServerContext::Load(
      {.cert_file = WritePem(Path("garbage.pem"), "not a certificate"), .key_file = key_file_});
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::kInvalidArgument);
  auto half = TlsServerContext::Load({.cert_file = cert_file_});
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::http
