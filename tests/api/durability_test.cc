// Every acknowledged write survives SIGKILL (sqlite back-end): writers hammer the API while
// berthd is killed at a random moment; after a restart every acknowledged key is there with
// the acknowledged value.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "tests/api/berthd_fixture.h"

namespace berth::testing {
namespace {

TEST(Durability, EveryAcknowledgedWriteSurvivesSigkill) {
  TempDir dir("berth-durability");
  Berthd berthd(dir.MakeSubdir("data"));
  ASSERT_TRUE(berthd.Start());
  std::mt19937 rng(std::random_device{}());
  std::map<std::string, std::string> acked;  // key -> value the server acknowledged
  std::mutex mu;
  int64_t total_acked = 0;

  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        auto client = http::Client::Create(berthd.base(), {.timeout = std::chrono::seconds(5)});
        if (!client) return;
        for (int i = 0; !stop; ++i) {
          std::string key =
              "/d/r" + std::to_string(round) + "/w" + std::to_string(w) + "/" + std::to_string(i);
          std::string value = "v" + std::to_string(i) + "-" + std::to_string(round);
          http::Request req;
          req.method = "PUT";
          req.target = "/v1/kv" + key;
          req.headers.Set("Authorization", "Bearer " + berthd.admin_token());
          req.body = R"({"value":")" + value + R"("})";
          auto r = (*client)->Send(req);
          if (!r) break;  // the server died: this write was never acknowledged
          if (r->status == 200) {
            std::lock_guard lock(mu);
            acked[key] = value;
          }
        }
      });
    }
    // Kill at a random moment once writes are flowing.
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    berthd.process().Kill(SIGKILL);
    berthd.process().Wait();
    stop = true;
    for (auto& t : writers) t.join();
    berthd.Reset();
    ASSERT_TRUE(berthd.Start()) << "berthd did not restart after SIGKILL in round " << round;

    std::lock_guard lock(mu);
    ASSERT_FALSE(acked.empty());
    total_acked = static_cast<int64_t>(acked.size());
    auto list = berthd.Request("GET", "/v1/kv/d/?prefix");
    ASSERT_TRUE(list.has_value());
    ASSERT_EQ(list->status, 200);
    auto j = ParseJson(list->body);
    ASSERT_TRUE(j.has_value());
    std::map<std::string, std::string> stored;
    for (const auto& kv : (*j)["kvs"]) stored[kv["key"]] = kv["value"];
    int missing = 0;
    for (const auto& [k, v] : acked) {
      auto it = stored.find(k);
      if (it == stored.end() || it->second != v) {
        if (++missing <= 5) ADD_FAILURE() << "acknowledged write lost: " << k << "=" << v;
      }
    }
    EXPECT_EQ(missing, 0) << "of " << acked.size() << " acknowledged writes";
  }
  RecordProperty("acknowledged_writes", std::to_string(total_acked));
}

}  // namespace
}  // namespace berth::testing
