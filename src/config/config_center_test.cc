#include "config/config_center.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/core.h>

#include <thread>

#include "core/json.h"
#include "store/sqlite/temp_store.h"

namespace berth::config {
namespace {

using ::testing::HasSubstr;

class ConfigCenterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempSqliteStore::Open("config-test", clock_);
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    center_ = std::make_unique<ConfigCenter>(temp_->store(), clock_);
    ASSERT_TRUE(center_->PutNamespace({.ns = "shop"}, admin_));
  }

  Result<WriteResult> Set(std::string name, std::string content, const Caller& who,
                          std::optional<Format> format = std::nullopt) {
    return center_->Publish({.ns = "shop",
                             .name = std::move(name),
                             .content = std::move(content),
                             .format = format,
                             .message = "m"},
                            who);
  }

  // Every key under /config/ with its value: "nothing stored" means this did not change.
  std::map<std::string, std::string> Snapshot() {
    auto r = temp_->store().Get("/config/", {.prefix = true});
    std::map<std::string, std::string> out;
    for (const auto& kv : r->kvs) out[kv.key] = kv.value;
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<store::TempSqliteStore> temp_;
  std::unique_ptr<ConfigCenter> center_;
  Caller admin_{.name = "admin", .token = "t0", .may_read_unreleased = true};
  Caller alice_{.name = "alice", .token = "t1", .may_read_unreleased = true};
  Caller bob_{.name = "bob", .token = "t2", .may_read_unreleased = true};
  Caller viewer_{.name = "vic", .token = "t3", .may_read_unreleased = false};
};

TEST_F(ConfigCenterTest, PublishMakesImmutableVersionsWithAuthorMessageAndTime) {
  auto w1 = Set("app.yaml", "a: 1\n", alice_);
  ASSERT_TRUE(w1) << w1.error().message;
  EXPECT_EQ(w1->action, "published");
  EXPECT_EQ(w1->item.format, Format::kYaml);  // from the name
  clock_.Advance(std::chrono::seconds(5));
  auto w2 = Set("app.yaml", "a: 2\n", bob_);
  ASSERT_TRUE(w2);
  EXPECT_EQ(w2->version->version, 2);
  auto h = center_->History("shop", "app.yaml");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].version, 2);
  EXPECT_EQ((*h)[0].author, "bob");
  EXPECT_EQ((*h)[1].author, "alice");
  EXPECT_EQ((*h)[0].time_ms - (*h)[1].time_ms, 5000);
  auto v1 = center_->ReadVersion("shop", "app.yaml", 1, viewer_);
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->content, "a: 1\n");
  EXPECT_EQ(v1->version.message, "m");
}

TEST_F(ConfigCenterTest, SameContentAgainIsUnchangedButABAIsTwoVersions) {
  ASSERT_TRUE(Set("f", "A", alice_));
  auto same = Set("f", "A", alice_);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->action, "unchanged");
  ASSERT_TRUE(Set("f", "B", alice_));
  auto back = Set("f", "A", alice_);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->action, "published");
  EXPECT_EQ(back->item.released, 3);
}

TEST_F(ConfigCenterTest, BadInputIsAClearErrorAndStoresNothing) {
  ASSERT_TRUE(Set("app.yaml", "a: 1\n", alice_));
  auto before = Snapshot();
  auto syntax = Set("app.yaml", "a: 1\n  b: [\n", alice_);
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(syntax.error().message, HasSubstr("shop/app.yaml:2:"));
  auto big = Set("big.txt", std::string(kDefaultMaxItemBytes + 1, 'x'), alice_);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_THAT(big.error().message,
              HasSubstr("config shop/big.txt is 1048577 bytes (1048577); the limit in namespace "
                        "shop is 1048576 (1Mi)"));
  auto unknown = center_->Publish({.ns = "nope", .name = "a", .content = "x"}, alice_);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(unknown.error().message, HasSubstr("config namespace \"nope\" does not exist"));
  auto bad_name = Set("../etc", "x", alice_);
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigCenterTest, DefaultNamespaceNeedsNoCreation) {
  auto w = center_->Publish({.ns = "default", .name = "a", .content = "x"}, alice_);
  ASSERT_TRUE(w) << w.error().message;
  auto ns = center_->GetNamespace("default");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->items, 1);
}

