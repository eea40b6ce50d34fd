#include "config/delivery_hub.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>

#include "store/sqlite/temp_store.h"

namespace berth::config {
namespace {

// Collects what a subscription delivers; Wait blocks until `n` deliveries have arrived (the
// store's watch thread hands them over), failing the test if they never do.
class Inbox {
 public:
  DeliveryHandler Handler() {
    return [this](std::vector<Delivery>&& batch) {
      std::lock_guard lock(mu_);
      for (auto& d : batch) got_.push_back(std::move(d));
      cv_.notify_all();
    };
  }
  std::vector<Delivery> Wait(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return got_.size() >= n; });
    return got_;
  }
  // Versions delivered so far (0 for a deletion).
  std::vector<int64_t> Versions() {
    std::lock_guard lock(mu_);
    std::vector<int64_t> out;
    for (const auto& d : got_) out.push_back(d.deleted ? 0 : d.version);
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Delivery> got_;
};

class DeliveryHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempSqliteStore::Open("delivery-test", clock_);
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    center_ = std::make_unique<ConfigCenter>(temp_->store(), clock_);
    ASSERT_TRUE(center_->PutNamespace({.ns = "shop"}, admin_));
    hub_ = std::make_unique<DeliveryHub>(temp_->store(), *center_);
    ASSERT_TRUE(hub_->Start());
  }
  void TearDown() override { hub_.reset(); }

  WriteResult Set(const std::string& name, const std::string& content,
                  std::optional<GraySelector> gray = std::nullopt) {
    auto w = center_->Publish(
        {.ns = "shop", .name = name, .content = content, .gray = std::move(gray)}, admin_);
    EXPECT_TRUE(w) << w.error().message;
    return w ? *w : WriteResult{};
  }

  std::unique_ptr<DeliverySubscription> Sub(Inbox& inbox, const std::string& name, int64_t from = 0,
                                            std::string instance = "i1") {
    auto s = hub_->Subscribe({{.ns = "shop", .name = name, .from_revision = from}},
                             {.instance = std::move(instance)}, inbox.Handler());
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  ManualClock clock_;
  std::unique_ptr<store::TempSqliteStore> temp_;
  std::unique_ptr<ConfigCenter> center_;
  std::unique_ptr<DeliveryHub> hub_;
  Caller admin_{.name = "admin", .token = "t0", .may_read_unreleased = true};
};

TEST_F(DeliveryHubTest, AFreshConsumerGetsTheCurrentVersionThenEveryChangeABAIncluded) {
  Set("app.yaml", "a: 1\n");
  Inbox inbox;
  auto sub = Sub(inbox, "app.yaml");
  EXPECT_EQ(inbox.Versions(), (std::vector<int64_t>{1}));  // replayed before Subscribe returns
  Set("app.yaml", "a: 2\n");
  auto back = center_->Rollback("shop", "app.yaml", 1, "", admin_);  // A -> B -> A
  ASSERT_TRUE(back);
  auto got = inbox.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(inbox.Versions(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(got[2].revision, back->revision);
  EXPECT_LT(got[1].revision, got[2].revision);
  auto c = hub_->Content("shop", "app.yaml", 3);
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->content, "a: 1\n");
}

TEST_F(DeliveryHubTest, AConsumerResumingFromARevisionGetsWhatItMissedInOrder) {
  auto w1 = Set("app.yaml", "a: 1\n");
  for (int i = 2; i <= 50; ++i) Set("app.yaml", "a: " + std::to_string(i) + "\n");
  Inbox inbox;
  auto sub = Sub(inbox, "app.yaml", w1.revision + 1);
  auto got = inbox.Wait(49);
  ASSERT_EQ(got.size(), 49u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].version, static_cast<int64_t>(i) + 2);
    EXPECT_FALSE(got[i].resync);
  }
  // Up to date: a consumer resuming after the last change gets nothing until the next one.
  Inbox later;
  auto sub2 = Sub(later, "app.yaml", got.back().revision + 1);
  EXPECT_TRUE(later.Versions().empty());
  Set("app.yaml", "a: 51\n");
  EXPECT_EQ(later.Wait(1).back().version, 51);
}

TEST_F(DeliveryHubTest, PrunedChangesAreReplacedByTheCurrentStateMarkedResync) {
  auto w1 = Set("app.yaml", "v: 0\n");
  for (int i = 1; i <= kLogKept + 5; ++i) Set("app.yaml", "v: " + std::to_string(i) + "\n");
  Inbox inbox;
  auto sub = Sub(inbox, "app.yaml", w1.revision + 1);
  auto got = inbox.Versions();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], kLogKept + 6);
  EXPECT_TRUE(inbox.Wait(1)[0].resync);
}

TEST_F(DeliveryHubTest, AGrayVersionReachesOnlyTheGraySetAndAbortBringsItBack) {
  Set("app.yaml", "v: 1\n");
  Inbox in_set, outside;
  auto a = Sub(in_set, "app.yaml", 0, "i1");
  auto b = Sub(outside, "app.yaml", 0, "i2");
  Set("app.yaml", "v: 2\n", GraySelector{.instances = {"i1"}});
  auto got = in_set.Wait(2);
  EXPECT_EQ(got.back().version, 2);
  EXPECT_TRUE(got.back().gray);
  ASSERT_TRUE(center_->Abort("shop", "app.yaml", admin_));
  EXPECT_EQ(in_set.Wait(3).back().version, 1);
  Set("app.yaml", "v: 3\n", GraySelector{.instances = {"i1"}});
  ASSERT_TRUE(center_->Promote("shop", "app.yaml", admin_));
  // i1 got 3 when gray and nothing at promote (it runs 3 already); i2 only at promote.
  EXPECT_EQ(outside.Wait(2).back().version, 3);
  EXPECT_EQ(in_set.Wait(4).back().version, 3);
  EXPECT_EQ(outside.Versions(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(in_set.Versions(), (std::vector<int64_t>{1, 2, 1, 3}));
}

TEST_F(DeliveryHubTest, OnlyTheChangedItemsSubscribersGetItAndDeletionIsDelivered) {
  Set("a.yaml", "a: 1\n");
  Set("b.yaml", "b: 1\n");
  Inbox a_inbox, b_inbox;
  auto a = Sub(a_inbox, "a.yaml");
  auto b = Sub(b_inbox, "b.yaml");
  Set("a.yaml", "a: 2\n");
  ASSERT_TRUE(center_->Delete("shop", "a.yaml", admin_));
  auto got = a_inbox.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[2].deleted);
  Set("b.yaml", "b: 2\n");  // b's inbox sees its own change, and never a's
  EXPECT_EQ(b_inbox.Wait(2).size(), 2u);
  EXPECT_EQ(b_inbox.Versions(), (std::vector<int64_t>{1, 2}));
}

TEST_F(DeliveryHubTest, AnUnknownItemOrNamespaceIsRefusedAndNothingStarts) {
  Inbox inbox;
  auto s = hub_->Subscribe({{.ns = "shop", .name = "nope.yaml"}}, {}, inbox.Handler());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  auto t = hub_->Subscribe({{.ns = "nowhere", .name = "x"}}, {}, inbox.Handler());
  ASSERT_FALSE(t);
  EXPECT_EQ(hub_->stats().subscriptions.load(), 0);
}

}  // namespace
}  // namespace berth::config
