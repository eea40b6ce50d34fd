#include "config/model.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace berth::config {
namespace {

TEST(ModelTest, ItemNames) {
  EXPECT_TRUE(ValidateItemName("app.yaml"));
  EXPECT_TRUE(ValidateItemName("Feature_Flags-2"));
  EXPECT_FALSE(ValidateItemName(""));
  EXPECT_FALSE(ValidateItemName(".hidden"));
  EXPECT_FALSE(ValidateItemName("a/b"));
  EXPECT_FALSE(ValidateItemName(std::string(254, 'a')));
  EXPECT_EQ(ValidateItemName("a b").error().message,
            "config name \"a b\" may hold only letters, digits, '.', '_' and '-', and starts "
            "with a letter or digit");
}

TEST(ModelTest, FormatsFromNamesAndWords) {
  EXPECT_EQ(FormatFromFileName("app.YML"), Format::kYaml);
  EXPECT_EQ(FormatFromFileName("db.properties"), Format::kProperties);
  EXPECT_EQ(FormatFromFileName("notes"), std::nullopt);
  EXPECT_EQ(*ParseFormat("toml"), Format::kToml);
  EXPECT_FALSE(ParseFormat("xml"));
}

TEST(ModelTest, KeysRoundTrip) {
  EXPECT_EQ(ItemKey("shop", "app.yaml"), "/config/items/shop/app.yaml");
  EXPECT_EQ(VersionKey("shop", "a", 7), "/config/versions/shop/a/0000000007");
  EXPECT_EQ(KeySequence(VersionKey("shop", "a", 123)), 123);
  EXPECT_EQ(KeySequence(DraftContentKey("shop", "a")), 0);
  auto p = ParseItemKey("/config/items/shop/app.yaml");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "shop");
  EXPECT_EQ(p->second, "app.yaml");
  EXPECT_FALSE(ParseItemKey("/config/items/shop/"));
  EXPECT_FALSE(ParseItemKey("/config/versions/shop/a/1"));
}

TEST(ModelTest, GraySelectorsMatch) {
  GraySelector by_labels{.labels = {{"zone", "eu-1"}}};
  EXPECT_TRUE(by_labels.Matches("i1", {{"zone", "eu-1"}, {"app", "web"}}));
  EXPECT_FALSE(by_labels.Matches("i1", {{"zone", "eu-2"}}));
  EXPECT_FALSE(by_labels.Matches("", {{"zone", "eu-1"}}));  // anonymous: never gray
  GraySelector by_id{.instances = {"a", "b"}};
  EXPECT_TRUE(by_id.Matches("b", {}));
  EXPECT_FALSE(by_id.Matches("c", {}));
  // Percentages nest: an instance in the 10% set is in every larger set.
  GraySelector ten{.percent = 10}, fifty{.percent = 50}, all{.percent = 100};
  int in_ten = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string id = "web-" + std::to_string(i);
    if (ten.Matches(id, {})) {
      ++in_ten;
      EXPECT_TRUE(fifty.Matches(id, {}));
    }
    EXPECT_TRUE(all.Matches(id, {}));
  }
  EXPECT_GT(in_ten, 140);  // about 200 of 2000
  EXPECT_LT(in_ten, 260);
}

TEST(ModelTest, GraySelectorNeedsExactlyOneKind) {
  EXPECT_FALSE(GraySelector{}.Validate());
  EXPECT_FALSE((GraySelector{.instances = {"a"}, .percent = 5}.Validate()));
  EXPECT_FALSE(GraySelectorFromJson(Json{{"percent", 0}}));
  EXPECT_FALSE(GraySelectorFromJson(Json{{"percent", 101}}));
  EXPECT_FALSE(GraySelectorFromJson(Json{{"tags", {{"a", "b"}}}}));
  auto s = GraySelectorFromJson(Json{{"labels", {{"track", "canary"}}}});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->Describe(), "labels track=canary");
}

TEST(ModelTest, ItemJsonRoundTrip) {
  Item item;
  item.ns = "shop";
  item.name = "app.yaml";
  item.format = Format::kYaml;
  item.labels = {{"team", "web"}};
  item.released = 3;
  item.latest = 4;
  item.gray = Gray{.version = 4, .selector = {.percent = 20}, .started_ms = 5, .started_by = "bo"};
  item.seq = 6;
  auto back = ItemFromJson("shop", "app.yaml", ToJson(item).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->released, 3);
  EXPECT_EQ(back->gray, item.gray);
  EXPECT_EQ(back->labels, item.labels);
  EXPECT_EQ(back->VersionFor("x", {}), GrayBucket("x") < 20 ? 4 : 3);
  EXPECT_FALSE(ItemFromJson("shop", "a", "not json"));
}

}  // namespace
}  // namespace berth::config