TEST_F(ConfigCenterTest, QuotaCountsItemsAndStoredBytes) {
  ASSERT_TRUE(center_->PutNamespace({.ns = "tiny", .max_items = 2, .max_bytes = 100}, admin_));
  auto put = [&](std::string name, std::string content) {
    return center_->Publish({.ns = "tiny", .name = name, .content = content}, alice_);
  };
  ASSERT_TRUE(put("a", std::string(40, 'a')));
  ASSERT_TRUE(put("b", std::string(40, 'b')));
  auto third = put("c", "c");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(third.error().message, HasSubstr("max_items 2"));
  auto over = put("a", std::string(30, 'z'));  // 40 + 40 + 30 > 100: every version counts
  ASSERT_FALSE(over);
  EXPECT_THAT(over.error().message, HasSubstr("max_bytes"));
  ASSERT_TRUE(center_->Delete("tiny", "b", alice_));
  auto ns = center_->GetNamespace("tiny");
  EXPECT_EQ(ns->items, 1);
  EXPECT_EQ(ns->stored_bytes, 40);
  EXPECT_TRUE(put("a", std::string(30, 'z')));
}

TEST_F(ConfigCenterTest, HistoryKeepsTheNewestHundred) {
  for (int i = 1; i <= kHistoryKept + 5; ++i) {
    ASSERT_TRUE(Set("h", std::to_string(i), alice_)) << i;
  }
  auto h = center_->History("shop", "h");
  ASSERT_TRUE(h);
  EXPECT_EQ(static_cast<int64_t>(h->size()), kHistoryKept);
  EXPECT_EQ(h->front().version, kHistoryKept + 5);
  EXPECT_EQ(h->back().version, 6);
  auto gone = center_->ReadVersion("shop", "h", 5, alice_);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  // Stored bytes follow the pruning: 100 versions of 1-3 bytes.
  auto ns = center_->GetNamespace("shop");
  int64_t bytes = 0;
  for (int i = 6; i <= kHistoryKept + 5; ++i) bytes += std::to_string(i).size();
  EXPECT_EQ(ns->stored_bytes, bytes);
}

TEST_F(ConfigCenterTest, DiffBetweenAnyTwoVersions) {
  ASSERT_TRUE(Set("app.yaml", "a: 1\nb: 2\n", alice_));
  ASSERT_TRUE(Set("app.yaml", "a: 1\nb: 3\n", alice_));
  ASSERT_TRUE(Set("app.yaml", "a: 9\nb: 3\n", alice_));
  auto d = center_->Diff("shop", "app.yaml", 1, 3, viewer_);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->diff.unified,
            "--- app.yaml@1\n+++ app.yaml@3\n@@ -1,2 +1,2 @@\n-a: 1\n-b: 2\n+a: 9\n+b: 3\n");
  EXPECT_FALSE(center_->Diff("shop", "app.yaml", 1, 7, viewer_));
}

TEST_F(ConfigCenterTest, RollbackIsANewVersionEqualToTheOldOne) {
  ASSERT_TRUE(Set("f", "one", alice_));
  ASSERT_TRUE(Set("f", "two", alice_));
  auto r = center_->Rollback("shop", "f", 1, "", bob_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->action, "rolled back");
  EXPECT_EQ(r->item.released, 3);
  EXPECT_EQ(r->version->rollback_of, 1);
  EXPECT_EQ(r->version->message, "rollback to version 1");
  EXPECT_EQ(center_->ReadVersion("shop", "f", 0, viewer_)->content, "one");
  EXPECT_FALSE(center_->Rollback("shop", "f", 9, "", bob_));
}

TEST_F(ConfigCenterTest, DraftThenPublishAndReviewNeedsAnotherPerson) {
  ASSERT_TRUE(center_->PutNamespace({.ns = "pay", .review = true}, admin_));
  auto direct = center_->Publish({.ns = "pay", .name = "limits", .content = "x"}, alice_);
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(direct.error().message, HasSubstr("requires review"));
  auto draft = center_->Publish({.ns = "pay",
                                 .name = "limits",
                                 .content = "max=5\n",
                                 .format = Format::kProperties,
                                 .message = "raise",
                                 .draft = true},
                                alice_);
  ASSERT_TRUE(draft) << draft.error().message;
  EXPECT_EQ(draft->action, "drafted");
  EXPECT_FALSE(center_->Get("pay", "limits"));  // nothing released yet
  auto self = center_->PublishDraft("pay", "limits", std::nullopt, "", alice_);
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(self.error().message, HasSubstr("written by alice"));
  auto ok = center_->PublishDraft("pay", "limits", std::nullopt, "", bob_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->version->author, "bob");
  EXPECT_EQ(ok->version->draft_author, "alice");
  EXPECT_EQ(ok->version->message, "raise");
  EXPECT_EQ(ok->item.format, Format::kProperties);
  EXPECT_FALSE(center_->ReadDraft("pay", "limits"));  // the draft is gone
}

