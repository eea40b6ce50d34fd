#include "logs/patterns/miner.h"

#include <gtest/gtest.h>

#include <sstream>

#include "logs/patterns/offline.h"

namespace berth::logs::patterns {
namespace {

TEST(Miner, MasksNumbersDatesBracketsAndUnits) {
  auto sig = TemplateMiner::Signature("Dec 10 06:55:46 [main] took 12 ms for user42 and alice");
  EXPECT_EQ(sig, (std::vector<std::string>{"<*>", "<*>", "<*>", "<*>", "took", "<*>", "<*>", "for",
                                           "<*>", "and", "alice"}));
}

TEST(Miner, AVariablePositionMergesOnceItHasEnoughValues) {
  TemplateMiner m;
  auto a = m.Add("Invalid user alice from 1.2.3.4");
  EXPECT_TRUE(a.new_cluster);
  for (std::string u : {"bob", "carol", "dave"}) m.Add("Invalid user " + u + " from 1.2.3.4");
  EXPECT_EQ(m.Patterns().size(), 4u);  // four names are not yet a variable
  auto e = m.Add("Invalid user erin from 5.6.7.8");
  EXPECT_EQ(e.cluster, a.cluster);  // the fifth makes it one; the oldest id stays
  auto p = m.Patterns();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].tmpl, "Invalid user <*> from <*>");
  EXPECT_EQ(p[0].count, 5u);
}

TEST(Miner, EnumLikeWordsStaySeparateTemplates) {
  TemplateMiner m;
  for (int i = 0; i < 50; ++i) {
    m.Add("task " + std::to_string(i) + " Transitioned from NEW to SCHEDULED");
    m.Add("task " + std::to_string(i) + " Transitioned from SCHEDULED to RUNNING");
  }
  EXPECT_EQ(m.Patterns().size(), 2u);
}

TEST(Miner, APositionThatIsSometimesANumberIsAVariable) {
  TemplateMiner m;
  auto a = m.Add("node full status running");
  auto b = m.Add("node 17 status running");
  EXPECT_EQ(a.cluster, b.cluster);
}

TEST(Miner, OfflineCsvHasOneRowPerLineWithFinalClusters) {
  std::istringstream in(
      "Invalid user a from 1\r\nInvalid user b from 2\nInvalid user c from 3\nInvalid user d from "
      "4\nInvalid user e from 5\nsession \"closed\", bye\n");
  std::ostringstream out;
  EXPECT_EQ(MineToCsv(in, out), 6u);
  EXPECT_EQ(out.str(),
            "LineId,ClusterId,EventTemplate\n"
            "1,C1,Invalid user <*> from <*>\n2,C1,Invalid user <*> from <*>\n3,C1,Invalid user <*> "
            "from <*>\n"
            "4,C1,Invalid user <*> from <*>\n5,C1,Invalid user <*> from <*>\n"
            "6,C6,\"session \"\"closed\"\", bye\"\n");
}

}  // namespace
}  // namespace berth::logs::patterns
