#include "config/secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/json.h"
#include "store/sqlite/temp_store.h"

namespace berth::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";  // 32 bytes

TEST(SealTest, OpensWhatItSealedAndNothingChanged) {
  auto sealed = Seal(kKey, "hunter2", "aad");
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->size(), 12 + 7 + 16u);
  EXPECT_EQ(sealed->find("hunter2"), std::string::npos);
  EXPECT_EQ(Open(kKey, *sealed, "aad").value(), "hunter2");
  // Two seals of one value differ (random nonce).
  EXPECT_NE(*sealed, Seal(kKey, "hunter2", "aad").value());

  std::string flipped = *sealed;
  flipped[14] ^= 1;
  auto bad = Open(kKey, flipped, "aad");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("failed authentication"));
  EXPECT_FALSE(Open(kKey, *sealed, "other aad"));
  EXPECT_FALSE(Open("fedcba9876543210fedcba9876543210", *sealed, "aad"));
  EXPECT_FALSE(Open(kKey, sealed->substr(0, 20), "aad"));
}

class SecretStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempSqliteStore::Open("secrets-test", clock_);
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    dir_ = std::filesystem::path(temp_->dir()) / "data";
    std::filesystem::create_directories(dir_);
    center_ = std::make_unique<ConfigCenter>(temp_->store(), clock_);
    ASSERT_TRUE(center_->PutNamespace({.ns = "shop"}, admin_));
    Reopen();
  }

  void Reopen() {
    secrets_.reset();
    auto keys = LoadMasterKeys(dir_.string(), "", "");
    ASSERT_TRUE(keys) << keys.error().message;
    secrets_ = std::make_unique<SecretStore>(temp_->store(), clock_, *center_, std::move(*keys));
  }

  // Every stored byte under /config/.
  std::string Dump() {
    auto r = temp_->store().Get("/config/", {.prefix = true});
    std::string out;
    for (const auto& kv : r->kvs) out += kv.key + "=" + kv.value + "\n";
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<store::TempSqliteStore> temp_;
  std::filesystem::path dir_;
  std::unique_ptr<ConfigCenter> center_;
  std::unique_ptr<SecretStore> secrets_;
  Caller admin_{.name = "admin", .token = "t0", .may_read_unreleased = true};
};

TEST_F(SecretStoreTest, ValuesAreEncryptedAtRestAndSurviveARestart) {
  auto s = secrets_->Set("shop", "db-password", "correct horse battery staple", admin_);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->version, 1);
  EXPECT_EQ(s->size, 28);
  EXPECT_THAT(Dump(), Not(HasSubstr("correct horse")));
  EXPECT_THAT(Dump(), HasSubstr("/config/secrets/shop/db-password"));
  EXPECT_EQ(std::filesystem::status(dir_ / "secrets" / "master.keys").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Reopen();  // the key file is read back
  EXPECT_EQ(secrets_->Reveal("shop", "db-password").value(), "correct horse battery staple");
}

TEST_F(SecretStoreTest, VersionsHistoryAndDelete) {
  ASSERT_TRUE(secrets_->Set("shop", "api-key", "one", admin_));
  ASSERT_TRUE(secrets_->Set("shop", "api-key", "two", admin_));
  EXPECT_EQ(secrets_->Reveal("shop", "api-key").value(), "two");
  EXPECT_EQ(secrets_->Reveal("shop", "api-key", 1).value(), "one");
  auto h = secrets_->History("shop", "api-key");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].version, 2);
  auto list = secrets_->List("shop");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "api-key");
  ASSERT_TRUE(secrets_->Delete("shop", "api-key"));
  EXPECT_EQ(secrets_->Reveal("shop", "api-key").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(Dump(), Not(HasSubstr("/config/secret")));
}

TEST_F(SecretStoreTest, BadInputIsRefusedWithoutTheValueInTheError) {
  auto empty = secrets_->Set("shop", "x", "", admin_);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  std::string big(kMaxSecretBytes + 1, 's');
  auto over = secrets_->Set("shop", "x", big, admin_);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_THAT(over.error().message, Not(HasSubstr("sss")));
  auto nowhere = secrets_->Set("nowhere", "x", "v", admin_);
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().code, ErrorCode::kNotFound);
  auto bad_name = secrets_->Set("shop", "a/b", "v", admin_);
  EXPECT_FALSE(bad_name);
  EXPECT_THAT(Dump(), Not(HasSubstr("/config/secret")));
}

TEST_F(SecretStoreTest, AValueMovedToAnotherSecretDoesNotOpen) {
  ASSERT_TRUE(secrets_->Set("shop", "a", "alpha", admin_));
  ASSERT_TRUE(secrets_->Set("shop", "b", "bravo", admin_));
  auto a = temp_->store().Get(SecretKey("shop", "a"));
  ASSERT_TRUE(temp_->store().Put(SecretKey("shop", "b"), a->kvs[0].value));
  auto r = secrets_->Reveal("shop", "b");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("failed authentication"));
}

TEST_F(SecretStoreTest, RotateKeyRewrapsEverythingAndDropsTheOldKey) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        secrets_->Set("shop", "s" + std::to_string(i), "value-" + std::to_string(i), admin_));
  }
  ASSERT_TRUE(secrets_->Set("shop", "s0", "value-0b", admin_));
  const std::string old = secrets_->CurrentKeyId();
  auto r = secrets_->RotateKey();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->old_key, old);
  EXPECT_NE(r->new_key, old);
  EXPECT_EQ(r->rewrapped, 11);  // 5 heads + 6 versions (s0 has two)
  EXPECT_THAT(Dump(), Not(HasSubstr(old)));
  Reopen();  // only the new key is in the file now
  EXPECT_EQ(secrets_->CurrentKeyId(), r->new_key);
  EXPECT_EQ(secrets_->Reveal("shop", "s0").value(), "value-0b");
  EXPECT_EQ(secrets_->Reveal("shop", "s0", 1).value(), "value-0");
  EXPECT_EQ(secrets_->Reveal("shop", "s4").value(), "value-4");
}

TEST_F(SecretStoreTest, RotationDuringWritesLosesNoValue) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      ASSERT_TRUE(secrets_->Set("shop", "busy", "v" + std::to_string(i), admin_));
    }
  });
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(secrets_->RotateKey());
  stop = true;
  writer.join();
  Reopen();
  auto h = secrets_->History("shop", "busy");
  ASSERT_TRUE(h);
  for (const auto& v : *h) {
    EXPECT_TRUE(secrets_->Reveal("shop", "busy", v.version)) << "version " << v.version;
  }
}

TEST_F(SecretStoreTest, AKeyFromTheEnvironmentIsCheckedAndNotRotatedHere) {
  auto bad = LoadMasterKeys(dir_.string(), "", "abc");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("64 hex digits"));
  auto keys = LoadMasterKeys(dir_.string(), "", std::string(64, 'a'));
  ASSERT_TRUE(keys);
  SecretStore s(temp_->store(), clock_, *center_, std::move(*keys));
  ASSERT_TRUE(s.Set("shop", "k", "v", admin_));
  EXPECT_EQ(s.Reveal("shop", "k").value(), "v");
  auto r = s.RotateKey();
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("BERTH_SECRETS_KEY"));
}

}  // namespace
}  // namespace berth::config