TEST_F(ConfigCenterTest, GrayReachesOnlyTheGraySetThenPromoteOrAbort) {
  ASSERT_TRUE(Set("flags", "old", alice_));
  auto gray = center_->Publish({.ns = "shop",
                                .name = "flags",
                                .content = "new",
                                .gray = GraySelector{.labels = {{"track", "canary"}}}},
                               alice_);
  ASSERT_TRUE(gray) << gray.error().message;
  EXPECT_EQ(gray->action, "gray");
  EXPECT_EQ(gray->item.released, 1);
  Labels canary{{"track", "canary"}}, stable{{"track", "stable"}};
  EXPECT_EQ(center_->ReadFor("shop", "flags", "web-1", canary)->content, "new");
  EXPECT_EQ(center_->ReadFor("shop", "flags", "web-2", stable)->content, "old");
  EXPECT_EQ(center_->ReadFor("shop", "flags", "", canary)->content, "old");
  // Outside the gray set, by number: refused to viewers, and the released one by default.
  auto by_number = center_->ReadVersion("shop", "flags", 2, viewer_);
  ASSERT_FALSE(by_number);
  EXPECT_EQ(by_number.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(center_->ReadVersion("shop", "flags", 0, viewer_)->content, "old");
  EXPECT_FALSE(center_->Diff("shop", "flags", 1, 2, viewer_));
  // No other publish while gray.
  auto blocked = Set("flags", "other", alice_);
  ASSERT_FALSE(blocked);
  EXPECT_THAT(blocked.error().message, HasSubstr("gray release of version 2 in progress"));
  auto aborted = center_->Abort("shop", "flags", bob_);
  ASSERT_TRUE(aborted);
  EXPECT_EQ(center_->ReadFor("shop", "flags", "web-1", canary)->content, "old");
  EXPECT_FALSE(center_->ReadVersion("shop", "flags", 2, viewer_));  // never released
  ASSERT_TRUE(center_->Publish(
      {.ns = "shop", .name = "flags", .content = "newer", .gray = GraySelector{.percent = 50}},
      alice_));
  auto promoted = center_->Promote("shop", "flags", bob_);
  ASSERT_TRUE(promoted);
  EXPECT_EQ(promoted->item.released, 3);
  EXPECT_EQ(center_->ReadFor("shop", "flags", "web-2", stable)->content, "newer");
  EXPECT_TRUE(center_->ReadVersion("shop", "flags", 3, viewer_));
  EXPECT_FALSE(center_->Promote("shop", "flags", bob_));
}

TEST_F(ConfigCenterTest, ChangeLogReplaysEveryChangeFromARevision) {
  auto w1 = Set("f", "A", alice_);
  auto w2 = Set("f", "B", alice_);
  auto w3 = Set("f", "A", alice_);
  ASSERT_TRUE(w1 && w2 && w3);
  auto log = center_->ReadLog("shop", "f", w2->revision);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->entries.size(), 2u);
  EXPECT_EQ(log->entries[0].released, 2);
  EXPECT_EQ(log->entries[0].revision, w2->revision);
  EXPECT_EQ(log->entries[1].released, 3);
  ASSERT_TRUE(log->before);
  EXPECT_EQ(log->before->released, 1);
  EXPECT_TRUE(log->complete);
  EXPECT_FALSE(log->deleted);
}

TEST_F(ConfigCenterTest, ConcurrentPublishersNeverLoseAVersion) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto w = center_->Publish({.ns = "shop",
                                   .name = "c" + std::to_string(i % 2),
                                   .content = fmt::format("{}-{}", t, i)},
                                  alice_);
        EXPECT_TRUE(w) << w.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  auto a = center_->Get("shop", "c0"), b = center_->Get("shop", "c1");
  EXPECT_EQ(a->latest + b->latest, 40);
  auto ns = center_->GetNamespace("shop");
  EXPECT_EQ(ns->items, 2);
  EXPECT_EQ(center_->ReadLog("shop", "c0", 1)->entries.size(), 20u);
}

