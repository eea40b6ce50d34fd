// Pulling from registries: Debian's docker-registry on a loopback port (filled with
// `skopeo copy` from an OCI archive the store exported), and a small fake registry that
// demands a bearer token and cuts the first transfer of a layer short, so the puller must
// authenticate and resume with a Range request.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/image/digest.h"
#include "agent/image/image_store.h"
#include "agent/image/puller.h"
#include "agent/image/test_archive.h"
#include "agent/internal/sys.h"
#include "core/http/server.h"
#include "core/json.h"

namespace berth::agent::image {
namespace {

namespace fs = std::filesystem;

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("berth-pull-it-" + internal::RandomHex(6));
    fs::create_directories(dir_ + "/ctx/bin");
    // A layer big enough to be sent in pieces.
    std::ofstream(dir_ + "/ctx/bin/data", std::ios::binary) << internal::RandomHex(400000);
    std::ofstream(dir_ + "/ctx/hello") << "hello\n";
    auto src = ImageStore::Open(dir_ + "/src");
    ASSERT_TRUE(src);
    src_ = std::move(*src);
    BuildOptions b;
    b.name = "pulltest:1";
    b.cmd = {"/bin/sh"};
    auto im = src_->Build(dir_ + "/ctx", b);
    ASSERT_TRUE(im) << im.error().message;
    source_ = *im;
    archive_ = dir_ + "/image.tar";
    ASSERT_TRUE(src_->ExportOciArchive("pulltest:1", archive_));
    auto dst = ImageStore::Open(dir_ + "/dst");
    ASSERT_TRUE(dst);
    dst_ = std::move(*dst);
  }
  void TearDown() override {
    if (registry_pid_ > 0) {
      ::kill(registry_pid_, SIGKILL);
      ::waitpid(registry_pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  std::string dir_;
  std::string archive_;
  Image source_;
  std::unique_ptr<ImageStore> src_, dst_;
  pid_t registry_pid_ = -1;
};

int FreePort() {
  auto s = http::Server::Listen({.address = "127.0.0.1:0"},
                                [](http::Request&&, std::shared_ptr<http::ResponseWriter>) {});
  return s ? (*s)->port() : 0;
}

TEST(ImageRefTest, ParsesRegistryRepositoryAndReference) {
  auto r = ParseImageRef("127.0.0.1:5000/team/app:1.2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/app");
  EXPECT_EQ(r->reference, "1.2");
  auto hub = ParseImageRef("busybox");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->registry, "registry-1.docker.io");
  EXPECT_EQ(hub->repository, "library/busybox");
  EXPECT_EQ(hub->reference, "latest");
  EXPECT_FALSE(ParseImageRef("localhost/../etc:1"));
  EXPECT_FALSE(ParseImageRef("localhost/app@sha256:zz"));
}

TEST(ImageRefTest, ParsesBearerChallenge) {
  auto p = ParseBearerChallenge(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull")");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)["realm"], "https://auth.example/token");
  EXPECT_EQ((*p)["service"], "registry.example");
  EXPECT_EQ((*p)["scope"], "repository:a/b:pull");
  EXPECT_FALSE(ParseBearerChallenge(R"(Basic realm="x")"));
}

