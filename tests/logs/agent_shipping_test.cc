// Container output into the log center with real containers (berthd dev as root: runc, the
// shim, the agent's log shipper, the log center): a crashing service's stack trace arrives as
// one record; a flood survives berthd (agent and log center together) being SIGKILLed in
// the middle of it, every line exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class AgentShippingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_FAIL() << "runs containers: needs root (as CI runs it)";
    data_ = dir_.MakeSubdir("data");
    port_ = FreePort();
    std::string octet = std::to_string(::getpid() % 200 + 20);
    bridge_ = "blog" + std::to_string(::getpid() % 100000);
    argv_ = {BerthdPath(), "dev",      "--data-dir",
             data_,        "--api",    "127.0.0.1:" + std::to_string(port_),
             "--dns",      "none",     "--gateway",
             "none",       "--subnet", "100.98." + octet + ".0/24",
             "--bridge",   bridge_};
    Start();
    BuildImage();
  }

  void Start() {
    berthd_ = Process::Start("berthd", argv_);
    ASSERT_TRUE(berthd_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); }));
    std::ifstream(data_ + "/admin.token") >> token_;
    ASSERT_FALSE(token_.empty());
  }

  void TearDown() override {
    if (berthd_ && berthd_->Running()) {
      for (const char* name : {"crash", "flood"}) Berth({"rm", "--force", name});
      berthd_->Stop();
    }
    std::system(("ip link delete " + bridge_ + " 2>/dev/null").c_str());
  }

  ToolResult Berth(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions opts;
    opts.env = {{"BERTH_ADDR", "http://127.0.0.1:" + std::to_string(port_)},
                {"BERTH_TOKEN", token_},
                {"XDG_CONFIG_HOME", dir_.Sub("config")},
                {"HOME", dir_.path()}};
    opts.log_path = dir_.Sub("cli-" + std::to_string(counter_++) + ".log");
    return RunTool("berth", std::move(args), std::move(opts), std::chrono::seconds(180));
  }

  void BuildImage() {
    std::string ctx = dir_.MakeSubdir("ctx");
    fs::create_directories(ctx + "/bin");
    fs::copy_file("/bin/busybox", ctx + "/bin/busybox");
    for (const char* a : {"sh", "printf", "echo", "sleep", "seq"})
      fs::create_symlink("busybox", ctx + "/bin/" + a);
    auto b = Berth({"image", "build", ctx, "-t", "logs/app:1"});
    ASSERT_EQ(b.code, 0) << b.text;
  }

  Json Query(const std::string& q, size_t limit = 5000) {
    http::Headers h;
    h.Set("Authorization", "Bearer " + token_);
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto r =
        http::Fetch("GET",
                    fmt::format("http://127.0.0.1:{}/loki/api/v1/"
                                "query_range?query={}&start={}&end={}&limit={}&direction=forward",
                                port_, http::PercentEncode(q), now - 3600'000'000'000,
                                now + 60'000'000'000, limit),
                    {}, h);
    if (!r || r->status != 200) return Json();
    auto j = ParseJson(r->body, {.max_bytes = r->body.size() + 1});
    return j ? *j : Json();
  }

  std::vector<std::string> Lines(const std::string& q, size_t limit = 50000) {
    std::vector<std::string> out;
    Json j = Query(q, limit);
    if (!j.contains("data")) return out;
    for (const auto& s : j["data"]["result"]) {
      for (const auto& v : s["values"]) out.push_back(v[1]);
    }
    return out;
  }

  TempDir dir_{"berth-logs-agent"};
  std::string data_, bridge_, token_;
  std::vector<std::string> argv_;
  int port_ = 0;
  int counter_ = 0;
  std::unique_ptr<Process> berthd_;
};

TEST_F(AgentShippingTest, ACrashingServicesStackTraceArrivesAsOneRecordWithItsLabels) {
  auto run =
      Berth({"run", "--name", "crash", "--network", "none", "logs/app:1", "--", "/bin/sh", "-c",
             "echo starting; printf 'Exception in thread \"main\" java.lang.IllegalStateException: "
             "cart 42 is "
             "gone\\n\\tat com.shop.Cart.add(Cart.java:42)\\n\\tat "
             "com.shop.Main.main(Main.java:7)\\n' >&2; "
             "echo after; sleep 1; exit 1"});
  ASSERT_EQ(run.code, 0) << run.text;
  std::vector<std::string> traces;
  ASSERT_TRUE(WaitFor([&] {
    traces = Lines(R"({container="crash", stream="stderr"} |= "IllegalStateException")");
    return !traces.empty();
  })) << "the stack trace never arrived";
  ASSERT_EQ(traces.size(), 1u);
  EXPECT_EQ(traces[0],
            "Exception in thread \"main\" java.lang.IllegalStateException: cart 42 is gone\n"
            "\tat com.shop.Cart.add(Cart.java:42)\n\tat com.shop.Main.main(Main.java:7)");
  auto stdout_lines = Lines(R"({container="crash", stream="stdout"})");
  EXPECT_EQ(stdout_lines, (std::vector<std::string>{"starting", "after"}));
  Json series = Query(R"({container="crash"})");
  ASSERT_FALSE(series["data"]["result"].empty());
  EXPECT_EQ(series["data"]["result"][0]["stream"]["node"], "local");
  EXPECT_EQ(series["data"]["result"][0]["stream"]["namespace"], "default");
}

TEST_F(AgentShippingTest, AFloodSurvivesSigkillOfTheAgentAndLogCenterEveryLineOnce) {
  constexpr int kLines = 30000;
  auto run = Berth(
      {"run", "--name", "flood", "--network", "none", "logs/app:1", "--", "/bin/sh", "-c",
       fmt::format(
           "i=0; while [ $i -lt {} ]; do echo \"flood line $i\"; i=$((i+1)); done; sleep 3600",
           kLines)});
  ASSERT_EQ(run.code, 0) << run.text;
  // Kill berthd (agent and log center in one process) once some lines are stored, while the
  // container goes on writing; the shim keeps its files.
  ASSERT_TRUE(WaitFor([&] { return !Lines(R"({container="flood"})", 10).empty(); }));
  berthd_->Kill(SIGKILL);
  (void)berthd_->Wait();
  berthd_.reset();
  Start();
  std::vector<std::string> lines;
  ASSERT_TRUE(WaitFor(
      [&] {
        lines = Lines(R"({container="flood"})");
        return lines.size() >= kLines;
      },
      std::chrono::seconds(240), std::chrono::milliseconds(500)))
      << "only " << lines.size() << " of " << kLines << " lines arrived";
  std::multiset<std::string> all(lines.begin(), lines.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kLines));
  size_t missing = 0, doubled = 0;
  for (int i = 0; i < kLines; ++i) {
    size_t n = all.count(fmt::format("flood line {}", i));
    missing += n == 0;
    doubled += n > 1;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(doubled, 0u);
  Json count = Query(R"(sum(count_over_time({container="flood"}[2h])))");
  (void)count;
}

}  // namespace
}  // namespace berth::testing
