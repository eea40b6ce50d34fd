// The README's first command in miniature: berthd dev (controller, agent, registry, gateway)
// + the demo shop deployed by examples/shop/deploy.sh (berth image build + berth apply), then
// requests through the gateway. Needs root (real containers under runc).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "harness/harness.h"

namespace berth::testing {
namespace {

class ShopE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    // Containers outlive berthd by design: delete the app and wait for its containers to go.
    if (api_port_ != 0 && !token_.empty()) {
      Run("delete", {BinaryPath("src/cmd/berth"), "delete", "app", "shop/shop"});
      WaitFor(
          [&] {
            Run("ps", {BinaryPath("src/cmd/berth"), "ps"});
            return last_log_.find("shop-") == std::string::npos;
          },
          std::chrono::seconds(60));
    }
    if (berthd_) berthd_->Stop();
  }

  int Run(const std::string& label, std::vector<std::string> argv,
          std::vector<std::pair<std::string, std::string>> env = {}) {
    ProcessOptions opts;
    opts.env = {{"BERTH_ADDR", "http://127.0.0.1:" + std::to_string(api_port_)},
                {"BERTH_TOKEN", token_}};
    opts.env.insert(opts.env.end(), env.begin(), env.end());
    opts.log_path = dir_.Sub(label + ".log");
    auto p = Process::Start(label, std::move(argv), opts);
    if (!p) return -1;
    auto st = p->Wait(std::chrono::seconds(180));
    last_log_ = p->Logs();
    return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }

  TempDir dir_{"berth-e2e"};
  std::unique_ptr<Process> berthd_;
  int api_port_ = 0;
  std::string token_;
  std::string last_log_;
};

TEST_F(ShopE2E, DemoAnswersThroughTheGateway) {
  api_port_ = FreePort();
  int gateway_port = FreePort();
  std::string data = dir_.MakeSubdir("data");
  std::string source = std::getenv("BERTH_SOURCE_DIR") ? std::getenv("BERTH_SOURCE_DIR") : ".";
  berthd_ = Process::Start("berthd", {BerthdPath(), "dev", "--data-dir", data, "--api",
                                      "127.0.0.1:" + std::to_string(api_port_), "--dns", "none",
                                      "--gateway", "127.0.0.1:" + std::to_string(gateway_port),
                                      "--subnet", "100.100.0.0/16", "--bridge", "berthe2e0"});
  ASSERT_TRUE(berthd_);
  ASSERT_TRUE(WaitFor([&] { return HttpGet(api_port_, "/v1/health").has_value(); }));
  std::ifstream(data + "/admin.token") >> token_;
  ASSERT_FALSE(token_.empty());

  int code = Run("deploy", {"bash", source + "/examples/shop/deploy.sh", BinaryPath("src/cmd")},
                 {{"BERTH_GATEWAY", "127.0.0.1:" + std::to_string(gateway_port)}});
  ASSERT_EQ(code, 0) << last_log_;
  EXPECT_NE(last_log_.find("worker-"), std::string::npos) << last_log_;

  // Through the gateway: the API's expose route and the web front, which calls the API
  // through the gateway at the bridge address the agent gives it (BERTH_GATEWAY_URL).
  auto products = HttpGet(gateway_port, "/api/products");
  ASSERT_TRUE(products.has_value());
  EXPECT_NE(products->find("\"anchor\""), std::string::npos) << *products;
  auto page = HttpGet(gateway_port, "/");
  ASSERT_TRUE(page.has_value());
  EXPECT_NE(page->find("Berth shop"), std::string::npos);
  EXPECT_NE(page->find("lantern"), std::string::npos) << *page;

  // The registry sees both services passing their HTTP checks.
  ASSERT_TRUE(WaitFor([&] {
    auto r = HttpGet(api_port_, "/v1/health");
    return r.has_value();
  }));
  // The registry holds the ready replicas of the exposed services.
  EXPECT_EQ(Run("service-get",
                {BinaryPath("src/cmd/berth"), "service", "-n", "shop", "get", "api", "--passing"}),
            0);
  EXPECT_NE(last_log_.find("api-"), std::string::npos) << last_log_;
}

}  // namespace
}  // namespace berth::testing