TEST_F(PullTest, PullsFromDockerRegistryFilledBySkopeo) {
  int port = FreePort();
  ASSERT_GT(port, 0);
  std::ofstream(dir_ + "/registry.yml")
      << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << dir_
      << "/registry\nhttp:\n  addr: 127.0.0.1:" << port << "\n";
  registry_pid_ = ::fork();
  if (registry_pid_ == 0) {
    std::string log = dir_ + "/registry.log";
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execlp("docker-registry", "docker-registry", "serve", (dir_ + "/registry.yml").c_str(),
             nullptr);
    ::_exit(127);
  }
  std::string dest = "docker://127.0.0.1:" + std::to_string(port) + "/team/pulltest:1";
  bool copied = false;
  std::string last_err;
  for (int i = 0; i < 300 && !copied; ++i) {  // until the registry listens
    auto r = internal::Run(
        {"skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci-archive:" + archive_, dest});
    copied = r && r->exit_code == 0;
    if (!copied) {
      last_err = r ? r->err : "";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_TRUE(copied) << last_err;
  Puller puller(*dst_);
  PullOptions o;
  o.plain_http = true;
  uint64_t progress_calls = 0;
  o.on_progress = [&](const PullProgress&) { ++progress_calls; };
  auto im = puller.Pull("127.0.0.1:" + std::to_string(port) + "/team/pulltest:1", o);
  ASSERT_TRUE(im) << im.error().message;
  EXPECT_EQ(im->id, source_.id);
  EXPECT_GT(progress_calls, 0u);
  auto dirs = dst_->LayerDirs(im->id);
  ASSERT_TRUE(dirs);
  EXPECT_TRUE(fs::exists((*dirs)[0] + "/hello"));
  auto missing = puller.Pull("127.0.0.1:" + std::to_string(port) + "/team/nothing:1", o);
  ASSERT_FALSE(missing);
}

// A registry that wants a bearer token and sends only half of a blob the first time.
TEST_F(PullTest, AuthenticatesWithBearerTokenAndResumesInterruptedLayer) {
  std::string layout = dir_ + "/layout";
  fs::create_directories(layout);
  ASSERT_EQ(internal::Run({"tar", "-xf", archive_, "-C", layout})->exit_code, 0);
  auto index = ParseJson(*internal::ReadFile(layout + "/index.json"));
  std::string manifest_digest = (*index)["manifests"][0]["digest"];
  std::string layer_digest = source_.layers[0].digest;
  std::atomic<int> token_requests{0}, range_requests{0}, unauthorized{0};
  std::atomic<bool> cut_done{false};
  int port = 0;
  auto server = http::Server::Listen(
      {.address = "127.0.0.1:0"},
      [&](http::Request&& req, std::shared_ptr<http::ResponseWriter> w) {
        if (req.path == "/token") {
          ++token_requests;
          auto auth = req.headers.Get("Authorization");
          if (!auth || *auth != "Basic dXNlcjpzZWNyZXQ=")  // user:secret
            return w->Send(http::Response::Text(401, "bad credentials"));
          return w->Send(http::Response::Json(200, R"({"token":"t0k3n"})"));
        }
        auto auth = req.headers.Get("Authorization");
        if (!auth || *auth != "Bearer t0k3n") {
          ++unauthorized;
          http::Response r = http::Response::Text(401, "unauthorized");
          r.headers.Set("WWW-Authenticate",
                        "Bearer realm=\"http://127.0.0.1:" + std::to_string(port) +
                            "/token\",service=\"fake\",scope=\"repository:team/app:pull\"");
          return w->Send(r);
        }
        std::string digest = req.path.substr(req.path.rfind('/') + 1);
        if (req.path.find("/manifests/") != std::string::npos) digest = manifest_digest;
        auto data = internal::ReadFile(layout + "/blobs/sha256/" + std::string(DigestHex(digest)));
        if (!data) return w->Send(http::Response::Text(404, "unknown"));
        if (req.path.find("/manifests/") != std::string::npos) {
          http::Response r = http::Response::Text(200, *data);
          r.headers.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json");
          r.headers.Set("Docker-Content-Digest", digest);
          return w->Send(r);
        }
        if (auto range = req.headers.Get("Range")) {
          ++range_requests;
          size_t from = std::stoul(std::string(range->substr(6)));
          http::Response r = http::Response::Text(206, data->substr(from));
          r.headers.Set("Content-Range", "bytes " + std::to_string(from) + "-" +
                                             std::to_string(data->size() - 1) + "/" +
                                             std::to_string(data->size()));
          return w->Send(r);
        }
        if (digest == layer_digest && !cut_done.exchange(true))
          return w->Send(
              http::Response::Text(200, data->substr(0, data->size() / 2)));  // cut short
        return w->Send(http::Response::Text(200, *data));
      });
  ASSERT_TRUE(server) << server.error().message;
  port = (*server)->port();
  (*server)->Start();
  Puller puller(*dst_);
  PullOptions o;
  o.plain_http = true;
  o.username = "user";
  o.password = "secret";
  auto im = puller.Pull("127.0.0.1:" + std::to_string(port) + "/team/app:1", o);
  (*server)->Stop();
  ASSERT_TRUE(im) << im.error().message;
  EXPECT_EQ(im->id, source_.id);
  EXPECT_EQ(im->names[0], "127.0.0.1:" + std::to_string(port) + "/team/app:1");
  EXPECT_GE(token_requests.load(), 1);
  EXPECT_GE(unauthorized.load(), 1);
  EXPECT_EQ(range_requests.load(), 1);
  EXPECT_TRUE(dst_->LayerDirs(im->id));
  EXPECT_TRUE(fs::is_empty(dst_->root() + "/downloads"));

  // Wrong credentials: refused with a clear error, nothing added.
  auto before = dst_->List().size();
  auto server2 = http::Server::Listen(
      {.address = "127.0.0.1:0"},
      [&](http::Request&& req, std::shared_ptr<http::ResponseWriter> w) {
        if (req.path == "/token") return w->Send(http::Response::Text(401, "no"));
        http::Response r = http::Response::Text(401, "unauthorized");
        r.headers.Set("WWW-Authenticate",
                      "Bearer realm=\"http://127.0.0.1:" + std::to_string(port) + "/token\"");
        w->Send(r);
      });
  ASSERT_TRUE(server2);
  port = (*server2)->port();
  (*server2)->Start();
  auto denied = puller.Pull("127.0.0.1:" + std::to_string(port) + "/team/app:2", o);
  (*server2)->Stop();
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().message.find("token"), std::string::npos) << denied.error().message;
  EXPECT_EQ(dst_->List().size(), before);
}

}  // namespace
}  // namespace berth::agent::image