TEST_F(ConfigCenterTest, ExportImportRoundTripAllOrNothing) {
  ASSERT_TRUE(Set("app.yaml", "a: 1\n", alice_));
  ASSERT_TRUE(Set("notes", "free text\n", alice_));
  auto text = center_->Export("shop");
  ASSERT_TRUE(text) << text.error().message;
  ASSERT_TRUE(center_->PutNamespace({.ns = "staging"}, admin_));
  auto imported = center_->Import("staging", *text, false, bob_);
  ASSERT_TRUE(imported) << imported.error().message;
  ASSERT_EQ(imported->items.size(), 2u);
  EXPECT_EQ(imported->items[0].action, "created");
  EXPECT_EQ(center_->ReadVersion("staging", "notes", 0, viewer_)->content, "free text\n");
  auto again = center_->Import("staging", *text, false, bob_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->items[0].action, "unchanged");
  // One bad entry: nothing of the file is stored.
  auto before = Snapshot();
  auto bad = center_->Import(
      "staging",
      R"({"configs":[{"name":"new.json","content":"{}"},{"name":"app.yaml","content":"a: [\n"}]})",
      false, bob_);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("import app.yaml: staging/app.yaml:"));
  EXPECT_EQ(Snapshot(), before);
  auto dup = center_->Import(
      "staging", "configs:\n- {name: a, content: x}\n- {name: a, content: y}\n", false, bob_);
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message, HasSubstr("is given twice"));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigCenterTest, DeleteRemovesEverythingAndFreesTheQuota) {
  ASSERT_TRUE(Set("f", "one", alice_));
  ASSERT_TRUE(Set("f", "two", alice_));
  ASSERT_TRUE(center_->Acknowledge("shop", "f", {.consumer = "web-1", .version = 2}));
  auto d = center_->Delete("shop", "f", alice_);
  ASSERT_TRUE(d) << d.error().message;
  auto left = temp_->store().Get("/config/", {.prefix = true});
  for (const auto& kv : left->kvs) EXPECT_EQ(kv.key.find("/f"), std::string::npos) << kv.key;
  auto ns = center_->GetNamespace("shop");
  EXPECT_EQ(ns->items, 0);
  EXPECT_EQ(ns->stored_bytes, 0);
  EXPECT_TRUE(center_->ReadLog("shop", "f", 1)->deleted);
}

TEST_F(ConfigCenterTest, AcknowledgementsNameAVersionThatExists) {
  ASSERT_TRUE(Set("f", "one", alice_));
  EXPECT_TRUE(
      center_->Acknowledge("shop", "f", {.consumer = "web-1", .version = 1, .revision = 9}));
  EXPECT_FALSE(center_->Acknowledge("shop", "f", {.consumer = "web-1", .version = 2}));
  EXPECT_FALSE(center_->Acknowledge("shop", "f", {.consumer = "a/b", .version = 1}));
  auto acks = center_->Acks("shop", "f");
  ASSERT_TRUE(acks);
  ASSERT_EQ(acks->size(), 1u);
  EXPECT_EQ((*acks)[0].consumer, "web-1");
  EXPECT_EQ((*acks)[0].revision, 9);
}

TEST_F(ConfigCenterTest, ListFiltersByLabelsAndPages) {
  for (int i = 0; i < 5; ++i) {
    Labels l{{"team", i % 2 ? "web" : "pay"}};
    ASSERT_TRUE(center_->Publish(
        {.ns = "shop", .name = "c" + std::to_string(i), .content = "x", .labels = l}, alice_));
  }
  auto page1 = center_->List("shop", {.labels = {{"team", "pay"}}, .limit = 2});
  ASSERT_TRUE(page1);
  EXPECT_EQ(page1->total, 3);
  ASSERT_EQ(page1->items.size(), 2u);
  EXPECT_EQ(page1->next, "c2");
  auto page2 = center_->List("shop", {.labels = {{"team", "pay"}}, .limit = 2, .after = "c2"});
  ASSERT_EQ(page2->items.size(), 1u);
  EXPECT_EQ(page2->items[0].name, "c4");
  EXPECT_EQ(page2->next, "");
}

}  // namespace
}  // namespace berth::config
